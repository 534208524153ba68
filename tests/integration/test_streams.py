# SPDX-License-Identifier: Apache-2.0
"""Durable streams through the NATS head: the JetStream stream API, PubAcks, limits,
key-value buckets, domains and persistence across restarts.

Through real clients (nats.c 3.4.1: nc_js, nc_kv; nats.js 2.29.3: js_stream, js_kv) and
through JsClient for exact err_codes, headers and bytes. Expected values are nats-server
2.9's (run with HERALD_SERVER=nats-server to check a test against it); where nats-server
itself is not the reference the test says so.
"""
from __future__ import annotations

import base64
import time

import pytest

from conftest import JsClient, json_lines, parse_headers, run_client, run_node, unique


def stream_and_prefix(tag: str) -> tuple[str, str]:
    """A stream name and a subject prefix no other test uses."""
    p = unique(tag)
    return p.replace(".", "_").upper(), p


def steps_of(stdout: str) -> dict:
    steps = {}
    for obj in json_lines(stdout):
        steps[obj["step"]] = obj
    assert "done" in steps, f"the client did not finish:\n{stdout}"
    return steps


def err_code(resp: dict) -> int:
    return resp.get("error", {}).get("err_code", 0)


# --------------------------------------------------------------------------------------
# Real clients
# --------------------------------------------------------------------------------------
def test_natsc_stream_api(server):
    stream, prefix = stream_and_prefix("ncjs")
    s = steps_of(run_client("nc_js", server.url, stream, prefix).stdout)
    ok = "NATS_OK"
    assert s["add"]["status"] == ok and s["add"]["name"] == stream and s["add"]["allow_direct"]
    assert s["add"]["msgs"] == 0 and s["add"]["last_seq"] == 0
    assert s["add_same"]["status"] == ok, "re-creating with the same config must succeed"
    assert (s["add_different"]["status"], s["add_different"]["err_code"]) == ("NATS_ERR", 10058)
    assert stream in s["names"]["names"]
    assert s["publish"]["seqs"] == [1, 2, 3, 4, 5, 6]

    a = s["async"]
    assert a["status"] == ok
    assert (a["sent"], a["acked"], a["errors"], a["duplicates"]) == (200, 200, 0, 0)
    assert a["in_order"] and (a["first"], a["last"]) == (7, 206)

    assert s["get"]["status"] == ok
    assert (s["get"]["subject"], s["get"]["data"], s["get"]["seq"]) == (f"{prefix}.b", "m1", 2)
    assert (s["get_missing"]["status"], s["get_missing"]["err_code"]) == ("NATS_NOT_FOUND", 10037)
    assert (s["get_last"]["subject"], s["get_last"]["data"], s["get_last"]["seq"]) == (f"{prefix}.a", "m4", 5)

    for step, subj, data, seq in (("direct_seq", "a", "m2", 3), ("direct_last", "b", "m5", 6),
                                  ("direct_next", "b", "m3", 4)):
        d = s[step]
        assert d["status"] == ok, d
        assert (d["subject"], d["data"], d["seq"]) == (f"{prefix}.{subj}", data, seq), d
        h = d["headers"]
        assert h.get("Nats-Stream") == stream and h.get("Nats-Sequence") == str(seq), d
        assert h.get("Nats-Subject") == f"{prefix}.{subj}" and h.get("Nats-Time-Stamp"), d
    assert s["direct_missing"]["status"] == "NATS_NOT_FOUND"

    i = s["info"]
    assert (i["msgs"], i["first_seq"], i["last_seq"], i["num_subjects"]) == (206, 1, 206, 3)
    assert i["subjects"] == {f"{prefix}.a": 3, f"{prefix}.b": 3, f"{prefix}.async": 200}

    def pub(step, seq=None, code=0, dup=False):
        r = s[step]
        if code:
            assert (r["status"], r["err_code"]) == ("NATS_ERR", code), r
        else:
            assert r["status"] == ok and r["seq"] == seq and r["stream"] == stream, r
            assert r["duplicate"] is dup, r

    pub("expect_last_seq", 207)
    pub("expect_last_seq_stale", code=10071)
    pub("expect_subject_seq_stale", code=10071)
    pub("expect_subject_seq", 208)
    pub("expect_no_msg", 209)
    pub("expect_no_msg_again", code=10071)
    pub("msgid_first", 210)
    pub("msgid_dup", 210, dup=True)
    pub("expect_stream_wrong", code=10060)
    pub("expect_last_msgid_wrong", code=10070)

    assert s["delete_msg"]["status"] == ok
    assert (s["get_deleted"]["status"], s["get_deleted"]["err_code"]) == ("NATS_NOT_FOUND", 10037)
    assert s["delete_msg_missing"]["status"] == "NATS_ERR" and s["delete_msg_missing"]["err_code"]
    assert (s["info_after_delete"]["msgs"], s["info_after_delete"]["first_seq"]) == (210, 2)
    assert s["purge_subject"]["status"] == ok
    ip = s["info_after_purge_subject"]
    assert ip["msgs"] == 10 and f"{prefix}.async" not in ip["subjects"], ip
    assert s["purge_all"]["status"] == ok
    assert (s["info_after_purge"]["msgs"], s["info_after_purge"]["last_seq"]) == (0, 211)
    assert s["delete_stream"]["status"] == ok
    assert (s["info_deleted"]["status"], s["info_deleted"]["err_code"]) == ("NATS_NOT_FOUND", 10059)


def test_natsc_kv(server):
    bucket = unique("nckv").replace(".", "_")
    s = steps_of(run_client("nc_kv", server.url, bucket).stdout)
    ok = "NATS_OK"
    assert s["create_bucket"]["status"] == ok, s["create_bucket"]
    assert (s["put"]["status"], s["put"]["revision"]) == (ok, 1)
    assert (s["get"]["value"], s["get"]["revision"], s["get"]["op"]) == ("v1", 1, "PUT")
    assert s["get_missing"]["status"] == "NATS_NOT_FOUND"
    assert s["put_again"]["revision"] == 2
    assert (s["get_revision"]["status"], s["get_revision"]["value"]) == (ok, "v1b")
    assert s["get_old_revision"]["status"] == "NATS_NOT_FOUND", "history 1 keeps one revision"
    assert (s["create"]["status"], s["create"]["revision"]) == (ok, 3)
    assert s["create_again"]["status"] == "NATS_ERR"
    assert "wrong last sequence" in s["create_again"]["error"], s["create_again"]
    assert (s["update"]["status"], s["update"]["revision"]) == (ok, 4)
    assert s["update_stale"]["status"] == "NATS_ERR"
    assert "wrong last sequence" in s["update_stale"]["error"], s["update_stale"]
    assert (s["get_updated"]["value"], s["get_updated"]["revision"]) == ("c2", 4)
    assert s["delete"]["status"] == ok
    assert s["get_deleted"]["status"] == "NATS_NOT_FOUND"
    assert (s["create_after_delete"]["status"], s["create_after_delete"]["revision"]) == (ok, 6)
    assert (s["get_recreated"]["value"], s["get_recreated"]["revision"]) == ("reborn", 6)
    assert s["purge"]["status"] == ok
    assert s["get_purged"]["status"] == "NATS_NOT_FOUND"
    st = s["status"]
    assert st["status"] == ok and st["bucket"] == bucket
    assert (st["values"], st["history"]) == (2, 1), st  # k1 "reborn" + k2's purge marker
    assert s["delete_bucket"]["status"] == ok


def test_natsjs_stream_api(server):
    stream, prefix = stream_and_prefix("jsjs")
    s = steps_of(run_node("js_stream", server.url, stream, prefix).stdout)
    assert "error" not in s["add"] and s["add"]["name"] == stream, s["add"]
    assert s["add"]["subjects"] == [f"{prefix}.>"] and s["add"]["messages"] == 0
    assert s["publish"]["seqs"] == [1, 2, 3, 4, 5, 6]
    assert s["update"]["description"] == "updated" and s["update"]["messages"] == 6
    assert s["info"]["per_subject"] == {f"{prefix}.a": 3, f"{prefix}.b": 3}
    assert {stream, f"{stream}_2"} <= set(s["names"]["names"])
    assert s["names_filtered"]["names"] == [f"{stream}_2"]
    assert {stream, f"{stream}_2"} <= set(s["list"]["names"])
    assert s["get_seq"] == {"step": "get_seq", "subject": f"{prefix}.b", "seq": 2, "data": "m1", "foo": "f1"}
    assert s["get_last"] == {"step": "get_last", "subject": f"{prefix}.a", "seq": 5, "data": "m4", "foo": "f4"}
    assert (s["expect_last_seq"]["seq"], s["expect_last_seq"]["duplicate"]) == (7, False)
    assert s["expect_last_seq_stale"]["error"]["err_code"] == 10071
    assert s["expect_subject_seq"]["seq"] == 8
    assert s["expect_subject_seq_stale"]["error"]["err_code"] == 10071
    assert (s["msgid_first"]["seq"], s["msgid_first"]["duplicate"]) == (9, False)
    assert (s["msgid_dup"]["seq"], s["msgid_dup"]["duplicate"]) == (9, True)
    assert s["expect_last_msgid"]["seq"] == 10, s["expect_last_msgid"]
    assert s["expect_stream_wrong"]["error"]["err_code"] == 10060
    assert s["delete_message"]["ok"] is True
    assert s["get_deleted"]["error"]["err_code"] == 10037
    assert (s["purge_subject"]["success"], s["purge_subject"]["purged"]) == (True, 4)
    assert s["info_after_purge_subject"]["per_subject"] == {f"{prefix}.a": 5}
    assert (s["purge_all"]["success"], s["purge_all"]["purged"]) == (True, 5)
    assert (s["info_after_purge"]["messages"], s["info_after_purge"]["last_seq"]) == (0, 10)
    assert s["delete"]["ok"] is True
    assert s["info_deleted"]["error"]["err_code"] == 10059


def test_natsjs_kv(server):
    bucket = unique("jskv").replace(".", "_")
    s = steps_of(run_node("js_kv", server.url, bucket).stdout)
    assert s["open"] == {"step": "open", "bucket": bucket}
    assert s["put"]["revision"] == 1
    assert (s["get"]["value"], s["get"]["revision"], s["get"]["operation"]) == ("v1", 1, "PUT")
    assert s["get_missing"]["found"] is False
    assert s["put_again"]["revision"] == 2
    assert (s["get_revision"]["value"], s["get_revision"]["revision"]) == ("v1b", 2)
    assert s["create"]["revision"] == 3
    assert s["create_again"]["error"]["err_code"] == 10071, s["create_again"]
    assert s["update"]["revision"] == 4
    assert s["update_stale"]["error"]["err_code"] == 10071, s["update_stale"]
    assert (s["get_updated"]["value"], s["get_updated"]["revision"]) == ("c2", 4)
    assert s["delete"]["ok"] is True
    assert (s["get_deleted"]["operation"], s["get_deleted"]["revision"]) == ("DEL", 5)
    assert s["create_after_delete"]["revision"] == 6
    assert (s["get_recreated"]["value"], s["get_recreated"]["operation"]) == ("reborn", "PUT")
    assert s["purge"]["ok"] is True
    assert (s["get_purged"]["operation"], s["get_purged"]["revision"]) == ("PURGE", 7)
    assert (s["status"]["bucket"], s["status"]["values"], s["status"]["history"]) == (bucket, 2, 1)
    assert s["status"]["backingStore"] == "file"
    assert s["destroy"]["ok"] is True


# --------------------------------------------------------------------------------------
# The API's errors
# --------------------------------------------------------------------------------------
def test_bad_json_is_10025(server):
    stream, _ = stream_and_prefix("badjson")
    with JsClient(server) as c:
        for body in (b"{bad", b"[1,2]", b"\"just a string\"", b"{\"name\":"):
            r = c.api(f"STREAM.CREATE.{stream}", body)
            assert err_code(r) == 10025, (body, r)
            assert r["error"]["code"] == 400
        assert err_code(c.api(f"STREAM.INFO.{stream}")) == 10059, "nothing was created"


def test_unknown_stream_is_10059(server):
    stream, _ = stream_and_prefix("nostream")
    with JsClient(server) as c:
        for op, body in ((f"STREAM.INFO.{stream}", None), (f"STREAM.DELETE.{stream}", None),
                         (f"STREAM.PURGE.{stream}", None), (f"STREAM.MSG.GET.{stream}", {"seq": 1}),
                         (f"STREAM.MSG.DELETE.{stream}", {"seq": 1}),
                         (f"STREAM.UPDATE.{stream}", {"name": stream, "subjects": [stream.lower()]})):
            r = c.api(op, body)
            assert (err_code(r), r["error"]["code"]) == (10059, 404), (op, r)


def test_same_name_other_config_is_10058(server):
    stream, prefix = stream_and_prefix("samename")
    with JsClient(server) as c:
        first = c.create_stream(stream, [f"{prefix}.>"], max_msgs=10)
        again = c.api(f"STREAM.CREATE.{stream}", {"name": stream, "subjects": [f"{prefix}.>"], "max_msgs": 10})
        assert "error" not in again, f"the same config again must succeed: {again}"
        assert again["config"] == first["config"]
        other = c.api(f"STREAM.CREATE.{stream}", {"name": stream, "subjects": [f"{prefix}.>"], "max_msgs": 11})
        assert (err_code(other), other["error"]["code"]) == (10058, 400), other
        assert c.stream_info(stream)["config"]["max_msgs"] == 10


def test_name_in_subject_must_match_body(server):
    stream, prefix = stream_and_prefix("mismatch")
    with JsClient(server) as c:
        r = c.api(f"STREAM.CREATE.{stream}", {"name": stream + "_OTHER", "subjects": [f"{prefix}.>"]})
        assert err_code(r) == 10056, r


def test_overlapping_subjects_is_10065(server):
    s1, prefix = stream_and_prefix("overlap")
    s2 = s1 + "_2"
    with JsClient(server) as c:
        c.create_stream(s1, [f"{prefix}.>"])
        for subjects in ([f"{prefix}.x"], [f"{prefix}.*.y"], [f"{prefix}.>"], [f"{prefix.split('.')[0]}.>"]):
            r = c.api(f"STREAM.CREATE.{s2}", {"name": s2, "subjects": subjects})
            assert (err_code(r), r["error"]["code"]) == (10065, 400), (subjects, r)
        c.create_stream(s2, [f"{prefix}_2.>"])
        r = c.api(f"STREAM.UPDATE.{s2}", {"name": s2, "subjects": [f"{prefix}_2.>", f"{prefix}.q"]})
        assert err_code(r) == 10065, r
        # each message is stored once, in the stream whose subjects match
        assert c.publish(f"{prefix}.q", b"x") == {"stream": s1, "seq": 1}


def test_replicas_3_is_10074(server):
    stream, prefix = stream_and_prefix("replicas")
    with JsClient(server) as c:
        r = c.api(f"STREAM.CREATE.{stream}", {"name": stream, "subjects": [f"{prefix}.>"], "num_replicas": 3})
        assert (err_code(r), r["error"]["code"]) == (10074, 500), r
        ok = c.create_stream(stream, [f"{prefix}.>"], num_replicas=1)
        assert ok["config"]["num_replicas"] == 1


def test_invalid_configs_are_refused(server):
    stream, prefix = stream_and_prefix("badcfg")
    base = {"name": stream, "subjects": [f"{prefix}.>"]}
    with JsClient(server) as c:
        r = c.api(f"STREAM.CREATE.{stream}", {**base, "max_msgs": "x"})
        assert err_code(r) == 10025, r  # a string where a number belongs: nats-server's JSON error
        for bad in ({"storage": "bogus"}, {"retention": "sometimes"}, {"discard": "middle"},
                    {"subjects": ["a..b"]}, {"subjects": "not-a-list"},
                    {"max_age": 1_000_000_000, "duplicate_window": 5_000_000_000}):
            r = c.api(f"STREAM.CREATE.{stream}", {**base, **bad})
            assert err_code(r) in (10025, 10052), (bad, r)
        assert err_code(c.api(f"STREAM.INFO.{stream}")) == 10059, "no invalid config was stored"


def test_update_restrictions_are_invalid_config_10052(server):
    """nats-server refuses these updates with 10052 (JSStreamInvalidConfigF)."""
    stream, prefix = stream_and_prefix("updrestr")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], deny_delete=True)
        for change in ({"storage": "memory"}, {"deny_delete": False}, {"retention": "workqueue"}):
            r = c.api(f"STREAM.UPDATE.{stream}", {"name": stream, "subjects": [f"{prefix}.>"],
                                                  "deny_delete": True, **change})
            assert err_code(r) == 10052, (change, r)
        cfg = c.stream_info(stream)["config"]
        assert (cfg["storage"], cfg["deny_delete"], cfg["retention"]) == ("file", True, "limits")


# --------------------------------------------------------------------------------------
# Names and lists
# --------------------------------------------------------------------------------------
def test_stream_names_subject_filter(server):
    s1, prefix = stream_and_prefix("names")
    s2 = s1 + "_2"
    with JsClient(server) as c:
        c.create_stream(s1, [f"{prefix}.orders.*"])
        c.create_stream(s2, [f"{prefix}.users.>"])
        for subject, want in ((f"{prefix}.orders.1", [s1]), (f"{prefix}.users.a.b", [s2]),
                              (f"{prefix}.>", [s1, s2]), (f"{prefix}.nothing", [])):
            r = c.api("STREAM.NAMES", {"subject": subject})
            assert "error" not in r, r
            assert sorted(r["streams"] or []) == want, (subject, r)
            assert r["total"] == len(want), (subject, r)
        every = c.api("STREAM.NAMES")
        assert {s1, s2} <= set(every["streams"]) and every["total"] >= 2


def test_stream_list_paging(fresh_server):
    """300 streams: LIST pages by 256 and NAMES by 1024 (nats-server's page sizes), offset
    continues where the previous page stopped, in name order, with the right total."""
    n = 300
    names = [f"P{i:03d}" for i in range(n)]
    with JsClient(fresh_server) as c:
        for i, name in enumerate(names):
            c.create_stream(name, [f"page.{i}"])
        page1 = c.api("STREAM.LIST")
        assert (page1["total"], page1["offset"], page1["limit"]) == (n, 0, 256), \
            {k: page1[k] for k in ("total", "offset", "limit")}
        assert [s["config"]["name"] for s in page1["streams"]] == names[:256]
        page2 = c.api("STREAM.LIST", {"offset": 256})
        assert (page2["total"], page2["offset"]) == (n, 256)
        assert [s["config"]["name"] for s in page2["streams"]] == names[256:]
        assert not c.api("STREAM.LIST", {"offset": n})["streams"]
        nm = c.api("STREAM.NAMES")
        assert (nm["total"], nm["limit"], nm["streams"]) == (n, 1024, names)
        nm = c.api("STREAM.NAMES", {"offset": 290})
        assert nm["streams"] == names[290:]
        filtered = c.api("STREAM.LIST", {"subject": "page.7"})
        assert [s["config"]["name"] for s in filtered["streams"]] == ["P007"]


# --------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------
def test_max_msgs_discard_old(server):
    stream, prefix = stream_and_prefix("maxmsgs")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], max_msgs=3)
        for i in range(7):
            assert c.publish(f"{prefix}.x", b"m%d" % i)["seq"] == i + 1
        st = c.stream_info(stream)["state"]
        assert (st["messages"], st["first_seq"], st["last_seq"]) == (3, 5, 7)
        assert err_code(c.api(f"STREAM.MSG.GET.{stream}", {"seq": 4})) == 10037
        got = c.api(f"STREAM.MSG.GET.{stream}", {"seq": 5})["message"]
        assert base64.b64decode(got["data"]) == b"m4"


def test_max_bytes_discard_old(server):
    stream, prefix = stream_and_prefix("maxbytes")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], max_bytes=1000)
        for i in range(20):
            c.publish(f"{prefix}.x", bytes([65 + i]) * 100)
        st = c.stream_info(stream)["state"]
        assert st["bytes"] <= 1000 and 1 <= st["messages"] < 10, st
        assert st["last_seq"] == 20 and st["first_seq"] == 21 - st["messages"], st


def test_max_msgs_per_subject_discard_old(server):
    stream, prefix = stream_and_prefix("persubj")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], max_msgs_per_subject=2)
        for i in range(5):
            for k in ("a", "b", "c"):
                c.publish(f"{prefix}.{k}", f"{k}{i}".encode())
        st = c.stream_info(stream, subjects_filter=">")["state"]
        assert st["messages"] == 6 and st["subjects"] == {f"{prefix}.{k}": 2 for k in "abc"}, st
        last = c.api(f"STREAM.MSG.GET.{stream}", {"last_by_subj": f"{prefix}.b"})["message"]
        assert (base64.b64decode(last["data"]), last["seq"]) == (b"b4", 14)
        first_b = c.api(f"STREAM.MSG.GET.{stream}", {"next_by_subj": f"{prefix}.b", "seq": 1})["message"]
        assert (base64.b64decode(first_b["data"]), first_b["seq"]) == (b"b3", 11)


def test_discard_new_is_10077_on_the_puback(server):
    stream, prefix = stream_and_prefix("discnew")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], max_msgs=2, discard="new")
        assert c.publish(f"{prefix}.x", b"1")["seq"] == 1
        assert c.publish(f"{prefix}.x", b"2")["seq"] == 2
        r = c.publish(f"{prefix}.x", b"3")
        assert (err_code(r), r["error"]["code"], r.get("stream")) == (10077, 503, stream), r
        assert "maximum messages exceeded" in r["error"]["description"]
        st = c.stream_info(stream)["state"]
        assert (st["messages"], st["first_seq"], st["last_seq"]) == (2, 1, 2)

        s2 = stream + "_B"
        c.create_stream(s2, [f"{prefix}_b.>"], max_bytes=200, discard="new")
        assert "seq" in c.publish(f"{prefix}_b.x", b"x" * 100)
        r = c.publish(f"{prefix}_b.x", b"x" * 100)
        assert err_code(r) == 10077 and "maximum bytes exceeded" in r["error"]["description"], r

        s3 = stream + "_S"
        c.create_stream(s3, [f"{prefix}_s.>"], max_msgs_per_subject=1, discard="new",
                        discard_new_per_subject=True)
        assert c.publish(f"{prefix}_s.a", b"1")["seq"] == 1
        r = c.publish(f"{prefix}_s.a", b"2")
        assert err_code(r) == 10077, r
        assert c.publish(f"{prefix}_s.b", b"3")["seq"] == 2, "another subject still has room"


def test_max_msg_size_is_10054(server):
    stream, prefix = stream_and_prefix("msgsize")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], max_msg_size=16)
        assert c.publish(f"{prefix}.x", b"y" * 16)["seq"] == 1
        r = c.publish(f"{prefix}.x", b"y" * 17)
        assert (err_code(r), r["error"]["code"]) == (10054, 400), r
        assert c.stream_info(stream)["state"]["messages"] == 1


def test_max_age_expires_messages(server):
    stream, prefix = stream_and_prefix("maxage")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], max_age=1_000_000_000)  # 1 s
        for i in range(3):
            c.publish(f"{prefix}.x", b"%d" % i)
        assert c.stream_info(stream)["state"]["messages"] == 3
        deadline = time.monotonic() + 4.0
        while True:
            st = c.stream_info(stream)["state"]
            if st["messages"] == 0:
                break
            assert time.monotonic() < deadline, f"messages still there 4 s after a 1 s max_age: {st}"
            time.sleep(0.1)
        assert (st["first_seq"], st["last_seq"]) == (4, 3), st
        assert c.publish(f"{prefix}.x", b"later")["seq"] == 4


def test_duplicate_window_expires(server):
    stream, prefix = stream_and_prefix("dupwin")
    hdr = {"Nats-Msg-Id": "once"}
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], duplicate_window=1_000_000_000)
        assert c.publish(f"{prefix}.x", b"a", hdr) == {"stream": stream, "seq": 1}
        assert c.publish(f"{prefix}.x", b"b", hdr) == {"stream": stream, "seq": 1, "duplicate": True}
        time.sleep(1.6)
        assert c.publish(f"{prefix}.x", b"c", hdr) == {"stream": stream, "seq": 2}


def test_expected_last_msg_id_is_the_last_messages_id(server):
    """Nats-Expected-Last-Msg-Id compares with the Nats-Msg-Id of the last message stored,
    which is empty when that message had none (nats-server's lmsgId); an empty header
    value expects nothing."""
    stream, prefix = stream_and_prefix("lastmsgid")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"])
        assert c.publish(f"{prefix}.x", b"1", {"Nats-Msg-Id": "x1"})["seq"] == 1
        assert c.publish(f"{prefix}.x", b"2", {"Nats-Expected-Last-Msg-Id": "x1"})["seq"] == 2
        r = c.publish(f"{prefix}.x", b"3", {"Nats-Expected-Last-Msg-Id": "x1"})
        assert err_code(r) == 10070, f"message 2 had no id, so the last msg id is empty: {r}"
        assert c.publish(f"{prefix}.x", b"4", {"Nats-Expected-Last-Msg-Id": ""})["seq"] == 3


# --------------------------------------------------------------------------------------
# Sealed, deny_delete / deny_purge, rollups
# --------------------------------------------------------------------------------------
def test_sealed_stream(server):
    stream, prefix = stream_and_prefix("sealed")
    cfg = {"name": stream, "subjects": [f"{prefix}.>"]}
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"])
        c.publish(f"{prefix}.x", b"kept")
        r = c.api(f"STREAM.UPDATE.{stream}", {**cfg, "sealed": True})
        assert r.get("config", {}).get("sealed") is True, r
        r = c.publish(f"{prefix}.x", b"refused")
        assert err_code(r) == 10109, r
        assert err_code(c.api(f"STREAM.MSG.DELETE.{stream}", {"seq": 1})) == 10109
        assert err_code(c.api(f"STREAM.PURGE.{stream}")) == 10109
        r = c.api(f"STREAM.UPDATE.{stream}", {**cfg, "sealed": False})
        assert "error" in r, f"a sealed stream cannot be unsealed: {r}"
        st = c.stream_info(stream)
        assert st["config"]["sealed"] is True and st["state"]["messages"] == 1


def test_deny_delete_and_deny_purge(server):
    stream, prefix = stream_and_prefix("deny")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], deny_delete=True, deny_purge=True)
        c.publish(f"{prefix}.x", b"1")
        r = c.api(f"STREAM.MSG.DELETE.{stream}", {"seq": 1})
        assert err_code(r) == 10057, r
        r = c.api(f"STREAM.PURGE.{stream}")
        assert err_code(r) == 10110, r
        assert c.stream_info(stream)["state"]["messages"] == 1


def test_rollup_sub_and_all(server):
    stream, prefix = stream_and_prefix("rollup")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], allow_rollup_hdrs=True)
        for i in range(6):
            c.publish(f"{prefix}.{'ab'[i % 2]}", b"%d" % i)
        r = c.publish(f"{prefix}.a", b"snapshot-a", {"Nats-Rollup": "sub"})
        assert r["seq"] == 7
        st = c.stream_info(stream, subjects_filter=">")["state"]
        assert st["messages"] == 4 and st["subjects"] == {f"{prefix}.a": 1, f"{prefix}.b": 3}, st
        last_a = c.api(f"STREAM.MSG.GET.{stream}", {"last_by_subj": f"{prefix}.a"})["message"]
        assert (last_a["seq"], base64.b64decode(last_a["data"])) == (7, b"snapshot-a")
        r = c.publish(f"{prefix}.b", b"snapshot-all", {"Nats-Rollup": "all"})
        assert r["seq"] == 8
        st = c.stream_info(stream, subjects_filter=">")["state"]
        assert (st["messages"], st["first_seq"], st["last_seq"]) == (1, 8, 8), st

        plain, pprefix = stream + "_NO", prefix + "_no"
        c.create_stream(plain, [f"{pprefix}.>"])
        c.publish(f"{pprefix}.a", b"1")
        r = c.publish(f"{pprefix}.a", b"2", {"Nats-Rollup": "sub"})
        assert err_code(r) == 10111, f"rollup without allow_rollup_hdrs: {r}"
        assert c.stream_info(plain)["state"]["messages"] == 1


# --------------------------------------------------------------------------------------
# Reading messages
# --------------------------------------------------------------------------------------
def test_msg_get_forms(server):
    stream, prefix = stream_and_prefix("msgget")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"])
        hdr = b"NATS/1.0\r\nFoo: bar\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n"
        payload = bytes(range(256))
        c.publish(f"{prefix}.a", payload, hdr)
        c.publish(f"{prefix}.b", b"")
        c.publish(f"{prefix}.a", b"second")
        m = c.api(f"STREAM.MSG.GET.{stream}", {"seq": 1})["message"]
        assert (m["subject"], m["seq"]) == (f"{prefix}.a", 1)
        assert base64.b64decode(m["data"]) == payload
        assert base64.b64decode(m["hdrs"]) == hdr, "headers are stored byte for byte"
        assert m["time"].endswith("Z")
        m = c.api(f"STREAM.MSG.GET.{stream}", {"seq": 2})["message"]
        assert base64.b64decode(m.get("data", "")) == b"" and "hdrs" not in m
        m = c.api(f"STREAM.MSG.GET.{stream}", {"last_by_subj": f"{prefix}.a"})["message"]
        assert (m["seq"], base64.b64decode(m["data"])) == (3, b"second")
        m = c.api(f"STREAM.MSG.GET.{stream}", {"next_by_subj": f"{prefix}.a", "seq": 2})["message"]
        assert m["seq"] == 3
        m = c.api(f"STREAM.MSG.GET.{stream}", {"next_by_subj": f"{prefix}.*", "seq": 2})["message"]
        assert m["seq"] == 2
        for body in ({"seq": 4}, {"last_by_subj": f"{prefix}.zzz"}, {"next_by_subj": f"{prefix}.b", "seq": 3}):
            r = c.api(f"STREAM.MSG.GET.{stream}", body)
            assert (err_code(r), r["error"]["code"]) == (10037, 404), (body, r)
        assert err_code(c.api(f"STREAM.MSG.GET.{stream}", {})) == 10003


def test_direct_get_headers_and_404(server):
    stream, prefix = stream_and_prefix("direct")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"], allow_direct=True)
        c.publish(f"{prefix}.a", b"payload-1", {"Foo": "bar"})
        c.publish(f"{prefix}.b", b"payload-2")
        c.publish(f"{prefix}.a", b"payload-3")

        def direct(body=None, subject_suffix=""):
            payload = b"" if body is None else __import__("json").dumps(body).encode()
            return c.request(f"$JS.API.DIRECT.GET.{stream}{subject_suffix}", payload)

        m = direct({"seq": 1})
        status, h = parse_headers(m.headers)
        assert status is None and m.payload == b"payload-1", m
        assert h["Nats-Stream"] == stream and h["Nats-Sequence"] == "1", h
        assert h["Nats-Subject"] == f"{prefix}.a" and h["Foo"] == "bar", h
        assert h["Nats-Time-Stamp"].endswith("Z") and h["Nats-Time-Stamp"][:2] == "20", h
        m = direct({"last_by_subj": f"{prefix}.a"})
        assert (m.payload, parse_headers(m.headers)[1]["Nats-Sequence"]) == (b"payload-3", "3")
        m = direct({"next_by_subj": f"{prefix}.b", "seq": 1})
        assert (m.payload, parse_headers(m.headers)[1]["Nats-Sequence"]) == (b"payload-2", "2")
        m = direct(subject_suffix=f".{prefix}.a")  # DIRECT.GET.<stream>.<subject>: last on it
        assert (m.payload, parse_headers(m.headers)[1]["Nats-Sequence"]) == (b"payload-3", "3")
        for body, suffix in (({"seq": 99}, ""), ({"last_by_subj": f"{prefix}.none"}, ""),
                             (None, f".{prefix}.none")):
            m = direct(body, suffix)
            assert parse_headers(m.headers)[0] == 404 and m.payload == b"", (body, suffix, m)
        m = direct()
        assert parse_headers(m.headers)[0] == 408, f"an empty DIRECT.GET request: {m!r}"


def test_direct_get_needs_allow_direct(server):
    """nats-server serves DIRECT.GET.<stream> only when the stream has allow_direct: without
    it the request is not answered at all (a client times out)."""
    stream, prefix = stream_and_prefix("nodirect")
    with JsClient(server) as c:
        c.create_stream(stream, [f"{prefix}.>"])
        c.publish(f"{prefix}.a", b"x")
        with pytest.raises(AssertionError, match="timed out"):
            m = c.request(f"$JS.API.DIRECT.GET.{stream}", b'{"seq":1}', timeout=1.0)
            pytest.fail(f"DIRECT.GET on a stream without allow_direct was answered: {m!r}")


# --------------------------------------------------------------------------------------
# Domains
# --------------------------------------------------------------------------------------
def test_jetstream_domain_from_config_file(server_factory):
    srv = server_factory(config="jetstream {\n  domain: hub\n}\n")
    stream, prefix = stream_and_prefix("domain")
    with JsClient(srv) as c:
        info = c.api("INFO", domain="hub")
        assert info.get("domain") == "hub", info
        assert info["type"] == "io.nats.jetstream.api.v1.account_info_response"
        assert c.api("INFO").get("domain") == "hub", "$JS.API.INFO answers too, naming the domain"
        r = c.api(f"STREAM.CREATE.{stream}", {"name": stream, "subjects": [f"{prefix}.>"]}, domain="hub")
        assert "error" not in r, r
        assert c.publish(f"{prefix}.x", b"1") == {"stream": stream, "domain": "hub", "seq": 1}
        assert c.api(f"STREAM.INFO.{stream}", domain="hub")["state"]["messages"] == 1
        m = c.request("$JS.elsewhere.API.INFO", b"")
        assert parse_headers(m.headers)[0] == 503, f"another domain has no responders: {m!r}"


# --------------------------------------------------------------------------------------
# Persistence
# --------------------------------------------------------------------------------------
def test_restart_keeps_streams_and_messages(fresh_server):
    srv = fresh_server
    stream, prefix = stream_and_prefix("persist")
    with JsClient(srv) as c:
        created = c.create_stream(stream, [f"{prefix}.>"], description="kept", allow_direct=True,
                                  max_msgs_per_subject=50, allow_rollup_hdrs=True)
        sent = {}
        for i in range(60):
            subj = f"{prefix}.k{i % 4}"
            payload = bytes((i * 7 + j) % 256 for j in range(i * 13))
            hdr = {"Seq-Hint": str(i)} if i % 3 == 0 else None
            sent[c.publish(subj, payload, hdr)["seq"]] = (subj, payload, i % 3 == 0)
        assert c.api(f"STREAM.MSG.DELETE.{stream}", {"seq": 10}).get("success") is True
        del sent[10]
        before = c.stream_info(stream, subjects_filter=">")
    srv.restart()
    with JsClient(srv) as c:
        after = c.stream_info(stream, subjects_filter=">")
        assert after["config"] == created["config"], "the config survives a restart"
        assert after["created"] == created["created"]
        for k in ("messages", "bytes", "first_seq", "last_seq", "num_subjects", "num_deleted", "subjects"):
            assert after["state"].get(k) == before["state"].get(k), (k, before["state"], after["state"])
        for seq, (subj, payload, has_hdr) in sent.items():
            m = c.api(f"STREAM.MSG.GET.{stream}", {"seq": seq})["message"]
            assert (m["subject"], base64.b64decode(m.get("data", ""))) == (subj, payload), seq
            assert ("hdrs" in m) == has_hdr, seq
        assert err_code(c.api(f"STREAM.MSG.GET.{stream}", {"seq": 10})) == 10037, "a deleted message stays deleted"
        assert c.publish(f"{prefix}.k0", b"next")["seq"] == 61, "sequences continue after a restart"
        m = c.request(f"$JS.API.DIRECT.GET.{stream}", b'{"seq":61}')
        assert m.payload == b"next"


def test_restart_keeps_purges_and_rollups(fresh_server):
    srv = fresh_server
    stream, prefix = stream_and_prefix("persist2")
    with JsClient(srv) as c:
        c.create_stream(stream, [f"{prefix}.>"], allow_rollup_hdrs=True)
        for i in range(10):
            c.publish(f"{prefix}.{'ab'[i % 2]}", b"%d" % i)
        c.api(f"STREAM.PURGE.{stream}", {"filter": f"{prefix}.b"})
        c.publish(f"{prefix}.a", b"roll", {"Nats-Rollup": "sub"})
        before = c.stream_info(stream, subjects_filter=">")["state"]
        assert before["messages"] == 1
    srv.restart()
    with JsClient(srv) as c:
        after = c.stream_info(stream, subjects_filter=">")["state"]
        assert (after["messages"], after["first_seq"], after["last_seq"], after.get("subjects")) == \
            (1, 11, 11, {f"{prefix}.a": 1}), after
        assert c.publish(f"{prefix}.b", b"next")["seq"] == 12


def test_restart_keeps_the_duplicate_window(fresh_server):
    """A publisher that retries after a server restart (with the same Nats-Msg-Id) must get
    the original message's seq back marked duplicate, not a second copy: nats-server
    rebuilds the window from the stored messages."""
    srv = fresh_server
    stream, prefix = stream_and_prefix("dedupe")
    with JsClient(srv) as c:
        c.create_stream(stream, [f"{prefix}.>"])
        for i in range(5):
            assert c.publish(f"{prefix}.x", b"%d" % i, {"Nats-Msg-Id": f"id-{i}"})["seq"] == i + 1
    srv.restart()
    with JsClient(srv) as c:
        r = c.publish(f"{prefix}.x", b"3", {"Nats-Msg-Id": "id-3"})
        assert r == {"stream": stream, "seq": 4, "duplicate": True}, r
        assert c.stream_info(stream)["state"]["messages"] == 5
        assert c.publish(f"{prefix}.x", b"5", {"Nats-Msg-Id": "id-5"})["seq"] == 6


def test_memory_storage(fresh_server):
    """A memory stream stores and serves like a file stream, and holds nothing after a
    restart (nats-server 2.9 and heraldd both forget the stream itself too)."""
    srv = fresh_server
    mem, mprefix = stream_and_prefix("mem")
    disk, dprefix = stream_and_prefix("disk")
    with JsClient(srv) as c:
        r = c.create_stream(mem, [f"{mprefix}.>"], storage="memory", max_msgs_per_subject=2)
        assert r["config"]["storage"] == "memory"
        c.create_stream(disk, [f"{dprefix}.>"])
        for i in range(5):
            assert c.publish(f"{mprefix}.a", b"m%d" % i)["seq"] == i + 1
        c.publish(f"{dprefix}.a", b"d")
        st = c.stream_info(mem)["state"]
        assert (st["messages"], st["first_seq"], st["last_seq"]) == (2, 4, 5)
        m = c.api(f"STREAM.MSG.GET.{mem}", {"last_by_subj": f"{mprefix}.a"})["message"]
        assert base64.b64decode(m["data"]) == b"m4"
        acct = c.api("INFO")
        assert acct["memory"] > 0 and acct["storage"] > 0, acct
    srv.restart()
    with JsClient(srv) as c:
        r = c.api(f"STREAM.INFO.{mem}")
        assert err_code(r) == 10059 or r["state"]["messages"] == 0, r
        assert c.stream_info(disk)["state"]["messages"] == 1, "the file stream is still there"
