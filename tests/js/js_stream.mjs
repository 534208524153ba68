// SPDX-License-Identifier: Apache-2.0
// node js_stream.mjs URL STREAM PREFIX
// Contract: drives nats.js 2.29.3's JetStream stream API (jetstreamManager streams.* and
// js.publish with msgID / expect options) against the server and prints what it observed,
// one JSON object per line with a "step" key; the pytest side judges. A step that threw
// prints {"step":…, "error":{"err_code":N, "code":…, "message":…}}. The stream STREAM
// (subjects PREFIX.>) and STREAM_2 (PREFIX_2.>) are deleted at the end. Steps in order:
//   add, info_empty, publish (seqs), update, info, names, names_filtered, list,
//   get_seq, get_last, expect_last_seq, expect_last_seq_stale, expect_subject_seq,
//   expect_subject_seq_stale, msgid_first, msgid_dup, expect_last_msgid,
//   expect_stream_wrong, delete_message, get_deleted, purge_subject, info_after_purge_subject,
//   purge_all, info_after_purge, delete, info_deleted, done.
import { connect, StringCodec, headers } from "nats";

const [url, stream, prefix] = process.argv.slice(2);
if (!url || !stream || !prefix) { console.error("usage: js_stream.mjs URL STREAM PREFIX"); process.exit(2); }
setTimeout(() => { console.error("js_stream: timed out"); process.exit(3); }, 15000).unref();
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

function state(si) {
  return {
    name: si.config.name, subjects: si.config.subjects, max_msgs: si.config.max_msgs,
    description: si.config.description ?? null,
    messages: si.state.messages, first_seq: si.state.first_seq, last_seq: si.state.last_seq,
    num_subjects: si.state.num_subjects ?? 0, per_subject: si.state.subjects ?? {},
  };
}

function stored(sm) {
  return { subject: sm.subject, seq: sm.seq, data: sc.decode(sm.data),
           foo: sm.header ? sm.header.get("Foo") : "" };
}

try {
  const nc = await connect({ servers: url });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const a = `${prefix}.a`, b = `${prefix}.b`;

  await step("add", async () => state(await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] })));
  await step("info_empty", async () => state(await jsm.streams.info(stream)));
  await step("publish", async () => {
    const seqs = [];
    for (let i = 0; i < 6; i++) {
      const h = headers();
      h.set("Foo", `f${i}`);
      const pa = await js.publish(i % 2 ? b : a, sc.encode(`m${i}`), { headers: h });
      seqs.push(pa.seq);
    }
    return { seqs };
  });
  await step("update", async () =>
    state(await jsm.streams.update(stream, { subjects: [`${prefix}.>`], description: "updated" })));
  await step("info", async () => state(await jsm.streams.info(stream, { subjects_filter: ">" })));
  await jsm.streams.add({ name: `${stream}_2`, subjects: [`${prefix}_2.>`] });
  await step("names", async () => {
    const names = [];
    for await (const n of jsm.streams.names()) names.push(n);
    return { names: names.sort() };
  });
  await step("names_filtered", async () => {
    const names = [];
    for await (const n of jsm.streams.names(`${prefix}_2.x`)) names.push(n);
    return { names };
  });
  await step("list", async () => {
    const names = [];
    for await (const si of jsm.streams.list()) names.push(si.config.name);
    return { names: names.sort() };
  });
  await step("get_seq", async () => stored(await jsm.streams.getMessage(stream, { seq: 2 })));
  await step("get_last", async () => stored(await jsm.streams.getMessage(stream, { last_by_subj: a })));

  // expectations: the stream holds seqs 1..6 (m0..m5; .a has 1,3,5 and .b 2,4,6)
  await step("expect_last_seq", async () => await js.publish(a, sc.encode("els"), { expect: { lastSequence: 6 } }));
  await step("expect_last_seq_stale", async () => await js.publish(a, sc.encode("x"), { expect: { lastSequence: 6 } }));
  await step("expect_subject_seq", async () => await js.publish(b, sc.encode("ess"), { expect: { lastSubjectSequence: 6 } }));
  await step("expect_subject_seq_stale", async () => await js.publish(b, sc.encode("x"), { expect: { lastSubjectSequence: 6 } }));
  await step("msgid_first", async () => await js.publish(a, sc.encode("once"), { msgID: "js-id-1" }));
  await step("msgid_dup", async () => await js.publish(a, sc.encode("twice"), { msgID: "js-id-1" }));
  await step("expect_last_msgid", async () => await js.publish(a, sc.encode("after"), { msgID: "js-id-2", expect: { lastMsgID: "js-id-1" } }));
  await step("expect_stream_wrong", async () => await js.publish(a, sc.encode("x"), { expect: { streamName: "NOT_IT" } }));

  await step("delete_message", async () => ({ ok: await jsm.streams.deleteMessage(stream, 1) }));
  await step("get_deleted", async () => stored(await jsm.streams.getMessage(stream, { seq: 1 })));
  await step("purge_subject", async () => await jsm.streams.purge(stream, { filter: b }));
  await step("info_after_purge_subject", async () => state(await jsm.streams.info(stream, { subjects_filter: ">" })));
  await step("purge_all", async () => await jsm.streams.purge(stream));
  await step("info_after_purge", async () => state(await jsm.streams.info(stream)));
  await step("delete", async () => ({ ok: await jsm.streams.delete(stream) }));
  await jsm.streams.delete(`${stream}_2`);
  await step("info_deleted", async () => state(await jsm.streams.info(stream)));
  out({ step: "done" });
  await nc.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
