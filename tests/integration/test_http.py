# SPDX-License-Identifier: Apache-2.0
"""The HTTP head (src/heads/http): the REST API under /v1, the request/reply bridge,
monitoring, and HTTP/1.1 itself (keep-alive, pipelining, 100-continue, chunked bodies,
HEAD, errors, CORS, the header timeout).

heraldd only: nats-server has no such API (the module is skipped under
HERALD_SERVER=nats-server). REST calls go through `requests`; framing, pipelining and
error cases through bare sockets (http_util.HttpConn) so the exact bytes are seen.
Server-Sent Events are in test_http_sse.py; the API is documented in docs/http-api.md.
"""
from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time

import pytest
import requests

from conftest import BUILD, IS_NATS_SERVER, MAX_PAYLOAD, RawClient, assert_server_serves, unique
from http_util import HttpConn, stream_name

pytestmark = pytest.mark.skipif(IS_NATS_SERVER, reason="the HTTP head is heraldd's own")

T = 10  # requests timeout (s); every call below is bounded by it


@pytest.fixture(scope="module")
def http(server):
    """A requests.Session bound to the server's HTTP base URL: http.get("/v1/streams")."""

    class Api(requests.Session):
        def request(self, method, url, *a, **kw):
            kw.setdefault("timeout", T)
            return super().request(method, server.http_url + url, *a, **kw)

    with Api() as s:
        yield s


def make_stream(http, tag: str, **config) -> tuple[str, str]:
    """A stream capturing `<prefix>.>`; returns (name, prefix)."""
    name, prefix = stream_name(tag)
    r = http.put(f"/v1/streams/{name}", json={"subjects": [f"{prefix}.>"], **config})
    assert r.status_code == 201, r.text
    return name, prefix


def publish(http, subject: str, data: bytes | str = b"x", headers=None) -> requests.Response:
    return http.post(f"/v1/publish/{subject}", data=data, headers=headers or {})


def error_of(r: requests.Response) -> dict:
    """The error object every failure carries: {"code", "err_code", "description"}."""
    assert r.headers.get("content-type") == "application/json", r.headers
    err = r.json()["error"]
    assert err["code"] == r.status_code and isinstance(err["description"], str), err
    return err


# --------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------
def test_publish_to_a_stream_is_200_with_the_puback(http):
    name, p = make_stream(http, "pub200")
    r = publish(http, f"{p}.a", b"hello")
    assert r.status_code == 200 and r.json() == {"stream": name, "seq": 1}
    r = publish(http, f"{p}.b", b"world")
    assert r.json() == {"stream": name, "seq": 2}
    m = http.get(f"/v1/streams/{name}/messages/2").json()
    assert m["subject"] == f"{p}.b" and m["data"] == "world" and m["seq"] == 2


def test_publish_without_a_stream_is_202_and_delivered_live(server, http):
    subj = unique("live202")
    with RawClient(server) as sub:
        sub.sub(subj, 1)
        sub.expect_open()
        r = publish(http, subj, b"now")
        assert r.status_code == 202 and r.json() == {"stored": False}
        m = sub.read_msg()
        assert m.subject == subj and m.payload == b"now"


def test_publish_headers_become_message_headers(http):
    name, p = make_stream(http, "pubhdr")
    r = publish(http, f"{p}.a", b"x", {"Nats-Msg-Id": "m-1", "Herald-Trace": "t1", "X-Other": "dropped"})
    assert r.status_code == 200
    m = http.get(f"/v1/streams/{name}/messages/{r.json()['seq']}").json()
    assert m["headers"] == {"Nats-Msg-Id": "m-1", "Herald-Trace": "t1"}


def test_publish_expected_last_subject_sequence_conflict_is_409(http):
    name, p = make_stream(http, "pub409")
    assert publish(http, f"{p}.acct").json()["seq"] == 1
    ok = publish(http, f"{p}.acct", b"2", {"Nats-Expected-Last-Subject-Sequence": "1"})
    assert ok.status_code == 200 and ok.json()["seq"] == 2
    stale = publish(http, f"{p}.acct", b"3", {"Nats-Expected-Last-Subject-Sequence": "1"})
    assert stale.status_code == 409 and error_of(stale)["err_code"] == 10071
    assert http.get(f"/v1/streams/{name}").json()["state"]["messages"] == 2


def test_publish_msg_id_dedupes(http):
    name, p = make_stream(http, "pubdup")
    a = publish(http, f"{p}.x", b"once", {"Nats-Msg-Id": "order-17"})
    b = publish(http, f"{p}.x", b"once", {"Nats-Msg-Id": "order-17"})
    assert a.status_code == b.status_code == 200
    assert a.json() == {"stream": name, "seq": 1}
    assert b.json() == {"stream": name, "seq": 1, "duplicate": True}
    assert http.get(f"/v1/streams/{name}").json()["state"]["messages"] == 1


def test_publish_too_large_is_413(server, http):
    name, p = make_stream(http, "pub413")
    # accepted by HTTP, refused by the engine: max_payload + 1
    r = publish(http, f"{p}.big", b"a" * (MAX_PAYLOAD + 1))
    assert r.status_code == 413 and error_of(r)["code"] == 413, r.text
    # exactly max_payload is stored
    r = publish(http, f"{p}.big", b"a" * MAX_PAYLOAD)
    assert r.status_code == 200, r.text
    # more than the head can buffer: 413 from the head, before any body byte is read
    for size in (2 * MAX_PAYLOAD, 64 * MAX_PAYLOAD):
        with HttpConn(server) as c:
            c.send(f"POST /v1/publish/{p}.big HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n".encode())
            resp = c.read_response()
            assert resp.status == 413 and resp.headers.get("connection") == "close"
            c.expect_closed()
    # a body announced with Expect: 100-continue that is too large gets 413, never 100
    with HttpConn(server) as c:
        c.send(f"POST /v1/publish/{p}.big HTTP/1.1\r\nHost: t\r\nContent-Length: {2 * MAX_PAYLOAD}\r\n"
               "Expect: 100-continue\r\n\r\n".encode())
        assert c.read_response().status == 413
    # a chunked body over the limit: 413 too, and the connection is closed
    with HttpConn(server) as c:
        c.send(f"POST /v1/publish/{p}.big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"%x\r\n" % 65536 + b"b" * 65536 + b"\r\n"
        try:
            for _ in range(2 * MAX_PAYLOAD // 65536):
                c.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = c.read_response()
        assert resp.status == 413
        c.expect_closed()
    assert http.get(f"/v1/streams/{name}").json()["state"]["messages"] == 1
    assert http.get("/healthz").status_code == 200


def test_publish_invalid_subject_is_400(http):
    for subj in ("a..b", "wild.*", "wild.>"):
        r = publish(http, subj)
        assert r.status_code == 400 and "subject" in error_of(r)["description"]


def test_publish_batch_ndjson(http):
    name, p = make_stream(http, "batch")
    lines = [{"subject": f"{p}.a", "data": "one"},
             {"subject": f"{p}.b", "data": "two", "headers": {"Nats-Msg-Id": "b-2"}},
             {"subject": unique("nostream"), "data": "live only"},
             {"subject": f"{p}.a", "data": "three"}]
    body = "\n".join(json.dumps(x) for x in lines) + "\n"
    r = http.post("/v1/publish", data=body, headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert r.json() == {"results": [{"stream": name, "seq": 1}, {"stream": name, "seq": 2},
                                    {"stream": name, "seq": 3}]}
    m2 = http.get(f"/v1/streams/{name}/messages/2").json()
    assert m2["data"] == "two" and m2["headers"] == {"Nats-Msg-Id": "b-2"}
    # nothing stored: 202 with the count
    r = http.post("/v1/publish", data=json.dumps({"subject": unique("nostream"), "data": "x"}))
    assert r.status_code == 202 and r.json() == {"published": 1, "stored": False}
    # a bad line: 400 naming it
    r = http.post("/v1/publish", data=json.dumps({"subject": f"{p}.a", "data": "ok"}) + "\n{nope}\n")
    assert r.status_code == 400 and "line 2" in error_of(r)["description"]


def test_cloudevents_structured_mode_is_stored_with_ce_headers(http):
    name, p = make_stream(http, "ce")
    ev = {"specversion": "1.0", "type": "com.example.order.created", "source": "/shop",
          "id": "A-1", "datacontenttype": "application/json", "data": {"order": 17, "total": 9.5}}
    r = http.post(f"/v1/publish/{p}.created", data=json.dumps(ev),
                  headers={"Content-Type": "application/cloudevents+json; charset=utf-8"})
    assert r.status_code == 200, r.text
    m = http.get(f"/v1/streams/{name}/messages/{r.json()['seq']}").json()
    assert m["headers"] == {"ce-specversion": "1.0", "ce-type": "com.example.order.created",
                            "ce-source": "/shop", "ce-id": "A-1",
                            "ce-datacontenttype": "application/json"}
    assert json.loads(m["data"]) == {"order": 17, "total": 9.5}
    # data_base64 is decoded; string data is stored as it is
    r = http.post(f"/v1/publish/{p}.bin", headers={"Content-Type": "application/cloudevents+json"},
                  data=json.dumps({"specversion": "1.0", "type": "t", "source": "s", "id": "2",
                                   "data_base64": base64.b64encode(b"\x00\x01binary").decode()}))
    m = http.get(f"/v1/streams/{name}/messages/{r.json()['seq']}").json()
    assert m["data_encoding"] == "base64" and base64.b64decode(m["data"]) == b"\x00\x01binary"
    r = http.post(f"/v1/publish/{p}.txt", headers={"Content-Type": "application/cloudevents+json"},
                  data=json.dumps({"specversion": "1.0", "type": "t", "source": "s", "id": "3",
                                   "data": "plain text"}))
    assert http.get(f"/v1/streams/{name}/messages/{r.json()['seq']}").json()["data"] == "plain text"
    # binary mode: ce-* request headers are kept as they are
    r = publish(http, f"{p}.binmode", b"payload", {"ce-specversion": "1.0", "ce-type": "t2",
                                                   "ce-id": "4", "ce-source": "/x"})
    m = http.get(f"/v1/streams/{name}/messages/{r.json()['seq']}").json()
    assert m["headers"]["ce-type"] == "t2" and m["data"] == "payload"
    # not a CloudEvent
    r = http.post(f"/v1/publish/{p}.bad", data='{"type":"t"}',
                  headers={"Content-Type": "application/cloudevents+json"})
    assert r.status_code == 400 and "specversion" in error_of(r)["description"]


# --------------------------------------------------------------------------------------
# Streams and messages
# --------------------------------------------------------------------------------------
def test_stream_create_update_info_list_purge_delete(http):
    name, p = stream_name("sadmin")
    r = http.put(f"/v1/streams/{name}", json={"subjects": [f"{p}.>"]})
    assert r.status_code == 201 and r.json()["config"]["name"] == name and r.json()["did_create"]
    r = http.put(f"/v1/streams/{name}", json={"subjects": [f"{p}.>"], "max_msgs": 100})
    assert r.status_code == 200 and r.json()["config"]["max_msgs"] == 100
    for i in range(5):
        publish(http, f"{p}.{i % 2}", str(i))
    info = http.get(f"/v1/streams/{name}")
    assert info.status_code == 200 and info.json()["state"]["messages"] == 5
    lst = http.get("/v1/streams").json()
    assert name in [s["config"]["name"] for s in lst["streams"]]
    r = http.post(f"/v1/streams/{name}/purge", json={"filter": f"{p}.0"})
    assert r.status_code == 200 and r.json() == {"success": True, "purged": 3}
    r = http.post(f"/v1/streams/{name}/purge")  # an empty body purges everything
    assert r.status_code == 200 and r.json()["purged"] == 2
    assert http.get(f"/v1/streams/{name}").json()["state"]["messages"] == 0
    r = http.delete(f"/v1/streams/{name}")
    assert r.status_code == 200 and r.json() == {"success": True}
    r = http.get(f"/v1/streams/{name}")
    assert r.status_code == 404 and error_of(r)["err_code"] == 10059
    assert http.delete(f"/v1/streams/{name}").status_code == 404


def test_stream_bad_requests(http):
    name, p = stream_name("sbad")
    r = http.put(f"/v1/streams/{name}", data="{not json")
    assert r.status_code == 400 and error_of(r)["err_code"] == 10025
    r = http.put(f"/v1/streams/{name}", data="[1,2]")
    assert r.status_code == 400
    r = http.put(f"/v1/streams/{name}", json={"subjects": [f"{p}.>"], "name": "OTHER"})
    assert r.status_code == 400, r.text  # the body's name must match the path's
    r = http.post(f"/v1/streams/{name}")
    assert r.status_code == 405 and r.headers["allow"] == "GET, PUT, DELETE"


def test_messages_by_seq_by_subject_and_delete(http):
    name, p = make_stream(http, "msgs")
    for i in range(1, 4):
        publish(http, f"{p}.k{i % 2}", f"v{i}")
    m = http.get(f"/v1/streams/{name}/messages/1").json()
    assert m["seq"] == 1 and m["subject"] == f"{p}.k1" and m["data"] == "v1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", m["time"]), m["time"]
    last = http.get(f"/v1/streams/{name}/subjects/{p}.k1").json()
    assert last["seq"] == 3 and last["data"] == "v3"
    r = http.get(f"/v1/streams/{name}/subjects/{p}.nothing")
    assert r.status_code == 404 and error_of(r)["err_code"] == 10037
    r = http.get(f"/v1/streams/{name}/messages/99")
    assert r.status_code == 404 and error_of(r)["err_code"] == 10037
    assert http.get(f"/v1/streams/{name}/messages/abc").status_code == 400
    r = http.delete(f"/v1/streams/{name}/messages/2")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert http.get(f"/v1/streams/{name}/messages/2").status_code == 404
    assert http.get(f"/v1/streams/NOPE_{name}/messages/1").status_code == 404
    # binary payloads come back base64
    r = publish(http, f"{p}.bin", b"\x00\xff\x10")
    m = http.get(f"/v1/streams/{name}/messages/{r.json()['seq']}").json()
    assert m["data_encoding"] == "base64" and base64.b64decode(m["data"]) == b"\x00\xff\x10"


def test_messages_range_pages_with_next_start_seq(http):
    name, p = make_stream(http, "range")
    for i in range(1, 26):
        publish(http, f"{p}.{'even' if i % 2 == 0 else 'odd'}", str(i))
    seen, start, pages = [], 1, 0
    while True:
        r = http.get(f"/v1/streams/{name}/messages", params={"start_seq": start, "limit": 10})
        assert r.status_code == 200
        page = r.json()
        pages += 1
        assert page["last_seq"] == 25
        seen += [m["seq"] for m in page["messages"]]
        if "next_start_seq" not in page:
            break
        start = page["next_start_seq"]
        assert start == seen[-1] + 1
    assert pages == 3 and seen == list(range(1, 26))
    # a subject filter, and a start in the middle
    r = http.get(f"/v1/streams/{name}/messages", params={"subject": f"{p}.even", "start_seq": 10,
                                                          "limit": 3}).json()
    assert [m["seq"] for m in r["messages"]] == [10, 12, 14] and r["next_start_seq"] == 15
    # past the end: empty, no next
    r = http.get(f"/v1/streams/{name}/messages", params={"start_seq": 26}).json()
    assert r["messages"] == [] and "next_start_seq" not in r
    assert http.get(f"/v1/streams/{name}/messages", params={"limit": 0}).status_code == 400
    assert http.get(f"/v1/streams/{name}/messages", params={"start_seq": "x"}).status_code == 400


# --------------------------------------------------------------------------------------
# Consumers, fetch, ack
# --------------------------------------------------------------------------------------
def make_consumer(http, stream: str, name: str, **config) -> dict:
    r = http.put(f"/v1/streams/{stream}/consumers/{name}", json={"ack_policy": "explicit", **config})
    assert r.status_code == 200, r.text
    return r.json()


def fetch(http, stream, consumer, **params) -> requests.Response:
    return http.post(f"/v1/streams/{stream}/consumers/{consumer}/fetch", params=params)


def ack(http, stream, consumer, body) -> requests.Response:
    return http.post(f"/v1/streams/{stream}/consumers/{consumer}/ack", json=body)


def consumer_info(http, stream, consumer) -> dict:
    r = http.get(f"/v1/streams/{stream}/consumers/{consumer}")
    assert r.status_code == 200, r.text
    return r.json()


def test_consumer_create_info_list_delete(http):
    name, p = make_stream(http, "cadmin")
    c = make_consumer(http, name, "worker", filter_subject=f"{p}.jobs")
    assert c["name"] == "worker" and c["config"]["durable_name"] == "worker"
    assert c["config"]["filter_subject"] == f"{p}.jobs"
    make_consumer(http, name, "other")
    info = consumer_info(http, name, "worker")
    assert info["stream_name"] == name and info["num_pending"] == 0
    lst = http.get(f"/v1/streams/{name}/consumers").json()
    assert sorted(c["name"] for c in lst["consumers"]) == ["other", "worker"]
    r = http.delete(f"/v1/streams/{name}/consumers/worker")
    assert r.status_code == 200 and r.json() == {"success": True}
    r = http.get(f"/v1/streams/{name}/consumers/worker")
    assert r.status_code == 404 and error_of(r)["err_code"] == 10014
    assert http.put(f"/v1/streams/{name}/consumers/x", data="nope").status_code == 400
    assert http.put(f"/v1/streams/NOPE_{name}/consumers/x", json={}).status_code == 404


def test_fetch_returns_messages_with_ack_ids(http):
    name, p = make_stream(http, "fetch")
    make_consumer(http, name, "w")
    for i in range(5):
        publish(http, f"{p}.job", f"j{i}")
    r = fetch(http, name, "w", batch=3, wait="1s")
    assert r.status_code == 200
    msgs = r.json()["messages"]
    assert [m["data"] for m in msgs] == ["j0", "j1", "j2"] and [m["seq"] for m in msgs] == [1, 2, 3]
    for m in msgs:
        assert m["ack_id"].startswith(f"$JS.ACK.{name}.w.") and m["deliveries"] == 1
        assert m["subject"] == f"{p}.job"
    # no_wait (wait=0) with 2 left and batch 10: the 2 at once
    t0 = time.monotonic()
    msgs = fetch(http, name, "w", batch=10, wait=0).json()["messages"]
    assert [m["seq"] for m in msgs] == [4, 5] and time.monotonic() - t0 < 1.5
    # nothing left, no_wait: empty at once
    assert fetch(http, name, "w", wait=0).json() == {"messages": []}


def test_fetch_long_poll_wakes_when_a_message_arrives(server, http):
    name, p = make_stream(http, "lpoll")
    make_consumer(http, name, "w")
    out = {}

    def poll():
        t0 = time.monotonic()
        out["r"] = requests.post(f"{server.http_url}/v1/streams/{name}/consumers/w/fetch",
                                 params={"wait": "10s"}, timeout=T)
        out["t"] = time.monotonic() - t0

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    publish(http, f"{p}.x", b"wake")
    th.join(T)
    assert not th.is_alive()
    assert out["r"].status_code == 200 and [m["data"] for m in out["r"].json()["messages"]] == ["wake"]
    assert out["t"] < 3.0, f"the long poll took {out['t']:.2f}s; it should end when the message arrives"


def test_fetch_times_out_with_an_empty_list(http):
    name, _ = make_stream(http, "lpto")
    make_consumer(http, name, "w")
    t0 = time.monotonic()
    r = fetch(http, name, "w", batch=5, wait="1s")
    took = time.monotonic() - t0
    assert r.status_code == 200 and r.json() == {"messages": []}
    assert 0.9 <= took < 4.0, took


def test_fetch_errors(http):
    name, p = make_stream(http, "fetcherr")
    make_consumer(http, name, "w", max_batch=5)
    assert fetch(http, name, "w", batch=0).status_code == 400
    assert fetch(http, name, "w", batch="x").status_code == 400
    assert fetch(http, name, "w", wait="61s").status_code == 400
    assert fetch(http, name, "w", wait="soon").status_code == 400
    r = fetch(http, f"NOPE_{name}", "w", wait="1s")
    assert r.status_code == 404 and error_of(r)["err_code"] == 10059
    t0 = time.monotonic()
    r = fetch(http, name, "nope", wait="5s")
    assert r.status_code == 404 and time.monotonic() - t0 < 3, r.text
    r = fetch(http, name, "w", batch=6, wait="1s")  # over the consumer's max_batch
    assert r.status_code == 409 and "MaxRequestBatch" in error_of(r)["description"]
    assert http.delete(f"/v1/streams/{name}/consumers/w/fetch").status_code == 405


def test_ack_moves_the_ack_floor(http):
    name, p = make_stream(http, "ack")
    make_consumer(http, name, "w")
    for i in range(3):
        publish(http, f"{p}.x", str(i))
    msgs = fetch(http, name, "w", batch=3, wait="1s").json()["messages"]
    r = ack(http, name, "w", {"ack_id": msgs[0]["ack_id"]})
    assert r.status_code == 200 and r.json() == {"acked": 1}
    info = consumer_info(http, name, "w")
    assert info["ack_floor"]["stream_seq"] == 1 and info["num_ack_pending"] == 2
    r = ack(http, name, "w", {"ack_ids": [m["ack_id"] for m in msgs[1:]], "type": "ack"})
    assert r.status_code == 200 and r.json() == {"acked": 2}
    info = consumer_info(http, name, "w")
    assert info["ack_floor"]["stream_seq"] == 3 and info["num_ack_pending"] == 0


def test_nak_with_delay_redelivers_after_it(http):
    name, p = make_stream(http, "nak")
    make_consumer(http, name, "w")
    publish(http, f"{p}.x", b"retry me")
    m = fetch(http, name, "w", wait="1s").json()["messages"][0]
    t0 = time.monotonic()
    assert ack(http, name, "w", {"ack_id": m["ack_id"], "type": "nak", "delay": "1500ms"}).status_code == 200
    assert fetch(http, name, "w", wait="500ms").json()["messages"] == []  # still delayed
    again = fetch(http, name, "w", wait="5s").json()["messages"]
    took = time.monotonic() - t0
    assert [x["data"] for x in again] == ["retry me"] and again[0]["deliveries"] == 2
    assert 1.3 <= took < 4.5, took
    # nak without a delay: at once
    assert ack(http, name, "w", {"ack_id": again[0]["ack_id"], "type": "nak"}).status_code == 200
    third = fetch(http, name, "w", wait="2s").json()["messages"]
    assert third[0]["deliveries"] == 3 and time.monotonic() - t0 - took < 1.5


def test_term_stops_redelivery(http):
    name, p = make_stream(http, "term")
    make_consumer(http, name, "w", ack_wait=1_000_000_000)  # 1 s
    publish(http, f"{p}.x", b"poison")
    m = fetch(http, name, "w", wait="1s").json()["messages"][0]
    assert ack(http, name, "w", {"ack_id": m["ack_id"], "type": "term"}).status_code == 200
    assert fetch(http, name, "w", wait="1500ms").json()["messages"] == []
    assert consumer_info(http, name, "w")["num_ack_pending"] == 0


def test_wpi_extends_the_ack_wait(http):
    name, p = make_stream(http, "wpi")
    make_consumer(http, name, "w", ack_wait=2_000_000_000)  # 2 s
    publish(http, f"{p}.x", b"slow job")
    m = fetch(http, name, "w", wait="1s").json()["messages"][0]
    t0 = time.monotonic()
    time.sleep(1.2)
    assert ack(http, name, "w", {"ack_id": m["ack_id"], "type": "wpi"}).status_code == 200
    # past the first deadline (2 s), before the extended one (~3.2 s): not redelivered
    time.sleep(max(0.0, 2.3 - (time.monotonic() - t0)))
    assert fetch(http, name, "w", wait="300ms").json()["messages"] == []
    # then redelivered once the extended ack wait ends
    again = fetch(http, name, "w", wait="4s").json()["messages"]
    assert again and again[0]["deliveries"] == 2
    assert time.monotonic() - t0 >= 2.9


def test_ack_errors(http):
    name, p = make_stream(http, "ackerr")
    make_consumer(http, name, "a")
    make_consumer(http, name, "b")
    publish(http, f"{p}.x")
    m = fetch(http, name, "a", wait="1s").json()["messages"][0]
    r = ack(http, name, "b", {"ack_id": m["ack_id"]})  # a's ack id on b
    assert r.status_code == 400 and "does not belong" in error_of(r)["description"]
    r = ack(http, name, "a", {"ack_ids": [m["ack_id"], "$JS.ACK.X.a.1.1.1.1.0"]})
    assert r.status_code == 400
    assert ack(http, name, "a", {}).status_code == 400
    assert ack(http, name, "a", {"ack_id": m["ack_id"], "type": "maybe"}).status_code == 400
    assert http.post(f"/v1/streams/{name}/consumers/a/ack", data="nope").status_code == 400
    assert http.get(f"/v1/streams/{name}/consumers/a/ack").status_code == 405
    assert consumer_info(http, name, "a")["num_ack_pending"] == 1  # nothing was acked


# --------------------------------------------------------------------------------------
# Key-value
# --------------------------------------------------------------------------------------
def make_bucket(http, tag: str) -> str:
    bucket = unique(tag).replace(".", "_")
    r = http.put(f"/v1/streams/KV_{bucket}", json={"subjects": [f"$KV.{bucket}.>"],
                                                   "max_msgs_per_subject": 10,
                                                   "allow_rollup_hdrs": True, "deny_delete": True})
    assert r.status_code == 201, r.text
    return bucket


def test_kv_put_get_delete_keys_history(http):
    b = make_bucket(http, "kv")
    r = http.put(f"/v1/kv/{b}/color", data=b"red")
    assert r.status_code == 200 and r.json()["seq"] == 1
    g = http.get(f"/v1/kv/{b}/color")
    assert g.status_code == 200 and g.content == b"red"
    assert g.headers["KV-Revision"] == "1" and g.headers["ETag"] == '"1"'
    assert g.headers["Content-Type"] == "application/octet-stream"
    http.put(f"/v1/kv/{b}/color", data=b"blue")
    http.put(f"/v1/kv/{b}/size", data=b"L")
    http.put(f"/v1/kv/{b}/gone", data=b"x")
    assert http.get(f"/v1/kv/{b}/color").content == b"blue"
    r = http.delete(f"/v1/kv/{b}/gone")
    assert r.status_code == 200
    r = http.get(f"/v1/kv/{b}/gone")
    assert r.status_code == 404 and error_of(r)["err_code"] == 10037
    assert sorted(http.get(f"/v1/kv/{b}").json()["keys"]) == ["color", "size"]
    hist = http.get(f"/v1/kv/{b}/color/history").json()["history"]
    assert [(h["revision"], h["data"]) for h in hist] == [(1, "red"), (2, "blue")]
    hist = http.get(f"/v1/kv/{b}/gone/history").json()["history"]
    assert [h.get("headers", {}).get("KV-Operation") for h in hist] == [None, "DEL"]
    assert http.get(f"/v1/kv/{b}/never").status_code == 404
    r = http.get(f"/v1/kv/nobucket_{b}/k")
    assert r.status_code == 404 and error_of(r)["err_code"] == 10059
    assert http.put(f"/v1/kv/nobucket_{b}/k", data=b"v").status_code == 404
    assert http.get(f"/v1/kv/nobucket_{b}").status_code == 404
    assert http.post(f"/v1/kv/{b}/color").status_code == 405


def test_kv_compare_and_set(http):
    b = make_bucket(http, "kvcas")
    rev = http.put(f"/v1/kv/{b}/n", data=b"1").json()["seq"]
    ok = http.put(f"/v1/kv/{b}/n", data=b"2", headers={"If-Match": f'"{rev}"'})
    assert ok.status_code == 200
    stale = http.put(f"/v1/kv/{b}/n", data=b"3", headers={"If-Match": str(rev)})
    assert stale.status_code == 409 and error_of(stale)["err_code"] == 10071
    assert http.get(f"/v1/kv/{b}/n").content == b"2"
    # create-only
    r = http.put(f"/v1/kv/{b}/n", data=b"x", headers={"If-None-Match": "*"})
    assert r.status_code == 409
    r = http.put(f"/v1/kv/{b}/fresh", data=b"x", headers={"If-None-Match": "*"})
    assert r.status_code == 200
    assert http.put(f"/v1/kv/{b}/fresh", data=b"y", headers={"If-None-Match": "*"}).status_code == 409
    # a conditional delete
    cur = http.get(f"/v1/kv/{b}/fresh").headers["KV-Revision"]
    assert http.delete(f"/v1/kv/{b}/fresh", headers={"If-Match": "1"}).status_code == 409
    assert http.delete(f"/v1/kv/{b}/fresh", headers={"If-Match": cur}).status_code == 200


# --------------------------------------------------------------------------------------
# Request/reply bridge
# --------------------------------------------------------------------------------------
def test_request_reply_with_a_responder(server, http):
    subj = unique("svc")
    with RawClient(server, connect={"verbose": False, "pedantic": False, "headers": True}) as nc:
        nc.sub(subj, 1)
        nc.expect_open()
        out = {}
        th = threading.Thread(target=lambda: out.setdefault(
            "r", requests.post(f"{server.http_url}/v1/request/{subj}", data=b"ping", timeout=T,
                               headers={"Nats-Trace": "abc"})))
        th.start()
        m = nc.read_msg()
        assert m.payload == b"ping" and m.reply and m.reply.startswith("_HRHTTP.")
        assert b"Nats-Trace: abc" in (m.headers or b"")
        nc.pub(m.reply, b"pong")
        th.join(T)
        r = out["r"]
        assert r.status_code == 200 and r.content == b"pong"
        assert r.headers["Content-Type"] == "application/octet-stream"


def test_request_reply_with_the_herald_cli(server, http):
    subj = unique("cli")
    proc = subprocess.Popen([str(BUILD / "bin" / "herald"), "-s", server.url, "reply", subj, "echo:{{Request}}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 5
        while True:  # until the responder is subscribed
            r = http.post(f"/v1/request/{subj}", data=b"hi", params={"timeout": "500ms"})
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 200, r.text
        assert r.content == b"echo:hi"
    finally:
        proc.terminate()
        proc.wait(5)


def test_request_no_responders_is_503_and_timeout_is_504(server, http):
    r = http.post(f"/v1/request/{unique('nobody')}", data=b"?")
    assert r.status_code == 503 and error_of(r)["description"] == "no responders"
    subj = unique("silent")
    with RawClient(server) as nc:
        nc.sub(subj, 1)
        nc.expect_open()
        t0 = time.monotonic()
        r = http.post(f"/v1/request/{subj}", data=b"?", params={"timeout": "500ms"})
        took = time.monotonic() - t0
        assert r.status_code == 504 and 0.4 <= took < 3.0, (r.text, took)
        assert nc.read_msg().payload == b"?"
    assert http.post(f"/v1/request/{subj}", params={"timeout": "2h"}).status_code == 400
    assert http.post("/v1/request/bad..subject").status_code == 400
    assert http.get(f"/v1/request/{subj}").status_code == 405


# --------------------------------------------------------------------------------------
# Monitoring
# --------------------------------------------------------------------------------------
PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? '
                       r'(-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def parse_prometheus(text: str) -> dict:
    """{name or name{labels}: value}; fails on a line that is not exposition format 0.0.4."""
    out, typed = {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            assert parts[1] in ("HELP", "TYPE"), line
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "summary", "histogram", "untyped"), line
                typed.add(parts[2])
            continue
        m = PROM_LINE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def test_monitoring_endpoints(server, http):
    name, p = make_stream(http, "mon")
    publish(http, f"{p}.x")
    r = http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    samples = parse_prometheus(r.text)
    for fam in ("herald_connections", "herald_connections_total", "herald_messages_in_total",
                "herald_subscriptions", "herald_slow_consumers_total", "herald_protocol_errors_total"):
        assert fam in samples, fam
    assert samples["herald_connections"] >= 1
    assert samples[f'herald_stream_messages{{stream="{name}"}}'] == 1
    assert samples[f'herald_stream_last_seq{{stream="{name}"}}'] == 1
    # the group-commit fsync histogram: cumulative buckets ending in +Inf == _count >= 1
    # (the publish above was synced: file storage, sync=always)
    buckets = [(k, v) for k, v in samples.items() if k.startswith("herald_store_fsync_seconds_bucket")]
    assert len(buckets) >= 2 and buckets[-1][0].endswith('le="+Inf"}'), buckets
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), buckets
    assert counts[-1] == samples["herald_store_fsync_seconds_count"] >= 1
    assert samples["herald_store_fsync_seconds_sum"] > 0
    v = http.get("/varz").json()
    assert v["http_port"] == server.http_port and v["port"] == server.port
    assert v["max_payload"] == MAX_PAYLOAD and v["connections"] >= 1
    c = http.get("/connz").json()
    assert c["num_connections"] >= 1 and any(x["kind"] == "http" for x in c["connections"])
    j = http.get("/jsz").json()
    assert any(s["name"] == name and s["state"]["messages"] == 1 for s in j["account_details"])
    s = http.get("/subsz").json()
    assert s["num_subscriptions"] >= 0
    r = http.head("/metrics")
    assert r.status_code == 200 and r.content == b"" and int(r.headers["Content-Length"]) > 100
    assert http.post("/healthz").status_code in (404, 405)


# --------------------------------------------------------------------------------------
# HTTP/1.1 on the wire
# --------------------------------------------------------------------------------------
def test_keep_alive_serves_several_requests_on_one_socket(server):
    with HttpConn(server) as c:
        for _ in range(3):
            r = c.request("GET", "/healthz")
            assert r.status == 200 and r.body == b'{"status":"ok"}' and "connection" not in r.headers
        r = c.request("GET", "/nope")
        assert r.status == 404
        r = c.request("GET", "/healthz", headers={"Connection": "close"})
        assert r.status == 200 and r.headers["connection"] == "close"
        assert c.expect_closed() == b""


def test_http10_closes_unless_keep_alive(server):
    with HttpConn(server) as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert c.read_response().status == 200
        c.expect_closed()
    with HttpConn(server) as c:
        c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert c.read_response().status == 200
        assert c.request("GET", "/healthz").status == 200


def test_pipelined_requests_are_answered_in_order(server, http):
    name, p = make_stream(http, "pipe")
    with HttpConn(server) as c:
        # the first needs the engine (a PubAck); the second is answered at once — still second
        c.send(HttpConn.build("POST", f"/v1/publish/{p}.a", b"one") +
               HttpConn.build("GET", "/v1/nothing-here") +
               HttpConn.build("POST", f"/v1/publish/{p}.a", b"two") +
               HttpConn.build("GET", f"/v1/streams/{name}/messages/2"))
        r1, r2, r3, r4 = (c.read_response() for _ in range(4))
        assert (r1.status, json.loads(r1.body)) == (200, {"stream": name, "seq": 1})
        assert r2.status == 404
        assert (r3.status, json.loads(r3.body)["seq"]) == (200, 2)
        assert r4.status == 200 and json.loads(r4.body)["data"] == "two"
        # two in one write, the second cut in half across writes
        both = HttpConn.build("GET", "/healthz") + HttpConn.build("GET", "/v1/streams/" + name)
        c.send(both[:-10])
        time.sleep(0.1)
        c.send(both[-10:])
        assert c.read_response().status == 200
        assert json.loads(c.read_response().body)["config"]["name"] == name


def test_expect_100_continue(server, http):
    name, p = make_stream(http, "cont")
    with HttpConn(server) as c:
        c.send(f"POST /v1/publish/{p}.x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n".encode())
        interim = c.read_response()
        assert interim.status == 100 and interim.raw_head == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body)["seq"] == 1
        # the body already sent with the head: no 100 needed, none sent
        c.send(f"POST /v1/publish/{p}.x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
               "Expect: 100-continue\r\n\r\nabc".encode())
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body)["seq"] == 2
    assert http.get(f"/v1/streams/{name}/messages/1").json()["data"] == "hello"


def test_chunked_request_body(server, http):
    name, p = make_stream(http, "chunk")
    with HttpConn(server) as c:
        c.send(f"POST /v1/publish/{p}.x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        c.send(b"5\r\nhello\r\n")
        time.sleep(0.05)
        c.send(b"1;ext=1\r\n \r\n6\r\nworld!\r\n")
        time.sleep(0.05)
        c.send(b"0\r\nX-Trailer: t\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        # and the connection goes on
        assert c.request("GET", "/healthz").status == 200
    assert http.get(f"/v1/streams/{name}/messages/1").json()["data"] == "hello world!"
    # through requests: a generator body is sent chunked
    r = http.post(f"/v1/publish/{p}.y", data=(x for x in [b"a", b"b", b"c"]))
    assert r.status_code == 200
    assert http.get(f"/v1/streams/{name}/messages/2").json()["data"] == "abc"
    # a malformed chunk: 400 and closed
    with HttpConn(server) as c:
        c.send(f"POST /v1/publish/{p}.x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               "zz\r\n".encode())
        assert c.read_response().status == 400
        c.expect_closed()


def test_head_has_headers_and_no_body(server):
    with HttpConn(server) as c:
        get = c.request("GET", "/healthz")
        head = c.request("HEAD", "/healthz")
        assert head.status == 200 and head.headers["content-length"] == get.headers["content-length"]
        assert head.headers["content-type"] == get.headers["content-type"]
        # no body bytes leaked: the next response starts right away
        r = c.request("HEAD", "/v1/nope")
        assert r.status == 404 and int(r.headers["content-length"]) > 0
        r = c.request("GET", "/healthz")
        assert r.status == 200 and r.body == b'{"status":"ok"}'
        assert c.buf == b""


def test_404_and_405_with_allow(http):
    for path in ("/", "/nope", "/v2/streams", "/v1", "/v1/nope", "/v1/streams/a/b/c/d/e/f/g/h/i"):
        r = http.get(path)
        assert r.status_code == 404 and error_of(r)["code"] == 404, path
    cases = [("DELETE", "/v1/publish/x", "POST"), ("GET", "/v1/publish", "POST"),
             ("POST", "/v1/streams", "GET"), ("PATCH", "/v1/streams/S", "GET, PUT, DELETE"),
             ("POST", "/v1/events", "GET"), ("PUT", "/v1/kv/b", "GET"),
             ("POST", "/v1/streams/S/consumers", "GET"), ("GET", "/v1/streams/S/purge", "POST")]
    for method, path, allow in cases:
        r = http.request(method, path)
        assert r.status_code == 405 and r.headers["Allow"] == allow, (method, path, r.headers)
        assert error_of(r)["code"] == 405


def expect_error_and_close(server, raw: bytes, status: int) -> bytes:
    with HttpConn(server) as c:
        try:
            c.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
        assert r.status == status, (raw[:80], r)
        assert r.headers.get("connection") == "close"
        c.expect_closed()
        return r.body


def test_malformed_requests_are_answered_and_closed(server):
    expect_error_and_close(server, b"GARBAGE\r\n\r\n", 400)
    expect_error_and_close(server, b"GET /healthz HTTP/1.1\r\n\r\n", 400)  # no Host
    expect_error_and_close(server, b"GET /healthz HTTP/1.1\nHost: t\n\n", 400)  # bare LF
    expect_error_and_close(server, b"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505)
    expect_error_and_close(server, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)
    expect_error_and_close(server, b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n", 431)
    many = b"".join(b"X-%d: v\r\n" % i for i in range(150))
    expect_error_and_close(server, b"GET / HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n", 431)
    expect_error_and_close(server, b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    expect_error_and_close(server, b"POST /v1/publish/x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                                   b"Content-Length: 2\r\n\r\nab", 400)
    expect_error_and_close(server, b"POST /v1/publish/x HTTP/1.1\r\nHost: t\r\n"
                                   b"Transfer-Encoding: gzip\r\n\r\n", 501)
    assert_server_serves(server)


def test_smuggling_attempt_is_not_parsed_as_a_second_request(server, http):
    """CL + TE: refused and the connection closed, so the 'hidden' request never runs."""
    name, p = make_stream(http, "smuggle")
    hidden = HttpConn.build("POST", f"/v1/publish/{p}.hidden", b"x")
    raw = (f"POST /v1/publish/{p}.front HTTP/1.1\r\nHost: t\r\nContent-Length: {len(hidden) + 5}\r\n"
           "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode() + hidden
    expect_error_and_close(server, raw, 400)
    assert http.get(f"/v1/streams/{name}").json()["state"]["messages"] == 0


def test_unknown_methods_are_501(server):
    for method in (b"FOO", b"TRACE", b"CONNECT", b"PROPFIND"):
        with HttpConn(server) as c:
            target = b"t:80" if method == b"CONNECT" else b"/healthz"
            c.send(method + b" " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
            assert r.status == 501, (method, r)
            assert c.request("GET", "/healthz").status == 200  # the framing was known: stays open


def test_metrics_per_consumer(http):
    """Each consumer's pending, ack-pending, redelivered and waiting figures are gauges
    labelled with its stream and name, agreeing with CONSUMER.INFO."""
    name, p = make_stream(http, "cmet")
    for i in range(5):
        publish(http, f"{p}.x", b"m%d" % i)
    make_consumer(http, name, "w1")
    r = fetch(http, name, "w1", batch=2, wait="1s")
    assert r.status_code == 200, r.text
    info = consumer_info(http, name, "w1")
    samples = parse_prometheus(http.get("/metrics").text)
    label = f'{{stream="{name}",consumer="w1"}}'
    assert samples["herald_consumer_ack_pending" + label] == info["num_ack_pending"] == 2
    assert samples["herald_consumer_pending" + label] == info["num_pending"] == 3
    assert samples["herald_consumer_redelivered" + label] == info["num_redelivered"] == 0
    assert samples["herald_consumer_waiting" + label] == info["num_waiting"]


def test_cors(http, server):
    r = http.get("/healthz", headers={"Origin": "https://app.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert r.headers["Vary"] == "Origin"
    r = http.get("/v1/nope", headers={"Origin": "http://localhost:3000"})
    assert r.status_code == 404 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Access-Control-Allow-Origin" not in http.get("/healthz").headers
    r = http.options("/v1/publish/x", headers={"Origin": "https://app.example",
                                               "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "content-type, nats-msg-id"})
    assert r.status_code == 204 and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "*"
    assert int(r.headers["Access-Control-Max-Age"]) > 0
    # a header value cannot be smuggled through Origin
    with HttpConn(server) as c:
        r = c.request("GET", "/healthz", headers={"Origin": "x" * 300})
        assert r.status == 200 and "access-control-allow-origin" not in r.headers


def test_cors_allow_list(server_factory):
    """With http_allowed_origins set, only the listed origins get Access-Control-Allow-Origin
    (simple requests, preflights and event streams alike); others are served without it, so
    a browser withholds the answer from their pages."""
    srv = server_factory(["--http_allowed_origins", "https://app.example, http://localhost:3000"])
    url = srv.http_url
    for origin in ("https://app.example", "http://localhost:3000"):
        r = requests.get(url + "/healthz", headers={"Origin": origin}, timeout=5)
        assert r.headers.get("Access-Control-Allow-Origin") == origin, (origin, r.headers)
    for origin in ("https://evil.example", "https://app.example.evil", "https://app.exampl", "*"):
        r = requests.get(url + "/healthz", headers={"Origin": origin}, timeout=5)
        assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers, origin
        r = requests.options(url + "/v1/publish/x", headers={"Origin": origin,
                                                             "Access-Control-Request-Method": "POST"},
                             timeout=5)
        assert "Access-Control-Allow-Origin" not in r.headers, origin
    r = requests.options(url + "/v1/publish/x", headers={"Origin": "https://app.example",
                                                         "Access-Control-Request-Method": "POST"},
                         timeout=5)
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_slowloris_gets_408_and_others_are_served_meanwhile(server):
    """A head must be complete within 10 s of its first byte (HEADER_TIMEOUT_MS), whether
    the client goes silent or trickles a byte a second; the server ticks once a second, so
    408 comes 10-12 s after the first byte. Meanwhile everyone else is served."""
    silent = HttpConn(server, timeout=15)
    trickle = HttpConn(server, timeout=15)
    t0 = time.monotonic()
    silent.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
    trickle.send(b"GET /healthz HTTP/1.1\r\n")
    stop = threading.Event()

    def drip():
        while not stop.wait(0.7):
            try:
                trickle.send(b"X")
            except OSError:
                return

    th = threading.Thread(target=drip, daemon=True)
    th.start()
    try:
        served = 0
        while time.monotonic() - t0 < 2.0:
            assert requests.get(server.http_url + "/healthz", timeout=T).status_code == 200
            served += 1
            time.sleep(0.1)
        assert silent.is_open() and trickle.is_open(), "closed before the header timeout"
        assert served >= 5
        r = silent.read_response(timeout=14)
        t_silent = time.monotonic() - t0
        assert r.status == 408 and r.headers["connection"] == "close"
        silent.expect_closed()
        r = trickle.read_response(timeout=max(0.5, 14 - (time.monotonic() - t0)))
        t_trickle = time.monotonic() - t0
        assert r.status == 408
        assert 9.0 <= t_silent <= 13.5 and 9.0 <= t_trickle <= 13.5, (t_silent, t_trickle)
        assert requests.get(server.http_url + "/healthz", timeout=T).status_code == 200
        assert_server_serves(server)
    finally:
        stop.set()
        silent.close()
        trickle.close()
        th.join(2)


def test_a_waiting_request_does_not_block_others(server, http):
    """A long poll holds only its own connection."""
    name, _ = make_stream(http, "noblock")
    make_consumer(http, name, "w")
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", requests.post(
        f"{server.http_url}/v1/streams/{name}/consumers/w/fetch", params={"wait": "3s"}, timeout=T)))
    th.start()
    t0 = time.monotonic()
    for _ in range(20):
        assert http.get("/healthz").status_code == 200
    assert time.monotonic() - t0 < 2.5
    th.join(T)
    assert out["r"].json() == {"messages": []}


def test_closing_mid_wait_is_harmless(server, http):
    """A client that hangs up while its request waits (H1): the server stays healthy and the
    late reply finds nobody."""
    name, p = make_stream(http, "hangup")
    make_consumer(http, name, "w")
    for _ in range(20):
        with HttpConn(server) as c:
            c.send(HttpConn.build("POST", f"/v1/streams/{name}/consumers/w/fetch?wait=5s"))
            time.sleep(0.01)
    subj = unique("hangreq")
    with RawClient(server) as nc:
        nc.sub(subj, 1)
        nc.expect_open()
        with HttpConn(server) as c:
            c.send(HttpConn.build("POST", f"/v1/request/{subj}?timeout=2s", b"q"))
            m = nc.read_msg()
        time.sleep(0.1)
        nc.pub(m.reply, b"late")
        nc.expect_open()
    r = publish(http, f"{p}.x", b"after")
    assert r.status_code == 200
    got = fetch(http, name, "w", wait="2s").json()["messages"]
    assert [x["data"] for x in got] == ["after"]
    assert_server_serves(server)


# --------------------------------------------------------------------------------------
# docs/openapi.yaml describes what is routed
# --------------------------------------------------------------------------------------
def test_openapi_document_matches_the_routes(http):
    """Every path and method in docs/openapi.yaml is routed (no 405, no "no such resource"),
    and every $ref resolves."""
    yaml = pytest.importorskip("yaml")
    from conftest import REPO
    doc = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text())
    assert doc["openapi"].startswith("3.0")

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    target = doc
                    for part in v.lstrip("#/").split("/"):
                        assert part in target, f"unresolved $ref {v}"
                        target = target[part]
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    fill = {"stream": "NO_SUCH_STREAM", "consumer": "c", "subject": unique("oa"), "seq": "1",
            "bucket": "nobucket", "key": "k"}
    checked = 0
    for path, item in doc["paths"].items():
        url = path.format(**fill)
        for method in ("get", "put", "post", "delete"):
            if method not in item:
                continue
            r = http.request(method.upper(), url, data=b"{}" if method in ("put", "post") else None,
                             params={"timeout": "100ms"} if "/request/" in path else None)
            assert r.status_code != 405, (method, path, r.text)
            if r.status_code == 404:
                assert not r.json()["error"]["description"].startswith("no such resource"), (method, path)
            checked += 1
    assert checked >= 30
