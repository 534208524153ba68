// SPDX-License-Identifier: Apache-2.0
// nc_kv URL BUCKET
//
// Contract: drives the nats.c (3.4.1) key-value API (kvStore) against the server and
// prints what it observed, one JSON object per line with a "step" key; the pytest side
// judges. Only the calls that need no consumer are used (no keys/history/watch). The
// bucket is deleted again at the end. Steps, in order:
//   create_bucket, put, get, get_missing, put_again, get_revision, get_old_revision,
//   create, create_again, update, update_stale, get_updated, delete, get_deleted,
//   create_after_delete, get_recreated, purge, get_purged, status, delete_bucket, done.
// Each step has "status" (the natsStatus name) and, when it is NATS_ERR, "error" (the
// text of nats_GetLastError). Exits 0 when the run completed, 2 on usage or connection
// errors.
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

static const char *status_name(natsStatus s) {
    switch (s) {
    case NATS_OK:
        return "NATS_OK";
    case NATS_ERR:
        return "NATS_ERR";
    case NATS_NOT_FOUND:
        return "NATS_NOT_FOUND";
    case NATS_TIMEOUT:
        return "NATS_TIMEOUT";
    case NATS_NO_RESPONDERS:
        return "NATS_NO_RESPONDERS";
    default:
        return natsStatus_GetText(s);
    }
}

static void json_str(const char *s, int n) {
    putchar('"');
    for (int i = 0; s != NULL && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c > 0x7e)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void step(const char *name, natsStatus s) {
    printf("{\"step\":\"%s\",\"status\":\"%s\"", name, status_name(s));
    if (s == NATS_ERR) {
        const char *err = nats_GetLastError(NULL);
        printf(",\"error\":");
        json_str(err, err ? (int)strlen(err) : 0);
    }
}

static void end(void) {
    printf("}\n");
    fflush(stdout);
}

static const char *op_name(kvOperation op) {
    switch (op) {
    case kvOp_Put:
        return "PUT";
    case kvOp_Delete:
        return "DEL";
    case kvOp_Purge:
        return "PURGE";
    default:
        return "UNKNOWN";
    }
}

static void entry_fields(kvEntry *e) {
    if (e == NULL)
        return;
    printf(",\"key\":");
    json_str(kvEntry_Key(e), (int)strlen(kvEntry_Key(e)));
    printf(",\"value\":");
    json_str(kvEntry_Value(e), kvEntry_ValueLen(e));
    printf(",\"revision\":%llu,\"op\":\"%s\"", (unsigned long long)kvEntry_Revision(e),
           op_name(kvEntry_Operation(e)));
}

static void get_step(kvStore *kv, const char *name, const char *key) {
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, kv, key);
    step(name, s);
    entry_fields(e);
    end();
    kvEntry_Destroy(e);
}

static uint64_t rev_step(const char *name, natsStatus s, uint64_t rev) {
    step(name, s);
    printf(",\"revision\":%llu", (unsigned long long)(s == NATS_OK ? rev : 0));
    end();
    return s == NATS_OK ? rev : 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: nc_kv URL BUCKET\n");
        return 2;
    }
    const char *url = argv[1], *bucket = argv[2];
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    CHECK(natsOptions_Create(&opts));
    CHECK(natsOptions_SetURL(opts, url));
    CHECK(natsOptions_SetAllowReconnect(opts, false));
    CHECK(natsOptions_SetTimeout(opts, 5000));
    CHECK(natsConnection_Connect(&nc, opts));
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    CHECK(natsConnection_JetStream(&js, nc, &jo));

    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = bucket;
    kc.History = 1;
    kvStore *kv = NULL;
    natsStatus s = js_CreateKeyValue(&kv, js, &kc);
    step("create_bucket", s);
    if (kv != NULL)
        printf(",\"bucket\":\"%s\"", kvStore_Bucket(kv));
    end();
    if (kv == NULL) {
        printf("{\"step\":\"done\"}\n");
        return 0;
    }

    uint64_t rev = 0;
    s = kvStore_PutString(&rev, kv, "k1", "v1");
    uint64_t put_rev = rev_step("put", s, rev);
    get_step(kv, "get", "k1");
    get_step(kv, "get_missing", "nope");
    s = kvStore_PutString(&rev, kv, "k1", "v1b");
    uint64_t put2_rev = rev_step("put_again", s, rev);

    kvEntry *e = NULL;
    s = kvStore_GetRevision(&e, kv, "k1", put2_rev);
    step("get_revision", s);
    entry_fields(e);
    end();
    kvEntry_Destroy(e);
    e = NULL;
    s = kvStore_GetRevision(&e, kv, "k1", put_rev); // history 1: replaced by put_again
    step("get_old_revision", s);
    entry_fields(e);
    end();
    kvEntry_Destroy(e);
    e = NULL;

    s = kvStore_CreateString(&rev, kv, "k2", "c1");
    uint64_t create_rev = rev_step("create", s, rev);
    s = kvStore_CreateString(&rev, kv, "k2", "c-again");
    rev_step("create_again", s, rev);
    s = kvStore_UpdateString(&rev, kv, "k2", "c2", create_rev);
    rev_step("update", s, rev);
    s = kvStore_UpdateString(&rev, kv, "k2", "c3", create_rev); // stale revision
    rev_step("update_stale", s, rev);
    get_step(kv, "get_updated", "k2");

    s = kvStore_Delete(kv, "k1");
    step("delete", s);
    end();
    get_step(kv, "get_deleted", "k1");
    s = kvStore_CreateString(&rev, kv, "k1", "reborn");
    rev_step("create_after_delete", s, rev);
    get_step(kv, "get_recreated", "k1");

    s = kvStore_Purge(kv, "k2", NULL);
    step("purge", s);
    end();
    get_step(kv, "get_purged", "k2");

    kvStatus *st = NULL;
    s = kvStore_Status(&st, kv);
    step("status", s);
    if (st != NULL)
        printf(",\"bucket\":\"%s\",\"values\":%llu,\"history\":%lld,\"ttl\":%lld,\"replicas\":%lld",
               kvStatus_Bucket(st), (unsigned long long)kvStatus_Values(st),
               (long long)kvStatus_History(st), (long long)kvStatus_TTL(st),
               (long long)kvStatus_Replicas(st));
    end();
    kvStatus_Destroy(st);

    kvStore_Destroy(kv);
    s = js_DeleteKeyValue(js, bucket);
    step("delete_bucket", s);
    end();

    printf("{\"step\":\"done\"}\n");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    nats_Close();
    return 0;
}
