# SPDX-License-Identifier: Apache-2.0
"""`herald dlq replay STREAM` ($HERALD_BUILD/bin/herald) against a fresh heraldd per test.

Each test makes stream ORDERS on `orders.>`, stream DLQ on `dlq.>` and a durable consumer W
on ORDERS whose dead_letter_subject is `dlq.orders`; two messages with user headers are
terminated with +TERM, so DLQ holds their dead letters. Then the CLI replays them and the
streams are read back through the raw JetStream client of conftest.py. Dead letters are a
heraldd extension, so the module is skipped against nats-server. Every subprocess has a
timeout.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import JsClient, only_heraldd, parse_headers
from consumer_util import CEnv, msg_get, wait_for

pytestmark = only_heraldd

REPO = Path(__file__).resolve().parents[2]
_build = Path(os.environ.get("HERALD_BUILD", "build"))
HERALD = str((_build if _build.is_absolute() else REPO / _build) / "bin" / "herald")
RUN_TIMEOUT = 20.0

MESSAGES = [
    ("orders.new", [("Customer", "c-42"), ("X-Trace", "abc def")], b"order one"),
    ("orders.paid", [("Customer", "c-7"), ("X-Trace", "t2")], b"\x00order two\r\n\xff"),
]


def herald(*args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HERALD_URL", "NATS_URL")}
    return subprocess.run([HERALD] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, env=env)


class Env(CEnv):
    """ORDERS/DLQ with two dead letters (DLQ seq 1 and 2, for ORDERS seq 1 and 2)."""

    def __init__(self, server):
        # CEnv's own stream is a throwaway; ORDERS and DLQ are made here.
        super().__init__(server)
        self.api.create_stream("ORDERS", ["orders.>"])
        self.api.create_stream("DLQ", ["dlq.>"])
        self.durable("W", stream="ORDERS", dead_letter_subject="dlq.orders", max_deliver=5)
        for subj, hdrs, payload in MESSAGES:
            r = self.api.publish(subj, payload, hdrs)
            assert "error" not in r, r
        self.stream = "ORDERS"  # pull() and fetch() address ORDERS from here on
        got = self.fetch("W", batch=2, expires=1.0)
        assert len(got) == 2, got
        for m in got:
            self.ack(m, b"+TERM", confirm=True)
        st = wait_for(lambda: self.state("DLQ")["messages"] == 2 and self.state("DLQ"), 3.0)
        assert st, f"DLQ did not get two dead letters: {self.state('DLQ')}"

    def headers_of(self, stream: str, seq: int) -> tuple[str, dict, bytes]:
        subject, hdrs, data = msg_get(self.api, stream, seq)
        return subject, parse_headers(hdrs)[1], data


@pytest.fixture
def env(fresh_server):
    e = Env(fresh_server)
    yield e
    e.close()


def assert_replayed_copies(env: Env, first_seq: int) -> None:
    for i, (subj, hdrs, payload) in enumerate(MESSAGES):
        subject, h, data = env.headers_of("ORDERS", first_seq + i)
        assert subject == subj
        assert data == payload
        for k, v in hdrs:
            assert h.get(k) == v, h
        assert not [k for k in h if k.lower().startswith("herald-dead-letter-")], h


def test_replay_moves_dead_letters_back(env):
    r = herald("dlq", "replay", "DLQ", "--server", env.server.url)
    out = r.stdout.decode()
    assert r.returncode == 0, (out, r.stderr)
    lines = out.splitlines()
    assert lines[0] == "replayed 1 -> orders.new (stream ORDERS seq 3)", out
    assert lines[1] == "replayed 2 -> orders.paid (stream ORDERS seq 4)", out
    assert lines[2] == "2 replayed, 0 skipped, 0 failed", out
    assert r.stderr == b""
    assert env.state("ORDERS")["messages"] == 4
    assert_replayed_copies(env, 3)
    assert env.state("DLQ")["messages"] == 0
    # The replayed messages are delivered again to the consumer.
    got = env.fetch("W", batch=2, expires=1.0)
    assert [m.payload for m in got] == [p for _, _, p in MESSAGES]


def test_keep_leaves_dead_letters(env):
    r = herald("-s", env.server.url, "dlq", "replay", "DLQ", "--keep")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.decode().splitlines()[-1] == "2 replayed, 0 skipped, 0 failed (kept in DLQ)"
    assert env.state("ORDERS")["messages"] == 4
    assert_replayed_copies(env, 3)
    assert env.state("DLQ")["messages"] == 2


def test_message_without_header_is_skipped(env):
    r = env.api.publish("dlq.manual", b"not a dead letter", [("X-Note", "hand-made")])
    assert r["seq"] == 3, r
    r = herald("dlq", "replay", "DLQ", "-s", env.server.url)
    out = r.stdout.decode()
    assert r.returncode == 0, (out, r.stderr)
    assert "skipped 3: no Herald-Dead-Letter-Subject header" in out.splitlines()
    assert out.splitlines()[-1] == "2 replayed, 1 skipped, 0 failed"
    st = env.state("DLQ")
    assert st["messages"] == 1 and st["first_seq"] == 3, st
    assert env.state("ORDERS")["messages"] == 4


def test_gaps_and_limit(env):
    r = env.api.api("STREAM.MSG.DELETE.DLQ", {"seq": 1})
    assert r.get("success"), r
    r = env.api.publish("dlq.orders", b"third", [("Herald-Dead-Letter-Subject", "orders.late")])
    assert r["seq"] == 3, r
    r = herald("dlq", "replay", "DLQ", "--limit", "1", "-s", env.server.url)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.decode().splitlines() == [
        "replayed 2 -> orders.paid (stream ORDERS seq 3)", "1 replayed, 0 skipped, 0 failed"]
    st = env.state("DLQ")
    assert st["messages"] == 1 and st["first_seq"] == 3, st


def test_subject_without_stream_fails_and_is_kept(env):
    r = env.api.publish("dlq.lost", b"nowhere", [("Herald-Dead-Letter-Subject", "nostream.x")])
    assert r["seq"] == 3, r
    r = herald("dlq", "replay", "DLQ", "-s", env.server.url)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 1, (out, err)
    assert out.splitlines()[-1] == "2 replayed, 0 skipped, 1 failed", out
    assert err.startswith("herald: dead letter 3: cannot replay to \"nostream.x\""), err
    assert "no responders" in err, err
    st = env.state("DLQ")
    assert st["messages"] == 1 and st["first_seq"] == 3, st


def test_unknown_stream_fails(env):
    r = herald("dlq", "replay", "NOPE", "-s", env.server.url)
    assert r.returncode == 1
    assert r.stderr.decode().startswith("herald: "), r.stderr
    assert r.stdout == b""


@pytest.mark.parametrize("args", [
    ["dlq"],
    ["dlq", "replay"],
    ["dlq", "frob", "DLQ"],
    ["dlq", "replay", "DLQ", "extra"],
    ["dlq", "replay", "D.LQ"],
    ["dlq", "replay", "DLQ", "--limit", "0"],
    ["dlq", "replay", "DLQ", "--limit"],
    ["dlq", "replay", "DLQ", "--bogus"],
    ["dlq", "replay", "DLQ", "--timeout", "soon"],
])
def test_usage_errors(args):
    r = herald(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    err = r.stderr.decode()
    assert err.startswith("herald: ") and "usage: herald dlq replay STREAM" in err, err
    assert r.stdout == b""


def test_help():
    for args in (["dlq", "--help"], ["help", "dlq"]):
        r = herald(*args)
        assert r.returncode == 0
        assert r.stdout.decode().startswith("usage: herald dlq replay STREAM")
    r = herald("--help")
    assert "dlq" in r.stdout.decode()
