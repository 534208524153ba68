# SPDX-License-Identifier: Apache-2.0
"""Real NATS client libraries against the server under test: nats.c 3.4.1 (Debian's
libnats, programs in tests/integration/clients/) and nats.js 2.29.3 (tests/js/*.mjs)."""
import pytest

from conftest import MAX_PAYLOAD, json_lines, run_client, run_client_json, run_node_json, unique

# ---------------------------------------------------------------------------- nats.c


@pytest.mark.parametrize("count,size", [(1000, 0), (1000, 100), (200, 4096), (20, MAX_PAYLOAD)],
                         ids=["empty", "100B", "4KiB", "1MiB"])
def test_c_pubsub(server, count, size):
    subj = unique("cps")
    r = run_client_json("nc_pubsub", server.url, subj, count, size)
    assert r == {"sent": count, "received": count, "in_order": True, "content_ok": True,
                 "subject_ok": True, "extra": 0, "bytes": count * size}


@pytest.mark.parametrize("sub_pattern", ["{p}.*", "{p}.>", ">"])
def test_c_pubsub_wildcard(server, sub_pattern):
    p = unique("cpw")
    r = run_client_json("nc_pubsub", server.url, f"{p}.x", 500, 32, sub_pattern.format(p=p))
    assert r == {"sent": 500, "received": 500, "in_order": True, "content_ok": True,
                 "subject_ok": True, "extra": 0, "bytes": 500 * 32}


def test_c_pubsub_wildcard_no_match(server):
    # "{p}.*" must not match "{p}.x.y": the subscriber gets nothing.
    p = unique("cpn")
    r = run_client_json("nc_pubsub", server.url, f"{p}.x.y", 10, 8, f"{p}.*", 500)
    assert r["received"] == 0 and r["extra"] == 0


@pytest.mark.parametrize("members,count,groups", [(3, 600, 1), (4, 400, 3)])
def test_c_queue(server, members, count, groups):
    r = run_client_json("nc_queue", server.url, unique("cq"), members, count, groups)
    assert r["groups"] == groups and r["members"] == members and r["count"] == count
    assert len(r["per_group"]) == groups
    for g in r["per_group"]:
        assert g["total"] == count, g
        assert g["duplicates"] == 0 and g["missing"] == 0 and g["out_of_range"] == 0, g
        assert len(g["counts"]) == members
        assert all(c > 0 for c in g["counts"]), f"not spread across members: {g['counts']}"


def test_c_request_reply_and_no_responders(server):
    r = run_client_json("nc_request", server.url, unique("creq"), 200)
    assert r["ok"] == 200 and r["bad"] == 0 and r["errors"] == 0
    assert r["old_ok"] == 20 and r["old_bad"] == 0 and r["old_errors"] == 0
    assert r["served"] == 220
    # no responders: a status, not a timeout, and fast (the request timeout is 3 s)
    assert r["no_responders"] == "NATS_NO_RESPONDERS"
    assert r["old_no_responders"] == "NATS_NO_RESPONDERS"
    assert r["no_responders_ms"] < 1000 and r["old_no_responders_ms"] < 1000, r


def test_c_headers(server):
    subj = unique("chd")
    out = json_lines(run_client("nc_headers", server.url, subj).stdout)
    assert out == [
        {"n": 0, "subject": subj, "payload": "hello",
         "headers": {"X-Key": ["value1"], "X-Multi": ["a", "b"]}},
        {"n": 1, "subject": subj, "payload": "", "headers": {"X-Only": ["yes"]}},
        {"n": 2, "subject": subj, "payload": "plain", "headers": None},
        {"n": 3, "subject": subj, "payload": "sp", "headers": {"X-Space": ["a b: c"]}},
        {"reply": {"status": "NATS_OK", "payload": "ok", "headers": {"X-Resp": ["42"]}},
         "received": 4},
    ]


# ---------------------------------------------------------------------------- nats.js
def test_js_pubsub_wildcards(server):
    r = run_node_json("js_pubsub", server.url, unique("jps"))
    assert r == {
        "got": {
            "P.*": ["P.a", "P.b"],
            "P.>": ["P.a", "P.b", "P.a.b", "P.x.b", "P.a.b.c", "P.a.x.c", "P.a.b.c.d"],
            "P.a.*.c": ["P.a.b.c", "P.a.x.c"],
            "P.a.b": ["P.a.b"],
            "P.*.b": ["P.a.b", "P.x.b"],
        },
        "max": 3,
        "payload_ok": True,
    }


def test_js_queue(server):
    r = run_node_json("js_queue", server.url, unique("jq"), 3, 300)
    assert r["total"] == 300 and r["duplicates"] == 0 and r["missing"] == 0, r
    assert len(r["counts"]) == 3 and all(c > 0 for c in r["counts"]), r


def test_js_request_reply(server):
    r = run_node_json("js_request", server.url, unique("jr"), 50)
    assert r == {"ok": 50, "bad": 0, "parallel_ok": 50, "nomux_ok": 25, "served": 125}


def test_js_no_responders(server):
    r = run_node_json("js_noresponders", server.url, unique("jnr"))
    assert r["mux"]["code"] == "503" and r["nomux"]["code"] == "503", r
    assert r["mux"]["ms"] < 1000 and r["nomux"]["ms"] < 1000, r
    assert r["after_ok"] is True


def test_js_headers(server):
    r = run_node_json("js_headers", server.url, unique("jh"))
    assert r == {
        "msgs": [
            {"payload": "hello", "headers": {"X-Key": ["v1"], "X-Multi": ["a", "b"]}},
            {"payload": "", "headers": {"X-Only": ["yes"]}},
            {"payload": "plain", "headers": None},
        ],
        "reply": {"payload": "ok", "headers": {"X-Resp": ["42"]}},
    }


def test_js_one_mib_payload(server):
    r = run_node_json("js_bigpayload", server.url, unique("jb"))
    assert r == {"max_payload": MAX_PAYLOAD, "received": MAX_PAYLOAD, "equal": True,
                 "oversize_error": "MAX_PAYLOAD_EXCEEDED"}
