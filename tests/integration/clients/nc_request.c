// SPDX-License-Identifier: Apache-2.0
// nc_request URL SUBJECT COUNT
//
// Contract: a responder connection answers every request on SUBJECT with "re:" + request
// payload. A requester connection (new-style requests: one wildcard inbox subscription)
// sends COUNT requests "req-<i>" and checks each reply; then it requests on
// SUBJECT.nobody, where nobody listens, which must fail fast with NATS_NO_RESPONDERS.
// A second requester with old-style requests (one inbox per request) does the same with
// min(COUNT, 20) requests. Prints one JSON line:
//   {"ok":N,"bad":0,"errors":0,"no_responders":"NATS_NO_RESPONDERS","no_responders_ms":T,
//    "old_ok":M,"old_bad":0,"old_no_responders":"NATS_NO_RESPONDERS","served":N+M}
// Exits 0 when the run completed (whatever the results), 2 on usage or connection errors.
#include "nc_common.h"
#include <stdatomic.h>

static atomic_long served;

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    int len = natsMsg_GetDataLength(msg);
    char *out = malloc((size_t)len + 4);
    if (out != NULL && reply != NULL) {
        memcpy(out, "re:", 3);
        memcpy(out + 3, natsMsg_GetData(msg), (size_t)len);
        if (natsConnection_Publish(nc, reply, out, len + 3) == NATS_OK)
            atomic_fetch_add(&served, 1);
    }
    free(out);
    natsMsg_Destroy(msg);
}

static natsConnection *connect_to(const char *url, bool old_style) {
    natsOptions *opts = nc_options(url);
    if (old_style)
        CHECK(natsOptions_UseOldRequestStyle(opts, true));
    return nc_connect_with(opts);
}

// Runs n requests on nc; returns the number answered correctly, counts bad answers and
// failed requests.
static long run_requests(natsConnection *nc, const char *subject, long n, long *bad,
                         long *errors) {
    long ok = 0;
    for (long i = 0; i < n; i++) {
        char req[32], want[40];
        int len = snprintf(req, sizeof req, "req-%ld", i);
        int wlen = snprintf(want, sizeof want, "re:req-%ld", i);
        natsMsg *reply = NULL;
        natsStatus s = natsConnection_Request(&reply, nc, subject, req, len, 2000);
        if (s != NATS_OK) {
            (*errors)++;
            fprintf(stderr, "request %ld: %s\n", i, natsStatus_GetText(s));
            continue;
        }
        if (natsMsg_GetDataLength(reply) == wlen &&
            memcmp(natsMsg_GetData(reply), want, (size_t)wlen) == 0)
            ok++;
        else
            (*bad)++;
        natsMsg_Destroy(reply);
    }
    return ok;
}

static natsStatus no_responders(natsConnection *nc, const char *subject, int64_t *ms) {
    char nobody[512];
    snprintf(nobody, sizeof nobody, "%s.nobody", subject);
    natsMsg *reply = NULL;
    int64_t t0 = nats_Now();
    natsStatus s = natsConnection_Request(&reply, nc, nobody, "x", 1, 3000);
    *ms = nats_Now() - t0;
    if (reply != NULL)
        natsMsg_Destroy(reply);
    return s;
}

int main(int argc, char **argv) {
    nc_require_args(argc, argv, 4, "URL SUBJECT COUNT");
    const char *url = argv[1], *subject = argv[2];
    long count = strtol(argv[3], NULL, 10);
    long old_count = count < 20 ? count : 20;

    natsConnection *rnc = connect_to(url, false);
    natsSubscription *rsub = NULL;
    CHECK(natsConnection_Subscribe(&rsub, rnc, subject, on_request, NULL));
    CHECK(natsConnection_FlushTimeout(rnc, 5000));

    natsConnection *nc = connect_to(url, false);
    long bad = 0, errors = 0;
    long ok = run_requests(nc, subject, count, &bad, &errors);
    int64_t nr_ms = 0;
    natsStatus nr = no_responders(nc, subject, &nr_ms);

    natsConnection *onc = connect_to(url, true);
    long old_bad = 0, old_errors = 0;
    long old_ok = run_requests(onc, subject, old_count, &old_bad, &old_errors);
    int64_t onr_ms = 0;
    natsStatus onr = no_responders(onc, subject, &onr_ms);

    printf("{\"ok\":%ld,\"bad\":%ld,\"errors\":%ld,\"no_responders\":\"%s\","
           "\"no_responders_ms\":%lld,\"old_ok\":%ld,\"old_bad\":%ld,\"old_errors\":%ld,"
           "\"old_no_responders\":\"%s\",\"old_no_responders_ms\":%lld,\"served\":%ld}\n",
           ok, bad, errors, nc_status_name(nr), (long long)nr_ms, old_ok, old_bad, old_errors,
           nc_status_name(onr), (long long)onr_ms, (long)atomic_load(&served));
    fflush(stdout);

    natsSubscription_Destroy(rsub);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(onc);
    natsConnection_Destroy(rnc);
    nats_CloseAndWait(2000);
    return 0;
}
