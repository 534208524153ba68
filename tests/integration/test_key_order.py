# SPDX-License-Identifier: Apache-2.0
"""Key-ordered delivery (Herald's `ordering_key`, docs/consumers.md).

A pull consumer with `ordering_key` ("header:Customer" or "token:2") is shared by 4 members,
each a thread with its own raw connection, pulling one message at a time (batch 1, so a
member holds at most one message and is blocked reading its socket while it waits: the
time it reads a message is, within scheduling jitter, the time it arrived). Each message is
"processed" for a random 0-20 ms, then acked — or, one time in ten, NAKed (redelivered at
once) — or, one time in fifty, dropped without an answer (redelivered after ack_wait, 1 s).
Every processing is recorded as [start, end] on one monotonic clock: start when the message
was read, end just before the ack/NAK was sent (a dropped one ends where it started: its
key stays busy until the redelivery, which the checks below must see).

Asserted per key: no two processings of the key overlap; the key's messages are processed in
stream order, a message's every (re)delivery before the next message's first, and the next
message never starts before the previous one was acked; every message is acked exactly once.
Overall: some moment has two messages of different keys in flight (the keys do proceed in
parallel), and the consumer ends with nothing pending.
"""
from __future__ import annotations

import json
import random
import threading
import time

import pytest

from conftest import JsClient, encode_headers, only_heraldd
from consumer_util import NS, AckToken, CEnv, collect, status_of

pytestmark = only_heraldd  # ordering_key is a Herald extension

MEMBERS = 4
DEADLINE = 18.0  # seconds for all members together
ACK_WAIT = 1.0   # seconds
NAK = 0.10       # share of deliveries NAKed
DROP = 0.02      # share of deliveries neither acked nor NAKed (redelivered after ack_wait)


def publish_all(env: CEnv, msgs: list) -> dict:
    """Publishes [(subject, headers or None, payload)] pipelined; returns {seq: index}."""
    c = env.api
    for i, (subject, headers, payload) in enumerate(msgs):
        reply = f"{c.inbox}.k{i}"
        if headers:
            c.hpub(subject, encode_headers(headers), payload, reply)
        else:
            c.pub(subject, payload, reply)
    by_seq = {}
    for _ in msgs:
        m = c.next_msg(5.0)
        i = int(m.subject.rsplit(".k", 1)[1])
        ack = json.loads(m.payload)
        assert "seq" in ack, ack
        by_seq[ack["seq"]] = i
    assert len(by_seq) == len(msgs)
    return by_seq


class Member(threading.Thread):
    def __init__(self, n: int, env: CEnv, consumer: str, seed: int, shared):
        super().__init__(name=f"member-{n}", daemon=True)
        self.n, self.env, self.consumer = n, env, consumer
        self.rng = random.Random(seed)
        self.shared = shared
        self.events = []  # (seq, dc, start, end, "ack"|"nak", member)
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the test
            self.error = f"{type(e).__name__}: {e}"

    def _run(self):
        c = JsClient(self.env.server)
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.env.stream}.{self.consumer}"
        body = json.dumps({"batch": 1, "expires": int(0.3 * NS)}).encode()
        k = 0
        try:
            while not self.shared["stop"].is_set():
                k += 1
                reply = f"{c.inbox}.r{k}"
                c.pub(subject, body, reply)
                m = c.next_msg(3.0)  # a delivery keeps its stream subject; a status comes on `reply`
                st = status_of(m)
                if st is not None:
                    assert st == (408, "Request Timeout") and m.subject == reply, \
                        f"member {self.n}: unexpected {m!r} for request {reply}"
                    continue
                start = time.monotonic()
                tok = AckToken(m.reply)
                fate = self.rng.random()
                if fate < DROP:  # "crashed" while processing: redelivered after ack_wait
                    self.events.append((tok.sseq, tok.dc, start, start, "drop", self.n))
                    continue
                time.sleep(self.rng.uniform(0, 0.020))
                nak = fate < DROP + NAK
                end = time.monotonic()
                c.pub(m.reply, b"-NAK" if nak else b"+ACK")
                self.events.append((tok.sseq, tok.dc, start, end, "nak" if nak else "ack", self.n))
                if not nak:
                    with self.shared["lock"]:
                        self.shared["acked"] += 1
                        if self.shared["acked"] >= self.shared["total"]:
                            self.shared["stop"].set()
            c.ping()  # the last ack has been read by the server
        finally:
            c.close()


def run_members(env: CEnv, consumer: str, total: int, seed: int) -> list:
    shared = {"stop": threading.Event(), "lock": threading.Lock(), "acked": 0, "total": total}
    members = [Member(i, env, consumer, seed * 10 + i, shared) for i in range(MEMBERS)]
    for m in members:
        m.start()
    deadline = time.monotonic() + DEADLINE
    for m in members:
        m.join(max(0.1, deadline - time.monotonic()))
    shared["stop"].set()
    for m in members:
        m.join(5)
    errors = [m.error for m in members if m.error]
    assert not errors, errors
    assert not any(m.is_alive() for m in members), "a member did not stop"
    events = [e for m in members for e in m.events]
    assert shared["acked"] >= total, \
        f"only {shared['acked']} of {total} messages acked within {DEADLINE} s (seed {seed})"
    return events


def check_key_order(events: list, key_of_seq: dict, seed: int) -> None:
    by_key: dict = {}
    for e in events:
        by_key.setdefault(key_of_seq[e[0]], []).append(e)
    acked = {}
    for e in events:
        if e[4] == "ack":
            acked[e[0]] = acked.get(e[0], 0) + 1
    missing = sorted(set(key_of_seq) - set(acked))
    assert not missing, f"never acked: {missing[:20]} (seed {seed})"
    twice = sorted(s for s, n in acked.items() if n > 1)
    assert not twice, f"acked more than once (redelivered after an ack): {twice[:20]} (seed {seed})"
    for key, evs in by_key.items():
        evs.sort(key=lambda e: e[2])
        for a, b in zip(evs, evs[1:]):
            assert b[2] >= a[3], (
                f"key {key!r}: seq {b[0]} (dc {b[1]}, member {b[5]}) started at {b[2]:.4f} while seq "
                f"{a[0]} (dc {a[1]}, member {a[5]}) was still in flight until {a[3]:.4f} (seed {seed})")
        seqs = [e[0] for e in evs]
        want = sorted(s for s, k in key_of_seq.items() if k == key)
        order = [s for i, s in enumerate(seqs) if i == 0 or s != seqs[i - 1]]
        assert order == want, f"key {key!r}: processed in the order {seqs}, stream order is {want} (seed {seed})"
        for a, b in zip(evs, evs[1:]):
            if b[0] != a[0]:
                assert a[4] == "ack", (f"key {key!r}: seq {b[0]} delivered after seq {a[0]} was "
                                       f"{a[4]}ed, before it was acked (seed {seed})")
        dcs: dict = {}
        for e in evs:
            dcs.setdefault(e[0], []).append(e[1])
        for s, d in dcs.items():
            assert d == list(range(1, len(d) + 1)), f"seq {s}: delivery counts {d} (seed {seed})"


def max_parallel_keys(events: list, key_of_seq: dict) -> int:
    points = []
    for e in events:
        points.append((e[2], 1, key_of_seq[e[0]]))
        points.append((e[3], -1, key_of_seq[e[0]]))
    points.sort(key=lambda p: (p[0], p[1]))  # ends before starts at the same instant
    live: dict = {}
    best = 0
    for _, d, key in points:
        live[key] = live.get(key, 0) + d
        if live[key] == 0:
            del live[key]
        best = max(best, len(live))
    return best


@pytest.mark.parametrize("kind,nkeys,per_key", [
    ("header", 40, 10),
    ("token", 40, 10),
    ("header", 3, 30),   # fewer keys than members: most requests wait for a key to free up
])
def test_key_ordered_delivery(server, kind, nkeys, per_key):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    env = CEnv(server)
    try:
        keys = [f"k{n:02d}" for n in range(nkeys)]
        msgs, key_of_index = [], []
        for i in range(per_key):
            order = keys[:]
            rng.shuffle(order)
            for key in order:
                if kind == "header":
                    # the subject's second token varies independently of the key
                    subject = f"{env.subj}.s{rng.randrange(5)}"
                    headers = [("Customer", key), ("X-N", str(i))]
                else:
                    subject = f"{env.subj}.{key}"
                    headers = None
                msgs.append((subject, headers, f"{key}:{i}".encode()))
                key_of_index.append(key)
        by_seq = publish_all(env, msgs)
        key_of_seq = {seq: key_of_index[i] for seq, i in by_seq.items()}
        ordering_key = "header:Customer" if kind == "header" else "token:2"
        env.durable("KO", ack_wait=int(ACK_WAIT * NS), ordering_key=ordering_key)
        t0 = time.monotonic()
        events = run_members(env, "KO", len(msgs), seed)
        took = time.monotonic() - t0
        check_key_order(events, key_of_seq, seed)
        par = max_parallel_keys(events, key_of_seq)
        assert par >= 2, f"never two keys in flight at once (seed {seed})"
        naks = sum(1 for e in events if e[4] == "nak")
        drops = sum(1 for e in events if e[4] == "drop")
        print(f"{kind}: {len(msgs)} messages, {len(events)} deliveries, {naks} NAKs, {drops} dropped, "
              f"max {par} keys in flight, {took:.2f} s, seed {seed}")
        info = env.info("KO")
        assert info["num_ack_pending"] == 0 and info["num_pending"] == 0, info
        assert info["ack_floor"]["stream_seq"] == len(msgs), info
    finally:
        env.close()


@pytest.mark.parametrize("crash", [False, True])
def test_key_order_survives_restart(server_factory, crash):
    """A message of key K1 in flight and a later K1 message held; after a restart (SIGTERM, or
    SIGKILL) the in-flight one is redelivered after ack_wait and the held one waits for its
    ack — it is not delivered in between."""
    srv = server_factory()
    env = CEnv(srv)
    try:
        env.durable("KR", ack_wait=int(0.8 * NS), ordering_key="header:Customer")
        s1 = env.pub("x", b"k1-first", [("Customer", "K1")])
        s2 = env.pub("x", b"k1-second", [("Customer", "K1")])
        s3 = env.pub("x", b"k2-only", [("Customer", "K2")])
        got = env.fetch("KR", 5, 0.4)
        assert [AckToken(m.reply).sseq for m in got] == [s1, s3], got  # s2 held behind s1
        env.ack(got[1], confirm=True)
        if crash:
            srv.kill9()
            srv.start(srv.port)
        else:
            srv.restart()
        env.reconnect()
        env.pull("KR", {"batch": 5, "expires": int(2.5 * NS)})
        first = None
        for _, m in collect(env.cl, 3.0, stop=lambda m: status_of(m) is None):
            if status_of(m) is None:
                first = m
        assert first is not None, "the in-flight message was not redelivered after the restart"
        a = AckToken(first.reply)
        assert (a.sseq, a.dc) == (s1, 2), f"expected {s1} redelivered first, got {a}"
        more = [m for _, m in collect(env.cl, 0.3) if status_of(m) is None]
        assert more == [], f"delivered while its key's earlier message was unacked: {more}"
        env.ack(first, confirm=True)
        nxt = env.fetch("KR", 1, 1.0)
        assert [AckToken(m.reply).sseq for m in nxt] == [s2] and nxt[0].payload == b"k1-second", nxt
        env.ack(nxt[0], confirm=True)
        info = env.info("KR")
        assert info["num_ack_pending"] == 0 and info["ack_floor"]["stream_seq"] == s3, info
    finally:
        env.close()
