// SPDX-License-Identifier: Apache-2.0
// node js_queue.mjs URL SUBJECT MEMBERS COUNT
// Contract: MEMBERS nats.js connections join queue group "workers" on SUBJECT; another
// connection publishes COUNT messages "0".."COUNT-1". Prints one JSON line
// {"counts":[per member], "total":N, "duplicates":0, "missing":0}.
import { connect, StringCodec } from "nats";

const [url, subject, membersArg, countArg] = process.argv.slice(2);
if (!url || !subject || !membersArg || !countArg) {
  console.error("usage: js_queue.mjs URL SUBJECT MEMBERS COUNT"); process.exit(2);
}
setTimeout(() => { console.error("js_queue: timed out"); process.exit(3); }, 15000).unref();
const members = Number(membersArg), count = Number(countArg);
const sc = StringCodec();

try {
  const conns = [], counts = new Array(members).fill(0), seen = new Array(count).fill(0);
  for (let i = 0; i < members; i++) {
    const nc = await connect({ servers: url });
    nc.subscribe(subject, {
      queue: "workers",
      callback: (err, m) => {
        if (err) throw err;
        counts[i]++;
        const n = Number(sc.decode(m.data));
        if (Number.isInteger(n) && n >= 0 && n < count) seen[n]++;
      },
    });
    await nc.flush();
    conns.push(nc);
  }
  const pnc = await connect({ servers: url });
  for (let i = 0; i < count; i++) pnc.publish(subject, sc.encode(String(i)));
  await pnc.flush();
  for (const nc of conns) await nc.flush();
  const total = counts.reduce((a, b) => a + b, 0);
  const duplicates = seen.reduce((a, c) => a + (c > 1 ? c - 1 : 0), 0);
  const missing = seen.filter((c) => c === 0).length;
  console.log(JSON.stringify({ counts, total, duplicates, missing }));
  await pnc.close();
  for (const nc of conns) await nc.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
