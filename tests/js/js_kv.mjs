// SPDX-License-Identifier: Apache-2.0
// node js_kv.mjs URL BUCKET
// Contract: drives nats.js 2.29.3's key-value view (js.views.kv) against the server with the
// calls that need no consumer (no keys/history/watch) and prints what it observed, one JSON
// object per line with a "step" key; the pytest side judges. A step that threw prints
// {"step":…, "error":{"err_code":N, "code":…, "message":…}}. The bucket is destroyed at
// the end. Steps in order:
//   open, put, get, get_missing, put_again, get_revision, create, create_again, update,
//   update_stale, get_updated, delete, get_deleted, create_after_delete, get_recreated,
//   purge, get_purged, status, destroy, done.
import { connect, StringCodec } from "nats";

const [url, bucket] = process.argv.slice(2);
if (!url || !bucket) { console.error("usage: js_kv.mjs URL BUCKET"); process.exit(2); }
setTimeout(() => { console.error("js_kv: timed out"); process.exit(3); }, 15000).unref();
const sc = StringCodec();

function out(obj) { console.log(JSON.stringify(obj)); }

async function step(name, fn) {
  try {
    const r = await fn();
    out({ step: name, ...r });
    return r;
  } catch (e) {
    const api = e && e.api_error ? e.api_error : {};
    out({ step: name, error: { err_code: api.err_code ?? 0, code: String(e.code ?? ""), message: String(e.message) } });
    return null;
  }
}

// An entry as {found, key, value, revision, operation}; a missing key is {found:false}.
function entry(e) {
  if (!e) return { found: false };
  return { found: true, key: e.key, value: sc.decode(e.value), revision: e.revision, operation: e.operation };
}

try {
  const nc = await connect({ servers: url });
  const js = nc.jetstream();
  let kv = null;
  await step("open", async () => {
    kv = await js.views.kv(bucket, { history: 1 });
    return { bucket: kv.bucket ?? bucket };
  });
  const p1 = await step("put", async () => ({ revision: await kv.put("k1", sc.encode("v1")) }));
  await step("get", async () => entry(await kv.get("k1")));
  await step("get_missing", async () => entry(await kv.get("nope")));
  const p2 = await step("put_again", async () => ({ revision: await kv.put("k1", sc.encode("v1b")) }));
  await step("get_revision", async () => entry(await kv.get("k1", { revision: p2 ? p2.revision : 0 })));
  const c1 = await step("create", async () => ({ revision: await kv.create("k2", sc.encode("c1")) }));
  await step("create_again", async () => ({ revision: await kv.create("k2", sc.encode("c-again")) }));
  await step("update", async () => ({ revision: await kv.update("k2", sc.encode("c2"), c1 ? c1.revision : 0) }));
  await step("update_stale", async () => ({ revision: await kv.update("k2", sc.encode("c3"), c1 ? c1.revision : 0) }));
  await step("get_updated", async () => entry(await kv.get("k2")));
  await step("delete", async () => { await kv.delete("k1"); return { ok: true }; });
  await step("get_deleted", async () => entry(await kv.get("k1")));
  await step("create_after_delete", async () => ({ revision: await kv.create("k1", sc.encode("reborn")) }));
  await step("get_recreated", async () => entry(await kv.get("k1")));
  await step("purge", async () => { await kv.purge("k2"); return { ok: true }; });
  await step("get_purged", async () => entry(await kv.get("k2")));
  await step("status", async () => {
    const st = await kv.status();
    return { bucket: st.bucket, values: st.values, history: st.history, backingStore: st.backingStore };
  });
  await step("destroy", async () => ({ ok: await kv.destroy() }));
  void p1;
  out({ step: "done" });
  await nc.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
