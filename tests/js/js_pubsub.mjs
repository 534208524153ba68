// SPDX-License-Identifier: Apache-2.0
// node js_pubsub.mjs URL PREFIX
// Contract: one nats.js connection subscribes to wildcard and literal patterns under PREFIX
// (P), another publishes to a fixed list of subjects; after both connections are flushed,
// prints one JSON line {"got": {pattern: [subjects in arrival order]}, "max": N,
// "payload_ok": bool} where "max" is how many of 5 messages a {max: 3} subscription got.
import { connect, StringCodec } from "nats";

const [url, prefix] = process.argv.slice(2);
if (!url || !prefix) { console.error("usage: js_pubsub.mjs URL PREFIX"); process.exit(2); }
setTimeout(() => { console.error("js_pubsub: timed out"); process.exit(3); }, 15000).unref();

const sc = StringCodec();
const P = (s) => s.replace(/^P/, prefix).replace(/^Q/, prefix + "q");
const patterns = ["P.*", "P.>", "P.a.*.c", "P.a.b", "P.*.b"];
const subjects = ["P.a", "P.b", "P.a.b", "P.x.b", "P.a.b.c", "P.a.x.c", "P", "P.a.b.c.d", "Q.a"];

try {
  const snc = await connect({ servers: url });
  const pnc = await connect({ servers: url });
  const got = {};
  let payloadOk = true;
  for (const pat of patterns) {
    got[pat] = [];
    snc.subscribe(P(pat), {
      callback: (err, m) => {
        if (err) throw err;
        got[pat].push(m.subject.replace(prefix + "q", "Q").replace(prefix, "P"));
        if (sc.decode(m.data) !== "data:" + m.subject) payloadOk = false;
      },
    });
  }
  let maxGot = 0;
  snc.subscribe(P("Q.max"), { max: 3, callback: () => { maxGot++; } });
  await snc.flush();
  for (const s of subjects) pnc.publish(P(s), sc.encode("data:" + P(s)));
  for (let i = 0; i < 5; i++) pnc.publish(P("Q.max"), sc.encode("m" + i));
  await pnc.flush();
  await snc.flush();
  console.log(JSON.stringify({ got, max: maxGot, payload_ok: payloadOk }));
  await pnc.close();
  await snc.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
