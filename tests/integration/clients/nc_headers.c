// SPDX-License-Identifier: Apache-2.0
// nc_headers URL SUBJECT
//
// Contract: a subscriber connection (synchronous subscription on SUBJECT) receives four
// messages that a second connection publishes with natsConnection_PublishMsg:
//   0: headers X-Key: value1, X-Multi: a + b (two values), payload "hello"
//   1: header X-Only: yes, empty payload
//   2: no headers, payload "plain"
//   3: header X-Space: "a b: c", payload "sp"
// then a request with header X-Req: 42 to SUBJECT.req, whose responder answers with
// header X-Resp = the X-Req it got and payload "ok". Prints one JSON line per received
// message, {"n":i,"subject":..,"payload":..,"headers":{key:[values...]}} (keys sorted,
// "headers":null when the message had none), then
//   {"reply":{"status":"NATS_OK","payload":"ok","headers":{"X-Resp":["42"]}},"received":4}
// Exits 0 when the run completed, 2 on usage or connection errors.
#include "nc_common.h"

// Bytes above 0x7e pass through unescaped (as they always have in this client).
static void print_json_string(const char *s, int len) {
    nc_json_bytes(s, len, false);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_headers(natsMsg *msg) {
    const char **keys = NULL;
    int nkeys = 0;
    natsStatus s = natsMsgHeader_Keys(msg, &keys, &nkeys);
    if (s == NATS_NOT_FOUND || nkeys == 0) {
        printf("null");
        free((void *)keys);
        return;
    }
    CHECK(s);
    qsort(keys, (size_t)nkeys, sizeof *keys, cmp_str);
    putchar('{');
    for (int k = 0; k < nkeys; k++) {
        const char **values = NULL;
        int nvalues = 0;
        printf("%s", k ? "," : "");
        print_json_string(keys[k], (int)strlen(keys[k]));
        printf(":[");
        if (natsMsgHeader_Values(msg, keys[k], &values, &nvalues) == NATS_OK) {
            for (int v = 0; v < nvalues; v++) {
                printf("%s", v ? "," : "");
                print_json_string(values[v], (int)strlen(values[v]));
            }
        }
        free((void *)values);
        putchar(']');
    }
    putchar('}');
    free((void *)keys);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)sub;
    (void)closure;
    const char *req = NULL;
    natsMsg *resp = NULL;
    if (natsMsg_GetReply(msg) != NULL &&
        natsMsg_Create(&resp, natsMsg_GetReply(msg), NULL, "ok", 2) == NATS_OK) {
        if (natsMsgHeader_Get(msg, "X-Req", &req) == NATS_OK)
            natsMsgHeader_Set(resp, "X-Resp", req);
        natsConnection_PublishMsg(nc, resp);
        natsMsg_Destroy(resp);
    }
    natsMsg_Destroy(msg);
}

int main(int argc, char **argv) {
    nc_require_args(argc, argv, 3, "URL SUBJECT");
    const char *url = argv[1], *subject = argv[2];
    natsConnection *snc = nc_connect(url), *pnc = nc_connect(url);
    natsSubscription *sub = NULL, *rsub = NULL;
    char req_subject[512];
    snprintf(req_subject, sizeof req_subject, "%s.req", subject);
    CHECK(natsConnection_SubscribeSync(&sub, snc, subject));
    CHECK(natsConnection_Subscribe(&rsub, snc, req_subject, on_request, NULL));
    CHECK(natsConnection_FlushTimeout(snc, 5000));

    natsMsg *m = NULL;
    CHECK(natsMsg_Create(&m, subject, NULL, "hello", 5));
    CHECK(natsMsgHeader_Set(m, "X-Key", "value1"));
    CHECK(natsMsgHeader_Set(m, "X-Multi", "a"));
    CHECK(natsMsgHeader_Add(m, "X-Multi", "b"));
    CHECK(natsConnection_PublishMsg(pnc, m));
    natsMsg_Destroy(m);

    CHECK(natsMsg_Create(&m, subject, NULL, NULL, 0));
    CHECK(natsMsgHeader_Set(m, "X-Only", "yes"));
    CHECK(natsConnection_PublishMsg(pnc, m));
    natsMsg_Destroy(m);

    CHECK(natsMsg_Create(&m, subject, NULL, "plain", 5));
    CHECK(natsConnection_PublishMsg(pnc, m));
    natsMsg_Destroy(m);

    CHECK(natsMsg_Create(&m, subject, NULL, "sp", 2));
    CHECK(natsMsgHeader_Set(m, "X-Space", "a b: c"));
    CHECK(natsConnection_PublishMsg(pnc, m));
    natsMsg_Destroy(m);
    CHECK(natsConnection_FlushTimeout(pnc, 5000));

    int received = 0;
    for (int i = 0; i < 4; i++) {
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, sub, 5000);
        if (s == NATS_TIMEOUT)
            break;
        CHECK(s);
        received++;
        printf("{\"n\":%d,\"subject\":", i);
        print_json_string(natsMsg_GetSubject(msg), (int)strlen(natsMsg_GetSubject(msg)));
        printf(",\"payload\":");
        print_json_string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
        printf(",\"headers\":");
        print_headers(msg);
        printf("}\n");
        natsMsg_Destroy(msg);
    }

    natsMsg *req = NULL, *reply = NULL;
    CHECK(natsMsg_Create(&req, req_subject, NULL, "q", 1));
    CHECK(natsMsgHeader_Set(req, "X-Req", "42"));
    natsStatus rs = natsConnection_RequestMsg(&reply, pnc, req, 3000);
    printf("{\"reply\":{\"status\":\"%s\"", rs == NATS_OK ? "NATS_OK" : natsStatus_GetText(rs));
    if (rs == NATS_OK) {
        printf(",\"payload\":");
        print_json_string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
        printf(",\"headers\":");
        print_headers(reply);
        natsMsg_Destroy(reply);
    }
    printf("},\"received\":%d}\n", received);
    fflush(stdout);
    natsMsg_Destroy(req);

    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(rsub);
    natsConnection_Destroy(snc);
    natsConnection_Destroy(pnc);
    nats_CloseAndWait(2000);
    return 0;
}
