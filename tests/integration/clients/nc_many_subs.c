// SPDX-License-Identifier: Apache-2.0
// nc_many_subs URL PREFIX COUNT
//
// Contract: ONE nats.c connection makes COUNT synchronous subscriptions, PREFIX.0 ..
// PREFIX.<COUNT-1>, plus one wildcard subscription PREFIX.*; a second connection publishes
// one message to each PREFIX.i with payload "i". Every subscription must get exactly its
// own message, and the wildcard one all COUNT. Prints one JSON line:
//   {"subs":N,"received":N,"wrong":0,"missing":0,"extra":0,"wildcard":N,"ms":T}
// Exits 0 when the run completed (whatever the counts), 2 on usage or connection errors.
#include "nc_common.h"

int main(int argc, char **argv) {
    nc_require_args(argc, argv, 4, "URL PREFIX COUNT");
    const char *url = argv[1], *prefix = argv[2];
    long count = nc_positive_count(argv[3]);
    int64_t t0 = nats_Now();
    natsConnection *snc = nc_connect(url), *pnc = nc_connect(url);
    natsSubscription **subs = calloc((size_t)count, sizeof *subs);
    natsSubscription *wild = NULL;
    if (subs == NULL)
        return 2;
    char subj[512];
    for (long i = 0; i < count; i++) {
        snprintf(subj, sizeof subj, "%s.%ld", prefix, i);
        CHECK(natsConnection_SubscribeSync(&subs[i], snc, subj));
    }
    snprintf(subj, sizeof subj, "%s.*", prefix);
    CHECK(natsConnection_SubscribeSync(&wild, snc, subj));
    CHECK(natsSubscription_SetPendingLimits(wild, -1, -1));
    CHECK(natsConnection_FlushTimeout(snc, 10000));

    for (long i = 0; i < count; i++) {
        char payload[32];
        int len = snprintf(payload, sizeof payload, "%ld", i);
        snprintf(subj, sizeof subj, "%s.%ld", prefix, i);
        CHECK(natsConnection_Publish(pnc, subj, payload, len));
    }
    CHECK(natsConnection_FlushTimeout(pnc, 10000));

    long received = 0, wrong = 0, missing = 0, extra = 0, wildcard = 0;
    for (long i = 0; i < count; i++) {
        natsMsg *msg = NULL;
        // Generous wait for the first one, then the rest are already queued.
        natsStatus s = natsSubscription_NextMsg(&msg, subs[i], received ? 1000 : 5000);
        if (s == NATS_TIMEOUT) {
            missing++;
            continue;
        }
        CHECK(s);
        char want[32];
        int wlen = snprintf(want, sizeof want, "%ld", i);
        snprintf(subj, sizeof subj, "%s.%ld", prefix, i);
        if (natsMsg_GetDataLength(msg) != wlen || memcmp(natsMsg_GetData(msg), want, (size_t)wlen) ||
            strcmp(natsMsg_GetSubject(msg), subj) != 0)
            wrong++;
        received++;
        natsMsg_Destroy(msg);
    }
    for (;;) {
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, wild, wildcard < count ? 2000 : 200) != NATS_OK)
            break;
        wildcard++;
        natsMsg_Destroy(msg);
    }
    CHECK(natsConnection_FlushTimeout(snc, 5000));
    for (long i = 0; i < count; i++) {
        uint64_t queued = 0;
        CHECK(natsSubscription_QueuedMsgs(subs[i], &queued));
        extra += (long)queued;
    }

    printf("{\"subs\":%ld,\"received\":%ld,\"wrong\":%ld,\"missing\":%ld,\"extra\":%ld,"
           "\"wildcard\":%ld,\"ms\":%lld}\n",
           count, received, wrong, missing, extra, wildcard, (long long)(nats_Now() - t0));
    fflush(stdout);

    for (long i = 0; i < count; i++)
        natsSubscription_Destroy(subs[i]);
    natsSubscription_Destroy(wild);
    free(subs);
    natsConnection_Destroy(snc);
    natsConnection_Destroy(pnc);
    nats_CloseAndWait(2000);
    return 0;
}
