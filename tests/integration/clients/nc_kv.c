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
#include "nc_common.h"

static void step(const char *name, natsStatus s) {
    printf("{\"step\":\"%s\",\"status\":\"%s\"", name, nc_status_name(s));
    if (s == NATS_ERR) {
        const char *err = nats_GetLastError(NULL);
        printf(",\"error\":");
        nc_json_str(err, err ? (int)strlen(err) : 0);
    }
}

static void entry_fields(kvEntry *e) {
    if (e == NULL)
        return;
    printf(",\"key\":");
    nc_json_str(kvEntry_Key(e), (int)strlen(kvEntry_Key(e)));
    printf(",\"value\":");
    nc_json_str(kvEntry_Value(e), kvEntry_ValueLen(e));
    printf(",\"revision\":%llu,\"op\":\"%s\"", (unsigned long long)kvEntry_Revision(e),
           nc_kv_op_name(kvEntry_Operation(e)));
}

static void get_step(kvStore *kv, const char *name, const char *key) {
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, kv, key);
    step(name, s);
    entry_fields(e);
    nc_end_line();
    kvEntry_Destroy(e);
}

static uint64_t rev_step(const char *name, natsStatus s, uint64_t rev) {
    step(name, s);
    printf(",\"revision\":%llu", (unsigned long long)(s == NATS_OK ? rev : 0));
    nc_end_line();
    return s == NATS_OK ? rev : 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: nc_kv URL BUCKET\n");
        return 2;
    }
    const char *url = argv[1], *bucket = argv[2];
    natsConnection *nc = nc_connect(url);
    jsCtx *js = nc_jetstream(nc, NULL);

    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = bucket;
    kc.History = 1;
    kvStore *kv = NULL;
    natsStatus s = js_CreateKeyValue(&kv, js, &kc);
    step("create_bucket", s);
    if (kv != NULL)
        printf(",\"bucket\":\"%s\"", kvStore_Bucket(kv));
    nc_end_line();
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
    nc_end_line();
    kvEntry_Destroy(e);
    e = NULL;
    s = kvStore_GetRevision(&e, kv, "k1", put_rev); // history 1: replaced by put_again
    step("get_old_revision", s);
    entry_fields(e);
    nc_end_line();
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
    nc_end_line();
    get_step(kv, "get_deleted", "k1");
    s = kvStore_CreateString(&rev, kv, "k1", "reborn");
    rev_step("create_after_delete", s, rev);
    get_step(kv, "get_recreated", "k1");

    s = kvStore_Purge(kv, "k2", NULL);
    step("purge", s);
    nc_end_line();
    get_step(kv, "get_purged", "k2");

    kvStatus *st = NULL;
    s = kvStore_Status(&st, kv);
    step("status", s);
    if (st != NULL)
        printf(",\"bucket\":\"%s\",\"values\":%llu,\"history\":%lld,\"ttl\":%lld,\"replicas\":%lld",
               kvStatus_Bucket(st), (unsigned long long)kvStatus_Values(st),
               (long long)kvStatus_History(st), (long long)kvStatus_TTL(st),
               (long long)kvStatus_Replicas(st));
    nc_end_line();
    kvStatus_Destroy(st);

    kvStore_Destroy(kv);
    s = js_DeleteKeyValue(js, bucket);
    step("delete_bucket", s);
    nc_end_line();

    printf("{\"step\":\"done\"}\n");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return 0;
}
