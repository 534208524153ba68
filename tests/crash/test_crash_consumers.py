# SPDX-License-Identifier: Apache-2.0
"""Crash test for durable consumers: heraldd is killed with SIGKILL at random moments while
4 members consume one durable pull consumer and a publisher keeps adding messages.

Members ack every message as a request ("double ack"); a message counts as confirmed only
when the empty reply to its ack arrived (docs/consumers.md: the reply comes once the ack is
durable). Each round: start the server on the same store dir, run the publisher and the
members for a random 0.3-1.0 s, SIGKILL the server; replies already in the sockets when it
died count. Then:

  C1. no message whose ack was confirmed in a round is delivered in any later round (after
      the restart that followed);
  C2. after every restart the consumer's ack floor is at least the highest sequence below
      which every message was confirmed, and the consumer survived;
  C3. at the end (one more start, members run until done) every message the stream holds —
      and every message the publisher got a PubAck for — was delivered and acked by a member
      (processed at least once), every ack of the last, uninterrupted round was confirmed,
      and the consumer has nothing pending, nothing unacknowledged and its ack floor at the
      stream's last sequence (nothing lost, nothing skipped). An ack that became durable
      just before a kill may never be confirmed (its reply was not sent yet); that message
      is not delivered again, which is right.

The seed is printed and can be fixed with HERALD_CRASH_SEED; rounds with HERALD_CRASH_ROUNDS.
Run: HERALD_BUILD=build python3 -m pytest -q tests/crash
"""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import random
import select
import socket
import threading
import time
from pathlib import Path

import pytest

_CONFTEST = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
_spec = importlib.util.spec_from_file_location("herald_integration_conftest_consumers", _CONFTEST)
itest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(itest)

STREAM = "CCON"
SUBJ = "ccon"
CONSUMER = "W"
MEMBERS = 4
INITIAL = 4000
ACK_WAIT_NS = 1_000_000_000
SEED = int(os.environ.get("HERALD_CRASH_SEED", str(int(time.time()) % 1000003)))
ROUNDS = int(os.environ.get("HERALD_CRASH_ROUNDS", "20"))


class Conn:
    """A raw NATS connection that never loses a complete message: poll() returns every
    complete MSG/HMSG received so far as (subject, reply, headers, payload); after the server
    died, what it had sent is still parsed and `dead` is set."""

    def __init__(self, srv, name: str):
        self.sock = socket.create_connection((srv.host, srv.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.dead = False
        self.inbox = f"_INBOX.{name}"
        self._expect(b"\r\n")  # INFO
        self.buf = self.buf[self.buf.index(b"\r\n") + 2:]
        self.send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
                  + f"SUB {self.inbox}.> 1\r\nPING\r\n".encode())
        self._expect(b"PONG\r\n")
        self.buf = self.buf[self.buf.index(b"PONG\r\n") + 6:]

    def _expect(self, token: bytes) -> None:
        deadline = time.monotonic() + 5
        while token not in self.buf:
            assert time.monotonic() < deadline, f"no {token!r} from the server: {self.buf[:200]!r}"
            chunk = self.sock.recv(65536)
            assert chunk, "server closed the connection during the handshake"
            self.buf += chunk

    def send(self, data: bytes) -> bool:
        if self.dead:
            return False
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.dead = True
            return False

    def pub(self, subject: str, payload: bytes, reply: str = "") -> bool:
        r = f" {reply}" if reply else ""
        return self.send(f"PUB {subject}{r} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def poll(self, timeout: float) -> list:
        if not self.dead:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if r:
                try:
                    chunk = self.sock.recv(1 << 20)
                except OSError:
                    chunk = b""
                if chunk:
                    self.buf += chunk
                else:
                    self.dead = True
        return self._parse()

    def _parse(self) -> list:
        out = []
        while True:
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                return out
            line = self.buf[:nl]
            if line == b"PING":
                self.buf = self.buf[nl + 2:]
                self.send(b"PONG\r\n")
                continue
            if line in (b"PONG", b"+OK") or line.startswith(b"INFO "):
                self.buf = self.buf[nl + 2:]
                continue
            parts = line.split(b" ")
            assert parts[0] in (b"MSG", b"HMSG"), f"unexpected from server: {line[:200]!r}"
            total = int(parts[-1])
            if len(self.buf) < nl + 2 + total + 2:
                return out  # incomplete: a message cut by the kill is simply not received
            hdr_len = int(parts[-2]) if parts[0] == b"HMSG" else 0
            body = self.buf[nl + 2: nl + 2 + total]
            self.buf = self.buf[nl + 2 + total + 2:]
            nreply = 5 if parts[0] == b"HMSG" else 4
            reply = parts[3].decode() if len(parts) == nreply + 1 else ""
            out.append((parts[1].decode(), reply, body[:hdr_len], body[hdr_len:]))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def status_code(headers: bytes):
    if not headers:
        return None
    first = headers.split(b"\r\n", 1)[0].split(b" ")
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else None


class Ledger:
    """Everything observed across rounds (guarded by one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.deliveries: list = []        # (round, sseq, dc, member)
        self.confirmed: dict = {}         # sseq -> first round its ack was confirmed
        self.ack_sent: dict = {}          # sseq -> rounds in which a member sent an ack for it
        self.pubacked: set = set()        # sequences the publisher got a PubAck for
        self.errors: list = []

    def contiguous_confirmed(self) -> int:
        n = 0
        while n + 1 in self.confirmed:
            n += 1
        return n


class Member(threading.Thread):
    """Pulls from `stream`/`consumer` (batch 1-5, expires 0.5 s), "processes" each message for
    2-6 ms, then sends verdict(sseq) (+ACK by default) to its ack subject as a request."""

    def __init__(self, srv, rnd: int, n: int, ledger: Ledger, rng: random.Random, stop: threading.Event,
                 stream: str = STREAM, consumer: str = CONSUMER, verdict=lambda sseq: b"+ACK"):
        super().__init__(name=f"member-{rnd}-{n}", daemon=True)
        self.rnd, self.n, self.ledger, self.stop = rnd, n, ledger, stop
        self.stream, self.consumer, self.verdict = stream, consumer, verdict
        self.rng = random.Random(rng.random())
        self.conn = Conn(srv, f"cm{rnd}_{n}_{os.getpid()}")

    def run(self):
        try:
            self._run()
        except Exception as e:
            with self.ledger.lock:
                self.ledger.errors.append(f"member {self.n} round {self.rnd}: {type(e).__name__}: {e}")
        finally:
            self.conn.close()

    def _pull(self, k: int) -> tuple:
        batch = self.rng.randint(1, 5)
        reply = f"{self.conn.inbox}.p{k}"
        body = json.dumps({"batch": batch, "expires": 500_000_000}).encode()
        self.conn.pub(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}", body, reply)
        return reply, batch

    def _run(self):
        c = self.conn
        k = 0
        acks = 0
        reply, owed = self._pull(k)
        while not c.dead:
            if self.stop.is_set():
                break
            for subject, rep, hdrs, payload in c.poll(0.05):
                if subject.startswith(c.inbox + ".a"):  # an ack confirmation
                    sseq = int(subject.rsplit(".a", 1)[1].split("_")[0])
                    with self.ledger.lock:
                        self.ledger.confirmed.setdefault(sseq, self.rnd)
                    continue
                if rep.startswith("$JS.ACK."):  # a delivery
                    tok = rep.split(".")
                    dc, sseq = int(tok[4]), int(tok[5])
                    with self.ledger.lock:
                        self.ledger.deliveries.append((self.rnd, sseq, dc, self.n))
                    time.sleep(self.rng.uniform(0.002, 0.006))  # "processing"
                    acks += 1
                    if c.pub(rep, self.verdict(sseq), f"{c.inbox}.a{sseq}_{acks}"):
                        with self.ledger.lock:
                            self.ledger.ack_sent.setdefault(sseq, set()).add(self.rnd)
                    owed -= 1
                elif subject == reply:
                    st = status_code(hdrs)
                    if st == 100:
                        continue
                    owed = 0  # 404/408/409 end the request
                if owed <= 0:
                    k += 1
                    reply, owed = self._pull(k)
        # the server is gone (or we were told to stop): whatever it had sent still counts
        for subject, rep, hdrs, payload in c.poll(0):
            if subject.startswith(c.inbox + ".a"):
                sseq = int(subject.rsplit(".a", 1)[1].split("_")[0])
                with self.ledger.lock:
                    self.ledger.confirmed.setdefault(sseq, self.rnd)


class Publisher(threading.Thread):
    """Adds messages while the members consume: 20 every 50 ms, PubAcks recorded."""

    def __init__(self, srv, rnd: int, ledger: Ledger, stop: threading.Event):
        super().__init__(name=f"publisher-{rnd}", daemon=True)
        self.rnd, self.ledger, self.stop = rnd, ledger, stop
        self.conn = Conn(srv, f"cp{rnd}_{os.getpid()}")

    def run(self):
        try:
            i = 0
            while not self.conn.dead and not self.stop.is_set():
                for _ in range(20):
                    i += 1
                    self.conn.pub(f"{SUBJ}.r{self.rnd}", b"r%d-%d" % (self.rnd, i), f"{self.conn.inbox}.{i}")
                end = time.monotonic() + 0.05
                while time.monotonic() < end:
                    self._take(self.conn.poll(0.01))
            self._take(self.conn.poll(0))
        except Exception as e:
            with self.ledger.lock:
                self.ledger.errors.append(f"publisher round {self.rnd}: {type(e).__name__}: {e}")
        finally:
            self.conn.close()

    def _take(self, msgs) -> None:
        for subject, rep, hdrs, payload in msgs:
            try:
                ack = json.loads(payload)
            except ValueError:
                continue
            if "seq" in ack and ack.get("stream") == STREAM:
                with self.ledger.lock:
                    self.ledger.pubacked.add(ack["seq"])


def consumer_info(srv) -> dict:
    with itest.JsClient(srv) as c:
        r = c.api(f"CONSUMER.INFO.{STREAM}.{CONSUMER}")
        st = c.stream_info(STREAM)["state"]
    assert "error" not in r, f"the consumer did not survive the crash: {r}"
    return r, st


def run_round(srv, rnd: int, ledger: Ledger, rng: random.Random, seconds: float, kill: bool) -> None:
    stop = threading.Event()
    threads = [Member(srv, rnd, n, ledger, rng, stop) for n in range(MEMBERS)]
    if kill:
        threads.append(Publisher(srv, rnd, ledger, stop))
    for t in threads:
        t.start()
    if kill:
        time.sleep(seconds)
        srv.kill9()
    else:
        # the final round: run until the consumer has acknowledged everything the stream holds
        # and every ack sent in this round was confirmed
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            info, st = consumer_info(srv)
            with ledger.lock:
                open_acks = [s for s, rounds in ledger.ack_sent.items()
                             if rnd in rounds and s not in ledger.confirmed]
            if info["ack_floor"]["stream_seq"] == st["last_seq"] and not open_acks:
                break
            time.sleep(0.2)
        stop.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), f"round {rnd}: a client thread did not stop"


@pytest.mark.skipif(itest.IS_NATS_SERVER, reason="heraldd's consumer durability (double acks)")
def test_kill9_consumers_never_redeliver_confirmed_acks(tmp_path):
    t0 = time.monotonic()
    rng = random.Random(SEED)
    print(f"consumer crash test seed {SEED} (HERALD_CRASH_SEED), {ROUNDS} rounds")
    srv = itest.ServerProcess(tmp_path)
    ledger = Ledger()
    srv.start()
    try:
        with itest.JsClient(srv) as c:
            c.create_stream(STREAM, [f"{SUBJ}.>"])
            r = c.api(f"CONSUMER.CREATE.{STREAM}.{CONSUMER}",
                      {"stream_name": STREAM, "config": {"durable_name": CONSUMER, "ack_policy": "explicit",
                                                         "ack_wait": ACK_WAIT_NS, "max_ack_pending": 10000}})
            assert "error" not in r, r
            for i in range(INITIAL):
                c.pub(f"{SUBJ}.init", b"init-%d" % i, f"{c.inbox}.f{i}")
            for _ in range(INITIAL):
                ack = json.loads(c.next_msg().payload)
                ledger.pubacked.add(ack["seq"])
        for rnd in range(ROUNDS):
            if rnd:
                srv.start(srv.port)
                info, st = consumer_info(srv)
                floor = info["ack_floor"]["stream_seq"]
                with ledger.lock:
                    prefix = ledger.contiguous_confirmed()
                assert floor >= prefix, (f"round {rnd}: ack floor {floor} after the restart, but every "
                                         f"message up to {prefix} was confirmed (C2)")
            before = len(ledger.deliveries)
            run_round(srv, rnd, ledger, rng, rng.uniform(0.3, 1.0), kill=True)
            assert not ledger.errors, ledger.errors[:5]
            with ledger.lock:
                mine = ledger.deliveries[before:]
                unconfirmed = {s for _, s, _, _ in mine if s not in ledger.confirmed}
            print(f"round {rnd}: {len(mine)} deliveries, {len(unconfirmed)} unconfirmed at the kill, "
                  f"{len(ledger.confirmed)} confirmed so far")
        srv.start(srv.port)
        info, st = consumer_info(srv)
        with ledger.lock:
            prefix = ledger.contiguous_confirmed()
        assert info["ack_floor"]["stream_seq"] >= prefix, f"final start: floor {info['ack_floor']} < {prefix} (C2)"
        run_round(srv, ROUNDS, ledger, rng, 15.0, kill=False)
        assert not ledger.errors, ledger.errors[:5]

        # C1: nothing confirmed was delivered in a later round.
        again = [(r, s, dc) for r, s, dc, _ in ledger.deliveries
                 if s in ledger.confirmed and r > ledger.confirmed[s]]
        assert not again, (f"{len(again)} deliveries of messages whose ack was confirmed in an earlier "
                           f"round, e.g. (round, seq, delivered count) {again[:10]}; confirmed in rounds "
                           f"{[ledger.confirmed[s] for _, s, _ in again[:10]]} (C1, seed {SEED})")
        # C3: everything processed; nothing lost or skipped.
        info, st = consumer_info(srv)
        last = st["last_seq"]
        missing_pub = sorted(s for s in ledger.pubacked if s > last)
        assert not missing_pub, f"PubAcked messages beyond the stream's last seq {last}: {missing_pub[:10]}"
        assert st["messages"] == last and st["first_seq"] == 1, f"stream lost messages: {st}"
        # Processed = a member sent an ack for it. An ack made durable just before a kill may
        # lose its confirmation (the reply was not sent yet): such a message is not delivered
        # again and never confirmed, but it must have been acked in a killed round.
        delivered = {s for _, s, _, _ in ledger.deliveries}
        never = [s for s in range(1, last + 1) if s not in delivered]
        assert not never, f"{len(never)} of {last} messages never delivered, e.g. {never[:10]} (C3, seed {SEED})"
        unacked = [s for s in range(1, last + 1) if s not in ledger.ack_sent]
        assert not unacked, (f"{len(unacked)} of {last} messages never acked by a member, yet the consumer "
                             f"is past them (lost), e.g. {unacked[:10]}; consumer {info} (C3, seed {SEED})")
        unconfirmed = [s for s in range(1, last + 1) if s not in ledger.confirmed]
        late = [s for s in unconfirmed if ROUNDS in ledger.ack_sent[s]]
        assert not late, f"acks sent in the final (not killed) round never confirmed: {late[:10]} (seed {SEED})"
        assert info["num_ack_pending"] == 0 and info["num_pending"] == 0, info
        assert info["ack_floor"]["stream_seq"] == last and info["delivered"]["stream_seq"] == last, info
        redelivered = sum(1 for _, _, dc, _ in ledger.deliveries if dc > 1)
        print(f"{last} messages, {len(ledger.deliveries)} deliveries ({redelivered} redeliveries), "
              f"{len(unconfirmed)} acks applied without a confirmation (kill), {time.monotonic() - t0:.1f} s")
    finally:
        if srv.is_running():
            srv.stop()


# --------------------------------------------------------------------------------------
# Dead letters across crashes
# --------------------------------------------------------------------------------------
DL_STREAM, DL_SUBJ, DL_CONSUMER = "CDL", "cdl", "D"
DLQ_STREAM, DLQ_SUBJECT = "CDLQ", "cdlq.dead"
DL_INITIAL = 3000
DL_ROUNDS = int(os.environ.get("HERALD_CRASH_DLQ_ROUNDS", "10"))


def dl_verdict(sseq: int) -> bytes:
    """Even sequences are terminated (dead-lettered), odd ones acknowledged: a message the
    members see again after a crash gets the same verdict."""
    return b"+TERM poison" if sseq % 2 == 0 else b"+ACK"


def read_dead_letters(srv) -> dict:
    """{original sequence: [dead-letter seq, ...]} of every message in the dead-letter stream
    (pipelined STREAM.MSG.GET), checking each dead letter's reason."""
    with itest.JsClient(srv) as c:
        st = c.stream_info(DLQ_STREAM)["state"]
        first, last = st["first_seq"], st["last_seq"]
        out: dict = {}
        seqs = list(range(max(first, 1), last + 1)) if st["messages"] else []
        for start in range(0, len(seqs), 256):
            chunk = seqs[start:start + 256]
            for q in chunk:
                c.pub(f"$JS.API.STREAM.MSG.GET.{DLQ_STREAM}", b'{"seq":%d}' % q, f"{c.inbox}.g{q}")
            for _ in chunk:
                m = c.next_msg()
                r = json.loads(m.payload)
                if "error" in r:
                    continue
                hdrs = base64.b64decode(r["message"].get("hdrs") or b"")
                _, h = itest.parse_headers(hdrs)
                assert h.get("Herald-Dead-Letter-Reason") == "terminated", h
                assert h.get("Herald-Dead-Letter-Consumer") == DL_CONSUMER, h
                out.setdefault(int(h["Herald-Dead-Letter-Sequence"]), []).append(r["message"]["seq"])
    return out


@pytest.mark.skipif(itest.IS_NATS_SERVER, reason="Herald's dead letters")
def test_kill9_dead_letters_exactly_once(tmp_path):
    """Members +TERM every even message (as a request) and ack the odd ones while heraldd is
    SIGKILLed at random moments. The dead-letter stream keeps no de-duplication window worth
    the name (10 ms), so only Herald's intent records prevent duplicates. At the end the
    dead-letter stream holds exactly one dead letter per even message and none for odd ones:
    never lost (a confirmed +TERM always has its dead letter), never duplicated."""
    t0 = time.monotonic()
    rng = random.Random(SEED + 1)
    print(f"dead-letter crash test seed {SEED} (HERALD_CRASH_SEED), {DL_ROUNDS} rounds")
    srv = itest.ServerProcess(tmp_path)
    ledger = Ledger()
    srv.start()
    try:
        with itest.JsClient(srv) as c:
            c.create_stream(DL_STREAM, [f"{DL_SUBJ}.>"])
            c.create_stream(DLQ_STREAM, ["cdlq.>"], duplicate_window=10_000_000)
            r = c.api(f"CONSUMER.CREATE.{DL_STREAM}.{DL_CONSUMER}",
                      {"stream_name": DL_STREAM, "config": {
                          "durable_name": DL_CONSUMER, "ack_policy": "explicit", "ack_wait": ACK_WAIT_NS,
                          "max_ack_pending": 10000, "dead_letter_subject": DLQ_SUBJECT}})
            assert "error" not in r, r
            for i in range(DL_INITIAL):
                c.pub(f"{DL_SUBJ}.m", b"dl-%d" % i, f"{c.inbox}.f{i}")
            for _ in range(DL_INITIAL):
                assert json.loads(c.next_msg().payload).get("seq"), "publish failed"

        def members(rnd, stop):
            return [Member(srv, rnd, n, ledger, rng, stop, DL_STREAM, DL_CONSUMER, dl_verdict)
                    for n in range(MEMBERS)]

        for rnd in range(DL_ROUNDS):
            if rnd:
                srv.start(srv.port)
                dead = read_dead_letters(srv)
                with ledger.lock:
                    confirmed_terms = [s for s in ledger.confirmed if s % 2 == 0]
                lost = [s for s in confirmed_terms if s not in dead]
                assert not lost, f"round {rnd}: confirmed +TERMs without a dead letter: {lost[:10]} (seed {SEED})"
            stop = threading.Event()
            threads = members(rnd, stop)
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 0.6))
            srv.kill9()
            for t in threads:
                t.join(10)
            assert not ledger.errors, ledger.errors[:5]
        srv.start(srv.port)
        stop = threading.Event()
        threads = members(DL_ROUNDS, stop)
        for t in threads:
            t.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with itest.JsClient(srv) as c:
                info = c.api(f"CONSUMER.INFO.{DL_STREAM}.{DL_CONSUMER}")
            if info["ack_floor"]["stream_seq"] == DL_INITIAL:
                break
            time.sleep(0.2)
        time.sleep(0.3)  # the last dead letters are published with the settlement
        stop.set()
        for t in threads:
            t.join(10)
        assert not ledger.errors, ledger.errors[:5]
        assert info["ack_floor"]["stream_seq"] == DL_INITIAL and info["num_ack_pending"] == 0, info
        dead = read_dead_letters(srv)
        dups = {s: q for s, q in dead.items() if len(q) > 1}
        assert not dups, f"{len(dups)} messages dead-lettered more than once, e.g. {list(dups.items())[:5]} (seed {SEED})"
        odd = sorted(s for s in dead if s % 2 == 1)
        assert not odd, f"acknowledged messages were dead-lettered: {odd[:10]} (seed {SEED})"
        want = set(range(2, DL_INITIAL + 1, 2))
        missing = sorted(want - set(dead))
        assert not missing, f"{len(missing)} terminated messages have no dead letter, e.g. {missing[:10]} (seed {SEED})"
        with itest.JsClient(srv) as c:
            assert c.stream_info(DLQ_STREAM)["state"]["messages"] == len(want)
        print(f"{DL_INITIAL} messages, {len(want)} dead letters, {len(ledger.deliveries)} deliveries, "
              f"{time.monotonic() - t0:.1f} s")
    finally:
        if srv.is_running():
            srv.stop()
