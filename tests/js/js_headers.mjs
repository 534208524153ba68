// SPDX-License-Identifier: Apache-2.0
// node js_headers.mjs URL SUBJECT
// Contract: one connection publishes to SUBJECT (a) headers X-Key: v1, X-Multi: a + b with
// payload "hello", (b) header X-Only: yes with an empty payload, (c) no headers, payload
// "plain"; a subscriber on another connection reports each as
// {"payload":..,"headers":{key:[values]} or null}. Then a request carrying X-Req: 42 to
// SUBJECT.req, answered with X-Resp = X-Req. Prints one JSON line
// {"msgs":[...3...], "reply":{"payload":"ok","headers":{"X-Resp":["42"]}}}.
import { connect, headers, StringCodec } from "nats";

const [url, subject] = process.argv.slice(2);
if (!url || !subject) { console.error("usage: js_headers.mjs URL SUBJECT"); process.exit(2); }
setTimeout(() => { console.error("js_headers: timed out"); process.exit(3); }, 15000).unref();
const sc = StringCodec();

function dump(h) {
  if (!h) return null;
  const out = {};
  for (const k of [...h.keys()].sort()) out[k] = h.values(k);
  return out;
}

try {
  const snc = await connect({ servers: url });
  const pnc = await connect({ servers: url });
  const msgs = [];
  snc.subscribe(subject, { callback: (err, m) => {
    if (err) throw err;
    msgs.push({ payload: sc.decode(m.data), headers: dump(m.headers) });
  } });
  snc.subscribe(subject + ".req", { callback: (err, m) => {
    if (err) throw err;
    const h = headers();
    h.set("X-Resp", m.headers ? m.headers.get("X-Req") : "missing");
    m.respond(sc.encode("ok"), { headers: h });
  } });
  await snc.flush();

  const h1 = headers();
  h1.append("X-Key", "v1");
  h1.append("X-Multi", "a");
  h1.append("X-Multi", "b");
  pnc.publish(subject, sc.encode("hello"), { headers: h1 });
  const h2 = headers();
  h2.set("X-Only", "yes");
  pnc.publish(subject, new Uint8Array(0), { headers: h2 });
  pnc.publish(subject, sc.encode("plain"));
  await pnc.flush();

  const rh = headers();
  rh.set("X-Req", "42");
  const r = await pnc.request(subject + ".req", sc.encode("q"), { headers: rh, timeout: 2000 });
  await snc.flush();
  console.log(JSON.stringify({ msgs, reply: { payload: sc.decode(r.data), headers: dump(r.headers) } }));
  await pnc.close();
  await snc.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
