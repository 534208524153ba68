// SPDX-License-Identifier: Apache-2.0
// node js_request.mjs URL SUBJECT COUNT
// Contract: a responder connection answers SUBJECT with "re:" + request; a requester
// connection makes COUNT sequential requests, then COUNT concurrent ones, and COUNT/2 with
// noMux (one inbox per request). Prints one JSON line
// {"ok":N, "bad":0, "parallel_ok":N, "nomux_ok":N/2, "served":2N+N/2}.
import { connect, StringCodec } from "nats";

const [url, subject, countArg] = process.argv.slice(2);
if (!url || !subject || !countArg) { console.error("usage: js_request.mjs URL SUBJECT COUNT"); process.exit(2); }
setTimeout(() => { console.error("js_request: timed out"); process.exit(3); }, 15000).unref();
const count = Number(countArg);
const sc = StringCodec();

try {
  const rnc = await connect({ servers: url });
  let served = 0;
  rnc.subscribe(subject, {
    callback: (err, m) => {
      if (err) throw err;
      served++;
      m.respond(sc.encode("re:" + sc.decode(m.data)));
    },
  });
  await rnc.flush();
  const nc = await connect({ servers: url });
  let ok = 0, bad = 0;
  for (let i = 0; i < count; i++) {
    const r = await nc.request(subject, sc.encode("q" + i), { timeout: 2000 });
    if (sc.decode(r.data) === "re:q" + i) ok++; else bad++;
  }
  const replies = await Promise.all(
    Array.from({ length: count }, (_, i) => nc.request(subject, sc.encode("p" + i), { timeout: 3000 })));
  let parallelOk = 0;
  replies.forEach((r, i) => { if (sc.decode(r.data) === "re:p" + i) parallelOk++; else bad++; });
  let nomuxOk = 0;
  for (let i = 0; i < Math.floor(count / 2); i++) {
    const r = await nc.request(subject, sc.encode("n" + i), { timeout: 2000, noMux: true });
    if (sc.decode(r.data) === "re:n" + i) nomuxOk++; else bad++;
  }
  await rnc.flush();
  console.log(JSON.stringify({ ok, bad, parallel_ok: parallelOk, nomux_ok: nomuxOk, served }));
  await nc.close();
  await rnc.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
