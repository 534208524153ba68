// SPDX-License-Identifier: Apache-2.0
// nc_many_subs URL PREFIX COUNT
//
// Contract: ONE nats.c connection makes COUNT synchronous subscriptions, PREFIX.0 ..
// PREFIX.<COUNT-1>, plus one wildcard subscription PREFIX.*; a second connection publishes
// one message to each PREFIX.i with payload "i". Every subscription must get exactly its
// own message, and the wildcard one all COUNT. Prints one JSON line:
//   {"subs":N,"received":N,"wrong":0,"missing":0,"extra":0,"wildcard":N,"ms":T}
// Exits 0 when the run completed (whatever the counts), 2 on usage or connection errors.
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                      \
    do {                                                                                 \
        natsStatus s_ = (call);                                                          \
        if (s_ != NATS_OK) {                                                             \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                \
                    natsStatus_GetText(s_));                                             \
            nats_PrintLastErrorStack(stderr);                                            \
            exit(2);                                                                     \
        }                                                                                \
    } while (0)

static natsConnection *connect_to(const char *url) {
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    CHECK(natsOptions_Create(&opts));
    CHECK(natsOptions_SetURL(opts, url));
    CHECK(natsOptions_SetAllowReconnect(opts, false));
    CHECK(natsOptions_SetTimeout(opts, 5000));
    CHECK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    return nc;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s URL PREFIX COUNT\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *prefix = argv[2];
    long count = strtol(argv[3], NULL, 10);
    if (count < 1) {
        fprintf(stderr, "bad COUNT\n");
        return 2;
    }
    int64_t t0 = nats_Now();
    natsConnection *snc = connect_to(url), *pnc = connect_to(url);
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
