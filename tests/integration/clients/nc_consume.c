// SPDX-License-Identifier: Apache-2.0
// nc_consume URL MODE ARGS...
//
// Contract: consumes a stream through nats.c's (3.4.1) JetStream consumer API and prints
// what it observed as JSON objects, one per line; the last line is the summary the pytest
// side judges (this program judges nothing: every value the server influences is printed).
// The stream is created and filled by the caller: message i (1-based) is stored at stream
// sequence i with the payload "p<i>", unless said otherwise below.
//
//   pull    URL STREAM SUBJECT N DURABLE BATCH NAKSEQ
//           js_PullSubscribe(DURABLE) + natsSubscription_Fetch(BATCH) until N distinct
//           messages were acknowledged (each fetched batch is drained and acked before the
//           next fetch). The first delivery of stream sequence NAKSEQ is NAKed (0: none).
//           Odd sequences are acked with natsMsg_AckSync, even ones with natsMsg_Ack.
//   push    URL STREAM SUBJECT N DURABLE NAKSEQ
//           js_Subscribe with a durable and ManualAck; the callback acks (NAKSEQ as above).
//   queue   URL STREAM SUBJECT N QUEUE MEMBERS
//           MEMBERS connections, each js_Subscribe with jsSubOptions.Queue = QUEUE (3.4.1 has no js_QueueSubscribe) with ManualAck; once all are
//           subscribed this program publishes the N messages itself (to SUBJECT.<i % 5>,
//           payload "p<i>", into a stream that was empty). Waits for N acks + 300 ms.
//   ordered URL STREAM SUBJECT N LIVE
//           js_Subscribe with Ordered = true (flow control + heartbeats); N messages are in
//           the stream already, then LIVE more are published by this program (SUBJECT.live,
//           payload "p<N+i>").
//   kv      URL BUCKET
//           kvStore_Keys, kvStore_History, kvStore_WatchAll, kvStore_Watch (IncludeHistory,
//           MetaOnly).
//
// Summary lines:
//   pull/push: {"mode","deliveries":[[sseq,cseq,delivered],...],"bad_payloads":n,
//               "ack_errors":n,"fetch_calls":n,"fetch_errors":{status:count},
//               "info":{"num_ack_pending","ack_floor_stream","ack_floor_consumer",
//                       "delivered_stream","delivered_consumer","num_pending",
//                       "num_redelivered","num_waiting"}}
//   queue:     {"mode","members":[[sseq,...],...],"bad_payloads":n,"ack_errors":n}
//   ordered:   {"mode","seqs":[sseq,...],"cseqs":[cseq,...],"bad_payloads":n,
//               "info":{"name","delivered_stream","delivered_consumer","flow_control",
//                       "heartbeat_ns","ack_policy"}}
//   kv:        one {"step",...} line per call, then {"step":"done"}.
// Exits 0 when the run completed (whatever was observed), 2 on usage or setup errors, 3 when
// the overall deadline (15 s) passed.
#include "nc_common.h"
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

#define MAX_MSGS 20000
#define MAX_MEMBERS 16
#define DEADLINE_MS 15000

static int64_t t_start;

static bool past_deadline(void) {
    return nats_Now() - t_start > DEADLINE_MS;
}

// ---- what was received ------------------------------------------------------------------

struct delivery {
    uint64_t sseq, cseq, dc;
};

struct record {
    pthread_mutex_t mu;
    struct delivery d[MAX_MSGS];
    int n;
    int bad_payloads;
    int ack_errors;
    int acked;      // distinct messages acknowledged
    uint64_t nak_seq;
    bool nak_done;
    int member;     // queue mode: which member this is
};

static struct record rec;

// True when the payload of `m` is "p<sseq>".
static bool payload_ok(natsMsg *m, uint64_t sseq) {
    char want[32];
    int n = snprintf(want, sizeof want, "p%" PRIu64, sseq);
    return natsMsg_GetDataLength(m) == n && memcmp(natsMsg_GetData(m), want, (size_t)n) == 0;
}

// Records `m` in `r` and acks it (or NAKs the first delivery of r->nak_seq). Returns true
// when it was acknowledged.
static bool handle(struct record *r, natsMsg *m, bool sync_odd) {
    jsMsgMetaData *meta = NULL;
    natsStatus s = natsMsg_GetMetaData(&meta, m);
    bool acked = false;
    pthread_mutex_lock(&r->mu);
    if (s != NATS_OK) {
        r->bad_payloads++;
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    uint64_t sseq = meta->Sequence.Stream;
    if (r->n < MAX_MSGS)
        r->d[r->n++] = (struct delivery){sseq, meta->Sequence.Consumer, meta->NumDelivered};
    if (!payload_ok(m, sseq))
        r->bad_payloads++;
    bool nak = r->nak_seq && sseq == r->nak_seq && !r->nak_done;
    if (nak)
        r->nak_done = true;
    pthread_mutex_unlock(&r->mu);
    if (nak) {
        s = natsMsg_Nak(m, NULL);
    } else if (sync_odd && sseq % 2 == 1) {
        jsErrCode ec = 0;
        s = natsMsg_AckSync(m, NULL, &ec);
        acked = s == NATS_OK;
    } else {
        s = natsMsg_Ack(m, NULL);
        acked = s == NATS_OK;
    }
    pthread_mutex_lock(&r->mu);
    if (s != NATS_OK)
        r->ack_errors++;
    if (acked)
        r->acked++;
    pthread_mutex_unlock(&r->mu);
    jsMsgMetaData_Destroy(meta);
    return acked;
}

// Subscription options with explicit acks (5 s ack wait) on STREAM.
static void explicit_ack_options(jsSubOptions *so, const char *stream) {
    jsSubOptions_Init(so);
    so->Stream = stream;
    so->Config.AckPolicy = js_AckExplicit;
    so->Config.AckWait = (5LL * 1000000000LL);
}

static void print_deliveries(const struct record *r) {
    printf("\"deliveries\":[");
    for (int i = 0; i < r->n; i++)
        printf("%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", i ? "," : "", r->d[i].sseq, r->d[i].cseq,
               r->d[i].dc);
    printf("],\"bad_payloads\":%d,\"ack_errors\":%d", r->bad_payloads, r->ack_errors);
}

static void print_info(jsConsumerInfo *ci, natsStatus s) {
    printf(",\"info_status\":\"%s\"", natsStatus_GetText(s));
    if (ci == NULL) {
        printf(",\"info\":null");
        return;
    }
    printf(",\"info\":{\"name\":");
    nc_json_str(ci->Name, ci->Name ? (int)strlen(ci->Name) : 0);
    printf(",\"num_ack_pending\":%" PRId64 ",\"ack_floor_stream\":%" PRIu64
           ",\"ack_floor_consumer\":%" PRIu64 ",\"delivered_stream\":%" PRIu64
           ",\"delivered_consumer\":%" PRIu64 ",\"num_pending\":%" PRIu64
           ",\"num_redelivered\":%" PRId64 ",\"num_waiting\":%" PRId64
           ",\"flow_control\":%s,\"heartbeat_ns\":%" PRId64 ",\"ack_policy\":%d"
           ",\"deliver_group\":",
           ci->NumAckPending, ci->AckFloor.Stream, ci->AckFloor.Consumer, ci->Delivered.Stream,
           ci->Delivered.Consumer, ci->NumPending, ci->NumRedelivered, ci->NumWaiting,
           ci->Config && ci->Config->FlowControl ? "true" : "false",
           ci->Config ? ci->Config->Heartbeat : 0, ci->Config ? (int)ci->Config->AckPolicy : -1);
    const char *dg = ci->Config ? ci->Config->DeliverGroup : NULL;
    nc_json_str(dg, dg ? (int)strlen(dg) : 0);
    printf("}");
}

// ---- pull -----------------------------------------------------------------------------

static int run_pull(const char *url, char **argv) {
    const char *stream = argv[0], *subject = argv[1], *durable = argv[3];
    int n = atoi(argv[2]), batch = atoi(argv[4]);
    rec.nak_seq = strtoull(argv[5], NULL, 10);
    natsConnection *nc = nc_connect(url);
    jsCtx *js = nc_jetstream(nc, NULL);
    jsSubOptions so;
    explicit_ack_options(&so, stream);
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&sub, js, subject, durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        printf("{\"mode\":\"pull\",\"subscribe_status\":\"%s\",\"err_code\":%d}\n",
               natsStatus_GetText(s), (int)jerr);
        return 0;
    }
    int fetch_calls = 0, timeouts = 0, other_errors = 0;
    while (rec.acked < n && !past_deadline()) {
        natsMsgList list = {0};
        fetch_calls++;
        s = natsSubscription_Fetch(&list, sub, batch, 2000, &jerr);
        if (s == NATS_TIMEOUT)
            timeouts++;
        else if (s != NATS_OK)
            other_errors++;
        // Drain this fetch fully before the next one (see the 3.4.1 note in the brief).
        for (int i = 0; i < list.Count; i++)
            handle(&rec, list.Msgs[i], true);
        natsMsgList_Destroy(&list);
        if (timeouts > 3)
            break;
    }
    natsConnection_Flush(nc);
    jsConsumerInfo *ci = NULL;
    s = js_GetConsumerInfo(&ci, js, stream, durable, NULL, &jerr);
    printf("{\"mode\":\"pull\",");
    print_deliveries(&rec);
    printf(",\"fetch_calls\":%d,\"fetch_timeouts\":%d,\"fetch_errors\":%d", fetch_calls, timeouts,
           other_errors);
    print_info(ci, s);
    printf("}\n");
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

// ---- push -----------------------------------------------------------------------------

static void on_push(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
    (void)nc;
    (void)sub;
    handle(closure, m, false);
    natsMsg_Destroy(m);
}

static int run_push(const char *url, char **argv) {
    const char *stream = argv[0], *subject = argv[1], *durable = argv[3];
    int n = atoi(argv[2]);
    rec.nak_seq = strtoull(argv[4], NULL, 10);
    natsConnection *nc = nc_connect(url);
    jsCtx *js = nc_jetstream(nc, NULL);
    jsSubOptions so;
    explicit_ack_options(&so, stream);
    so.ManualAck = true;
    so.Config.Durable = durable;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Subscribe(&sub, js, subject, on_push, &rec, NULL, &so, &jerr);
    if (s != NATS_OK) {
        printf("{\"mode\":\"push\",\"subscribe_status\":\"%s\",\"err_code\":%d}\n",
               natsStatus_GetText(s), (int)jerr);
        return 0;
    }
    for (;;) {
        pthread_mutex_lock(&rec.mu);
        int acked = rec.acked;
        pthread_mutex_unlock(&rec.mu);
        if (acked >= n || past_deadline())
            break;
        nats_Sleep(20);
    }
    nats_Sleep(200); // anything extra (a duplicate) would arrive now
    natsConnection_Flush(nc);
    jsConsumerInfo *ci = NULL;
    s = js_GetConsumerInfo(&ci, js, stream, durable, NULL, &jerr);
    pthread_mutex_lock(&rec.mu);
    printf("{\"mode\":\"push\",");
    print_deliveries(&rec);
    pthread_mutex_unlock(&rec.mu);
    print_info(ci, s);
    printf("}\n");
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

// ---- queue ----------------------------------------------------------------------------

static struct record members[MAX_MEMBERS];
static atomic_int total_acked;

static void on_queue(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
    (void)nc;
    (void)sub;
    if (handle(closure, m, false))
        atomic_fetch_add(&total_acked, 1);
    natsMsg_Destroy(m);
}

static int run_queue(const char *url, char **argv) {
    const char *stream = argv[0], *subject = argv[1], *queue = argv[3];
    int n = atoi(argv[2]), nm = atoi(argv[4]);
    if (nm < 1 || nm > MAX_MEMBERS || n > MAX_MSGS) {
        fprintf(stderr, "bad member or message count\n");
        return 2;
    }
    natsConnection *conns[MAX_MEMBERS];
    jsCtx *jss[MAX_MEMBERS];
    natsSubscription *subs[MAX_MEMBERS];
    char filter[256];
    snprintf(filter, sizeof filter, "%s.>", subject);
    for (int i = 0; i < nm; i++) {
        pthread_mutex_init(&members[i].mu, NULL);
        members[i].member = i;
        conns[i] = nc_connect(url);
        jss[i] = nc_jetstream(conns[i], NULL);
        jsSubOptions so;
        explicit_ack_options(&so, stream);
        so.ManualAck = true;
        jsErrCode jerr = 0;
        so.Queue = queue; // the durable name defaults to the queue name
        natsStatus s = js_Subscribe(&subs[i], jss[i], filter, on_queue, &members[i], NULL, &so, &jerr);
        if (s != NATS_OK) {
            printf("{\"mode\":\"queue\",\"member\":%d,\"subscribe_status\":\"%s\",\"err_code\":%d}\n", i,
                   natsStatus_GetText(s), (int)jerr);
            return 0;
        }
        CHECK(natsConnection_Flush(conns[i])); // the SUB is in place before anything is sent
    }
    natsConnection *pub = nc_connect(url);
    for (int i = 1; i <= n; i++) {
        char subj[300], data[32];
        snprintf(subj, sizeof subj, "%s.%d", subject, i % 5);
        int dl = snprintf(data, sizeof data, "p%d", i);
        CHECK(natsConnection_Publish(pub, subj, data, dl));
    }
    CHECK(natsConnection_Flush(pub));
    while (atomic_load(&total_acked) < n && !past_deadline())
        nats_Sleep(20);
    nats_Sleep(300);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, jss[0], stream, queue, NULL, &jerr);
    printf("{\"mode\":\"queue\",\"members\":[");
    int bad = 0, errs = 0;
    for (int i = 0; i < nm; i++) {
        pthread_mutex_lock(&members[i].mu);
        printf("%s[", i ? "," : "");
        for (int k = 0; k < members[i].n; k++)
            printf("%s%" PRIu64, k ? "," : "", members[i].d[k].sseq);
        printf("]");
        bad += members[i].bad_payloads;
        errs += members[i].ack_errors;
        pthread_mutex_unlock(&members[i].mu);
    }
    printf("],\"bad_payloads\":%d,\"ack_errors\":%d", bad, errs);
    print_info(ci, s);
    printf("}\n");
    jsConsumerInfo_Destroy(ci);
    for (int i = 0; i < nm; i++) {
        natsSubscription_Unsubscribe(subs[i]);
        natsSubscription_Destroy(subs[i]);
        jsCtx_Destroy(jss[i]);
        natsConnection_Destroy(conns[i]);
    }
    natsConnection_Destroy(pub);
    return 0;
}

// ---- ordered --------------------------------------------------------------------------

static void on_ordered(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
    (void)nc;
    (void)sub;
    struct record *r = closure;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        pthread_mutex_lock(&r->mu);
        if (r->n < MAX_MSGS)
            r->d[r->n++] = (struct delivery){meta->Sequence.Stream, meta->Sequence.Consumer,
                                             meta->NumDelivered};
        if (!payload_ok(m, meta->Sequence.Stream))
            r->bad_payloads++;
        r->acked++;
        pthread_mutex_unlock(&r->mu);
        jsMsgMetaData_Destroy(meta);
    } else {
        pthread_mutex_lock(&r->mu);
        r->bad_payloads++;
        pthread_mutex_unlock(&r->mu);
    }
    natsMsg_Destroy(m);
}

static int run_ordered(const char *url, char **argv) {
    const char *stream = argv[0], *subject = argv[1];
    int n = atoi(argv[2]), live = atoi(argv[3]);
    natsConnection *nc = nc_connect(url);
    jsCtx *js = nc_jetstream(nc, NULL);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.Heartbeat = (500LL * 1000000LL);
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    char filter[256];
    snprintf(filter, sizeof filter, "%s.>", subject);
    natsStatus s = js_Subscribe(&sub, js, filter, on_ordered, &rec, NULL, &so, &jerr);
    if (s != NATS_OK) {
        printf("{\"mode\":\"ordered\",\"subscribe_status\":\"%s\",\"err_code\":%d}\n",
               natsStatus_GetText(s), (int)jerr);
        return 0;
    }
    natsConnection *pub = nc_connect(url);
    char subj[300];
    snprintf(subj, sizeof subj, "%s.live", subject);
    for (int i = 1; i <= live; i++) {
        char data[32];
        int dl = snprintf(data, sizeof data, "p%d", n + i);
        CHECK(natsConnection_Publish(pub, subj, data, dl));
    }
    CHECK(natsConnection_Flush(pub));
    for (;;) {
        pthread_mutex_lock(&rec.mu);
        int got = rec.acked;
        pthread_mutex_unlock(&rec.mu);
        if (got >= n + live || past_deadline())
            break;
        nats_Sleep(20);
    }
    nats_Sleep(1200); // a few heartbeats: a gap would make the library reset the consumer
    jsConsumerInfo *ci = NULL;
    s = natsSubscription_GetConsumerInfo(&ci, sub, NULL, &jerr);
    pthread_mutex_lock(&rec.mu);
    printf("{\"mode\":\"ordered\",\"seqs\":[");
    for (int i = 0; i < rec.n; i++)
        printf("%s%" PRIu64, i ? "," : "", rec.d[i].sseq);
    printf("],\"cseqs\":[");
    for (int i = 0; i < rec.n; i++)
        printf("%s%" PRIu64, i ? "," : "", rec.d[i].cseq);
    printf("],\"bad_payloads\":%d", rec.bad_payloads);
    pthread_mutex_unlock(&rec.mu);
    print_info(ci, s);
    printf("}\n");
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(pub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

// ---- kv -------------------------------------------------------------------------------

static void print_entry(kvEntry *e) {
    printf("{\"key\":");
    nc_json_str(kvEntry_Key(e), (int)strlen(kvEntry_Key(e)));
    printf(",\"value\":");
    nc_json_str(kvEntry_Value(e), kvEntry_ValueLen(e));
    printf(",\"revision\":%" PRIu64 ",\"delta\":%" PRIu64 ",\"op\":\"%s\"}", kvEntry_Revision(e),
           kvEntry_Delta(e), nc_kv_op_name(kvEntry_Operation(e)));
}

static void step_begin(const char *step, natsStatus s) {
    printf("{\"step\":\"%s\",\"status\":\"%s\"", step, natsStatus_GetText(s));
}

// Reads a watcher until its initial-values marker (a NULL entry) or a timeout; then, after
// `put_key` = `put_value` is written, the next update.
static void watch_step(const char *name, kvStore *kv, kvWatcher *w, natsStatus ws,
                       const char *put_key, const char *put_value) {
    step_begin(name, ws);
    printf(",\"initial\":[");
    int n = 0;
    bool marker = false;
    natsStatus s = ws;
    while (ws == NATS_OK && n < 100) {
        kvEntry *e = NULL;
        s = kvWatcher_Next(&e, w, 3000);
        if (s != NATS_OK)
            break;
        if (e == NULL) {
            marker = true;
            break;
        }
        if (n++)
            printf(",");
        print_entry(e);
        kvEntry_Destroy(e);
    }
    printf("],\"marker\":%s,\"initial_status\":\"%s\"", marker ? "true" : "false",
           natsStatus_GetText(s));
    printf(",\"update\":");
    if (ws == NATS_OK) {
        uint64_t rev = 0;
        kvStore_PutString(&rev, kv, put_key, put_value);
        kvEntry *e = NULL;
        s = kvWatcher_Next(&e, w, 3000);
        if (e != NULL) {
            print_entry(e);
            kvEntry_Destroy(e);
        } else {
            printf("null");
        }
        printf(",\"update_status\":\"%s\"", natsStatus_GetText(s));
    } else {
        printf("null");
    }
    nc_end_line();
}

static int run_kv(const char *url, char **argv) {
    const char *bucket = argv[0];
    natsConnection *nc = nc_connect(url);
    jsCtx *js = nc_jetstream(nc, NULL);
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = bucket;
    kc.History = 5;
    kvStore *kv = NULL;
    natsStatus s = js_CreateKeyValue(&kv, js, &kc);
    step_begin("create_bucket", s);
    nc_end_line();
    if (kv == NULL) {
        printf("{\"step\":\"done\"}\n");
        return 0;
    }
    // Keys of an empty bucket.
    kvKeysList keys = {0};
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.Timeout = 3000;
    s = kvStore_Keys(&keys, kv, &wo);
    step_begin("keys_empty", s);
    printf(",\"count\":%d", keys.Count);
    nc_end_line();
    kvKeysList_Destroy(&keys);

    uint64_t rev = 0;
    const char *puts[][2] = {{"a", "a1"}, {"b", "b1"}, {"a", "a2"}, {"c", "c1"}, {"a", "a3"}};
    for (size_t i = 0; i < sizeof puts / sizeof puts[0]; i++)
        CHECK(kvStore_PutString(&rev, kv, puts[i][0], puts[i][1]));
    CHECK(kvStore_Delete(kv, "b"));

    memset(&keys, 0, sizeof keys);
    s = kvStore_Keys(&keys, kv, &wo);
    step_begin("keys", s);
    printf(",\"keys\":[");
    for (int i = 0; i < keys.Count; i++) {
        if (i)
            printf(",");
        nc_json_str(keys.Keys[i], (int)strlen(keys.Keys[i]));
    }
    printf("]");
    nc_end_line();
    kvKeysList_Destroy(&keys);

    const char *hist_keys[] = {"a", "b", "nope"};
    const char *hist_steps[] = {"history_a", "history_b", "history_missing"};
    for (int k = 0; k < 3; k++) {
        kvEntryList hl = {0};
        s = kvStore_History(&hl, kv, hist_keys[k], &wo);
        step_begin(hist_steps[k], s);
        printf(",\"entries\":[");
        for (int i = 0; i < hl.Count; i++) {
            if (i)
                printf(",");
            print_entry(hl.Entries[i]);
        }
        printf("]");
        nc_end_line();
        kvEntryList_Destroy(&hl);
    }

    kvWatcher *w = NULL;
    s = kvStore_WatchAll(&w, kv, NULL);
    watch_step("watch_all", kv, w, s, "d", "d1");
    kvWatcher_Destroy(w);

    w = NULL;
    kvWatchOptions hwo;
    kvWatchOptions_Init(&hwo);
    hwo.IncludeHistory = true;
    s = kvStore_Watch(&w, kv, "a", &hwo);
    watch_step("watch_a_history", kv, w, s, "a", "a4");
    kvWatcher_Destroy(w);

    w = NULL;
    kvWatchOptions mwo;
    kvWatchOptions_Init(&mwo);
    mwo.MetaOnly = true; // a headers_only consumer: the values arrive empty
    s = kvStore_Watch(&w, kv, "c", &mwo);
    watch_step("watch_c_meta_only", kv, w, s, "c", "c2");
    kvWatcher_Destroy(w);

    kvStore_Destroy(kv);
    s = js_DeleteKeyValue(js, bucket);
    step_begin("delete_bucket", s);
    nc_end_line();
    printf("{\"step\":\"done\"}\n");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: nc_consume URL pull|push|queue|ordered|kv ARGS...\n");
        return 2;
    }
    t_start = nats_Now();
    pthread_mutex_init(&rec.mu, NULL);
    const char *url = argv[1], *mode = argv[2];
    int rc = 2;
    int nargs = argc - 3;
    if (strcmp(mode, "pull") == 0 && nargs == 6)
        rc = run_pull(url, argv + 3);
    else if (strcmp(mode, "push") == 0 && nargs == 5)
        rc = run_push(url, argv + 3);
    else if (strcmp(mode, "queue") == 0 && nargs == 5)
        rc = run_queue(url, argv + 3);
    else if (strcmp(mode, "ordered") == 0 && nargs == 4)
        rc = run_ordered(url, argv + 3);
    else if (strcmp(mode, "kv") == 0 && nargs == 1)
        rc = run_kv(url, argv + 3);
    else
        fprintf(stderr, "nc_consume: bad mode or argument count\n");
    fflush(stdout);
    if (rc == 0 && past_deadline())
        rc = 3;
    nats_Close();
    return rc;
}
