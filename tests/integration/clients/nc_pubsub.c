// SPDX-License-Identifier: Apache-2.0
// nc_pubsub URL PUB_SUBJECT COUNT SIZE [SUB_SUBJECT [WAIT_MS]]
//
// Contract: one nats.c connection subscribes (synchronously) to SUB_SUBJECT (default:
// PUB_SUBJECT), a second connection publishes COUNT messages of SIZE bytes to PUB_SUBJECT.
// Message i carries i as 10 decimal digits followed by a pattern derived from i, so order
// and content are both checkable. Prints one JSON line:
//   {"sent":N,"received":N,"in_order":true,"content_ok":true,"subject_ok":true,"extra":0,
//    "bytes":N*SIZE}
// WAIT_MS (default 5000) bounds the wait for each next message.
// Exits 0 when the run completed (whatever the counts), 2 on usage or connection errors.
#include "nc_common.h"

static void fill(char *buf, long size, long i) {
    long j = 0;
    if (size >= 10) {
        char head[16];
        snprintf(head, sizeof head, "%010ld", i % 10000000000L);
        memcpy(buf, head, 10);
        j = 10;
    }
    for (; j < size; j++)
        buf[j] = (char)('a' + (i + j) % 26);
}

int main(int argc, char **argv) {
    nc_require_args(argc, argv, 5, "URL PUB_SUBJECT COUNT SIZE [SUB_SUBJECT [WAIT_MS]]");
    const char *url = argv[1], *subject = argv[2];
    long count = strtol(argv[3], NULL, 10), size = strtol(argv[4], NULL, 10);
    const char *sub_subject = argc > 5 ? argv[5] : subject;
    long wait_ms = argc > 6 ? strtol(argv[6], NULL, 10) : 5000;
    if (count < 0 || size < 0 || wait_ms < 1) {
        fprintf(stderr, "bad COUNT, SIZE or WAIT_MS\n");
        return 2;
    }

    natsConnection *snc = nc_connect(url), *pnc = nc_connect(url);
    natsSubscription *sub = NULL;
    CHECK(natsConnection_SubscribeSync(&sub, snc, sub_subject));
    CHECK(natsSubscription_SetPendingLimits(sub, -1, -1));
    CHECK(natsConnection_FlushTimeout(snc, 5000));

    char *buf = malloc((size_t)size + 1), *want = malloc((size_t)size + 1);
    if (buf == NULL || want == NULL)
        return 2;
    for (long i = 0; i < count; i++) {
        fill(buf, size, i);
        CHECK(natsConnection_Publish(pnc, subject, buf, (int)size));
    }
    CHECK(natsConnection_FlushTimeout(pnc, 10000));

    long received = 0, extra = 0;
    bool in_order = true, content_ok = true, subject_ok = true;
    while (received < count) {
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, sub, wait_ms);
        if (s == NATS_TIMEOUT)
            break;
        CHECK(s);
        if (strcmp(natsMsg_GetSubject(msg), subject) != 0)
            subject_ok = false;
        const char *data = natsMsg_GetData(msg);
        int len = natsMsg_GetDataLength(msg);
        if (len != size) {
            content_ok = false;
        } else {
            long seq = received;
            if (size >= 10) {
                char head[11];
                memcpy(head, data, 10);
                head[10] = '\0';
                seq = strtol(head, NULL, 10);
                if (seq != received)
                    in_order = false;
            }
            fill(want, size, seq);
            if (memcmp(want, data, (size_t)size) != 0)
                content_ok = false;
        }
        received++;
        natsMsg_Destroy(msg);
    }
    // Anything beyond COUNT is a duplicate or stray message.
    for (;;) {
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, sub, 200) != NATS_OK)
            break;
        extra++;
        natsMsg_Destroy(msg);
    }

    printf("{\"sent\":%ld,\"received\":%ld,\"in_order\":%s,\"content_ok\":%s,"
           "\"subject_ok\":%s,\"extra\":%ld,\"bytes\":%ld}\n",
           count, received, in_order ? "true" : "false", content_ok ? "true" : "false",
           subject_ok ? "true" : "false", extra, received * size);
    fflush(stdout);

    free(buf);
    free(want);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(snc);
    natsConnection_Destroy(pnc);
    nats_CloseAndWait(2000);
    return 0;
}
