# SPDX-License-Identifier: Apache-2.0
"""Event sourcing on a stream: one subject per aggregate (`bank.account.<id>`), appends
guarded by Nats-Expected-Last-Subject-Sequence (optimistic concurrency: the expected
version of the aggregate, 0 for a new one), reads of one aggregate in order with
STREAM.MSG.GET next_by_subj, and a replay of the whole stream.

Each test runs on a server of its own so the subjects can be exactly `bank.account.<id>`.
"""
from __future__ import annotations

import base64
import json
import random
import threading

from conftest import JsClient

STREAM = "BANK"


def open_bank(srv) -> JsClient:
    c = JsClient(srv)
    c.create_stream(STREAM, ["bank.account.>"])
    return c


def append(c: JsClient, account: str, expected: int, event: dict, msg_id: str = "") -> dict:
    """Appends one event to the account if its last event is `expected` (0: none yet)."""
    hdr = {"Nats-Expected-Last-Subject-Sequence": str(expected)}
    if msg_id:
        hdr["Nats-Msg-Id"] = msg_id
    return c.publish(f"bank.account.{account}", json.dumps(event).encode(), hdr)


def version_of(c: JsClient, account: str) -> int:
    """The aggregate's version: the sequence of its last event, 0 when it has none."""
    r = c.api(f"STREAM.MSG.GET.{STREAM}", {"last_by_subj": f"bank.account.{account}"})
    if r.get("error", {}).get("err_code") == 10037:
        return 0
    assert "message" in r, r
    return r["message"]["seq"]


def read_aggregate(c: JsClient, account: str) -> list[tuple[int, dict]]:
    """The account's events in order, walking next_by_subj forward from seq 1."""
    events, seq = [], 1
    for _ in range(100000):
        r = c.api(f"STREAM.MSG.GET.{STREAM}", {"next_by_subj": f"bank.account.{account}", "seq": seq})
        if r.get("error", {}).get("err_code") == 10037:
            return events
        m = r["message"]
        assert m["subject"] == f"bank.account.{account}" and m["seq"] >= seq, (seq, m)
        events.append((m["seq"], json.loads(base64.b64decode(m["data"]))))
        seq = m["seq"] + 1
    raise AssertionError("read_aggregate did not end")


def replay(c: JsClient) -> list[tuple[int, str, dict]]:
    """Every event of the stream in order, read by sequence from first_seq to last_seq."""
    st = c.stream_info(STREAM)["state"]
    out = []
    for seq in range(st["first_seq"], st["last_seq"] + 1):
        r = c.api(f"STREAM.MSG.GET.{STREAM}", {"seq": seq})
        m = r["message"]
        out.append((m["seq"], m["subject"].rsplit(".", 1)[1], json.loads(base64.b64decode(m["data"]))))
    assert len(out) == st["messages"], "a gap in the log"
    return out


def balance(events) -> int:
    """The balance after the events (dicts, or tuples ending with the event dict)."""
    total = 0
    for ev in events:
        ev = ev[-1] if isinstance(ev, tuple) else ev
        total += ev["amount"] if ev["type"] == "deposited" else -ev["amount"]
    return total


def test_append_with_expected_version(fresh_server):
    with open_bank(fresh_server) as c:
        r = append(c, "alice", 0, {"type": "opened", "amount": 0})
        assert r == {"stream": STREAM, "seq": 1}, r
        r = append(c, "alice", 0, {"type": "opened", "amount": 0})
        assert r["error"]["err_code"] == 10071, f"alice exists already: {r}"
        assert "wrong last sequence: 1" in r["error"]["description"]
        assert append(c, "bob", 0, {"type": "opened", "amount": 0})["seq"] == 2, \
            "another aggregate's version is its own"
        assert append(c, "alice", 1, {"type": "deposited", "amount": 10})["seq"] == 3
        r = append(c, "alice", 1, {"type": "deposited", "amount": 10})
        assert r["error"]["err_code"] == 10071, f"a stale version: {r}"
        assert append(c, "alice", 3, {"type": "withdrawn", "amount": 4})["seq"] == 4
        assert (version_of(c, "alice"), version_of(c, "bob"), version_of(c, "carol")) == (4, 2, 0)


def test_racing_writers_exactly_one_wins(fresh_server):
    """Writers that read the same version and append at once: one succeeds, every other
    gets 10071 and nothing of theirs is stored. 30 rounds of 4 writers each."""
    writers = 4
    rounds = 30
    clients = [JsClient(fresh_server) for _ in range(writers)]
    try:
        clients[0].create_stream(STREAM, ["bank.account.>"])
        expected_events = []
        for rnd in range(rounds):
            account = f"acct{rnd % 3}"
            version = version_of(clients[0], account)
            barrier = threading.Barrier(writers)
            results: list = [None] * writers

            def write(i):
                barrier.wait(timeout=5)
                results[i] = append(clients[i], account, version,
                                    {"type": "deposited", "amount": 1, "writer": i, "round": rnd})

            threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=10)
            assert all(r is not None for r in results), f"round {rnd}: a writer got no answer: {results}"
            winners = [i for i, r in enumerate(results) if "seq" in r and "error" not in r]
            losers = [r for r in results if "error" in r]
            assert len(winners) == 1, f"round {rnd}: {len(winners)} winners: {results}"
            assert len(losers) == writers - 1 and all(r["error"]["err_code"] == 10071 for r in losers), results
            expected_events.append((account, winners[0], rnd))
        every = replay(clients[0])
        assert [(acct, ev["writer"], ev["round"]) for _, acct, ev in every] == expected_events
    finally:
        for c in clients:
            c.close()


def test_read_aggregate_in_order(fresh_server):
    rng = random.Random(7)
    accounts = ["a1", "a2", "a3"]
    with open_bank(fresh_server) as c:
        version = {a: 0 for a in accounts}
        written = {a: [] for a in accounts}
        for i in range(90):
            a = rng.choice(accounts)
            ev = {"type": rng.choice(["deposited", "withdrawn"]), "amount": rng.randint(1, 100), "n": i}
            r = append(c, a, version[a], ev)
            assert "error" not in r, r
            version[a] = r["seq"]
            written[a].append((r["seq"], ev))
        for a in accounts:
            assert read_aggregate(c, a) == written[a], a
            assert version_of(c, a) == version[a]
        assert read_aggregate(c, "nobody") == []


def test_idempotent_retry_with_msg_id(fresh_server):
    """A command retried with the same Nats-Msg-Id (say after a lost PubAck) is answered as
    a duplicate of the first append, not as a version conflict, and is stored once."""
    with open_bank(fresh_server) as c:
        first = append(c, "alice", 0, {"type": "opened", "amount": 0}, msg_id="cmd-1")
        again = append(c, "alice", 0, {"type": "opened", "amount": 0}, msg_id="cmd-1")
        assert first == {"stream": STREAM, "seq": 1}
        assert again == {"stream": STREAM, "seq": 1, "duplicate": True}, again
        assert len(read_aggregate(c, "alice")) == 1


def test_replay_rebuilds_state_before_and_after_restart(fresh_server):
    rng = random.Random(11)
    accounts = [f"c{i}" for i in range(8)]
    with open_bank(fresh_server) as c:
        version = {a: 0 for a in accounts}
        truth = {a: 0 for a in accounts}
        for i in range(200):
            a = rng.choice(accounts)
            if version[a] == 0:
                ev = {"type": "deposited", "amount": 100}
            else:
                ev = {"type": rng.choice(["deposited", "withdrawn"]), "amount": rng.randint(1, 20)}
            r = append(c, a, version[a], ev)
            assert "error" not in r, r
            version[a] = r["seq"]
            truth[a] += ev["amount"] if ev["type"] == "deposited" else -ev["amount"]
        log = replay(c)
    assert [s for s, _, _ in log] == list(range(1, 201)), "the whole stream, in order, no gaps"
    rebuilt = {a: balance([ev for _, acct, ev in log if acct == a]) for a in accounts}
    assert rebuilt == truth
    fresh_server.restart()
    with JsClient(fresh_server) as c:
        assert replay(c) == log, "the same history after a restart"
        for a in accounts:
            assert balance(read_aggregate(c, a)) == truth[a], a
        a = accounts[0]
        r = append(c, a, version[a], {"type": "deposited", "amount": 1})
        assert r["seq"] == 201, "the versions continue after a restart"
        r = append(c, a, version[a], {"type": "deposited", "amount": 1})
        assert r["error"]["err_code"] == 10071, "and are still checked after a restart"
