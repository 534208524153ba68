// SPDX-License-Identifier: Apache-2.0
// nc_many_conns URL PREFIX COUNT
//
// Contract: COUNT nats.c connections; connection i subscribes (synchronously) to PREFIX.i
// and to PREFIX.all. One more connection publishes "i" to every PREFIX.i, then one message
// "all" to PREFIX.all. Every connection must get its own message, then the broadcast.
// Prints one JSON line:
//   {"conns":N,"connected":N,"received":N,"broadcast":N,"wrong":0,"distinct_client_ids":N,
//    "ms":T}
// Exits 0 when the run completed (whatever the counts), 2 on usage errors or when a
// connection could not be made (the JSON line is printed first in that case too).
#include "nc_common.h"

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    nc_require_args(argc, argv, 4, "URL PREFIX COUNT");
    const char *url = argv[1], *prefix = argv[2];
    long count = nc_positive_count(argv[3]);
    int64_t t0 = nats_Now();
    natsOptions *opts = nc_options(url);
    natsConnection **conns = calloc((size_t)count, sizeof *conns);
    natsSubscription **own = calloc((size_t)count, sizeof *own);
    natsSubscription **all = calloc((size_t)count, sizeof *all);
    uint64_t *ids = calloc((size_t)count, sizeof *ids);
    if (!conns || !own || !all || !ids)
        return 2;

    char subj[512], all_subj[512];
    snprintf(all_subj, sizeof all_subj, "%s.all", prefix);
    long connected = 0;
    natsStatus failed = NATS_OK;
    for (long i = 0; i < count; i++) {
        natsStatus s = natsConnection_Connect(&conns[i], opts);
        if (s != NATS_OK) {
            fprintf(stderr, "connection %ld: %s\n", i, natsStatus_GetText(s));
            failed = s;
            break;
        }
        connected++;
        snprintf(subj, sizeof subj, "%s.%ld", prefix, i);
        CHECK(natsConnection_SubscribeSync(&own[i], conns[i], subj));
        CHECK(natsConnection_SubscribeSync(&all[i], conns[i], all_subj));
        CHECK(natsConnection_FlushTimeout(conns[i], 5000));
        CHECK(natsConnection_GetClientID(conns[i], &ids[i]));
    }

    long received = 0, broadcast = 0, wrong = 0, distinct = 0;
    if (failed == NATS_OK) {
        natsConnection *pnc = NULL;
        CHECK(natsConnection_Connect(&pnc, opts));
        for (long i = 0; i < count; i++) {
            char payload[32];
            int len = snprintf(payload, sizeof payload, "%ld", i);
            snprintf(subj, sizeof subj, "%s.%ld", prefix, i);
            CHECK(natsConnection_Publish(pnc, subj, payload, len));
        }
        CHECK(natsConnection_Publish(pnc, all_subj, "all", 3));
        CHECK(natsConnection_FlushTimeout(pnc, 10000));

        for (long i = 0; i < count; i++) {
            natsMsg *msg = NULL;
            char want[32];
            int wlen = snprintf(want, sizeof want, "%ld", i);
            if (natsSubscription_NextMsg(&msg, own[i], received ? 1000 : 5000) == NATS_OK) {
                received++;
                if (natsMsg_GetDataLength(msg) != wlen ||
                    memcmp(natsMsg_GetData(msg), want, (size_t)wlen) != 0)
                    wrong++;
                natsMsg_Destroy(msg);
            }
            if (natsSubscription_NextMsg(&msg, all[i], 1000) == NATS_OK) {
                broadcast++;
                if (natsMsg_GetDataLength(msg) != 3 || memcmp(natsMsg_GetData(msg), "all", 3) != 0)
                    wrong++;
                natsMsg_Destroy(msg);
            }
        }
        natsConnection_Destroy(pnc);
    }
    qsort(ids, (size_t)connected, sizeof *ids, cmp_u64);
    for (long i = 0; i < connected; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            distinct++;

    printf("{\"conns\":%ld,\"connected\":%ld,\"received\":%ld,\"broadcast\":%ld,\"wrong\":%ld,"
           "\"distinct_client_ids\":%ld,\"ms\":%lld}\n",
           count, connected, received, broadcast, wrong, distinct, (long long)(nats_Now() - t0));
    fflush(stdout);

    for (long i = 0; i < connected; i++) {
        natsSubscription_Destroy(own[i]);
        natsSubscription_Destroy(all[i]);
        natsConnection_Destroy(conns[i]);
    }
    natsOptions_Destroy(opts);
    free(conns);
    free(own);
    free(all);
    free(ids);
    nats_CloseAndWait(5000);
    return failed == NATS_OK ? 0 : 2;
}
