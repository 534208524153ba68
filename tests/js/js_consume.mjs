// SPDX-License-Identifier: Apache-2.0
// node js_consume.mjs URL consumers STREAM SUBJECT N
// node js_consume.mjs URL kv BUCKET
// Contract: drives nats.js 2.29.3's consumer APIs against the server and prints what it
// observed, one JSON object per line with a "step" key; the pytest side judges. A step that
// threw prints {"step":…, "error":{"err_code":N, "code":…, "message":…}}.
//
// consumers: the caller created STREAM (capturing SUBJECT.>) holding N >= 20 messages, the
// i-th (1-based) at stream sequence i with payload "p<i>". Steps, in order (a delivery is
// [stream seq, consumer seq, redelivery count, payload ok]):
//   add            jsm.consumers.add: durable "JC", explicit acks, ack_wait 5 s
//   fetch          consumer.fetch({max_messages: 10}) : deliveries, each m.ack()
//   next           consumer.next(): delivery, acked with ackAck() (double ack) -> acked
//   nak            consumer.next() + m.nak(): delivery (redelivered to `consume`)
//   consume        consumer.consume({max_messages: 7}) until all N were seen, each m.ack()
//   next_empty     consumer.next({expires: 1000}) on a drained consumer -> got (false)
//   fetch_empty    consumer.fetch({max_messages: 5, expires: 1000}) -> deliveries ([])
//   info           num_ack_pending, ack_floor, delivered, num_pending, num_redelivered
//   ordered        js.consumers.get(STREAM) (an ordered consumer): consume N messages
//   push           js.subscribe(SUBJECT.>) with a durable "JP", deliverTo, manualAck: N acks
//   push_info      the push consumer's num_ack_pending / ack floor afterwards
//   done
// kv: bucket BUCKET with history 5; a=a1, b=b1, a=a2, c=c1, a=a3, delete b. Steps:
//   open, keys_empty, fill, keys, history_a, history_b, watch (initial values until
//   initializedFn, then the update d=d1), watch_key_history (key "a", include "history",
//   then the update a=a4), watch_updates (include "updates": only c=c2), destroy, done.
import { connect, StringCodec, AckPolicy, consumerOpts, createInbox, nanos } from "nats";

const [url, mode, ...rest] = process.argv.slice(2);
if (!url || !mode) { console.error("usage: js_consume.mjs URL consumers|kv ..."); process.exit(2); }
setTimeout(() => { console.error("js_consume: timed out"); process.exit(3); }, 25000).unref();
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

function delivery(m) {
  const i = m.info;
  return [i.streamSequence, i.deliverySequence, i.redeliveryCount, sc.decode(m.data) === `p${i.streamSequence}`];
}

// Resolves with the value of `p`, or rejects after `ms`.
function within(p, ms, what) {
  return Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no result in ${ms} ms`)), ms))]);
}

async function consumers(nc, stream, subject, n) {
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  await step("add", async () => {
    const ci = await jsm.consumers.add(stream, { durable_name: "JC", ack_policy: AckPolicy.Explicit, ack_wait: nanos(5000) });
    return { name: ci.name, num_pending: ci.num_pending };
  });
  const c = await js.consumers.get(stream, "JC");
  const seen = new Set();
  await step("fetch", async () => {
    const iter = await c.fetch({ max_messages: 10, expires: 3000 });
    const d = [];
    for await (const m of iter) { d.push(delivery(m)); seen.add(m.seq); m.ack(); }
    return { deliveries: d };
  });
  await step("next", async () => {
    const m = await c.next({ expires: 3000 });
    if (!m) return { got: false };
    seen.add(m.seq);
    return { got: true, delivery: delivery(m), acked: await m.ackAck() };
  });
  await step("nak", async () => {
    const first = await c.next({ expires: 3000 });
    if (!first) return { got: false };
    first.nak(); // the redelivery comes to a later request (consume)
    return { got: true, delivery: delivery(first) };
  });
  await step("consume", async () => {
    const d = [];
    const msgs = await c.consume({ max_messages: 7, expires: 5000 });
    const done = (async () => {
      for await (const m of msgs) {
        d.push(delivery(m));
        seen.add(m.seq);
        m.ack();
        if (seen.size >= n) break;
      }
    })();
    await within(done, 10000, "consume").catch(() => {});
    msgs.stop();
    return { deliveries: d };
  });
  await step("next_empty", async () => {
    const m = await c.next({ expires: 1000 });
    return { got: !!m, delivery: m ? delivery(m) : null };
  });
  await step("fetch_empty", async () => {
    const iter = await c.fetch({ max_messages: 5, expires: 1000 });
    const d = [];
    for await (const m of iter) { d.push(delivery(m)); m.ack(); }
    return { deliveries: d };
  });
  await nc.flush();
  await step("info", async () => {
    const ci = await jsm.consumers.info(stream, "JC");
    return {
      num_ack_pending: ci.num_ack_pending, ack_floor: ci.ack_floor.stream_seq, delivered: ci.delivered.stream_seq,
      num_pending: ci.num_pending, num_redelivered: ci.num_redelivered,
    };
  });
  await step("ordered", async () => {
    const oc = await js.consumers.get(stream);
    const d = [];
    const msgs = await oc.consume({ max_messages: 50 });
    const done = (async () => {
      for await (const m of msgs) {
        d.push(delivery(m));
        if (d.length >= n) break;
      }
    })();
    await within(done, 10000, "ordered").catch(() => {});
    msgs.stop();
    return { deliveries: d };
  });
  await step("push", async () => {
    const opts = consumerOpts();
    opts.durable("JP");
    opts.manualAck();
    opts.ackExplicit();
    opts.ackWait(5000);
    opts.deliverTo(createInbox());
    opts.bindStream(stream);
    const sub = await js.subscribe(`${subject}.>`, opts);
    const d = [];
    const done = (async () => {
      for await (const m of sub) {
        d.push(delivery(m));
        m.ack();
        if (d.length >= n) break;
      }
    })();
    await within(done, 10000, "push").catch(() => {});
    await nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    return { deliveries: d };
  });
  await step("push_info", async () => {
    const ci = await jsm.consumers.info(stream, "JP");
    return { num_ack_pending: ci.num_ack_pending, ack_floor: ci.ack_floor.stream_seq, num_pending: ci.num_pending,
             deliver_subject: ci.config.deliver_subject ?? null };
  });
}

function entry(e) {
  return { key: e.key, value: sc.decode(e.value), revision: e.revision, delta: e.delta ?? null, operation: e.operation };
}

// Reads watcher `w` until its initial values are done (initializedFn), then performs `after`
// and reads one more entry.
async function watchStep(kv, opts, after) {
  let initialized = false;
  const w = await kv.watch({ ...opts, initializedFn: () => { initialized = true; } });
  const initial = [];
  let update = null;
  const it = w[Symbol.asyncIterator]();
  const started = Date.now();
  // initializedFn runs once the last initial value was handed over (or at once when there
  // are none); the iterator is raced against it.
  let pending = null;
  while (Date.now() - started < 3000) {
    pending = pending ?? it.next();
    const r = await Promise.race([pending, new Promise((res) => setTimeout(() => res(null), 50))]);
    if (r === null) { if (initialized) break; continue; }
    pending = null;
    if (r.done) break;
    initial.push(entry(r.value));
  }
  if (after) {
    await after();
    const r = await within(pending ?? it.next(), 3000, "watch update");
    update = r.done ? null : entry(r.value);
  }
  w.stop();
  return { initial, initialized, update };
}

async function kvSteps(nc, bucket) {
  const js = nc.jetstream();
  let kv = null;
  await step("open", async () => { kv = await js.views.kv(bucket, { history: 5 }); return { ok: true }; });
  await step("keys_empty", async () => {
    const keys = [];
    for await (const k of await kv.keys()) keys.push(k);
    return { keys };
  });
  await step("fill", async () => {
    const revs = [];
    for (const [k, v] of [["a", "a1"], ["b", "b1"], ["a", "a2"], ["c", "c1"], ["a", "a3"]]) revs.push(await kv.put(k, sc.encode(v)));
    await kv.delete("b");
    return { revisions: revs };
  });
  await step("keys", async () => {
    const keys = [];
    for await (const k of await kv.keys()) keys.push(k);
    return { keys: keys.sort() };
  });
  for (const key of ["a", "b"]) {
    await step(`history_${key}`, async () => {
      const entries = [];
      for await (const e of await kv.history({ key })) entries.push(entry(e));
      return { entries };
    });
  }
  await step("watch", async () => watchStep(kv, {}, async () => { await kv.put("d", sc.encode("d1")); }));
  await step("watch_key_history", async () => watchStep(kv, { key: "a", include: "history" }, async () => { await kv.put("a", sc.encode("a4")); }));
  await step("watch_updates", async () => {
    const w = await kv.watch({ key: "c", include: "updates" });
    await kv.put("c", sc.encode("c2"));
    const r = await within(w[Symbol.asyncIterator]().next(), 3000, "watch updates");
    w.stop();
    return { first: r.done ? null : entry(r.value) };
  });
  await step("destroy", async () => ({ ok: await kv.destroy() }));
}

try {
  const nc = await connect({ servers: url });
  if (mode === "consumers") {
    const [stream, subject, n] = rest;
    await consumers(nc, stream, subject, Number(n));
  } else if (mode === "kv") {
    await kvSteps(nc, rest[0]);
  } else {
    console.error(`unknown mode ${mode}`);
    process.exit(2);
  }
  out({ step: "done" });
  await nc.close();
  process.exit(0);
} catch (e) {
  console.error(`js_consume: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
}
