# SPDX-License-Identifier: Apache-2.0
"""NATS client protocol, well-formed input, checked byte for byte on a raw socket.

Every expectation here was measured against Debian's nats-server 2.9.10 (see the comments
marked "measured"); heraldd must produce the same bytes.
"""
import re
import time

import pytest

from conftest import MAX_PAYLOAD, RawClient, assert_server_serves, only_heraldd, unique

HDR_CONNECT = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True}


# ---------------------------------------------------------------------------- INFO, PING
def test_info_fields(server):
    c = RawClient(server, connect=None)
    line = c.info_line
    assert line.startswith(b"INFO {"), line
    assert b"\n" not in line and b"\r" not in line
    info = c.info
    assert isinstance(info["server_id"], str) and info["server_id"]
    assert isinstance(info["server_name"], str) and info["server_name"]
    assert isinstance(info["version"], str) and info["version"].startswith("2."), info["version"]
    assert info["proto"] == 1
    assert info["headers"] is True
    assert info["max_payload"] == MAX_PAYLOAD
    assert isinstance(info["client_id"], int) and not isinstance(info["client_id"], bool)
    assert info["client_id"] > 0
    assert info["client_ip"] == "127.0.0.1"
    assert info["host"] == "127.0.0.1"
    assert info["port"] == server.port
    assert info.get("jetstream") is True, f"INFO lacks jetstream:true: {info}"
    # Nothing else arrives unprompted before the client speaks.
    c.send(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
    assert c.ping() == b""
    c.close()


def test_info_client_ids_distinct_and_server_id_stable(server):
    a, b = RawClient(server), RawClient(server)
    assert a.info["client_id"] != b.info["client_id"]
    assert a.info["server_id"] == b.info["server_id"]
    a.close(), b.close()


def test_ping_pong(server):
    c = RawClient(server)
    c.send(b"PING\r\n")
    assert c.read_line() == b"PONG"
    c.send(b"PING\r\nPING\r\n")
    assert c.read_exact(12) == b"PONG\r\nPONG\r\n"
    # A PONG from the client (answer to a server PING) is accepted silently.
    c.send(b"PONG\r\n")
    c.expect_open()
    c.close()


def test_ping_before_connect(server):
    # measured: nats-server answers PING before any CONNECT (no auth configured).
    c = RawClient(server, connect=None)
    c.send(b"PING\r\n")
    assert c.read_exact(6) == b"PONG\r\n"
    c.close()


def test_ping_with_trailing_junk_and_tab(server):
    # measured: "PING x" and "PING\t" are both answered with PONG.
    c = RawClient(server)
    c.send(b"PING x\r\nPING\t\r\n")
    assert c.read_exact(12) == b"PONG\r\nPONG\r\n"
    c.close()


# ---------------------------------------------------------------------------- pub / sub
def test_pub_sub_self_exact_bytes(server):
    s = unique("ps")
    c = RawClient(server)
    c.send(f"SUB {s} 1\r\nPUB {s} 5\r\nhello\r\n".encode())
    assert c.ping() == f"MSG {s} 1 5\r\nhello\r\n".encode()
    c.close()


def test_pub_sub_between_clients(server):
    s = unique("ps")
    sub, pub = RawClient(server), RawClient(server)
    sub.sub(s, 42)
    sub.expect_open()                       # SUB is registered before the PUB below
    pub.pub(s, b"one")
    pub.pub(s, b"two", reply="reply.to.me")
    pub.expect_open()
    assert sub.ping() == (f"MSG {s} 42 3\r\none\r\n"
                          f"MSG {s} 42 reply.to.me 3\r\ntwo\r\n").encode()
    sub.close(), pub.close()


def test_payload_edge_cases(server):
    s = unique("ps")
    c = RawClient(server)
    c.sub(s, 1)
    c.send(f"PUB {s} 0\r\n\r\n".encode())                  # empty payload
    c.send(f"PUB {s} 4\r\n\r\n\r\n\r\n".encode())          # payload that is CRLF CRLF
    c.send(f"PUB {s} 3\r\n\x00\xff\x01\r\n".encode("latin-1"))  # binary
    assert c.ping() == (f"MSG {s} 1 0\r\n\r\n"
                        f"MSG {s} 1 4\r\n\r\n\r\n\r\n"
                        f"MSG {s} 1 3\r\n\x00\xff\x01\r\n").encode("latin-1")
    c.close()


def test_split_across_packets(server):
    s = unique("ps")
    c = RawClient(server)
    data = f"SUB {s} 1\r\nPUB {s} 11\r\nhello world\r\n".encode()
    for i in range(len(data)):                 # one byte at a time
        c.send(data[i:i + 1])
        if i % 7 == 0:
            time.sleep(0.002)
    assert c.ping() == f"MSG {s} 1 11\r\nhello world\r\n".encode()
    c.close()


def test_many_commands_in_one_write(server):
    s = unique("ps")
    c = RawClient(server)
    c.send(f"SUB {s} 1\r\n".encode() + b"".join(f"PUB {s} {len(str(i))}\r\n{i}\r\n".encode()
                                                  for i in range(500)))
    got = c.ping()
    assert got == b"".join(f"MSG {s} 1 {len(str(i))}\r\n{i}\r\n".encode() for i in range(500))
    c.close()


def test_order_preserved_single_publisher(server):
    s = unique("ord")
    sub, pub = RawClient(server), RawClient(server)
    sub.sub(s, 1)
    sub.expect_open()
    n = 2000
    pub.send(b"".join(f"PUB {s} 8\r\n{i:08d}\r\n".encode() for i in range(n)))
    pub.expect_open()
    got = sub.ping()
    assert got == b"".join(f"MSG {s} 1 8\r\n{i:08d}\r\n".encode() for i in range(n))
    sub.close(), pub.close()


def test_multiple_subscriptions_each_get_a_copy(server):
    # measured: every matching subscription of a connection gets its own MSG (sid differs);
    # nats-server's order among the sids is not specified, so compare as a set.
    p = unique("ov")
    c = RawClient(server)
    c.send(f"SUB {p}.* 1\r\nSUB {p}.> 2\r\nSUB {p}.a 3\r\nSUB {p}.a 4\r\nPUB {p}.a 1\r\nx\r\n".encode())
    got = c.ping()
    msgs = sorted(m for m in got.split(b"\r\nx\r\n") if m)
    assert msgs == [f"MSG {p}.a {sid} 1".encode() for sid in (1, 2, 3, 4)], got
    c.close()


def test_sid_is_opaque_token(server):
    # measured: sids need not be numeric.
    s = unique("sid")
    c = RawClient(server)
    c.send(f"SUB {s} abc\r\nPUB {s} 1\r\na\r\n".encode())
    assert c.ping() == f"MSG {s} abc 1\r\na\r\n".encode()
    c.close()


def test_non_ascii_subject(server):
    s = unique("u") + ".été"
    c = RawClient(server)
    c.send(f"SUB {s} 1\r\nPUB {s} 1\r\na\r\n".encode())
    assert c.ping() == f"MSG {s} 1 1\r\na\r\n".encode()
    c.close()


# ---------------------------------------------------------------------------- wildcards
WILDCARD_SUBS = {
    # sid: pattern (relative to the test's prefix P)
    1: "P.*",
    2: "P.>",
    3: "P.a.*.c",
    4: "P.a.>",
    5: "P.*.b",
    6: "P.a.b",
    7: "P.*.*",
    8: "P.a.*",
}
WILDCARD_PUBS = ["P.a", "P.b", "P.a.b", "P.x.b", "P.a.b.c", "P.a.x.c", "P.a.x.d", "P.a.b.c.d",
                 "P", "P.ab", "P.A.b", "Q.a", "P.a.bb", "P.a.b.c.d.e"]
WILDCARD_EXPECT = {
    1: ["P.a", "P.b", "P.ab"],
    2: ["P.a", "P.b", "P.a.b", "P.x.b", "P.a.b.c", "P.a.x.c", "P.a.x.d", "P.a.b.c.d", "P.ab",
        "P.A.b", "P.a.bb", "P.a.b.c.d.e"],
    3: ["P.a.b.c", "P.a.x.c"],
    4: ["P.a.b", "P.a.b.c", "P.a.x.c", "P.a.x.d", "P.a.b.c.d", "P.a.bb", "P.a.b.c.d.e"],
    5: ["P.a.b", "P.x.b", "P.A.b"],
    6: ["P.a.b"],
    7: ["P.a.b", "P.x.b", "P.A.b", "P.a.bb"],
    8: ["P.a.b", "P.a.bb"],
}


def test_wildcard_matching(server):
    p = unique("w")
    fix = lambda t: t.replace("P", p, 1).replace("Q", p + "q", 1)   # noqa: E731
    sub, pub = RawClient(server), RawClient(server)
    for sid, pat in WILDCARD_SUBS.items():
        sub.sub(fix(pat), sid)
    sub.expect_open()
    for subj in WILDCARD_PUBS:
        pub.pub(fix(subj), subj.encode())
    pub.expect_open()
    data = sub.ping()
    got = {sid: [] for sid in WILDCARD_SUBS}
    while data:
        line, data = data.split(b"\r\n", 1)
        op, subj, sid, size = line.split(b" ")
        assert op == b"MSG"
        payload, data = data[:int(size)], data[int(size) + 2:]
        assert fix(payload.decode()).encode() == subj          # subject delivered as published
        got[int(sid)].append(payload.decode())
    for sid, exp in WILDCARD_EXPECT.items():
        # one publisher, so each subscription sees its matches in publish order
        assert got[sid] == exp, f"sid {sid} ({WILDCARD_SUBS[sid]}): got {got[sid]}, want {exp}"
    sub.close(), pub.close()


def test_full_wildcard_gets_everything(server):
    p = unique("fw")
    sub, pub = RawClient(server), RawClient(server)
    sub.sub(">", 9)
    sub.expect_open()
    subjects = [f"{p}", f"{p}.a", f"{p}.a.b.c", f"x{p}"]
    for s in subjects:
        pub.pub(s, b"z")
    pub.expect_open()
    got = [m for m in re.findall(rb"MSG (\S+) 9 1\r\nz\r\n", sub.ping())
           if not m.startswith(b"$")]              # ignore any server-internal traffic
    assert got == [s.encode() for s in subjects]
    sub.close(), pub.close()


def test_star_inside_token_is_literal(server):
    # measured: "foo.*a" and "foo.b>" are valid literal subjects, not wildcards.
    p = unique("lit")
    c = RawClient(server)
    c.send(f"SUB {p}.*a 1\r\nSUB {p}.b> 2\r\n".encode())
    c.send(f"PUB {p}.xa 1\r\n1\r\nPUB {p}.*a 1\r\n2\r\nPUB {p}.b.c 1\r\n3\r\nPUB {p}.b> 1\r\n4\r\n".encode())
    assert c.ping() == f"MSG {p}.*a 1 1\r\n2\r\nMSG {p}.b> 2 1\r\n4\r\n".encode()
    c.close()


# ---------------------------------------------------------------------------- queue groups
def _collect(data: bytes):
    out = []
    for m in re.finditer(rb"MSG (\S+) (\S+) (\d+)\r\n", data):
        n = int(m.group(3))
        out.append((m.group(2).decode(), data[m.end():m.end() + n].decode()))
    return out


def test_queue_group_distribution(server):
    s = unique("q")
    n = 300
    members = [RawClient(server) for _ in range(3)]           # group g1
    members2 = [RawClient(server) for _ in range(2)]          # group g2
    plain = RawClient(server)
    for i, m in enumerate(members):
        m.sub(s, f"g1m{i}", queue="g1")
    for i, m in enumerate(members2):
        m.sub(s, f"g2m{i}", queue="g2")
    plain.sub(s, "plain")
    for c in members + members2 + [plain]:
        c.expect_open()
    pub = RawClient(server)
    pub.send(b"".join(f"PUB {s} {len(str(i))}\r\n{i}\r\n".encode() for i in range(n)))
    pub.expect_open()
    for group in (members, members2):
        seen, counts = [], []
        for m in group:
            got = _collect(m.ping())
            counts.append(len(got))
            payloads = [int(p) for _, p in got]
            assert payloads == sorted(payloads), "a member must see its share in publish order"
            seen += payloads
        assert sorted(seen) == list(range(n)), "each message exactly once per queue group"
        assert all(c > 0 for c in counts), f"messages not spread across members: {counts}"
    got = [int(p) for _, p in _collect(plain.ping())]
    assert got == list(range(n)), "a plain subscriber gets every message"
    for c in members + members2 + [plain, pub]:
        c.close()


def test_queue_group_members_on_one_connection(server):
    # measured: two SUBs in the same group on one connection -> one delivery per message.
    s = unique("q1")
    c = RawClient(server)
    c.send(f"SUB {s} g 1\r\nSUB {s} g 2\r\n".encode())
    c.send(b"".join(f"PUB {s} 1\r\n{i % 10}\r\n".encode() for i in range(50)))
    got = _collect(c.ping())
    assert len(got) == 50
    assert {sid for sid, _ in got} <= {"1", "2"}
    c.close()


def test_queue_names_are_case_sensitive(server):
    # measured: groups "G" and "g" are distinct groups -> both get the message.
    s = unique("qc")
    c = RawClient(server)
    c.send(f"SUB {s} G 1\r\nSUB {s} g 2\r\nPUB {s} 1\r\nx\r\n".encode())
    assert sorted(_collect(c.ping())) == [("1", "x"), ("2", "x")]
    c.close()


def test_queue_unsubscribe_moves_traffic(server):
    s = unique("qu")
    a, b = RawClient(server), RawClient(server)
    a.sub(s, 1, queue="g")
    b.sub(s, 1, queue="g")
    a.expect_open(), b.expect_open()
    a.send(b"UNSUB 1\r\n")
    a.expect_open()
    pub = RawClient(server)
    pub.send(b"".join(f"PUB {s} 1\r\n{i}\r\n".encode() for i in range(10)))
    pub.expect_open()
    assert a.ping() == b""
    assert [p for _, p in _collect(b.ping())] == [str(i) for i in range(10)]
    for c in (a, b, pub):
        c.close()


# ---------------------------------------------------------------------------- request / reply
def test_request_reply(server):
    svc = unique("svc")
    inbox = unique("_INBOX")
    responder, requester = RawClient(server), RawClient(server, connect=HDR_CONNECT)
    responder.sub(svc, 1)
    responder.expect_open()
    requester.send(f"SUB {inbox} 7\r\nPUB {svc} {inbox} 4\r\nping\r\n".encode())
    requester.expect_open()
    req = responder.read_msg()
    assert req.raw == f"MSG {svc} 1 {inbox} 4\r\nping\r\n".encode()
    responder.pub(req.reply, b"pong")
    assert requester.read_msg().raw == f"MSG {inbox} 7 4\r\npong\r\n".encode()
    requester.expect_open()
    responder.close(), requester.close()


def test_no_responders_exact_bytes(server):
    inbox = unique("_INBOX")
    nobody = unique("nobody")
    c = RawClient(server, connect=HDR_CONNECT)
    c.send(f"SUB {inbox} 1\r\nPUB {nobody} {inbox} 2\r\nhi\r\n".encode())
    assert c.ping() == f"HMSG {inbox} 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n".encode()
    # HPUB requests get the same answer.
    c.send(f"HPUB {nobody} {inbox} 12 14\r\nNATS/1.0\r\n\r\nhi\r\n".encode())
    assert c.ping() == f"HMSG {inbox} 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n".encode()
    c.close()


def test_no_responders_uses_matching_wildcard_inbox_sub(server):
    # measured: the 503 goes to the requester's own subscription that matches the reply
    # subject (here a wildcard one), with that subscription's sid and the full reply subject.
    base = unique("_INBOX")
    c = RawClient(server, connect=HDR_CONNECT)
    c.send(f"SUB {base}.* 7\r\nPUB {unique('nobody')} {base}.1 0\r\n\r\n".encode())
    assert c.ping() == f"HMSG {base}.1 7 16 16\r\nNATS/1.0 503\r\n\r\n\r\n".encode()
    c.close()


def test_no_responders_only_to_requester(server):
    # measured: another client subscribed to the same reply subject gets nothing, and a
    # requester with no subscription matching its reply subject gets nothing either.
    inbox = unique("_INBOX")
    other, req = RawClient(server, connect=HDR_CONNECT), RawClient(server, connect=HDR_CONNECT)
    other.sub(inbox, 1)
    other.expect_open()
    req.send(f"SUB {inbox} 3\r\nPUB {unique('nobody')} {inbox} 0\r\n\r\n".encode())
    assert req.ping() == f"HMSG {inbox} 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n".encode()
    assert other.ping() == b""
    lonely = RawClient(server, connect=HDR_CONNECT)
    lonely.send(f"PUB {unique('nobody')} {unique('_INBOX')} 0\r\n\r\n".encode())
    assert lonely.ping() == b""
    for c in (other, req, lonely):
        c.close()


def test_no_responders_not_sent_when_someone_listens(server):
    svc, inbox = unique("svc"), unique("_INBOX")
    listener = RawClient(server)
    listener.sub(svc, 1)
    listener.expect_open()
    c = RawClient(server, connect=HDR_CONNECT)
    c.send(f"SUB {inbox} 1\r\nPUB {svc} {inbox} 2\r\nhi\r\n".encode())
    assert c.ping() == b""
    assert listener.read_msg().raw == f"MSG {svc} 1 {inbox} 2\r\nhi\r\n".encode()
    # A queue subscriber counts as a responder too.
    qsvc = unique("qsvc")
    listener.sub(qsvc, 2, queue="workers")
    listener.expect_open()
    c.send(f"PUB {qsvc} {inbox} 2\r\nhi\r\n".encode())
    assert c.ping() == b""
    assert listener.read_msg().raw == f"MSG {qsvc} 2 {inbox} 2\r\nhi\r\n".encode()
    listener.close(), c.close()


@pytest.mark.parametrize("connect", [
    {"verbose": False, "pedantic": False, "headers": True},            # no_responders not asked
    {"verbose": False, "pedantic": False, "headers": True, "no_responders": False},
])
def test_no_responders_needs_opt_in(server, connect):
    inbox = unique("_INBOX")
    c = RawClient(server, connect=connect)
    c.send(f"SUB {inbox} 1\r\nPUB {unique('nobody')} {inbox} 2\r\nhi\r\n".encode())
    assert c.ping() == b""
    c.close()


def test_no_responders_without_reply_is_silent(server):
    c = RawClient(server, connect=HDR_CONNECT)
    c.send(f"PUB {unique('nobody')} 2\r\nhi\r\n".encode())
    assert c.ping() == b""
    c.close()


# ---------------------------------------------------------------------------- headers
def test_hpub_hmsg_exact(server):
    s = unique("h")
    sub = RawClient(server, connect=HDR_CONNECT)
    pub = RawClient(server, connect=HDR_CONNECT)
    sub.sub(s, 1)
    sub.expect_open()
    hdr = b"NATS/1.0\r\nA: b\r\nMulti: 1\r\nMulti: 2\r\n\r\n"
    pub.hpub(s, hdr, b"hello")
    pub.hpub(s, hdr, b"", reply="rep.ly")
    pub.expect_open()
    n = len(hdr)
    assert sub.ping() == (f"HMSG {s} 1 {n} {n + 5}\r\n".encode() + hdr + b"hello\r\n"
                          + f"HMSG {s} 1 rep.ly {n} {n}\r\n".encode() + hdr + b"\r\n")
    sub.close(), pub.close()


def test_hpub_header_length_zero_is_delivered_as_msg(server):
    # measured: HPUB with header length 0 is valid; subscribers get a plain MSG.
    s = unique("h0")
    sub = RawClient(server, connect=HDR_CONNECT)
    pub = RawClient(server, connect=HDR_CONNECT)
    sub.sub(s, 1)
    sub.expect_open()
    pub.send(f"HPUB {s} 0 2\r\nhi\r\nHPUB {s} 0 0\r\n\r\n".encode())
    pub.expect_open()
    assert sub.ping() == f"MSG {s} 1 2\r\nhi\r\nMSG {s} 1 0\r\n\r\n".encode()
    sub.close(), pub.close()


def test_headers_stripped_for_subscriber_without_headers(server):
    # measured: a subscriber whose CONNECT lacked headers:true gets MSG with the payload only.
    s = unique("hs")
    sub = RawClient(server)                      # headers not announced
    pub = RawClient(server, connect=HDR_CONNECT)
    sub.sub(s, 1)
    sub.expect_open()
    pub.hpub(s, b"NATS/1.0\r\nA: b\r\n\r\n", b"hi")
    pub.hpub(s, b"NATS/1.0\r\nA: b\r\n\r\n", b"")
    pub.expect_open()
    assert sub.ping() == f"MSG {s} 1 2\r\nhi\r\nMSG {s} 1 0\r\n\r\n".encode()
    sub.close(), pub.close()


def test_header_block_forwarded_verbatim(server):
    # measured: nats-server does not validate the header block; it is forwarded as is.
    s = unique("hv")
    c = RawClient(server, connect=HDR_CONNECT)
    c.send(f"SUB {s} 1\r\nHPUB {s} 5 7\r\nHELLOhi\r\n".encode())
    assert c.ping() == f"HMSG {s} 1 5 7\r\nHELLOhi\r\n".encode()
    status = b"NATS/1.0 503\r\n\r\n"
    c.hpub(s, status, b"")
    assert c.ping() == f"HMSG {s} 1 16 16\r\n".encode() + status + b"\r\n"
    c.close()


# ---------------------------------------------------------------------------- UNSUB
@pytest.mark.parametrize("before,unsub_max,after,expected", [
    (2, 3, 3, 3),     # 2 delivered, max 3 -> exactly one more
    (2, 2, 3, 2),     # max already reached -> nothing more
    (0, 1, 3, 1),
    (0, 5, 3, 3),     # max not reached
    (1, 0, 3, 1),     # measured: max 0 unsubscribes at once, like a plain UNSUB
])
def test_unsub_max_counts_delivered(server, before, unsub_max, after, expected):
    s = unique("um")
    c = RawClient(server)
    c.sub(s, 1)
    msgs = [f"m{i}".encode() for i in range(before + after)]
    for m in msgs[:before]:
        c.pub(s, m)
    c.send(f"UNSUB 1 {unsub_max}\r\n".encode())
    for m in msgs[before:]:
        c.pub(s, m)
    assert c.ping() == b"".join(f"MSG {s} 1 2\r\n".encode() + m + b"\r\n" for m in msgs[:expected])
    c.close()


def test_unsub_max_then_more_publishers(server):
    s = unique("um2")
    sub, pub = RawClient(server), RawClient(server)
    sub.send(f"SUB {s} 1\r\nUNSUB 1 2\r\n".encode())
    sub.expect_open()
    for i in range(5):
        pub.pub(s, str(i).encode())
    pub.expect_open()
    assert sub.ping() == f"MSG {s} 1 1\r\n0\r\nMSG {s} 1 1\r\n1\r\n".encode()
    sub.close(), pub.close()


def test_unsub_and_sid_reuse(server):
    a, b = unique("r1"), unique("r2")
    c = RawClient(server)
    c.send(f"SUB {a} 1\r\nUNSUB 1\r\nSUB {b} 1\r\nPUB {a} 1\r\nx\r\nPUB {b} 1\r\ny\r\n".encode())
    assert c.ping() == f"MSG {b} 1 1\r\ny\r\n".encode()
    c.close()


def test_unsub_unknown_sid_is_silent(server):
    # measured: no error for an unknown sid (with verbose, just +OK).
    c = RawClient(server)
    c.send(b"UNSUB 999\r\n")
    c.expect_open()
    v = RawClient(server, connect={"verbose": True, "pedantic": False})
    v.send(b"UNSUB 999\r\n")
    assert v.ping() == b"+OK\r\n+OK\r\n"
    c.close(), v.close()


# ---------------------------------------------------------------------------- echo
def test_echo_off(server):
    s = unique("echo")
    me = RawClient(server, connect={"verbose": False, "pedantic": False, "echo": False})
    other = RawClient(server)
    other.sub(s, 1)
    other.expect_open()
    me.send(f"SUB {s} 1\r\nPUB {s} 2\r\nhi\r\n".encode())
    assert me.ping() == b""
    assert other.ping() == f"MSG {s} 1 2\r\nhi\r\n".encode()
    # and me still gets what others publish
    other.pub(s, b"yo")
    assert me.read_msg().raw == f"MSG {s} 1 2\r\nyo\r\n".encode()
    me.close(), other.close()


def test_echo_on_by_default(server):
    s = unique("echo")
    c = RawClient(server, connect={"verbose": False, "pedantic": False})
    c.send(f"SUB {s} 1\r\nPUB {s} 2\r\nhi\r\n".encode())
    assert c.ping() == f"MSG {s} 1 2\r\nhi\r\n".encode()
    c.close()


# ---------------------------------------------------------------------------- verbose
def test_verbose_ok_sequence(server):
    # measured: +OK for CONNECT, SUB, PUB (sent when the PUB line is parsed, so before the
    # MSG it causes) and UNSUB; PING gets only PONG.
    s = unique("v")
    c = RawClient(server, connect=None)
    c.send(b'CONNECT {"verbose":true,"pedantic":false}\r\n')
    c.send(f"SUB {s} 1\r\nPUB {s} 2\r\nhi\r\nUNSUB 1\r\nPUB {s} 2\r\nhi\r\n".encode())
    assert c.ping() == (b"+OK\r\n+OK\r\n+OK\r\n" + f"MSG {s} 1 2\r\nhi\r\n".encode()
                        + b"+OK\r\n+OK\r\n")
    c.close()


def test_verbose_hpub(server):
    s = unique("vh")
    c = RawClient(server, connect={"verbose": True, "pedantic": False, "headers": True})
    c.send(f"SUB {s} 1\r\nHPUB {s} 12 14\r\nNATS/1.0\r\n\r\nhi\r\n".encode())
    assert c.ping() == (b"+OK\r\n+OK\r\n+OK\r\n"
                        + f"HMSG {s} 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n".encode())
    c.close()


@pytest.mark.parametrize("connect", [b"CONNECT {}\r\n", b'CONNECT {"lang":"python","zzz":[1,2]}\r\n'])
def test_verbose_defaults_to_true(server, connect):
    # measured: a CONNECT that does not say "verbose":false gets +OK (verbose defaults on);
    # unknown CONNECT fields are ignored.
    c = RawClient(server, connect=connect)
    assert c.ping() == b"+OK\r\n"
    c.close()


def test_verbose_default_before_connect(server):
    # measured: before any CONNECT the client is treated as verbose.
    s = unique("vb")
    c = RawClient(server, connect=None)
    c.send(f"SUB {s} 1\r\nPUB {s} 1\r\nx\r\n".encode())
    assert c.ping() == f"+OK\r\n+OK\r\nMSG {s} 1 1\r\nx\r\n".encode()
    c.close()


def test_second_connect_is_accepted(server):
    c = RawClient(server)
    c.send(b'CONNECT {"verbose":true}\r\n')
    assert c.ping() == b"+OK\r\n"
    c.close()


# ---------------------------------------------------------------------------- syntax latitude
def test_case_insensitive_ops(server):
    s = unique("ci")
    c = RawClient(server, connect=b'cOnNeCt {"verbose":false,"pedantic":false,"headers":true}\r\n')
    c.send(f"sUb {s} 1\r\npub {s} 2\r\nhi\r\nHpUb {s} 12 14\r\nNATS/1.0\r\n\r\nhi\r\n".encode())
    c.send(f"uNsUb 1\r\nPuB {s} 2\r\nhi\r\npInG\r\n".encode())
    assert c.read_until(b"PONG\r\n") == (f"MSG {s} 1 2\r\nhi\r\n"
                                        f"HMSG {s} 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
                                        "PONG\r\n").encode()
    c.send(b"ping\r\nPoNg\r\n")
    assert c.read_exact(6) == b"PONG\r\n"
    c.expect_open()
    c.close()


def test_multiple_blanks_between_fields(server):
    s = unique("bl")
    c = RawClient(server)
    c.send(f"SUB  {s}   1\r\nSUB {s}  q   2\r\nPUB   {s}    2\r\nhi\r\n".encode())
    assert sorted(_collect(c.ping())) == [("1", "hi"), ("2", "hi")]
    c.send(f"UNSUB 1 \r\nUNSUB  2  \r\nPUB {s}  reply  2\r\nhi\r\n".encode())
    assert c.ping() == b""
    c.send(f"SUB {s} 3\r\nPUB {s}  reply  2\r\nhi\r\n".encode())
    assert c.ping() == f"MSG {s} 3 reply 2\r\nhi\r\n".encode()
    c.close()


def test_tabs_between_fields(server):
    # measured: tabs separate fields like blanks.
    s = unique("tab")
    c = RawClient(server)
    c.send(f"SUB\t{s}\t1\r\nPUB\t{s} \t2\r\nhi\r\n".encode())
    assert c.ping() == f"MSG {s} 1 2\r\nhi\r\n".encode()
    c.close()


def test_lf_only_line_endings_on_control_lines(server):
    # measured: control lines may end in a bare LF (the payload must still end in CRLF).
    s = unique("lf")
    c = RawClient(server)
    c.send(f"SUB {s} 1\nPUB {s} 2\nhi\r\nPING\n".encode())
    assert c.read_until(b"PONG\r\n") == f"MSG {s} 1 2\r\nhi\r\nPONG\r\n".encode()
    c.close()


def test_client_sent_info_and_ok_are_ignored(server):
    # measured: INFO and +OK from a client are accepted silently.
    c = RawClient(server)
    c.send(b"INFO {}\r\n+OK\r\n")
    c.expect_open()
    c.close()


# ---------------------------------------------------------------------------- sizes
def test_max_payload_exactly_accepted(server):
    s = unique("big")
    sub, pub = RawClient(server), RawClient(server)
    sub.sub(s, 1)
    sub.expect_open()
    payload = bytes((i * 7 + 3) % 256 for i in range(MAX_PAYLOAD))
    pub.pub(s, payload)
    pub.expect_open()
    m = sub.read_msg()
    assert (m.subject, m.sid, len(m.payload)) == (s, "1", MAX_PAYLOAD)
    assert m.payload == payload
    sub.expect_open()
    sub.close(), pub.close()


def test_hpub_header_plus_payload_at_max_accepted(server):
    s = unique("bigh")
    c = RawClient(server, connect=HDR_CONNECT)
    hdr = b"NATS/1.0\r\nX: y\r\n\r\n"
    payload = b"p" * (MAX_PAYLOAD - len(hdr))
    c.sub(s, 1)
    c.hpub(s, hdr, payload)
    m = c.read_msg()
    assert m.op == "HMSG" and m.headers == hdr and m.payload == payload
    c.expect_open()
    c.close()


# ---------------------------------------------------------------------------- lifecycle
def test_restart_keeps_serving(fresh_server):
    old_pid = fresh_server.pid
    c = RawClient(fresh_server)
    c.expect_open()
    fresh_server.restart()
    assert fresh_server.pid != old_pid
    # the old connection is gone ...
    c.expect_closed()
    # ... and a new one on the same port is served
    assert_server_serves(fresh_server)


@only_heraldd
def test_sigterm_with_clients_connected_exits_zero(fresh_server):
    clients = [RawClient(fresh_server) for _ in range(5)]
    clients[0].sub(unique("x"), 1)
    for c in clients:
        c.expect_open()
    assert fresh_server.stop() == 0
    for c in clients:
        c.expect_closed()
