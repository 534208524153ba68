// SPDX-License-Identifier: Apache-2.0
// nc_queue URL SUBJECT MEMBERS COUNT [GROUPS]
//
// Contract: GROUPS (default 1) queue groups "g0".."gN", each of MEMBERS members; every
// member is its own nats.c connection with a synchronous queue subscription on SUBJECT.
// One more connection publishes COUNT messages whose payload is the decimal sequence
// number. Each group must get every message exactly once, spread over its members.
// Prints one JSON line:
//   {"groups":G,"members":K,"count":N,"per_group":[{"counts":[..K..],"total":N,
//     "duplicates":0,"missing":0,"out_of_range":0}, ...]}
// Exits 0 when the run completed (whatever the counts), 2 on usage or connection errors.
#include "nc_common.h"

int main(int argc, char **argv) {
    nc_require_args(argc, argv, 5, "URL SUBJECT MEMBERS COUNT [GROUPS]");
    const char *url = argv[1], *subject = argv[2];
    int members = atoi(argv[3]);
    long count = strtol(argv[4], NULL, 10);
    int groups = argc > 5 ? atoi(argv[5]) : 1;
    if (members < 1 || groups < 1 || count < 0) {
        fprintf(stderr, "bad MEMBERS, COUNT or GROUPS\n");
        return 2;
    }
    int n = members * groups;
    natsConnection **conns = calloc((size_t)n, sizeof *conns);
    natsSubscription **subs = calloc((size_t)n, sizeof *subs);
    long *counts = calloc((size_t)n, sizeof *counts);
    unsigned char *seen = calloc((size_t)groups * (size_t)(count ? count : 1), 1);
    long *out_of_range = calloc((size_t)groups, sizeof *out_of_range);
    if (!conns || !subs || !counts || !seen || !out_of_range)
        return 2;

    for (int g = 0; g < groups; g++) {
        char queue[32];
        snprintf(queue, sizeof queue, "g%d", g);
        for (int m = 0; m < members; m++) {
            int k = g * members + m;
            conns[k] = nc_connect(url);
            CHECK(natsConnection_QueueSubscribeSync(&subs[k], conns[k], subject, queue));
            CHECK(natsSubscription_SetPendingLimits(subs[k], -1, -1));
            CHECK(natsConnection_FlushTimeout(conns[k], 5000));
        }
    }

    natsConnection *pnc = nc_connect(url);
    for (long i = 0; i < count; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%ld", i);
        CHECK(natsConnection_Publish(pnc, subject, buf, len));
    }
    CHECK(natsConnection_FlushTimeout(pnc, 10000));

    // Collect until every group has COUNT messages or nothing arrives for 2 s.
    long total_expected = count * groups, total = 0;
    int64_t last_progress = nats_Now();
    while (total < total_expected && nats_Now() - last_progress < 2000) {
        bool progress = false;
        for (int k = 0; k < n; k++) {
            natsMsg *msg = NULL;
            while (natsSubscription_NextMsg(&msg, subs[k], 1) == NATS_OK) {
                int g = k / members;
                char buf[32];
                int len = natsMsg_GetDataLength(msg);
                if (len > 0 && len < (int)sizeof buf) {
                    memcpy(buf, natsMsg_GetData(msg), (size_t)len);
                    buf[len] = '\0';
                    long seq = strtol(buf, NULL, 10);
                    if (seq >= 0 && seq < count) {
                        unsigned char *c = &seen[(size_t)g * (size_t)count + (size_t)seq];
                        if (*c < 255)
                            (*c)++;
                    } else {
                        out_of_range[g]++;
                    }
                } else {
                    out_of_range[g]++;
                }
                counts[k]++;
                total++;
                progress = true;
                natsMsg_Destroy(msg);
            }
        }
        if (progress)
            last_progress = nats_Now();
    }
    // Grace period: anything arriving now is a duplicate.
    nats_Sleep(200);
    for (int k = 0; k < n; k++) {
        natsMsg *msg = NULL;
        while (natsSubscription_NextMsg(&msg, subs[k], 1) == NATS_OK) {
            counts[k]++;
            int g = k / members;
            out_of_range[g]++; // counted as a stray: it came after the group was complete
            natsMsg_Destroy(msg);
        }
    }

    printf("{\"groups\":%d,\"members\":%d,\"count\":%ld,\"per_group\":[", groups, members, count);
    for (int g = 0; g < groups; g++) {
        long gtotal = 0, dups = 0, missing = 0;
        printf("%s{\"counts\":[", g ? "," : "");
        for (int m = 0; m < members; m++) {
            long c = counts[g * members + m];
            gtotal += c;
            printf("%s%ld", m ? "," : "", c);
        }
        for (long i = 0; i < count; i++) {
            unsigned char c = seen[(size_t)g * (size_t)count + (size_t)i];
            if (c == 0)
                missing++;
            else if (c > 1)
                dups += c - 1;
        }
        printf("],\"total\":%ld,\"duplicates\":%ld,\"missing\":%ld,\"out_of_range\":%ld}", gtotal,
               dups, missing, out_of_range[g]);
    }
    printf("]}\n");
    fflush(stdout);

    for (int k = 0; k < n; k++) {
        natsSubscription_Destroy(subs[k]);
        natsConnection_Destroy(conns[k]);
    }
    natsConnection_Destroy(pnc);
    free(conns);
    free(subs);
    free(counts);
    free(seen);
    free(out_of_range);
    nats_CloseAndWait(2000);
    return 0;
}
