// SPDX-License-Identifier: Apache-2.0
// node js_noresponders.mjs URL SUBJECT
// Contract: requests on SUBJECT, where nobody listens, once with the shared (mux) inbox and
// once with noMux; nats.js must reject both with an error whose code is "503", well before
// the 3 s timeout. Prints one JSON line {"mux":{"code":"503","ms":T}, "nomux":{...},
// "after_ok": true} where after_ok says the connection still works (a request to a
// responder that is then started succeeds).
import { connect, StringCodec } from "nats";

const [url, subject] = process.argv.slice(2);
if (!url || !subject) { console.error("usage: js_noresponders.mjs URL SUBJECT"); process.exit(2); }
setTimeout(() => { console.error("js_noresponders: timed out"); process.exit(3); }, 15000).unref();
const sc = StringCodec();

async function attempt(nc, opts) {
  const t0 = Date.now();
  try {
    await nc.request(subject, sc.encode("anyone?"), { timeout: 3000, ...opts });
    return { code: "none", ms: Date.now() - t0 };
  } catch (e) {
    return { code: String(e.code), ms: Date.now() - t0 };
  }
}

try {
  const nc = await connect({ servers: url });
  const mux = await attempt(nc, {});
  const nomux = await attempt(nc, { noMux: true });
  nc.subscribe(subject, { callback: (_e, m) => m.respond(sc.encode("here")) });
  await nc.flush();
  const r = await nc.request(subject, sc.encode("now?"), { timeout: 2000 });
  console.log(JSON.stringify({ mux, nomux, after_ok: sc.decode(r.data) === "here" }));
  await nc.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
