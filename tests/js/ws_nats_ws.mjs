// SPDX-License-Identifier: Apache-2.0
// node ws_nats_ws.mjs WS_URL SUBJECT_PREFIX
// Contract: drives nats.ws 1.30.3 — the browser NATS client — against heraldd's NATS over
// WebSocket listener (ws://host:http_port), in Node 20 with the `ws` package installed as
// globalThis.WebSocket (what a browser provides). Prints one JSON object on its last line:
//   {"ok":true, "server":…, "pubsub":["a","b","c"], "request":"re:ping", "headers":"v1",
//    "pubAck":{"stream":…, "seq":1}, "kv":{"value":"v2","revision":2},
//    "consumed":["e1","e2"]}
// and publishes "hello from nats.ws" on PREFIX.fromnode (the pytest side reads it over TCP).
// On failure: {"ok":false, "step":…, "error":…} and exit code 1. Bounded: exits 3 after 40 s.
import WebSocket from "ws";

globalThis.WebSocket = WebSocket; // nats.ws expects the browser's WebSocket
const { connect, StringCodec, headers, AckPolicy } = await import("nats.ws");

const [url, prefix] = process.argv.slice(2);
if (!url || !prefix) { console.error("usage: ws_nats_ws.mjs WS_URL SUBJECT_PREFIX"); process.exit(2); }
setTimeout(() => { console.log(JSON.stringify({ ok: false, step: "timeout", error: "timed out after 40 s" })); process.exit(3); }, 40000).unref();

const sc = StringCodec();
const res = { ok: false };
let step = "connect";
try {
  const nc = await connect({ servers: url, timeout: 5000, reconnect: false });
  res.server = nc.info && nc.info.server_name;

  step = "pubsub";
  const sub = nc.subscribe(`${prefix}.ps`, { max: 3 });
  const got = (async () => { const a = []; for await (const m of sub) a.push(sc.decode(m.data)); return a; })();
  for (const s of ["a", "b", "c"]) nc.publish(`${prefix}.ps`, sc.encode(s));
  res.pubsub = await got;

  step = "request";
  nc.subscribe(`${prefix}.svc`, { callback: (err, m) => { if (!err) m.respond(sc.encode("re:" + sc.decode(m.data))); } });
  const r = await nc.request(`${prefix}.svc`, sc.encode("ping"), { timeout: 5000 });
  res.request = sc.decode(r.data);

  step = "headers";
  const hsub = nc.subscribe(`${prefix}.hdr`, { max: 1 });
  const hgot = (async () => { for await (const m of hsub) return m.headers ? m.headers.get("X-Test") : null; })();
  const h = headers();
  h.set("X-Test", "v1");
  nc.publish(`${prefix}.hdr`, sc.encode("with headers"), { headers: h });
  res.headers = await hgot;

  step = "tcp";
  nc.publish(`${prefix}.fromnode`, sc.encode("hello from nats.ws"));
  await nc.flush();

  step = "jetstream";
  const stream = prefix.replace(/\./g, "_").toUpperCase();
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.js.>`] });
  const js = nc.jetstream();
  const pa = await js.publish(`${prefix}.js.e`, sc.encode("e1"));
  await js.publish(`${prefix}.js.e`, sc.encode("e2"), { msgID: "e2" });
  res.pubAck = { stream: pa.stream, seq: pa.seq, duplicate: pa.duplicate };

  step = "kv";
  const kv = await js.views.kv(`${stream}_KV`);
  await kv.put("k", sc.encode("v1"));
  await kv.put("k", sc.encode("v2"));
  const e = await kv.get("k");
  res.kv = { value: e ? sc.decode(e.value) : null, revision: e ? e.revision : null };

  step = "consume";
  await jsm.consumers.add(stream, { durable_name: "c1", ack_policy: AckPolicy.Explicit });
  const c = await js.consumers.get(stream, "c1");
  const batch = await c.fetch({ max_messages: 2, expires: 3000 });
  res.consumed = [];
  for await (const m of batch) { res.consumed.push(sc.decode(m.data)); m.ack(); }

  step = "close";
  await nc.drain();
  res.ok = true;
  console.log(JSON.stringify(res));
  process.exit(0);
} catch (err) {
  console.log(JSON.stringify({ ...res, ok: false, step, error: String(err && (err.stack || err.message || err)) }));
  process.exit(1);
}
