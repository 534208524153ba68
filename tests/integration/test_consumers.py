# SPDX-License-Identifier: Apache-2.0
"""Durable consumers (docs/consumers.md) through real clients and the raw protocol.

Clients: nats.c 3.4.1 (clients/nc_consume.c: pull/Fetch, push, queue group, ordered
consumer, KV watch/keys/history) and nats.js 2.29.3 (js/js_consume.mjs: consumers API
fetch/next/consume, ordered consumer, js.subscribe push, KV watch/keys/history).

Raw protocol: redelivery after ack_wait, backoff, max_deliver and +TERM with Herald's dead
letters and the advisories, +WPI, -NAK with a delay, double acks, pull status codes, push
heartbeats and flow control, workqueue and interest retention.

Timing assertions use generous bounds (a redelivery never before the configured time minus a
little, and not much later than it); no single wait is longer than ~5 s.
"""
from __future__ import annotations

import json
import time

import pytest

from conftest import (JsClient, encode_headers, json_lines, only_heraldd, parse_headers,
                      run_client, run_client_json, run_node)
from consumer_util import NS, AckToken, CEnv, collect, msg_get, status_of, wait_for


@pytest.fixture
def env(server):
    e = CEnv(server)
    yield e
    e.close()


def fill(env: CEnv, n: int, tokens: int = 5) -> None:
    """Stores message i (1-based) at stream sequence i with payload "p<i>" on subj.<i % tokens>."""
    for i in range(1, n + 1):
        assert env.pub(str(i % tokens), b"p%d" % i) == i


def data_msgs(got: list) -> list:
    return [(t, m) for t, m in got if status_of(m) is None]


# ======================================================================================
# nats.c
# ======================================================================================
def check_first_deliveries(deliveries: list, n: int) -> None:
    """Every message 1..n delivered, first deliveries in stream order, consumer sequences
    strictly increasing."""
    firsts = [s for s, c, d in deliveries if d == 1]
    assert firsts == list(range(1, n + 1)), f"first deliveries not 1..{n} in order: {firsts}"
    cseqs = [c for s, c, d in deliveries]
    assert cseqs == sorted(cseqs) and len(set(cseqs)) == len(cseqs), f"consumer seqs: {cseqs}"


def test_natsc_pull_fetch(env):
    n = 50
    fill(env, n)
    r = run_client_json("nc_consume", env.server.url, "pull", env.stream, f"{env.subj}.>", n, "NCPULL", 7, 5)
    assert "subscribe_status" not in r, r
    d = r["deliveries"]
    check_first_deliveries(d, n)
    again = [x for x in d if x[2] > 1]
    assert len(again) == 1 and again[0][0] == 5 and again[0][2] == 2, f"the NAKed message 5 must come back once: {again}"
    assert r["bad_payloads"] == 0 and r["ack_errors"] == 0 and r["fetch_errors"] == 0, r
    info = r["info"]
    assert info["num_ack_pending"] == 0 and info["num_pending"] == 0, info
    assert info["ack_floor_stream"] == n and info["delivered_stream"] == n, info
    assert info["delivered_consumer"] == n + 1 and info["ack_floor_consumer"] == n + 1, info


def test_natsc_push_durable_manual_ack(env):
    n = 50
    fill(env, n)
    r = run_client_json("nc_consume", env.server.url, "push", env.stream, f"{env.subj}.>", n, "NCPUSH", 7)
    assert "subscribe_status" not in r, r
    d = r["deliveries"]
    check_first_deliveries(d, n)
    again = [x for x in d if x[2] > 1]
    assert len(again) == 1 and again[0][0] == 7 and again[0][2] == 2, f"NAKed 7 must come back once: {again}"
    assert r["bad_payloads"] == 0 and r["ack_errors"] == 0, r
    info = r["info"]
    assert info["num_ack_pending"] == 0 and info["num_pending"] == 0 and info["ack_floor_stream"] == n, info


def test_natsc_queue_group(env):
    n, members = 150, 3
    r = run_client_json("nc_consume", env.server.url, "queue", env.stream, env.subj, n, "NCQ", members)
    assert "subscribe_status" not in r, r
    got = r["members"]
    assert len(got) == members
    allseqs = sorted(s for m in got for s in m)
    assert allseqs == list(range(1, n + 1)), \
        f"each message to exactly one member: counts {[len(m) for m in got]}, dups " \
        f"{sorted({s for s in allseqs if allseqs.count(s) > 1})[:10]}"
    assert all(len(m) > 0 for m in got), f"every member gets work: {[len(m) for m in got]}"
    assert r["bad_payloads"] == 0 and r["ack_errors"] == 0, r
    assert r["info"]["deliver_group"] == "NCQ", r["info"]
    assert r["info"]["num_ack_pending"] == 0 and r["info"]["ack_floor_stream"] == n, r["info"]


def test_natsc_ordered_consumer(env):
    """600 stored + 300 live messages through an ordered consumer: flow control kicks in
    every 256 messages; any gap would make nats.c reset the consumer (the consumer sequences
    would restart), so consumer sequences 1..900 prove there was none."""
    n, live = 600, 300
    fill(env, n)
    r = run_client_json("nc_consume", env.server.url, "ordered", env.stream, env.subj, n, live)
    assert "subscribe_status" not in r, r
    assert r["seqs"] == list(range(1, n + live + 1)), \
        f"stream seqs not 1..{n + live}: {len(r['seqs'])} messages, first wrong at " \
        f"{next((i for i, s in enumerate(r['seqs']) if s != i + 1), None)}"
    assert r["cseqs"] == list(range(1, n + live + 1)), "consumer seqs restarted: the ordered consumer was reset"
    assert r["bad_payloads"] == 0
    info = r["info"]
    assert info["flow_control"] is True and info["heartbeat_ns"] == 500_000_000, info
    assert info["delivered_consumer"] == n + live and info["delivered_stream"] == n + live, info


def steps_of(stdout: str) -> dict:
    return {o["step"]: o for o in json_lines(stdout) if "step" in o}


def E(key, value, revision, delta, op="PUT"):
    return {"key": key, "value": value, "revision": revision, "delta": delta, "op": op}


def test_natsc_kv_keys_history_watch(server):
    bucket = f"NCKV{time.monotonic_ns() % 10**9}"
    s = steps_of(run_client("nc_consume", server.url, "kv", bucket).stdout)
    assert "done" in s, s
    assert s["create_bucket"]["status"] == "OK"
    assert s["keys_empty"]["count"] == 0, s["keys_empty"]
    assert s["keys"]["status"] == "OK" and sorted(s["keys"]["keys"]) == ["a", "c"], s["keys"]
    assert s["history_a"]["entries"] == [E("a", "a1", 1, 2), E("a", "a2", 3, 1), E("a", "a3", 5, 0)]
    assert s["history_b"]["entries"] == [E("b", "b1", 2, 1), E("b", "", 6, 0, "DEL")]
    assert s["history_missing"]["status"] == "Not Found" and s["history_missing"]["entries"] == []
    w = s["watch_all"]
    assert w["initial"] == [E("c", "c1", 4, 2), E("a", "a3", 5, 1), E("b", "", 6, 0, "DEL")], w
    assert w["marker"] is True and w["update"] == E("d", "d1", 7, 0), w
    w = s["watch_a_history"]
    assert w["initial"] == [E("a", "a1", 1, 2), E("a", "a2", 3, 1), E("a", "a3", 5, 0)], w
    assert w["marker"] is True and w["update"] == E("a", "a4", 8, 0), w
    w = s["watch_c_meta_only"]  # headers_only: no values
    assert w["initial"] == [E("c", "", 4, 0)] and w["marker"] is True, w
    assert w["update"] == E("c", "", 9, 0), w
    assert s["delete_bucket"]["status"] == "OK"


# ======================================================================================
# nats.js
# ======================================================================================
def test_natsjs_consumers_fetch_next_consume_ordered_push(env):
    n = 40
    fill(env, n)
    s = steps_of(run_node("js_consume", env.server.url, "consumers", env.stream, env.subj, n, timeout=40).stdout)
    assert "done" in s, s
    errors = {k: v["error"] for k, v in s.items() if "error" in v}
    assert not errors, errors
    assert s["add"]["num_pending"] == n
    assert s["fetch"]["deliveries"] == [[i, i, 1, True] for i in range(1, 11)]
    assert s["next"]["delivery"] == [11, 11, 1, True] and s["next"]["acked"] is True, s["next"]
    assert s["nak"]["delivery"] == [12, 12, 1, True]
    cons = s["consume"]["deliveries"]
    seqs = [d[0] for d in cons]
    assert sorted(seqs) == list(range(12, n + 1)), f"consume saw {seqs}"
    assert all(d[3] for d in cons), "payloads"
    assert [d for d in cons if d[0] == 12][0][2] == 2, "the NAKed message comes back with redeliveryCount 2"
    assert all(d[2] == 1 for d in cons if d[0] != 12)
    assert s["next_empty"]["got"] is False
    assert s["fetch_empty"]["deliveries"] == []
    info = s["info"]
    assert info["num_ack_pending"] == 0 and info["ack_floor"] == n and info["num_pending"] == 0, info
    assert info["delivered"] == n, info
    assert [d[0] for d in s["ordered"]["deliveries"]] == list(range(1, n + 1))
    assert all(d[3] for d in s["ordered"]["deliveries"])
    push = s["push"]["deliveries"]
    assert [d[0] for d in push] == list(range(1, n + 1)) and all(d[3] for d in push), push
    pi = s["push_info"]
    assert pi["num_ack_pending"] == 0 and pi["ack_floor"] == n and pi["deliver_subject"], pi


def KE(key, value, revision, delta, op="PUT"):
    return {"key": key, "value": value, "revision": revision, "delta": delta, "operation": op}


def test_natsjs_kv_keys_history_watch(server):
    bucket = f"JSKV{time.monotonic_ns() % 10**9}"
    s = steps_of(run_node("js_consume", server.url, "kv", bucket).stdout)
    assert "done" in s, s
    errors = {k: v["error"] for k, v in s.items() if "error" in v}
    assert not errors, errors
    assert s["keys_empty"]["keys"] == []
    assert s["fill"]["revisions"] == [1, 2, 3, 4, 5]
    assert s["keys"]["keys"] == ["a", "c"]
    assert s["history_a"]["entries"] == [KE("a", "a1", 1, 2), KE("a", "a2", 3, 1), KE("a", "a3", 5, 0)]
    assert s["history_b"]["entries"] == [KE("b", "b1", 2, 1), KE("b", "", 6, 0, "DEL")]
    w = s["watch"]
    assert w["initial"] == [KE("c", "c1", 4, 2), KE("a", "a3", 5, 1), KE("b", "", 6, 0, "DEL")], w
    assert w["initialized"] is True and w["update"] == KE("d", "d1", 7, 0), w
    w = s["watch_key_history"]
    assert w["initial"] == [KE("a", "a1", 1, 2), KE("a", "a2", 3, 1), KE("a", "a3", 5, 0)], w
    assert w["initialized"] is True and w["update"] == KE("a", "a4", 8, 0), w
    assert s["watch_updates"]["first"] == KE("c", "c2", 9, 0)
    assert s["destroy"]["ok"] is True


# ======================================================================================
# Raw protocol: redelivery, backoff, dead letters, acks
# ======================================================================================
def test_redelivery_after_ack_wait_increments_delivered_count(env):
    env.durable("R", ack_wait=1 * NS)
    env.pub("a", b"hello")
    [m1] = env.fetch("R", 1, 0.5)
    a1 = AckToken(m1.reply)
    assert (a1.dc, a1.sseq, a1.cseq) == (1, 1, 1), a1
    env.pull("R", {"batch": 1, "expires": 3 * NS})
    got = data_msgs(collect(env.cl, 3.5, stop=lambda m: status_of(m) is None))
    assert got, "no redelivery within 3.5 s of a 1 s ack_wait"
    m2 = got[0][1]
    a2 = AckToken(m2.reply)
    assert (a2.dc, a2.sseq, a2.cseq) == (2, 1, 2), f"redelivery tokens: {a2}"
    assert m2.payload == b"hello" and m2.subject == f"{env.subj}.a"
    info = env.info("R")
    assert info["num_ack_pending"] == 1 and info["num_redelivered"] >= 1, info
    assert env.ack(m2, confirm=True).payload == b""
    info = env.info("R")
    assert info["num_ack_pending"] == 0 and info["ack_floor"]["stream_seq"] == 1, info


def test_redelivery_timing(env):
    """The redelivery comes after ack_wait (1 s), not before ~0.9 s, not after ~2.5 s."""
    env.durable("RT", ack_wait=1 * NS)
    env.pub("a", b"x")
    t0 = time.monotonic()
    env.pull("RT", {"batch": 2, "expires": 4 * NS})
    got = data_msgs(collect(env.cl, 4.5, t0=t0, stop=lambda m: status_of(m) is None and AckToken(m.reply).dc == 2))
    assert [AckToken(m.reply).dc for _, m in got] == [1, 2], got
    gap = got[1][0] - got[0][0]
    assert 0.9 <= gap <= 2.5, f"redelivered {gap:.3f} s after the delivery (ack_wait 1 s)"


def test_backoff_schedule(env):
    """backoff [0.2, 0.6, 1.0] s with max_deliver 4: the gaps between deliveries follow it,
    then the message is settled (MAX_DELIVERIES advisory, no fifth delivery)."""
    adv = JsClient(env.server)
    try:
        adv.sub(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{env.stream}.B", "adv")
        adv.expect_open()
        env.durable("B", backoff=[int(0.2 * NS), int(0.6 * NS), int(1.0 * NS)], max_deliver=4)
        env.pub("a", b"x")
        t0 = time.monotonic()
        env.pull("B", {"batch": 10, "expires": int(4.8 * NS)})
        got = data_msgs(collect(env.cl, 3.5, t0=t0,
                                stop=lambda m: status_of(m) is None and AckToken(m.reply).dc == 4))
        dcs = [AckToken(m.reply).dc for _, m in got]
        assert dcs == [1, 2, 3, 4], f"delivery counts {dcs}"
        ts = [t for t, _ in got]
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        assert 0.15 <= gaps[0] <= 0.6, f"gap 1 {gaps[0]:.3f} s, backoff 0.2 s (all: {gaps})"
        assert 0.5 <= gaps[1] <= 1.1, f"gap 2 {gaps[1]:.3f} s, backoff 0.6 s (all: {gaps})"
        assert 0.9 <= gaps[2] <= 1.6, f"gap 3 {gaps[2]:.3f} s, backoff 1.0 s (all: {gaps})"
        # The advisory comes when the 4th delivery's wait is over; no 5th delivery.
        advm = adv.next_msg(3.0)
        t_adv = time.monotonic() - t0
        body = json.loads(advm.payload)
        assert body["type"] == "io.nats.jetstream.advisory.v1.max_deliver", body
        assert body["stream_seq"] == 1 and body["deliveries"] == 4, body
        assert t_adv - ts[3] >= 0.8, f"settled {t_adv - ts[3]:.3f} s after the last delivery"
        rest = data_msgs(collect(env.cl, 0.5))
        assert rest == [], f"delivered again after max_deliver: {rest}"
        info = env.info("B")
        assert info["num_ack_pending"] == 0, info  # (whether the ack floor moves is not specified)
    finally:
        adv.close()


def dlq_env(env: CEnv, consumer: str, **config):
    """A dead-letter stream on `dlq<subj>.>` and a consumer whose dead_letter_subject is
    `dlq<subj>.dead`; returns (dlq stream name, dead-letter subject)."""
    dlq_stream = f"DLQ_{env.stream}"
    dl = f"dlq{env.subj}.dead"
    env.api.create_stream(dlq_stream, [f"dlq{env.subj}.>"])
    env.durable(consumer, dead_letter_subject=dl, **config)
    return dlq_stream, dl


ORIG_HEADERS = [("Customer", "c-42"), ("X-Trace", "abc def"), ("X-Empty-Ish", "-")]
ORIG_PAYLOAD = b"\x00\x01binary\r\nPUB x 1\r\n\xff" * 3


def check_dead_letter(env: CEnv, dlq_stream: str, dl: str, consumer: str, reason: str, deliveries: int):
    st = wait_for(lambda: env.state(dlq_stream)["messages"] >= 1 and env.state(dlq_stream), 3.0)
    assert st and st["messages"] == 1, f"dead-letter stream state: {env.state(dlq_stream)}"
    subject, hdrs, data = msg_get(env.api, dlq_stream, st["first_seq"])
    assert subject == dl
    assert data == ORIG_PAYLOAD, f"dead letter payload changed: {data!r}"
    orig_block = encode_headers(ORIG_HEADERS)
    orig_lines = orig_block[len(b"NATS/1.0\r\n"):-2]
    assert orig_lines in hdrs, f"original headers not byte-identical in {hdrs!r}"
    _, h = parse_headers(hdrs)
    assert h.get("Herald-Dead-Letter-Reason") == reason, h
    assert h.get("Herald-Dead-Letter-Stream") == env.stream, h
    assert h.get("Herald-Dead-Letter-Sequence") == "1", h
    assert h.get("Herald-Dead-Letter-Consumer") == consumer, h
    assert h.get("Herald-Dead-Letter-Deliveries") == str(deliveries), h
    assert h.get("Herald-Dead-Letter-Subject") == f"{env.subj}.orders", h
    assert h.get("Nats-Msg-Id") == f"hr-dlq.{env.stream}.{consumer}.1", h


@only_heraldd
def test_max_deliver_dead_letter_and_advisory(env):
    adv = JsClient(env.server)
    try:
        adv.sub(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{env.stream}.M", "adv")
        adv.expect_open()
        dlq_stream, dl = dlq_env(env, "M", ack_wait=int(0.3 * NS), max_deliver=2)
        env.api.publish(f"{env.subj}.orders", ORIG_PAYLOAD, ORIG_HEADERS)
        env.pull("M", {"batch": 5, "expires": int(2.5 * NS)})
        got = data_msgs(collect(env.cl, 2.0, stop=lambda m: status_of(m) is None and AckToken(m.reply).dc == 2))
        assert [AckToken(m.reply).dc for _, m in got] == [1, 2]
        for _, m in got:  # what the consumer saw is the original, untouched
            assert m.payload == ORIG_PAYLOAD and m.headers == encode_headers(ORIG_HEADERS)
        body = json.loads(adv.next_msg(3.0).payload)
        assert body["type"] == "io.nats.jetstream.advisory.v1.max_deliver", body
        assert (body["stream"], body["consumer"], body["stream_seq"], body["deliveries"]) == \
            (env.stream, "M", 1, 2), body
        check_dead_letter(env, dlq_stream, dl, "M", "max_deliveries", 2)
        assert data_msgs(collect(env.cl, 0.6)) == [], "delivered again after max_deliver"
        info = env.info("M")
        assert info["num_ack_pending"] == 0, info
        assert env.state()["messages"] == 1, "the original stays in a limits stream"
    finally:
        adv.close()


@only_heraldd
def test_term_dead_letter_and_advisory(env):
    adv = JsClient(env.server)
    try:
        adv.sub(f"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{env.stream}.T", "adv")
        adv.expect_open()
        dlq_stream, dl = dlq_env(env, "T", ack_wait=int(0.5 * NS))
        env.api.publish(f"{env.subj}.orders", ORIG_PAYLOAD, ORIG_HEADERS)
        [m] = env.fetch("T", 1, 0.5)
        assert env.ack(m, b"+TERM bad input", confirm=True).payload == b""
        body = json.loads(adv.next_msg(3.0).payload)
        assert body["type"] == "io.nats.jetstream.advisory.v1.terminated", body
        assert (body["stream"], body["consumer"], body["stream_seq"], body["consumer_seq"],
                body["deliveries"], body["reason"]) == (env.stream, "T", 1, 1, 1, "bad input"), body
        check_dead_letter(env, dlq_stream, dl, "T", "terminated", 1)
        env.pull("T", {"batch": 1, "expires": int(1.2 * NS)})  # past ack_wait: nothing comes back
        got = collect(env.cl, 2.0, stop=lambda m: status_of(m) is not None)
        assert data_msgs(got) == [], f"a terminated message was delivered again: {got}"
        info = env.info("T")
        assert info["num_ack_pending"] == 0 and info["ack_floor"]["stream_seq"] == 1, info
    finally:
        adv.close()


def test_wpi_extends_ack_wait(env):
    """+WPI every 0.5 s keeps a message with ack_wait 1 s from being redelivered; once the
    +WPIs stop it is redelivered about ack_wait later."""
    env.durable("W", ack_wait=1 * NS)
    env.pub("a", b"slow")
    [m] = env.fetch("W", 1, 0.5)
    env.pull("W", {"batch": 1, "expires": int(4.8 * NS)})
    end = time.monotonic() + 2.6
    while time.monotonic() < end:
        env.ack(m, b"+WPI")
        early = data_msgs(collect(env.cl, 0.5))
        assert early == [], f"redelivered although +WPI was sent every 0.5 s: {early}"
    env.ack(m, b"+WPI")
    # collect starts right after the last +WPI: its relative times are the gap.
    got = data_msgs(collect(env.cl, 2.2, stop=lambda x: status_of(x) is None))
    assert got, "never redelivered after the +WPIs stopped"
    a = AckToken(got[0][1].reply)
    assert a.dc == 2 and a.sseq == 1, a
    assert 0.85 <= got[0][0] <= 2.0, f"redelivered {got[0][0]:.3f} s after the last +WPI (ack_wait 1 s)"
    assert env.ack(got[0][1], confirm=True).payload == b""


def test_nak_immediate_and_with_delay(env):
    env.durable("N", ack_wait=5 * NS)
    env.pub("a", b"one")
    env.pub("a", b"two")
    [m1] = env.fetch("N", 1, 0.5)
    # plain -NAK: back at once
    env.ack(m1, b"-NAK")
    env.pull("N", {"batch": 1, "expires": 2 * NS})
    got = data_msgs(collect(env.cl, 2.5, stop=lambda x: status_of(x) is None))
    assert got and got[0][0] < 0.5, f"-NAK redelivery took {got[0][0] if got else None}"
    a = AckToken(got[0][1].reply)
    assert (a.sseq, a.dc) == (1, 2), a
    # -NAK with a delay of 0.8 s: not before, within a generous bound after
    env.ack(got[0][1], b'-NAK {"delay": 800000000}')
    t0 = time.monotonic()
    env.pull("N", {"batch": 2, "expires": int(3.5 * NS)})
    got = data_msgs(collect(env.cl, 4.0, t0=t0, stop=lambda x: status_of(x) is None and AckToken(x.reply).sseq == 1))
    tokens = [(AckToken(x.reply).sseq, AckToken(x.reply).dc, round(t, 3)) for t, x in got]
    assert [x[:2] for x in tokens] == [(2, 1), (1, 3)], f"expected message 2 at once, then 1 again: {tokens}"
    assert got[0][0] < 0.5, f"message 2 waited behind the delayed NAK: {tokens}"
    assert 0.75 <= got[1][0] <= 2.0, f"NAK delay 0.8 s, redelivered after {got[1][0]:.3f} s"


def test_double_ack_replies(env):
    env.durable("DA", ack_wait=5 * NS)
    for i in range(3):
        env.pub("a", b"m%d" % i)
    msgs = env.fetch("DA", 3, 0.5)
    assert len(msgs) == 3
    r = env.ack(msgs[0], b"+ACK", confirm=True)
    assert r.payload == b"" and r.headers is None, f"ack confirmation should be empty: {r!r}"
    r = env.ack(msgs[1], b"", confirm=True)  # an empty ack is an ack
    assert r.payload == b"" and r.headers is None, r
    r = env.ack(msgs[2], b"+WPI", confirm=True)
    assert r.payload == b"", r
    info = env.info("DA")
    assert info["num_ack_pending"] == 1 and info["ack_floor"]["stream_seq"] == 2, info
    r = env.ack(msgs[2], b"-NAK", confirm=True)
    assert r.payload == b"", r


# ======================================================================================
# Raw protocol: pull status codes
# ======================================================================================
def test_pull_404_no_wait_empty(env):
    env.durable("P4")
    env.pull("P4", {"batch": 3, "no_wait": True})
    got = collect(env.cl, 2.0, stop=lambda m: status_of(m) is not None)
    assert [status_of(m) for _, m in got] == [(404, "No Messages")], got
    assert got[0][0] < 0.5


def test_pull_408_expires(env):
    env.durable("P8")
    t0 = time.monotonic()
    env.pull("P8", {"batch": 3, "expires": int(0.5 * NS)})
    got = collect(env.cl, 2.5, t0=t0, stop=lambda m: status_of(m) is not None and status_of(m)[0] != 100)
    assert [status_of(m) for _, m in got] == [(408, "Request Timeout")], got
    assert 0.4 <= got[0][0] <= 1.5, f"408 after {got[0][0]:.3f} s for expires 0.5 s"
    # what the request still owed (nats.js's consume() counts on it), as nats-server says
    _, h = parse_headers(got[0][1].headers)
    assert h.get("Nats-Pending-Messages") == "3" and h.get("Nats-Pending-Bytes") == "0", h
    # partly served: the remaining batch
    env.pub("a", b"x")
    env.pull("P8", {"batch": 3, "expires": int(0.5 * NS)})
    got = collect(env.cl, 2.5, stop=lambda m: status_of(m) is not None and status_of(m)[0] != 100)
    assert len(data_msgs(got)) == 1 and status_of(got[-1][1]) == (408, "Request Timeout"), got
    _, h = parse_headers(got[-1][1].headers)
    assert h.get("Nats-Pending-Messages") == "2", h


def test_pull_409_max_bytes(env):
    env.durable("P9")
    env.pub("a", b"x" * 300)
    env.pub("a", b"y" * 300)
    # the first message alone is bigger than max_bytes: nothing, then 409
    env.pull("P9", {"batch": 2, "max_bytes": 100, "expires": 1 * NS})
    got = collect(env.cl, 2.0, stop=lambda m: status_of(m) is not None)
    assert [status_of(m) for _, m in got] == [(409, "Message Size Exceeds MaxBytes")], got
    # room for one of the two: one message, then 409
    env.pull("P9", {"batch": 2, "max_bytes": 500, "expires": 1 * NS})
    got = collect(env.cl, 2.0, stop=lambda m: status_of(m) is not None)
    assert len(data_msgs(got)) == 1 and AckToken(got[0][1].reply).sseq == 1, got
    assert status_of(got[-1][1]) == (409, "Message Size Exceeds MaxBytes"), got
    # the second is still there for the next request
    [m] = env.fetch("P9", 1, 0.5)
    assert AckToken(m.reply).sseq == 2 and m.payload == b"y" * 300


# ======================================================================================
# Raw protocol: push heartbeats and flow control
# ======================================================================================
def test_push_idle_heartbeats(env):
    deliver = f"dl.{env.subj}.hb"
    env.cl.sub(deliver, "hb")
    env.cl.expect_open()
    env.durable("H", deliver_subject=deliver, idle_heartbeat=int(0.2 * NS), ack_policy="none")
    t0 = time.monotonic()
    got = collect(env.cl, 1.1, t0=t0)
    hbs = [(t, m) for t, m in got if status_of(m) == (100, "Idle Heartbeat")]
    assert len(hbs) >= 3 and len(hbs) == len(got), f"expected only heartbeats every 0.2 s: {got}"
    assert hbs[0][1].subject == deliver and hbs[0][1].payload == b""
    _, h = parse_headers(hbs[-1][1].headers)
    assert h.get("Nats-Last-Consumer") == "0" and h.get("Nats-Last-Stream") == "0", h
    seq = env.pub("a", b"data")
    got = collect(env.cl, 1.0, t0=t0)
    data = data_msgs(got)
    assert len(data) == 1 and data[0][1].payload == b"data", got
    later = [m for t, m in got if status_of(m) == (100, "Idle Heartbeat") and t > data[0][0]]
    assert later, f"no heartbeat after the delivery: {got}"
    _, h = parse_headers(later[-1].headers)
    assert h.get("Nats-Last-Consumer") == "1" and h.get("Nats-Last-Stream") == str(seq), h


def test_push_flow_control(env):
    """With flow_control, a `100 FlowControl Request` (reply `$JS.FC.…`) comes once about
    1 MiB at most was delivered (docs/consumers.md: every 256 messages or 512 KiB;
    nats-server: ~1 MiB); delivery then stalls until it is answered — heartbeats meanwhile
    carry Nats-Consumer-Stalled — and resumes after the answer, nothing lost or reordered."""
    n, size = 2600, 1000
    payload = lambda i: (b"f%d-" % i).ljust(size, b"z")  # noqa: E731
    env.api.send(b"".join(f"PUB {env.subj}.a {size}\r\n".encode() + payload(i) + b"\r\n" for i in range(n)))
    env.api.expect_open()
    assert wait_for(lambda: env.state()["messages"] == n, 5.0), env.state()
    deliver = f"dl.{env.subj}.fc"
    env.cl.sub(deliver, "fc")
    env.cl.expect_open()
    env.durable("FC", deliver_subject=deliver, flow_control=True, idle_heartbeat=int(0.3 * NS),
                ack_policy="none")
    got, fc, fc_at, stalled_hb = [], None, None, None
    end = time.monotonic() + 5.0
    while time.monotonic() < end:
        # read until delivery stalls (a heartbeat saying so, or 1 s of silence)
        more = collect(env.cl, 1.0, stop=lambda m: status_of(m) == (100, "Idle Heartbeat"))
        for _, m in more:
            st = status_of(m)
            if st is None:
                got.append(m)
            elif st == (100, "FlowControl Request"):
                assert fc is None, "a second flow control request before the first was answered"
                fc, fc_at = m, sum(len(x.subject) + len(x.reply) + len(x.payload) for x in got)
            elif st == (100, "Idle Heartbeat"):
                stalled_hb = m
        if not more or stalled_hb is not None:
            break
    assert fc is not None, f"no flow control request after {len(got)} messages"
    assert fc.reply and fc.reply.startswith(f"$JS.FC.{env.stream}.FC."), fc
    assert fc_at <= 1_150_000, f"the first flow control request came after {fc_at} bytes"
    assert len(got) < n, "delivery never stalled waiting for the flow control answer"
    assert stalled_hb is not None, f"no heartbeat while stalled after {len(got)} messages"
    _, h = parse_headers(stalled_hb.headers)
    assert h.get("Nats-Consumer-Stalled") == fc.reply, h
    assert data_msgs(collect(env.cl, 0.5)) == [], "delivery went on without the flow control answer"
    env.cl.pub(fc.reply, b"")
    end = time.monotonic() + 5.0
    is_fc = lambda m: status_of(m) == (100, "FlowControl Request")  # noqa: E731
    while len(got) < n and time.monotonic() < end:
        for _, m in collect(env.cl, 1.0, stop=is_fc):  # answered as soon as it comes
            st = status_of(m)
            if st is None:
                got.append(m)
            elif st == (100, "FlowControl Request"):
                env.cl.pub(m.reply, b"")
    assert [m.payload for m in got] == [payload(i) for i in range(n)], \
        f"{len(got)} of {n} messages after answering, or out of order"


# ======================================================================================
# Retention
# ======================================================================================
def test_workqueue_retention(server):
    env = CEnv(server, retention="workqueue")
    try:
        env.durable("WQ")
        for i in range(10):
            env.pub(str(i % 2), b"w%d" % i)
        msgs = env.fetch("WQ", 10, 0.5)
        assert len(msgs) == 10
        for m in msgs[:6]:
            assert env.ack(m, confirm=True).payload == b""
        st = wait_for(lambda: (lambda s: s if s["messages"] == 4 else None)(env.state()), 2.0)
        assert st, f"acked messages must leave a workqueue stream: {env.state()}"
        assert st["first_seq"] == 7, st
        r = env.create("WQ2", durable_name="WQ2", ack_policy="explicit")
        assert r.get("error", {}).get("err_code") == 10099, r
        r = env.create("WQ3", durable_name="WQ3", ack_policy="explicit", filter_subject=f"{env.subj}.1")
        assert r.get("error", {}).get("err_code") == 10100, r
        for m in msgs[6:]:
            env.ack(m, confirm=True)
        assert wait_for(lambda: env.state()["messages"] == 0, 2.0), env.state()
    finally:
        env.close()


def test_interest_retention(server):
    env = CEnv(server, retention="interest")
    try:
        env.pub("a", b"nobody")
        assert wait_for(lambda: env.state()["messages"] == 0, 2.0), \
            f"a message no consumer is interested in is kept: {env.state()}"
        env.durable("IA", filter_subject=f"{env.subj}.a")
        env.durable("IB")
        sa = env.pub("a", b"for both")
        sb = env.pub("b", b"for B only")
        assert env.state()["messages"] == 2
        [ma] = env.fetch("IA", 1, 0.5)
        assert AckToken(ma.reply).sseq == sa
        env.ack(ma, confirm=True)
        time.sleep(0.1)
        assert env.state()["messages"] == 2, "removed before every interested consumer acked"
        mb = env.fetch("IB", 2, 0.5)
        assert [AckToken(m.reply).sseq for m in mb] == [sa, sb]
        env.ack(mb[0], confirm=True)
        st = wait_for(lambda: (lambda s: s if s["messages"] == 1 else None)(env.state()), 2.0)
        assert st and st["first_seq"] == sb, env.state()
        env.ack(mb[1], confirm=True)
        assert wait_for(lambda: env.state()["messages"] == 0, 2.0), env.state()
    finally:
        env.close()
