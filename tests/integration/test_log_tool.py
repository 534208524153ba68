# SPDX-License-Identifier: Apache-2.0
"""`herald log verify` and `herald log dump` ($HERALD_BUILD/bin/herald) on data directories
written by a real heraldd, intact and damaged, checked against what heraldd itself does
when it starts on them.

Each test starts its own heraldd (`fresh_server`, restarted with 4 KiB segments so a
stream spans several files), creates a stream through the JetStream API with a raw client,
publishes with PubAcks (so every message is synced under sync=always), deletes one message
and purges the first ten, stops the server (SIGTERM), then runs the tool and, for damaged
copies, starts heraldd again on them. Segment files are walked here with a few lines of
`struct` (record length at offset 0, 32-byte fixed part; docs/log-format.md) to find record
offsets; CRCs are never computed here, so the tool and heraldd are the only judges of
validity. Every subprocess has a timeout; only processes started here are signalled.
"""
from __future__ import annotations

import json
import os
import re
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, RawClient, only_heraldd

pytestmark = only_heraldd  # nats-server's store directory has another format

HERALD = str(BUILD / "bin" / "herald")
RUN_TIMEOUT = 30.0
STREAM = "LOGT"
SEG_HEADER = 40
REC_FIXED = 32
N_FIRST = 100      # messages before the delete and the purge
N_TOTAL = 120      # then 20 more, so the last record of the log is a message
DELETED = 7        # STREAM.MSG.DELETE -> a tombstone
FLOOR = 11         # STREAM.PURGE {"seq": 11} -> a floor record: 1..10 are gone
HEADER_SEQ = 3     # published with a header block
ODD_SEQ = 5        # payload with bytes dump must escape
ODD_PAYLOAD = b'he said "hi"\n\x00\xff\\'


def payload(seq: int) -> bytes:
    return ODD_PAYLOAD if seq == ODD_SEQ else b"payload-%04d-%s" % (seq, b"x" * 24)


def subject(seq: int) -> str:
    return f"logt.{'a' if seq % 2 else 'b'}"


def herald_log(*args) -> subprocess.CompletedProcess:
    return subprocess.run([HERALD, "log", *map(str, args)], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)


class Js:
    """The few JetStream calls these tests need, over a RawClient with headers on."""

    def __init__(self, srv):
        self.c = RawClient(srv, connect={"verbose": False, "pedantic": False, "headers": True})
        self.c.sub("_INBOX.logt.*", 1)
        self.n = 0

    def _reply(self) -> str:
        self.n += 1
        return f"_INBOX.logt.{self.n}"

    def _read(self, reply: str) -> dict:
        while True:
            m = self.c.read_msg()
            if m.subject == reply:
                return json.loads(m.payload)

    def api(self, op: str, body=None) -> dict:
        reply = self._reply()
        self.c.pub(f"$JS.API.{op}", b"" if body is None else json.dumps(body).encode(), reply)
        return self._read(reply)

    def publish(self, subj: str, data: bytes, headers: bytes | None = None) -> dict:
        reply = self._reply()
        if headers is None:
            self.c.pub(subj, data, reply)
        else:
            self.c.hpub(subj, headers, data, reply)
        return self._read(reply)

    def close(self) -> None:
        self.c.close()


def restart_with_small_segments(srv, monkeypatch) -> None:
    srv.stop()
    monkeypatch.setenv("HERALD_SERVER_ARGS",
                       (os.environ.get("HERALD_SERVER_ARGS", "") + " --segment_size 4096").strip())
    srv.start()


def populate(srv, monkeypatch) -> dict:
    """Writes the stream, returns its STREAM.INFO state, and stops the server."""
    restart_with_small_segments(srv, monkeypatch)
    js = Js(srv)
    try:
        r = js.api(f"STREAM.CREATE.{STREAM}", {"name": STREAM, "subjects": ["logt.>"]})
        assert "error" not in r, r
        for seq in range(1, N_TOTAL + 1):
            if seq == N_FIRST + 1:
                assert js.api(f"STREAM.MSG.DELETE.{STREAM}", {"seq": DELETED}).get("success")
                assert js.api(f"STREAM.PURGE.{STREAM}", {"seq": FLOOR}).get("purged") == FLOOR - 2
            hdr = b"NATS/1.0\r\nTrace: 7\r\n\r\n" if seq == HEADER_SEQ else None
            ack = js.publish(subject(seq), payload(seq), hdr)
            assert ack.get("seq") == seq, ack
        state = js.api(f"STREAM.INFO.{STREAM}")["state"]
    finally:
        js.close()
    srv.stop()
    return state


def stream_dir(srv) -> Path:
    return Path(srv.store_dir) / "streams" / STREAM


def segments(srv) -> list[Path]:
    return sorted(stream_dir(srv).glob("*.seg"))


def records(path: Path) -> list[tuple[int, int, int, int]]:
    """(offset, size, type, seq) of each record of an intact segment."""
    data = path.read_bytes()
    out, off = [], SEG_HEADER
    while off + REC_FIXED <= len(data):
        length, = struct.unpack_from("<I", data, off)
        rtype, = struct.unpack_from("<B", data, off + 8)
        seq, = struct.unpack_from("<Q", data, off + 16)
        out.append((off, length + 4, rtype, seq))
        off += length + 4
    assert off == len(data), f"{path} does not end on a record boundary"
    return out


def summary(out: str) -> dict:
    """The key=value pairs of a stream's counts line and its live line."""
    counts = re.search(r"^  (segments=.*)$", out, re.M)
    live = re.search(r"^  live: (.*)$", out, re.M)
    assert counts and live, f"no summary in:\n{out}"
    got = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts.group(1))}
    got.update({"live_" + k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", live.group(1))})
    return got


def stream_state(srv) -> dict:
    js = Js(srv)
    try:
        return js.api(f"STREAM.INFO.{STREAM}")["state"]
    finally:
        js.close()


def get_msg(srv, seq: int) -> dict:
    js = Js(srv)
    try:
        return js.api(f"STREAM.MSG.GET.{STREAM}", {"seq": seq})
    finally:
        js.close()


# --------------------------------------------------------------------------------------
# An intact directory
# --------------------------------------------------------------------------------------
def test_verify_clean_counts_match_the_server(fresh_server, monkeypatch):
    state = populate(fresh_server, monkeypatch)
    segs = segments(fresh_server)
    assert len(segs) >= 3, f"expected several 4 KiB segments, got {segs}"

    for target in (fresh_server.store_dir, stream_dir(fresh_server)):
        r = herald_log("verify", target)
        assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
        assert r.stderr == ""
        assert "problem:" not in r.stdout and "note:" not in r.stdout
        assert re.search(r"^verified 1 stream, \d+ segments, 122 records: clean$", r.stdout, re.M)
        s = summary(r.stdout)
        assert s["segments"] == len(segs)
        assert s["records"] == N_TOTAL + 2
        assert (s["messages"], s["tombstones"], s["floors"]) == (N_TOTAL, 1, 1)
        assert (s["first_seq"], s["last_seq"], s["problems"]) == (1, N_TOTAL, 0)
        assert s["bytes"] == sum(p.stat().st_size for p in segs)
        # The live view is what the server reported before it stopped.
        assert s["live_messages"] == state["messages"] == N_TOTAL - (FLOOR - 1)
        assert s["live_first_seq"] == state["first_seq"] == FLOOR
        assert s["live_last_seq"] == state["last_seq"] == N_TOTAL
        assert s["live_floor"] == FLOOR

    r = herald_log("verify", fresh_server.store_dir, "--stream", STREAM)
    assert r.returncode == 0 and "stream LOGT" in r.stdout
    r = herald_log("verify", fresh_server.store_dir, "--stream", "NOPE")
    assert r.returncode == 1 and r.stderr.startswith("herald: no stream 'NOPE'")


def test_dump_prints_every_record(fresh_server, monkeypatch):
    populate(fresh_server, monkeypatch)
    r = herald_log("dump", fresh_server.store_dir, "--data")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if not l.startswith("#")]
    assert len(lines) == N_TOTAL + 2
    assert r.stdout.count("# segment ") == len(segments(fresh_server))
    line_re = re.compile(r"^(\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (\S+) (msg|tombstone|floor) (\d+)(.*)$")
    msgs = {}
    for l in lines:
        m = line_re.match(l)
        assert m, f"unexpected dump line {l!r}"
        seq, _, subj, typ, size, rest = m.groups()
        if typ == "msg":
            msgs[int(seq)] = (subj, int(size), rest)
        elif typ == "tombstone":
            assert (int(seq), subj, size) == (DELETED, "-", "32")
        else:
            assert (int(seq), subj, size) == (FLOOR, "-", "32")
    assert sorted(msgs) == list(range(1, N_TOTAL + 1))
    for seq, (subj, size, rest) in msgs.items():
        assert subj == subject(seq)
        hdr_len = len(b"NATS/1.0\r\nTrace: 7\r\n\r\n") if seq == HEADER_SEQ else 0
        assert size == REC_FIXED + len(subj) + hdr_len + len(payload(seq))
        if seq not in (HEADER_SEQ, ODD_SEQ):
            assert rest == f' data="{payload(seq).decode()}"'
    assert msgs[HEADER_SEQ][2] == f' hdr="NATS/1.0\\r\\nTrace: 7\\r\\n\\r\\n" data="{payload(HEADER_SEQ).decode()}"'
    assert msgs[ODD_SEQ][2] == r' data="he said \"hi\"\n\x00\xff\\"'

    # Without --data: no payloads. --from/--limit: a window; markers below it are skipped.
    r = herald_log("dump", stream_dir(fresh_server))
    assert r.returncode == 0 and 'data="' not in r.stdout
    r = herald_log("dump", fresh_server.store_dir, "--stream", STREAM, "--from", 100, "--limit", 5)
    assert r.returncode == 0, r.stderr
    got = [l.split()[0] for l in r.stdout.splitlines() if not l.startswith("#")]
    assert got == ["100", "101", "102", "103", "104"]


# --------------------------------------------------------------------------------------
# Damage, and heraldd's recovery of it
# --------------------------------------------------------------------------------------
def test_torn_tail_is_reported_then_cut_by_heraldd(fresh_server, monkeypatch):
    populate(fresh_server, monkeypatch)
    last = segments(fresh_server)[-1]
    off, size, rtype, seq = records(last)[-1]
    assert (rtype, seq) == (1, N_TOTAL)
    with open(last, "r+b") as f:
        f.truncate(off + size - 5)

    r = herald_log("verify", fresh_server.store_dir)
    assert r.returncode == 1
    assert re.search(rf"^  problem: torn tail: {last.name} offset {off}: record of {size} bytes "
                     rf"but only {size - 5} in the file; heraldd cuts the last {size - 5} bytes$",
                     r.stdout, re.M), r.stdout
    assert r.stdout.count("problem:") == 1
    assert r.stderr == f"herald: log verify: 1 problem in '{fresh_server.store_dir}'\n"
    s = summary(r.stdout)
    assert (s["messages"], s["last_seq"], s["live_messages"]) == (N_TOTAL - 1, N_TOTAL - 1, N_TOTAL - 11)
    r = herald_log("dump", fresh_server.store_dir)
    assert r.returncode == 1
    assert f"# damage: {last.name} offset {off}: torn tail: " in r.stdout
    assert f"\n{N_TOTAL - 1} " in r.stdout and f"\n{N_TOTAL} " not in r.stdout

    # heraldd cuts the torn record and keeps everything before it.
    fresh_server.start()
    state = stream_state(fresh_server)
    assert (state["messages"], state["first_seq"], state["last_seq"]) == (N_TOTAL - 11, FLOOR, N_TOTAL - 1)
    assert get_msg(fresh_server, N_TOTAL - 1)["message"]["seq"] == N_TOTAL - 1
    assert "error" in get_msg(fresh_server, N_TOTAL)
    fresh_server.stop()
    assert "torn tail" in fresh_server.log_tail(200)

    r = herald_log("verify", fresh_server.store_dir)
    assert r.returncode == 0, r.stdout
    assert summary(r.stdout)["messages"] == N_TOTAL - 1
    assert last.stat().st_size == off


def test_stray_segment_copy_is_set_aside_not_trusted(fresh_server, monkeypatch):
    """A copy of the first segment under a later name (its header claims first sequence 1
    again) must not hide or cut the real segments: heraldd sets it aside as .bad and serves
    every message."""
    state = populate(fresh_server, monkeypatch)
    first = segments(fresh_server)[0]
    stray = stream_dir(fresh_server) / "99999999999999999999.seg"
    stray.write_bytes(first.read_bytes())
    fresh_server.start()
    got = stream_state(fresh_server)
    assert (got["messages"], got["first_seq"], got["last_seq"]) == \
        (state["messages"], state["first_seq"], state["last_seq"]), (got, state)
    assert get_msg(fresh_server, N_TOTAL)["message"]["seq"] == N_TOTAL
    fresh_server.stop()
    assert not stray.exists() and stray.with_name(stray.name + ".bad").exists()
    assert "bad header; set aside" in fresh_server.log_tail(200)


def test_corruption_in_the_middle_is_told_from_a_torn_tail(fresh_server, monkeypatch):
    populate(fresh_server, monkeypatch)
    first = segments(fresh_server)[0]
    recs = [r for r in records(first) if r[2] == 1 and r[3] > FLOOR]
    assert len(recs) >= 5
    off, size, _, seq = recs[len(recs) // 2]
    n_after = len([r for r in records(first) if r[0] > off])
    after = [r[3] for r in records(first) if r[0] > off and r[2] == 1]
    data = bytearray(first.read_bytes())
    data[off + size - 3] ^= 0x40  # inside the payload: framing intact, CRC wrong
    first.write_bytes(bytes(data))

    r = herald_log("verify", fresh_server.store_dir)
    assert r.returncode == 1
    m = re.search(rf"^  problem: corruption: {first.name} offset {off}: checksum mismatch in a "
                  rf"record of {size} bytes \(seq {seq}\); heraldd's recovery cuts the segment "
                  rf"here \((\d+) bytes\); (\d+) valid records? follows? it \(messages "
                  rf"(\d+)\.\.(\d+)\) and (?:is|are) cut too$", r.stdout, re.M)
    assert m, r.stdout
    assert int(m.group(1)) == len(data) - off
    assert (int(m.group(2)), int(m.group(3)), int(m.group(4))) == (n_after, after[0], after[-1])
    assert "torn tail" not in r.stdout
    predicted = summary(r.stdout)
    r = herald_log("dump", fresh_server.store_dir)
    assert r.returncode == 1
    assert f"# damage: {first.name} offset {off}: corruption: checksum mismatch" in r.stdout

    # With its index checkpoint heraldd does not re-read data the checkpoint vouches for
    # (start-up grows with the unverified tail only): it starts at once and the damaged
    # record reads as an error, not as data.
    fresh_server.start()
    assert "error" in get_msg(fresh_server, seq)
    assert get_msg(fresh_server, seq - 1)["message"]["seq"] == seq - 1
    fresh_server.stop()

    # Without the checkpoint (deleted, as an operator would to force a full scan) heraldd
    # cuts the segment at the damage (losing the valid records after it in that segment, as
    # verify said) and keeps the later segments.
    for ckpt in Path(fresh_server.store_dir).glob("streams/*/index.ckpt"):
        ckpt.unlink()
    fresh_server.start()
    state = stream_state(fresh_server)
    assert state["messages"] == predicted["live_messages"]
    assert (state["first_seq"], state["last_seq"]) == (FLOOR, N_TOTAL)
    assert "error" in get_msg(fresh_server, seq)
    assert get_msg(fresh_server, seq - 1)["message"]["seq"] == seq - 1
    assert get_msg(fresh_server, after[-1] + 1)["message"]["seq"] == after[-1] + 1
    fresh_server.stop()

    r = herald_log("verify", fresh_server.store_dir)
    assert r.returncode == 0, r.stdout
    assert summary(r.stdout)["live_messages"] == predicted["live_messages"]


# --------------------------------------------------------------------------------------
# Odd directories and files, usage
# --------------------------------------------------------------------------------------
def test_odd_inputs(tmp_path):
    r = herald_log("verify", tmp_path / "missing")
    assert r.returncode == 1 and r.stderr.startswith("herald: cannot open ")

    empty = tmp_path / "empty"
    empty.mkdir()
    r = herald_log("verify", empty)
    assert r.returncode == 1 and "neither a heraldd data directory" in r.stderr

    data = tmp_path / "data"
    (data / "streams").mkdir(parents=True)
    r = herald_log("verify", data)
    assert r.returncode == 0 and "verified 0 streams, 0 segments, 0 records: clean" in r.stdout
    r = herald_log("dump", data)
    assert r.returncode == 0 and r.stdout == ""

    s = data / "streams" / "S"
    s.mkdir()
    (s / "meta.json").write_text('{"config":{"name":"S","subjects":["s.>"]},"created_ns":1}')
    (s / "00000000000000000001.seg").write_bytes(b"")
    (s / "00000000000000000002.seg").write_bytes(b"NOTHERALD" + bytes(31))
    r = herald_log("verify", data)
    assert r.returncode == 1
    assert "problem: bad header: 00000000000000000001.seg: zero-length segment file" in r.stdout
    assert "problem: bad header: 00000000000000000002.seg: bad magic" in r.stdout
    r = herald_log("dump", data)
    assert r.returncode == 1 and r.stdout.count("# damage:") == 2

    (s / "meta.json").write_text("{not json")
    r = herald_log("verify", s)
    assert r.returncode == 1 and "problem: meta: meta.json: not JSON" in r.stdout


@pytest.mark.parametrize("args", [
    [], ["frob", "."], ["verify"], ["verify", ".", "extra"], ["verify", ".", "--data"],
    ["dump", ".", "--limit", "0"], ["dump", ".", "--from", "x"], ["dump", ".", "--bogus"],
    ["dump", ".", "--stream", "../x"],
])
def test_usage_errors(args):
    r = herald_log(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr.startswith("herald: ") and "usage: herald log verify DIR" in r.stderr
    assert r.stdout == ""


def test_help():
    for argv in (["log", "--help"], ["help", "log"]):
        r = subprocess.run([HERALD, *argv], capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert r.returncode == 0 and r.stdout.startswith("usage: herald log verify DIR")
    r = subprocess.run([HERALD, "--help"], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert re.search(r"^  log\s+check or print", r.stdout, re.M)
