# SPDX-License-Identifier: Apache-2.0
"""Crash test: heraldd is killed with SIGKILL at random moments while a publisher with
async acks is writing, and every acknowledged message must survive.

Each round: start the server on the same store dir, check the whole stream, publish for a
random 0.2-1.0 s (paced bursts, at most 64 unacknowledged messages, every PubAck recorded
with its payload), then SIGKILL the server 0-1 ms after a burst went out, while it appends
and commits. The PubAcks already in the socket when the server died count as acknowledged.
After every restart:

  K1. every acknowledged message is present at its acknowledged sequence, byte-identical
      (subject and payload), read back with DIRECT.GET;
  K2. no message is stored twice (every payload is unique) and the stream holds only
      messages that were published, in publish order;
  K3. sequence numbers never repeat across rounds: a round's first PubAck is above every
      sequence stored before it, and the stream's state (messages, first/last seq) matches
      what the reads found.

The seed is printed and can be fixed with HERALD_CRASH_SEED; rounds with HERALD_CRASH_ROUNDS.
The store's fault injection (ENOSPC, EIO, torn writes) is covered by the unit tests through
the I/O vtable; a real full file system is not available here.

Run: `make crash` (or HERALD_BUILD=build python3 -m pytest -q tests/crash).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import re
import select
import socket
import threading
import time
from pathlib import Path
from typing import Optional

import pytest

_CONFTEST = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
_spec = importlib.util.spec_from_file_location("herald_integration_conftest", _CONFTEST)
itest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(itest)

STREAM = "CRASH"
SUBJECT_PREFIX = "crash"
WINDOW = 64
SEED = int(os.environ.get("HERALD_CRASH_SEED", str(int(time.time()) % 1000003)))
ROUNDS = int(os.environ.get("HERALD_CRASH_ROUNDS", "20"))
# Paced publishing keeps the volume (and the full read-back after every restart) bounded;
# at these rates the window still fills while a group commit is in progress.
MIN_RATE, MAX_RATE = 500.0, 2000.0
BURSTS = (1, 8, 32, 64)  # messages sent at once (a round's choice)


def payload_for(rnd: int, i: int, rng: random.Random) -> bytes:
    """A unique payload: a readable tag, then 0-400 bytes of binary (CR/LF included)."""
    tag = b"r%02d-%07d|" % (rnd, i)
    body = hashlib.sha256(tag).digest() * 13
    return tag + body[: rng.randint(0, 400)] + b"\r\n\x00end"


class Publisher(threading.Thread):
    """A raw-socket publisher with async acks, in a thread of its own: PUB with a unique
    reply inbox per message, at most WINDOW unacknowledged, paced at `rate` messages per
    second (in bursts, so the window fills); records each PubAck's seq with its payload.
    It runs until the server dies, then reads what the server had sent before dying."""

    def __init__(self, srv, rnd: int, rng: random.Random, rate: float, kill_after_s: float,
                 kill_delay_s: float):
        super().__init__(daemon=True)
        self.srv, self.rnd, self.rng, self.rate = srv, rnd, rng, rate
        self.kill_after_s, self.kill_delay_s = kill_after_s, kill_delay_s
        self.burst = rng.choice(BURSTS)
        self.killed = False
        self.in_flight_at_kill = 0
        self.sock = socket.create_connection((srv.host, srv.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self._read_until(b"\r\n")  # INFO
        self.buf = self.buf[self.buf.index(b"\r\n") + 2:]
        self.inbox = f"_INBOX.crash{rnd}"
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
                          + f"SUB {self.inbox}.* 1\r\nPING\r\n".encode())
        self._read_until(b"PONG\r\n")
        self.buf = self.buf[self.buf.index(b"PONG\r\n") + 6:]
        self.sent: list[tuple[str, bytes]] = []  # index -> (subject, payload)
        self.acked: dict[int, int] = {}          # index -> seq
        self.errors: list = []
        self.pending = 0
        self.dead = False
        self.failure: Optional[BaseException] = None
        self.deadline = time.monotonic() + 30  # a bound if the server is never killed

    def _read_until(self, token: bytes) -> None:
        deadline = time.monotonic() + 5
        while token not in self.buf:
            assert time.monotonic() < deadline, f"no {token!r} from the server: {self.buf[:200]!r}"
            chunk = self.sock.recv(65536)
            assert chunk, "server closed the connection during the handshake"
            self.buf += chunk

    def _parse(self) -> None:
        while True:
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                return
            line = self.buf[:nl]
            if line == b"PING":
                self.buf = self.buf[nl + 2:]
                try:
                    self.sock.sendall(b"PONG\r\n")
                except OSError:
                    pass
                continue
            if line in (b"PONG", b"+OK"):
                self.buf = self.buf[nl + 2:]
                continue
            parts = line.split(b" ")
            assert parts[0] in (b"MSG", b"HMSG"), f"unexpected from server: {line[:200]!r}"
            total = int(parts[-1])
            if len(self.buf) < nl + 2 + total + 2:
                return  # incomplete; a PubAck cut by the kill is not an ack
            hdr_len = int(parts[-2]) if parts[0] == b"HMSG" else 0
            body = self.buf[nl + 2 + hdr_len: nl + 2 + total]
            self.buf = self.buf[nl + 2 + total + 2:]
            index = int(parts[1].decode().rsplit(".", 1)[1])
            self.pending -= 1
            try:
                ack = json.loads(body)
            except ValueError:
                self.errors.append((index, body[:200]))
                continue
            if "seq" in ack and "error" not in ack and ack.get("stream") == STREAM:
                assert index not in self.acked, f"two PubAcks for message {index}"
                self.acked[index] = ack["seq"]
            else:
                self.errors.append((index, ack))

    def _receive(self, timeout: float) -> None:
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return
        try:
            chunk = self.sock.recv(1 << 20)
        except OSError:
            chunk = b""
        if not chunk:
            self.dead = True
            return
        self.buf += chunk
        self._parse()

    def run(self) -> None:
        try:
            t0 = time.monotonic()
            while not self.dead and time.monotonic() < self.deadline:
                allowed = (int((time.monotonic() - t0) * self.rate / self.burst) + 1) * self.burst
                batch = []
                while self.pending < WINDOW and len(self.sent) < allowed:
                    i = len(self.sent)
                    subject = f"{SUBJECT_PREFIX}.r{self.rnd}.{i % 7}"
                    data = payload_for(self.rnd, i, self.rng)
                    self.sent.append((subject, data))
                    batch.append(f"PUB {subject} {self.inbox}.{i} {len(data)}\r\n".encode()
                                 + data + b"\r\n")
                    self.pending += 1
                if batch:
                    try:
                        self.sock.sendall(b"".join(batch))
                    except OSError:
                        self.dead = True
                    if not self.killed and time.monotonic() - t0 >= self.kill_after_s:
                        # SIGKILL while the server appends and commits this burst
                        spin = time.perf_counter() + self.kill_delay_s
                        while time.perf_counter() < spin:
                            pass
                        self.in_flight_at_kill = self.pending
                        self.killed = True
                        self.srv.kill9()
                self._receive(0.002)
            # the server is dead: the socket still holds what it sent before dying
            while not self.dead and time.monotonic() < self.deadline + 5:
                self._receive(0.2)
        except BaseException as e:  # reported by the test
            self.failure = e
        finally:
            self.sock.close()


class DirectReader:
    """Pipelined DIRECT.GET by sequence, with a parser of its own for speed:
    {seq: (subject, payload)} for the messages present."""

    HDR = re.compile(rb"\r\nNats-(Sequence|Subject): ([^\r]*)")

    def __init__(self, srv):
        self.c = itest.JsClient(srv)

    def read(self, seqs: list[int]) -> dict[int, tuple[str, bytes]]:
        out: dict[int, tuple[str, bytes]] = {}
        sock, inbox = self.c.sock, self.c.inbox
        buf = self.c.buf
        for start in range(0, len(seqs), 1000):
            chunk = seqs[start:start + 1000]
            sock.sendall(b"".join(b"PUB $JS.API.DIRECT.GET.%s %s.d%d %d\r\n{\"seq\":%d}\r\n"
                                  % (STREAM.encode(), inbox.encode(), q, 8 + len(str(q)), q)
                                  for q in chunk))
            got = 0
            deadline = time.monotonic() + 10
            while got < len(chunk):
                nl = buf.find(b"\r\n")
                if nl >= 0:
                    line = buf[:nl]
                    if line == b"PING":
                        buf = buf[nl + 2:]
                        sock.sendall(b"PONG\r\n")
                        continue
                    if line in (b"PONG", b"+OK"):
                        buf = buf[nl + 2:]
                        continue
                    parts = line.split(b" ")
                    assert parts[0] == b"HMSG", f"DIRECT.GET answered {line[:200]!r}"
                    hdr_len, total = int(parts[-2]), int(parts[-1])
                    if len(buf) >= nl + 4 + total:
                        hdr = buf[nl + 2: nl + 2 + hdr_len]
                        data = buf[nl + 2 + hdr_len: nl + 2 + total]
                        buf = buf[nl + 4 + total:]
                        seq = int(parts[1].rsplit(b".d", 1)[1])
                        got += 1
                        if hdr.startswith(b"NATS/1.0 404"):
                            continue
                        assert hdr.startswith(b"NATS/1.0\r\n"), f"DIRECT.GET seq {seq}: {hdr!r}"
                        h = dict(self.HDR.findall(hdr))
                        assert int(h[b"Sequence"]) == seq, (seq, hdr)
                        out[seq] = (h[b"Subject"].decode(), data)
                        continue
                assert time.monotonic() < deadline, f"DIRECT.GET answers stopped after {got}/{len(chunk)}"
                sock.settimeout(5)
                more = sock.recv(1 << 20)
                assert more, "the server closed the reader's connection"
                buf += more
        self.c.buf = buf
        return out

    def close(self) -> None:
        self.c.close()


class Ledger:
    """Everything published and acknowledged so far, across rounds."""

    def __init__(self):
        self.acked: dict[int, tuple[str, bytes]] = {}      # seq -> (subject, payload)
        self.published: dict[bytes, tuple[int, int]] = {}  # payload -> (round, index)
        self.max_seen_seq = 0
        self.read_s, self.reads = 0.0, 0

    def check_stream(self, srv, label: str) -> None:
        t0 = time.monotonic()
        reader = DirectReader(srv)
        try:
            info = reader.c.stream_info(STREAM)["state"]
            first, last = info["first_seq"], info["last_seq"]
            max_acked = max(self.acked, default=0)
            assert last >= max_acked, f"{label}: last_seq {last} < acknowledged seq {max_acked} (K1)"
            assert last >= self.max_seen_seq, \
                f"{label}: last_seq went back from {self.max_seen_seq} to {last} (K3)"
            stored = reader.read(list(range(max(first, 1), last + 1)))
        finally:
            reader.close()
        assert info["messages"] == len(stored), \
            f"{label}: stream state says {info['messages']} messages, DIRECT.GET found {len(stored)} (K3)"
        lost = [s for s in self.acked if s not in stored]
        assert not lost, f"{label}: {len(lost)} acknowledged messages are missing, e.g. seqs {lost[:10]} (K1)"
        changed = [s for s, v in self.acked.items() if stored[s] != v]
        assert not changed, (f"{label}: acknowledged messages differ, e.g. seq {changed[0]}: "
                             f"stored {stored[changed[0]]!r} acked {self.acked[changed[0]]!r} (K1)")
        seen: dict[bytes, int] = {}
        order = []
        for seq in sorted(stored):
            subject, data = stored[seq]
            assert data not in seen, f"{label}: payload stored twice, at seqs {seen[data]} and {seq} (K2)"
            seen[data] = seq
            origin = self.published.get(data)
            assert origin is not None, \
                f"{label}: seq {seq} holds a payload never published: {data[:40]!r} (K2)"
            order.append(origin)
        assert order == sorted(order), f"{label}: stored messages are not in publish order (K2)"
        self.max_seen_seq = max(self.max_seen_seq, last)
        print(f"{label}: {len(stored)} messages stored, {len(stored) - len(self.acked)} of them "
              f"never acknowledged")
        self.read_s += time.monotonic() - t0
        self.reads += len(stored)


def crash_rounds(tmp_path, rounds: int, extra_args=(), min_s: float = 0.2, max_s: float = 1.0):
    rng = random.Random(SEED)
    print(f"crash test seed {SEED} (HERALD_CRASH_SEED), {rounds} rounds, args {list(extra_args)}")
    srv = itest.ServerProcess(tmp_path, extra_args=extra_args)
    ledger = Ledger()
    srv.start()
    try:
        with itest.JsClient(srv) as c:
            c.create_stream(STREAM, [f"{SUBJECT_PREFIX}.>"], allow_direct=True)
        total_acked = 0
        for rnd in range(rounds):
            if rnd:
                srv.start(srv.port)
            ledger.check_stream(srv, f"round {rnd} start")
            pub = Publisher(srv, rnd, random.Random(rng.random()),
                            rate=rng.uniform(MIN_RATE, MAX_RATE),
                            kill_after_s=rng.uniform(min_s, max_s),
                            kill_delay_s=rng.choice([0.0, rng.uniform(0, 0.001)]))
            pub.start()
            pub.join(timeout=40)
            assert not pub.is_alive(), f"round {rnd}: the publisher did not stop"
            if pub.failure:
                raise pub.failure
            assert pub.killed, f"round {rnd}: the server closed the publisher's connection\n{srv.log_tail()}"
            for i, (subject, data) in enumerate(pub.sent):
                ledger.published[data] = (rnd, i)
            assert not pub.errors, f"round {rnd}: PubAck errors: {pub.errors[:5]}"
            seqs = [pub.acked[i] for i in sorted(pub.acked)]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), \
                f"round {rnd}: PubAck sequences not increasing in publish order (K3)"
            if seqs:
                assert seqs[0] > ledger.max_seen_seq, \
                    f"round {rnd}: first seq {seqs[0]} repeats one stored before " \
                    f"(<= {ledger.max_seen_seq}) (K3)"
            for i, seq in pub.acked.items():
                ledger.acked[seq] = pub.sent[i]
            total_acked += len(seqs)
            print(f"round {rnd}: {pub.rate:.0f} msg/s in bursts of {pub.burst}, killed "
                  f"{pub.kill_delay_s * 1e6:.0f} us after a burst with {pub.in_flight_at_kill} in flight; "
                  f"sent {len(pub.sent)}, acked {len(seqs)}")
        srv.start(srv.port)
        ledger.check_stream(srv, "final")
        print(f"read back {ledger.reads} messages in {ledger.read_s:.1f} s")
        assert total_acked > rounds * 50, f"only {total_acked} messages acknowledged in {rounds} rounds"
    finally:
        if srv.is_running():
            srv.stop()


@pytest.mark.skipif(itest.IS_NATS_SERVER and not os.environ.get("HERALD_CRASH_NATS"),
                    reason="set HERALD_CRASH_NATS=1 to run the crash test against nats-server")
def test_kill9_keeps_every_acknowledged_message(tmp_path):
    """The default durability (sync=always): 20 rounds of publish + SIGKILL."""
    t0 = time.monotonic()
    crash_rounds(tmp_path, ROUNDS)
    print(f"{ROUNDS} rounds in {time.monotonic() - t0:.1f} s")


@pytest.mark.skipif(itest.IS_NATS_SERVER, reason="heraldd's --sync modes")
@pytest.mark.parametrize("sync", ["never", "100ms"])
def test_kill9_with_relaxed_sync_keeps_acknowledged_messages(tmp_path, sync):
    """sync=never / a period acknowledge before fsync: an OS crash may lose those messages,
    a process crash must not (docs/streams.md: the data is in the page cache)."""
    crash_rounds(tmp_path, 5, extra_args=["--sync", sync], max_s=0.5)
