// SPDX-License-Identifier: Apache-2.0
// nc_js URL STREAM PREFIX
//
// Contract: drives the nats.c (3.4.1) JetStream stream API against the server and prints
// what it observed, one JSON object per line, each with a "step" key; it judges nothing
// (the pytest side does), so every value the server influences is printed. The stream
// STREAM captures PREFIX.> and is deleted again at the end. Steps, in order:
//   add, add_same, add_different, names, publish, async, get, get_missing, get_last,
//   direct_seq, direct_last, direct_next, direct_missing, info, expect_last_seq,
//   expect_last_seq_stale, expect_subject_seq, expect_subject_seq_stale, expect_no_msg,
//   expect_no_msg_again, msgid_first, msgid_dup, expect_stream_wrong,
//   expect_last_msgid, expect_last_msgid_wrong, delete_msg, get_deleted,
//   delete_msg_missing, info_after_delete, purge_subject, info_after_purge_subject,
//   purge_all, info_after_purge, delete_stream, info_deleted, done.
// Every step has "status" (the natsStatus name) and, for calls that report one,
// "err_code" (the JetStream error code, 0 when none).
// Exits 0 when the run completed (whatever the results), 2 on usage or connection errors.
#include "nc_common.h"
#include <stdatomic.h>

#define ASYNC_COUNT 200

static _Atomic uint64_t async_seq[ASYNC_COUNT];
static atomic_int async_acked, async_errors, async_dups;

// nc_status_name, plus the one status only this client reports.
static const char *status_name(natsStatus s) {
    return s == NATS_INVALID_ARG ? "NATS_INVALID_ARG" : nc_status_name(s);
}

static void begin(const char *step, natsStatus s, jsErrCode ec) {
    printf("{\"step\":\"%s\",\"status\":\"%s\",\"err_code\":%d", step, status_name(s), (int)ec);
}

static void field_str(const char *key, const char *val) {
    printf(",\"%s\":", key);
    if (val == NULL)
        printf("null");
    else
        nc_json_str(val, (int)strlen(val));
}

static void field_u64(const char *key, uint64_t v) {
    printf(",\"%s\":%llu", key, (unsigned long long)v);
}

// Prints the fields of a stored message: subject, data, seq, and the Nats-* headers.
static void msg_fields(natsMsg *m) {
    if (m == NULL)
        return;
    field_str("subject", natsMsg_GetSubject(m));
    printf(",\"data\":");
    nc_json_str(natsMsg_GetData(m), natsMsg_GetDataLength(m));
    field_u64("seq", natsMsg_GetSequence(m));
    static const char *const keys[] = {"Nats-Stream", "Nats-Sequence", "Nats-Subject",
                                       "Nats-Time-Stamp", "Foo", NULL};
    printf(",\"headers\":{");
    bool first = true;
    for (int i = 0; keys[i] != NULL; i++) {
        const char *v = NULL;
        if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK && v != NULL) {
            printf("%s\"%s\":", first ? "" : ",", keys[i]);
            nc_json_str(v, (int)strlen(v));
            first = false;
        }
    }
    printf("}");
}

static void info_fields(jsStreamInfo *si) {
    if (si == NULL)
        return;
    field_str("name", si->Config->Name);
    printf(",\"allow_direct\":%s", si->Config->AllowDirect ? "true" : "false");
    field_u64("msgs", si->State.Msgs);
    field_u64("bytes", si->State.Bytes);
    field_u64("first_seq", si->State.FirstSeq);
    field_u64("last_seq", si->State.LastSeq);
    field_u64("num_subjects", (uint64_t)si->State.NumSubjects);
    field_u64("num_deleted", (uint64_t)si->State.NumDeleted);
    printf(",\"subjects\":{");
    if (si->State.Subjects != NULL)
        for (int i = 0; i < si->State.Subjects->Count; i++) {
            jsStreamStateSubject *ss = &si->State.Subjects->List[i];
            printf("%s", i ? "," : "");
            nc_json_str(ss->Subject, (int)strlen(ss->Subject));
            printf(":%llu", (unsigned long long)ss->Msgs);
        }
    printf("}");
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    (void)js;
    (void)closure;
    int idx = -1;
    if (natsMsg_GetDataLength(msg) > 1)
        idx = atoi(natsMsg_GetData(msg) + 1); // payload "a<i>"
    if (pa != NULL && idx >= 0 && idx < ASYNC_COUNT) {
        atomic_store(&async_seq[idx], pa->Sequence);
        atomic_fetch_add(&async_acked, 1);
        if (pa->Duplicate)
            atomic_fetch_add(&async_dups, 1);
    } else {
        if (pae != NULL)
            fprintf(stderr, "async publish error: %s (%d) %s\n", natsStatus_GetText(pae->Err),
                    (int)pae->ErrCode, pae->ErrText ? pae->ErrText : "");
        atomic_fetch_add(&async_errors, 1);
    }
    natsMsg_Destroy(msg);
}

// One synchronous publish with options; prints step, status, err_code, seq, duplicate.
static uint64_t publish_step(jsCtx *js, const char *step, const char *subj, const char *data,
                             jsPubOptions *po) {
    jsPubAck *pa = NULL;
    jsErrCode ec = 0;
    natsStatus s = js_Publish(&pa, js, subj, data, (int)strlen(data), po, &ec);
    uint64_t seq = pa != NULL ? pa->Sequence : 0;
    begin(step, s, ec);
    if (pa != NULL) {
        field_u64("seq", pa->Sequence);
        field_str("stream", pa->Stream);
        printf(",\"duplicate\":%s", pa->Duplicate ? "true" : "false");
    } else {
        field_str("error", s != NATS_OK ? nats_GetLastError(NULL) : NULL);
    }
    nc_end_line();
    jsPubAck_Destroy(pa);
    return seq;
}

static void info_step(jsCtx *js, const char *step, const char *stream, const char *filter) {
    jsStreamInfo *si = NULL;
    jsErrCode ec = 0;
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Info.SubjectsFilter = filter;
    natsStatus s = js_GetStreamInfo(&si, js, stream, &o, &ec);
    begin(step, s, ec);
    info_fields(si);
    nc_end_line();
    jsStreamInfo_Destroy(si);
}

static void direct_step(jsCtx *js, const char *step, const char *stream, uint64_t seq,
                        const char *last_by, const char *next_by) {
    natsMsg *m = NULL;
    jsDirectGetMsgOptions dg;
    jsDirectGetMsgOptions_Init(&dg);
    dg.Sequence = seq;
    dg.LastBySubject = last_by;
    dg.NextBySubject = next_by;
    natsStatus s = js_DirectGetMsg(&m, js, stream, NULL, &dg);
    begin(step, s, 0);
    msg_fields(m);
    nc_end_line();
    natsMsg_Destroy(m);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: nc_js URL STREAM PREFIX\n");
        return 2;
    }
    const char *url = argv[1], *stream = argv[2], *prefix = argv[3];
    char all[256], subj_a[256], subj_b[256], subj_async[256], subj_new[256], subj_id[256];
    snprintf(all, sizeof all, "%s.>", prefix);
    snprintf(subj_a, sizeof subj_a, "%s.a", prefix);
    snprintf(subj_b, sizeof subj_b, "%s.b", prefix);
    snprintf(subj_async, sizeof subj_async, "%s.async", prefix);
    snprintf(subj_new, sizeof subj_new, "%s.new", prefix);
    snprintf(subj_id, sizeof subj_id, "%s.id", prefix);

    natsConnection *nc = nc_connect(url);
    jsOptions jo;
    nc_js_options_init(&jo);
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.MaxPending = 64;
    jsCtx *js = nc_jetstream(nc, &jo);

    // -- stream creation ---------------------------------------------------------------
    const char *subjects[] = {all};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.AllowDirect = true;
    cfg.Storage = js_FileStorage;
    jsStreamInfo *si = NULL;
    jsErrCode ec = 0;
    natsStatus s = js_AddStream(&si, js, &cfg, NULL, &ec);
    begin("add", s, ec);
    info_fields(si);
    nc_end_line();
    jsStreamInfo_Destroy(si);
    si = NULL;

    ec = 0;
    s = js_AddStream(&si, js, &cfg, NULL, &ec);
    begin("add_same", s, ec);
    info_fields(si);
    nc_end_line();
    jsStreamInfo_Destroy(si);
    si = NULL;

    jsStreamConfig other = cfg;
    other.MaxMsgs = 5;
    ec = 0;
    s = js_AddStream(&si, js, &other, NULL, &ec);
    begin("add_different", s, ec);
    nc_end_line();
    jsStreamInfo_Destroy(si);
    si = NULL;

    jsStreamNamesList *names = NULL;
    ec = 0;
    s = js_StreamNames(&names, js, NULL, &ec);
    begin("names", s, ec);
    printf(",\"names\":[");
    for (int i = 0; names != NULL && i < names->Count; i++) {
        printf("%s", i ? "," : "");
        nc_json_str(names->List[i], (int)strlen(names->List[i]));
    }
    printf("]");
    nc_end_line();
    jsStreamNamesList_Destroy(names);

    // -- synchronous publishes: m0..m5 alternating on .a and .b: seqs 1..6 ----------------
    printf("{\"step\":\"publish\",\"seqs\":[");
    for (int i = 0; i < 6; i++) {
        char data[32];
        snprintf(data, sizeof data, "m%d", i);
        jsPubAck *pa = NULL;
        ec = 0;
        s = js_Publish(&pa, js, i % 2 ? subj_b : subj_a, data, (int)strlen(data), NULL, &ec);
        printf("%s%lld", i ? "," : "", s == NATS_OK && pa ? (long long)pa->Sequence : -(long long)ec - 1);
        jsPubAck_Destroy(pa);
    }
    printf("]");
    nc_end_line();

    // -- asynchronous publishes: a0..a199 on .async ---------------------------------------
    int async_sent = 0;
    for (int i = 0; i < ASYNC_COUNT; i++) {
        char data[32];
        snprintf(data, sizeof data, "a%d", i);
        if (js_PublishAsync(js, subj_async, data, (int)strlen(data), NULL) == NATS_OK)
            async_sent++;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    s = js_PublishAsyncComplete(js, &po);
    bool in_order = true;
    for (int i = 1; i < ASYNC_COUNT; i++)
        if (atomic_load(&async_seq[i]) != atomic_load(&async_seq[i - 1]) + 1)
            in_order = false;
    begin("async", s, 0);
    printf(",\"sent\":%d,\"acked\":%d,\"errors\":%d,\"duplicates\":%d,\"in_order\":%s", async_sent,
           atomic_load(&async_acked), atomic_load(&async_errors), atomic_load(&async_dups),
           in_order ? "true" : "false");
    field_u64("first", atomic_load(&async_seq[0]));
    field_u64("last", atomic_load(&async_seq[ASYNC_COUNT - 1]));
    nc_end_line();
    // The stream now holds seqs 1..6 (m0..m5) and 7..206 (a0..a199).

    // -- reads ----------------------------------------------------------------------------
    natsMsg *m = NULL;
    ec = 0;
    s = js_GetMsg(&m, js, stream, 2, NULL, &ec);
    begin("get", s, ec);
    msg_fields(m);
    nc_end_line();
    natsMsg_Destroy(m);
    m = NULL;

    ec = 0;
    s = js_GetMsg(&m, js, stream, 100000, NULL, &ec);
    begin("get_missing", s, ec);
    nc_end_line();
    natsMsg_Destroy(m);
    m = NULL;

    ec = 0;
    s = js_GetLastMsg(&m, js, stream, subj_a, NULL, &ec);
    begin("get_last", s, ec);
    msg_fields(m);
    nc_end_line();
    natsMsg_Destroy(m);
    m = NULL;

    direct_step(js, "direct_seq", stream, 3, NULL, NULL);
    direct_step(js, "direct_last", stream, 0, subj_b, NULL);
    direct_step(js, "direct_next", stream, 3, NULL, subj_b);
    direct_step(js, "direct_missing", stream, 100000, NULL, NULL);

    info_step(js, "info", stream, all);

    // -- expectations -----------------------------------------------------------------------
    jsPubOptions_Init(&po);
    po.ExpectLastSeq = 6 + ASYNC_COUNT;
    publish_step(js, "expect_last_seq", subj_a, "els", &po); // 207
    publish_step(js, "expect_last_seq_stale", subj_a, "els2", &po);

    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = 5; // the last message on .a before 207 is seq 5 (m4): stale
    publish_step(js, "expect_subject_seq_stale", subj_a, "ess", &po);
    po.ExpectLastSubjectSeq = 6; // the last on .b is seq 6 (m5)
    publish_step(js, "expect_subject_seq", subj_b, "ess2", &po); // 208

    jsPubOptions_Init(&po);
    po.ExpectNoMessage = true;
    publish_step(js, "expect_no_msg", subj_new, "first", &po); // 209
    publish_step(js, "expect_no_msg_again", subj_new, "second", &po);

    jsPubOptions_Init(&po);
    po.MsgId = "id-1";
    publish_step(js, "msgid_first", subj_id, "once", &po); // 210
    publish_step(js, "msgid_dup", subj_id, "twice", &po);

    jsPubOptions_Init(&po);
    po.ExpectStream = "NOT_THIS_STREAM";
    publish_step(js, "expect_stream_wrong", subj_id, "x", &po);

    jsPubOptions_Init(&po);
    po.ExpectLastMsgId = "id-1";
    publish_step(js, "expect_last_msgid", subj_id, "after-id-1", &po); // 211
    po.ExpectLastMsgId = "id-nope";
    publish_step(js, "expect_last_msgid_wrong", subj_id, "x", &po);

    // -- deletes and purges ---------------------------------------------------------------------
    ec = 0;
    s = js_DeleteMsg(js, stream, 1, NULL, &ec);
    begin("delete_msg", s, ec);
    nc_end_line();

    ec = 0;
    s = js_GetMsg(&m, js, stream, 1, NULL, &ec);
    begin("get_deleted", s, ec);
    nc_end_line();
    natsMsg_Destroy(m);
    m = NULL;

    ec = 0;
    s = js_DeleteMsg(js, stream, 100000, NULL, &ec);
    begin("delete_msg_missing", s, ec);
    nc_end_line();

    info_step(js, "info_after_delete", stream, NULL);

    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = subj_async;
    ec = 0;
    s = js_PurgeStream(js, stream, &o, &ec);
    begin("purge_subject", s, ec);
    nc_end_line();
    info_step(js, "info_after_purge_subject", stream, all);

    ec = 0;
    s = js_PurgeStream(js, stream, NULL, &ec);
    begin("purge_all", s, ec);
    nc_end_line();
    info_step(js, "info_after_purge", stream, NULL);

    ec = 0;
    s = js_DeleteStream(js, stream, NULL, &ec);
    begin("delete_stream", s, ec);
    nc_end_line();
    info_step(js, "info_deleted", stream, NULL);

    printf("{\"step\":\"done\"}\n");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return 0;
}
