// SPDX-License-Identifier: Apache-2.0
// node js_bigpayload.mjs URL SUBJECT
// Contract: publishes a payload of exactly INFO max_payload bytes (1 MiB) with a known byte
// pattern and receives it on another connection; then tries max_payload+1 bytes, which
// nats.js itself refuses using the server's advertised max_payload. Prints one JSON line
// {"max_payload":1048576,"received":1048576,"equal":true,"oversize_error":"MAX_PAYLOAD_EXCEEDED"}.
import { connect } from "nats";

const [url, subject] = process.argv.slice(2);
if (!url || !subject) { console.error("usage: js_bigpayload.mjs URL SUBJECT"); process.exit(2); }
setTimeout(() => { console.error("js_bigpayload: timed out"); process.exit(3); }, 15000).unref();

try {
  const snc = await connect({ servers: url });
  const pnc = await connect({ servers: url });
  const max = pnc.info.max_payload;
  const data = new Uint8Array(max);
  for (let i = 0; i < max; i++) data[i] = (i * 7 + 3) & 0xff;
  const sub = snc.subscribe(subject, { max: 1 });
  await snc.flush();
  pnc.publish(subject, data);
  await pnc.flush();
  let received = -1, equal = false;
  for await (const m of sub) {
    received = m.data.length;
    equal = received === max && m.data.every((b, i) => b === data[i]);
  }
  let oversize = "none";
  try {
    pnc.publish(subject, new Uint8Array(max + 1));
  } catch (e) {
    oversize = String(e.code);
  }
  console.log(JSON.stringify({ max_payload: max, received, equal, oversize_error: oversize }));
  await pnc.close();
  await snc.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
