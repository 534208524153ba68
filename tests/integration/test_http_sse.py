# SPDX-License-Identifier: Apache-2.0
"""Server-Sent Events on the HTTP head (src/heads/http/http_sse.c): live subjects, stream
replay with ids and Last-Event-ID resumption, framing, slow readers, and durable consumers
read as event streams (ack=auto / ack=explicit).

heraldd only (skipped under HERALD_SERVER=nats-server). The stream is parsed as a browser
parses it (http_util.SseClient); tests/browser checks a real EventSource.
"""
from __future__ import annotations

import json
import threading
import time
from urllib.parse import quote

import pytest
import requests

from conftest import IS_NATS_SERVER, RawClient, assert_server_serves, unique
from http_util import HttpConn, SseClient, stream_name

pytestmark = pytest.mark.skipif(IS_NATS_SERVER, reason="the HTTP head is heraldd's own")

T = 10


def post(server, path, data=b"", **kw):
    return requests.post(server.http_url + path, data=data, timeout=T, **kw)


def get(server, path, **kw):
    return requests.get(server.http_url + path, timeout=T, **kw)


def make_stream(server, tag: str) -> tuple[str, str]:
    name, prefix = stream_name(tag)
    r = requests.put(f"{server.http_url}/v1/streams/{name}", json={"subjects": [f"{prefix}.>"]}, timeout=T)
    assert r.status_code == 201, r.text
    return name, prefix


def pub(server, subject, data=b"x", expect=200) -> dict:
    r = post(server, f"/v1/publish/{subject}", data)
    assert r.status_code == expect, r.text
    return r.json()


def events_url(subject: str, **params) -> str:
    q = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in {"subject": subject, **params}.items())
    return f"/v1/events?{q}"


# --------------------------------------------------------------------------------------
# Subjects: live and from a stream
# --------------------------------------------------------------------------------------
def test_live_subject_events_have_no_id(server):
    subj = unique("sselive")
    with SseClient(server, events_url(f"{subj}.>")) as es:
        h = es.response.headers
        assert h["content-type"] == "text/event-stream" and h["cache-control"] == "no-cache"
        assert "content-length" not in h
        pub(server, f"{subj}.a", b"first", expect=202)
        pub(server, f"{subj}.b", b"second", expect=202)
        pub(server, unique("elsewhere"), b"not for us", expect=202)
        a, b = es.events(2)
        assert (a.id, a.event, a.data) == (None, f"{subj}.a", "first")
        assert (b.id, b.event, b.data) == (None, f"{subj}.b", "second")
        assert es.retry == 2000
        es.expect_no_event(0.3)
        # a NATS publisher is seen the same way
        with RawClient(server) as nc:
            nc.pub(f"{subj}.nats", b"from nats")
            nc.expect_open()
        ev = es.next_event()
        assert (ev.event, ev.data) == (f"{subj}.nats", "from nats")


def test_retry_comes_first(server):
    with HttpConn(server) as c:
        c.send(HttpConn.build("GET", events_url(unique("sseretry"))))
        r = c.read_head()
        assert r.status == 200
        deadline = time.monotonic() + 5
        while len(c.buf) < 13:
            c._fill(deadline)
        assert c.buf.startswith(b"retry: 2000\n\n")


def test_head_of_an_event_stream_has_no_body(server):
    name, p = make_stream(server, "ssehead")
    for path in (events_url(unique("ssehead")), events_url(f"{p}.>", **{"from": "all"})):
        with HttpConn(server) as c:
            c.send(HttpConn.build("HEAD", path))
            r = c.read_head()
            assert r.status == 200 and r.headers["content-type"] == "text/event-stream"
            assert c.expect_closed() == b""
    deadline = time.monotonic() + 5  # and the ephemeral consumer went with it
    while get(server, f"/v1/streams/{name}").json()["state"]["consumer_count"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_stream_replays_from_all_then_goes_live_with_sequence_ids(server):
    name, p = make_stream(server, "ssereplay")
    for i in range(1, 4):
        pub(server, f"{p}.e", f"old {i}")
    with SseClient(server, events_url(f"{p}.>", **{"from": "all"})) as es:
        evs = es.events(3)
        assert [(e.id, e.data) for e in evs] == [("1", "old 1"), ("2", "old 2"), ("3", "old 3")]
        assert all(e.event == f"{p}.e" for e in evs)
        pub(server, f"{p}.e", "new 4")
        pub(server, f"{p}.f", "new 5")
        evs = es.events(2)
        assert [(e.id, e.event, e.data) for e in evs] == [("4", f"{p}.e", "new 4"), ("5", f"{p}.f", "new 5")]
    # ?stream= names the stream; a narrower filter picks its subjects
    with SseClient(server, events_url(f"{p}.f", stream=name, **{"from": "all"})) as es:
        ev = es.next_event()
        assert (ev.id, ev.data) == ("5", "new 5")
        es.expect_no_event(0.3)


def test_from_new_last_sequence_and_time(server):
    name, p = make_stream(server, "ssefrom")
    for i in range(1, 6):
        pub(server, f"{p}.x", str(i))
    with SseClient(server, events_url(f"{p}.>")) as es:  # default: new
        es.expect_no_event(0.3)
        pub(server, f"{p}.x", "6")
        assert (es.next_event().id, ) == ("6", )
    with SseClient(server, events_url(f"{p}.>", **{"from": "last"})) as es:
        assert es.next_event().id == "6"
        es.expect_no_event(0.2)
    with SseClient(server, events_url(f"{p}.>", **{"from": "4"})) as es:
        assert [e.id for e in es.events(3)] == ["4", "5", "6"]
    t4 = get(server, f"/v1/streams/{name}/messages/4").json()["time"]
    with SseClient(server, events_url(f"{p}.>", **{"from": t4})) as es:
        assert es.next_event().id == "4"
    SseClient(server, events_url(f"{p}.>", **{"from": "yesterday"}), expect=400).close()
    SseClient(server, events_url(f"{p}.>", stream="NO_SUCH_STREAM"), expect=404).close()
    SseClient(server, "/v1/events", expect=400).close()
    SseClient(server, events_url("bad..subject"), expect=400).close()


def test_last_event_id_resumes_exactly_after_it(server):
    name, p = make_stream(server, "sseresume")
    for i in range(1, 4):
        pub(server, f"{p}.e", f"m{i}")
    with SseClient(server, events_url(f"{p}.>", **{"from": "all"})) as es:
        assert [e.id for e in es.events(3)] == ["1", "2", "3"]
        last = es.last_id
    pub(server, f"{p}.e", "m4")  # while disconnected
    pub(server, f"{p}.e", "m5")
    # the header wins over ?from=all; the query parameter works on a first connection
    with SseClient(server, events_url(f"{p}.>", **{"from": "all"}), headers={"Last-Event-ID": last}) as es:
        assert [(e.id, e.data) for e in es.events(2)] == [("4", "m4"), ("5", "m5")]
        es.expect_no_event(0.3)
        pub(server, f"{p}.e", "m6")
        assert es.next_event().id == "6"
    with SseClient(server, events_url(f"{p}.>", last_event_id=4)) as es:
        assert [e.id for e in es.events(2)] == ["5", "6"]


def test_resume_under_load_has_no_gap_and_no_duplicate(server):
    """A publisher runs the whole time; the reader drops and resumes three times."""
    name, p = make_stream(server, "sseload")
    total = 300
    done = threading.Event()

    def publisher():
        with requests.Session() as s:
            for i in range(1, total + 1):
                r = s.post(f"{server.http_url}/v1/publish/{p}.e", data=str(i), timeout=T)
                assert r.status_code == 200
                time.sleep(0.003)
        done.set()

    th = threading.Thread(target=publisher, daemon=True)
    th.start()
    seen: list[int] = []
    last = None
    deadline = time.monotonic() + 20
    for round_ in range(4):
        headers = {"Last-Event-ID": last} if last else None
        with SseClient(server, events_url(f"{p}.>", **{"from": "all"}), headers=headers) as es:
            want = 60 if round_ < 3 else None
            while time.monotonic() < deadline:
                if want is not None and want == 0:
                    break
                if want is None and seen and seen[-1] == total:
                    break
                ev = es.next_event()
                assert ev.data == ev.id, ev
                seen.append(int(ev.id))
                if want is not None:
                    want -= 1
            last = es.last_id
    th.join(T)
    assert done.is_set()
    assert seen == list(range(1, total + 1)), f"gap or duplicate: {seen[:10]}..{seen[-10:]}"


def test_multi_line_data_and_binary_payloads(server):
    name, p = make_stream(server, "sseframe")
    with HttpConn(server) as raw, SseClient(server, events_url(f"{p}.>")) as es:
        pub(server, f"{p}.ml", b"line1\nline2\r\nline3\rline4")
        pub(server, f"{p}.nl", b"ends with a newline\n")
        pub(server, f"{p}.empty", b"")
        pub(server, f"{p}.json", json.dumps({"a": 1, "b": "x"}).encode())
        pub(server, f"{p}.bin", b"\xff\xfe\x00binary")
        pub(server, f"{p}.utf8", "grüße ✓".encode())
        evs = es.events(6)
        assert evs[0].data == "line1\nline2\nline3\nline4"
        assert evs[1].data == "ends with a newline\n"
        assert evs[2].data == ""
        assert json.loads(evs[3].data) == {"a": 1, "b": "x"}
        assert evs[4].event == f"{p}.bin;base64"
        import base64
        assert base64.b64decode(evs[4].data) == b"\xff\xfe\x00binary"
        assert evs[5].data == "grüße ✓" and evs[5].event == f"{p}.utf8"
        # the exact bytes of one event
        raw.send(HttpConn.build("GET", events_url(f"{p}.ml", **{"from": "1"})))
        assert raw.read_head().status == 200
        want = f"retry: 2000\n\nid: 1\nevent: {p}.ml\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n".encode()
        deadline = time.monotonic() + 5
        while len(raw.buf) < len(want):
            raw._fill(deadline)
        assert raw.buf == want


def test_cors_on_event_streams(server):
    with SseClient(server, events_url(unique("ssecors")), headers={"Origin": "https://app.example"}) as es:
        assert es.response.headers["access-control-allow-origin"] == "https://app.example"


def test_ephemeral_consumer_goes_with_the_connection(server):
    name, p = make_stream(server, "sseeph")
    with SseClient(server, events_url(f"{p}.>", **{"from": "all"})) as es:
        pub(server, f"{p}.x")
        es.next_event()
        assert get(server, f"/v1/streams/{name}").json()["state"]["consumer_count"] == 1
    deadline = time.monotonic() + 5
    while get(server, f"/v1/streams/{name}").json()["state"]["consumer_count"] != 0:
        assert time.monotonic() < deadline, "the SSE connection's consumer outlived it"
        time.sleep(0.05)


# --------------------------------------------------------------------------------------
# Slow readers
# --------------------------------------------------------------------------------------
def slow_consumers(server) -> float:
    for line in get(server, "/metrics").text.splitlines():
        if line.startswith("herald_slow_consumers_total "):
            return float(line.split()[1])
    raise AssertionError("no herald_slow_consumers_total")


def wait_gone_from_connz(server, es: HttpConn, seconds: float) -> float:
    """Without reading from `es`, wait until the server no longer lists its connection;
    return how long that took."""
    port = es.sock.getsockname()[1]
    t0 = time.monotonic()
    while any(c["port"] == port for c in get(server, "/connz").json()["connections"]):
        assert time.monotonic() - t0 < seconds, f"the slow reader is still connected after {seconds}s"
        time.sleep(0.1)
    return time.monotonic() - t0


def drain_until_closed(es: HttpConn, seconds: float) -> int:
    """Read and discard until EOF; the bytes read. Fails if still open after `seconds`."""
    deadline = time.monotonic() + seconds
    total = len(es.buf)
    es.buf = b""
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the slow reader is still connected after {seconds}s ({total} bytes read)"
        es.sock.settimeout(remaining)
        try:
            chunk = es.sock.recv(1 << 20)
        except ConnectionResetError:
            return total
        except OSError as e:
            raise AssertionError(f"still connected after {seconds}s ({total} bytes): {e}") from None
        if not chunk:
            return total
        total += len(chunk)


def flood(server, subject: str, other: SseClient, n: int, payload: bytes) -> None:
    """Publish n payloads on subject, 500 kB at a time, each batch read by `other` before the
    next: a reader that keeps up gets everything."""
    with RawClient(server) as nc:
        for _ in range(n // 5):
            for _ in range(5):
                nc.pub(subject, payload)
            nc.expect_open()
            for ev in other.events(5, timeout=5):
                assert len(ev.data) == len(payload)


def test_slow_reader_of_a_live_subject_is_closed(server):
    """Live events have no brake: a reader more than SSE_MAX_PENDING (4 MiB) behind is closed
    at once (it would resume from its last id if it had one). Others are not affected."""
    before = slow_consumers(server)
    payload, n = b"z" * 100_000, 100  # 10 MB
    p = unique("sseslowlive")
    es = SseClient(server, events_url(f"{p}.>"), rcvbuf=4096)
    other = SseClient(server, events_url(f"{p}.>"))
    try:
        t0 = time.monotonic()
        flood(server, f"{p}.big", other, n, payload)
        wait_gone_from_connz(server, es, 5)
        read = drain_until_closed(es, 5)
        assert read < n * len(payload) * 0.6, read
        assert time.monotonic() - t0 < 15
    finally:
        es.close()
        other.close()
    assert slow_consumers(server) > before
    assert get(server, "/healthz").status_code == 200
    assert_server_serves(server)


def test_slow_reader_of_a_stream_is_paced_then_closed_by_the_write_deadline(server_factory):
    """A stream's push consumer waits for the reader (flow control answered only once the
    output drained, http_sse.c S1): the server holds at most a few MB for it, and a reader
    that stops reading is closed by the write deadline (2 s here, 10 s by default)."""
    srv = server_factory(["--write_deadline", "2s"])
    before = slow_consumers(srv)
    name, p = make_stream(srv, "sseslow")
    payload, n = b"z" * 100_000, 100
    es = SseClient(srv, events_url(f"{p}.>", **{"from": "all"}), rcvbuf=4096)
    other = SseClient(srv, events_url(f"{p}.>", **{"from": "all"}))
    try:
        t0 = time.monotonic()
        flood(srv, f"{p}.big", other, n, payload)
        conns = get(srv, "/connz").json()["connections"]
        assert max(c["pending_bytes"] for c in conns) <= 4 * 1024 * 1024, conns
        took = wait_gone_from_connz(srv, es, 8)
        read = drain_until_closed(es, 5)
        assert read < n * len(payload) * 0.6, (read, took)
        assert time.monotonic() - t0 < 15
    finally:
        es.close()
        other.close()
    assert slow_consumers(srv) > before
    assert get(srv, "/healthz").status_code == 200
    assert_server_serves(srv)


def test_a_backlog_larger_than_the_output_cap_replays_in_full(server):
    """10 MB stored, read from=all by a reader that reads: every event, in order (S1)."""
    name, p = make_stream(server, "ssebacklog")
    payload, n = b"b" * 100_000, 100
    with RawClient(server) as nc:
        for _ in range(n):
            nc.pub(f"{p}.x", payload)
        nc.expect_open()
    t0 = time.monotonic()
    with SseClient(server, events_url(f"{p}.>", **{"from": "all"})) as es:
        ids = [int(es.next_event(timeout=5).id) for _ in range(n)]
    assert ids == list(range(1, n + 1)) and time.monotonic() - t0 < 10


# --------------------------------------------------------------------------------------
# Durable consumers as event streams
# --------------------------------------------------------------------------------------
def make_consumer(server, stream, name, **config):
    r = requests.put(f"{server.http_url}/v1/streams/{stream}/consumers/{name}",
                     json={"ack_policy": "explicit", **config}, timeout=T)
    assert r.status_code == 200, r.text


def consumer_info(server, stream, name) -> dict:
    r = get(server, f"/v1/streams/{stream}/consumers/{name}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_for_ack_floor(server, stream, consumer, seq, seconds=3.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        info = consumer_info(server, stream, consumer)
        if info["ack_floor"]["stream_seq"] == seq:
            return info
        assert time.monotonic() < deadline, f"ack floor {info['ack_floor']} never reached {seq}"
        time.sleep(0.05)


def test_durable_consumer_events_ack_auto(server):
    name, p = make_stream(server, "ssedur")
    make_consumer(server, name, "w")
    for i in range(1, 6):
        pub(server, f"{p}.job", f"j{i}")
    with SseClient(server, f"/v1/streams/{name}/consumers/w/events") as es:
        evs = es.events(5)
        assert [(e.id, e.event, e.data) for e in evs] == [(str(i), f"{p}.job", f"j{i}") for i in range(1, 6)]
        info = wait_for_ack_floor(server, name, "w", 5)
        assert info["num_ack_pending"] == 0
        pub(server, f"{p}.job", "j6")  # live, through the waiting pull
        ev = es.next_event()
        assert (ev.id, ev.data) == ("6", "j6")
        wait_for_ack_floor(server, name, "w", 6)
    # the consumer is the user's: it outlives the connection
    assert consumer_info(server, name, "w")["num_pending"] == 0


def test_durable_consumer_events_ack_explicit(server):
    name, p = make_stream(server, "sseexp")
    make_consumer(server, name, "w")
    for i in range(1, 4):
        pub(server, f"{p}.job", f"j{i}")
    pub(server, f"{p}.job", b"\xff\x00")
    with SseClient(server, f"/v1/streams/{name}/consumers/w/events?ack=explicit") as es:
        evs = es.events(4)
        envs = [json.loads(e.data) for e in evs]
        assert [e.id for e in evs] == ["1", "2", "3", "4"]
        assert [x["data"] for x in envs[:3]] == ["j1", "j2", "j3"]
        assert envs[3]["data_encoding"] == "base64"
        assert all(x["ack_id"].startswith(f"$JS.ACK.{name}.w.") for x in envs)
        time.sleep(0.3)
        info = consumer_info(server, name, "w")
        assert info["ack_floor"]["stream_seq"] == 0 and info["num_ack_pending"] == 4
        r = post(server, f"/v1/streams/{name}/consumers/w/ack",
                 json.dumps({"ack_ids": [x["ack_id"] for x in envs[:2]]}))
        assert r.status_code == 200 and r.json() == {"acked": 2}
        assert consumer_info(server, name, "w")["ack_floor"]["stream_seq"] == 2


def test_durable_consumer_with_a_small_max_batch(server):
    """The pulls respect the consumer's max_batch (a refused pull would end the stream)."""
    name, p = make_stream(server, "ssebatch")
    make_consumer(server, name, "w", max_batch=2)
    for i in range(1, 8):
        pub(server, f"{p}.job", str(i))
    with SseClient(server, f"/v1/streams/{name}/consumers/w/events") as es:
        assert [e.id for e in es.events(7)] == [str(i) for i in range(1, 8)]


def test_durable_consumer_errors_and_deletion(server):
    name, p = make_stream(server, "sseerr")
    make_consumer(server, name, "w")
    r = SseClient(server, f"/v1/streams/NO_{name}/consumers/w/events", expect=404)
    r.close()
    es = SseClient(server, f"/v1/streams/{name}/consumers/nope/events", expect=404)
    assert json.loads(es.response.body)["error"]["err_code"] == 10014
    es.close()
    SseClient(server, f"/v1/streams/{name}/consumers/w/events?ack=sometimes", expect=400).close()
    # a push consumer cannot be read this way
    r = requests.put(f"{server.http_url}/v1/streams/{name}/consumers/push", timeout=T,
                     json={"ack_policy": "explicit", "deliver_subject": unique("deliver")})
    assert r.status_code == 200, r.text
    SseClient(server, f"/v1/streams/{name}/consumers/push/events", expect=409).close()
    assert get(server, "/healthz").status_code == 200
    # deleting the consumer ends its event stream
    with SseClient(server, f"/v1/streams/{name}/consumers/w/events") as es:
        pub(server, f"{p}.x", "one")
        assert es.next_event().data == "one"
        assert requests.delete(f"{server.http_url}/v1/streams/{name}/consumers/w", timeout=T).status_code == 200
        es.expect_closed(timeout=5)
    assert_server_serves(server)
