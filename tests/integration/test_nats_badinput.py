# SPDX-License-Identifier: Apache-2.0
"""Malformed and hostile client input: exact error text, whether the connection is closed
or kept, and that the server goes on serving other clients afterwards.

Measured against Debian's nats-server 2.9.10; heraldd must send the same bytes:
  * every parser-level error (unknown op, garbage, bytes where the CRLF after a payload
    belongs, an empty line, MSG/UNSUB-without-args from a client) -> exactly
    "-ERR 'Unknown Protocol Operation'\r\n", then close. nats-server has no separate
    "Parser Error" text: a payload not followed by CRLF gets 'Unknown Protocol Operation'.
  * argument errors in PUB/HPUB/SUB/UNSUB (bad or missing size, missing sid, too many
    fields, header size > total size), HPUB without headers:true in CONNECT, a CONNECT
    that is not a JSON object, "-ERR" sent by a client -> close WITHOUT any -ERR.
  * size > max_payload in PUB/HPUB -> "-ERR 'Maximum Payload Violation'\r\n", then close.
  * a control line over 4096 bytes -> "-ERR 'maximum control line exceeded'\r\n", close.
  * invalid subject in SUB -> "-ERR 'Invalid Subject'\r\n", connection kept, no
    subscription made (and no +OK when verbose).
  * invalid subject in PUB -> "-ERR 'Invalid Publish Subject'\r\n", connection kept, only
    in pedantic mode (and pedantic defaults to true when CONNECT omits it) -- and the
    message is STILL published (the -ERR is advisory). With "pedantic":false: no error.
    Either way an empty-token subject matches no subscription, and a wildcard-token
    subject matches subscriptions token by token ("*" in a sub matches the token "*").
  * no_responders:true without headers:true -> "-ERR 'no responders requires headers
    support'\r\n", then close.
"""
import pytest

from conftest import MAX_PAYLOAD, RawClient, assert_server_serves, unique

UNKNOWN_OP = b"-ERR 'Unknown Protocol Operation'\r\n"
NP = {"verbose": False, "pedantic": False}
HDR = {"verbose": False, "pedantic": False, "headers": True}


PARSER_ERROR = b"-ERR 'Parser Error'\r\n"


def _closes_with(server, data: bytes, expected: bytes, connect=NP):
    c = RawClient(server, connect=connect)
    c.send_tolerant(data)
    got = c.expect_closed()
    c.close()
    assert got == expected, f"sent {data[:80]!r}: expected {expected!r} then close, got {got!r}"
    assert_server_serves(server)


# ---------------------------------------------------------------------------- unknown ops
@pytest.mark.parametrize("data", [
    b"FOO bar\r\n",
    b"XYZ\r\n",
    b"PIN\r\n",                         # prefix of a real op
    b"PUBX foo 1\r\nx\r\n",
    b"\r\n",                            # empty line
    b"MSG foo 1 2\r\nhi\r\n",           # server-to-client op
    b"UNSUB\r\n",                       # measured: UNSUB without args is a parser error
    b"\x00\x01\x02\x03\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["FOO", "XYZ", "PIN", "PUBX", "empty-line", "MSG", "UNSUB-noargs", "binary", "http"])
def test_unknown_operation(server, data):
    _closes_with(server, data, UNKNOWN_OP)


def test_garbage_before_connect(server):
    _closes_with(server, b"FOO bar\r\n", UNKNOWN_OP, connect=None)


def test_garbage_after_valid_traffic(server):
    s = unique("g")
    c = RawClient(server)
    c.send(f"SUB {s} 1\r\nPUB {s} 2\r\nhi\r\nBOGUS\r\n".encode())
    got = c.expect_closed()
    assert got == f"MSG {s} 1 2\r\nhi\r\n".encode() + UNKNOWN_OP
    assert_server_serves(server)


# ---------------------------------------------------------------------------- payload framing
@pytest.mark.parametrize("data", [
    b"PUB foo 3\r\nabcdef\r\n",         # payload longer than announced
    b"PUB foo 3\r\nabcX\r\n",           # one byte too many
    b"PUB foo 3\r\nab\r\n\r\n",         # shorter than announced: CRLF eaten as payload
    b"PUB foo 1\r\nx\n",                # LF without CR after the payload
], ids=["longer", "one-extra", "shorter", "bare-lf"])
def test_missing_crlf_after_payload(server, data):
    # measured: nats-server answers 'Unknown Protocol Operation' (there is no
    # 'Parser Error' text in nats-server 2.9) and closes.
    _closes_with(server, data, UNKNOWN_OP)


def test_missing_crlf_after_hpub_payload(server):
    _closes_with(server, b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhiXX\r\n", UNKNOWN_OP, connect=HDR)


# ---------------------------------------------------------------------------- malformed args
# nats-server closes these silently. Herald deliberately tells the peer why before it
# closes (PARSER_ERROR; docs/nats.md "Differences"); -ERR sent by a client closes
# silently on both.


@pytest.mark.parametrize("connect,data", [
    (NP, b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),            # headers not announced
    ({"verbose": False, "pedantic": False, "headers": False}, b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
    (NP, b"PUB foo abc\r\n"),                                      # size not a number
    (NP, b"PUB foo -1\r\n"),
    (NP, b"PUB foo\r\n"),                                          # size missing
    (NP, b"PUB foo bar baz 2\r\nhi\r\n"),                          # too many fields
    (NP, b"SUB foo\r\n"),                                          # sid missing
    (NP, b"SUB  1\r\n"),                                           # subject missing
    (NP, b"SUB foo q 1 x\r\n"),                                    # too many fields
    (NP, b"UNSUB 1 2 3\r\n"),
    (HDR, b"HPUB foo 22 10\r\n"),                                  # header size > total
    (HDR, b"HPUB foo 12\r\n"),                                     # total missing
    (NP, b"-ERR 'x'\r\n"),                                         # -ERR from a client
], ids=["hpub-no-headers", "hpub-headers-false", "pub-size-nan", "pub-size-neg",
        "pub-size-missing", "pub-too-many", "sub-no-sid", "sub-no-subject", "sub-too-many",
        "unsub-too-many", "hpub-hdr-gt-total", "hpub-no-total", "client-err"])
def test_malformed_args_close(server, connect, data):
    silent = server.kind == "nats-server" or data.startswith(b"-ERR")
    _closes_with(server, data, b"" if silent else PARSER_ERROR, connect=connect)


@pytest.mark.parametrize("connect", [
    b"CONNECT {bad\r\n", b"CONNECT\r\n", b"CONNECT \r\n", b"CONNECT []\r\n",
], ids=["bad-json", "no-arg", "blank-arg", "array"])
def test_bad_connect_closes(server, connect):
    c = RawClient(server, connect=connect)
    assert c.expect_closed() == (b"" if server.kind == "nats-server" else PARSER_ERROR)
    c.close()
    assert_server_serves(server)


def test_hpub_without_headers_drops_only_that_client(server):
    s = unique("hnh")
    watcher = RawClient(server)
    watcher.sub(s, 1)
    watcher.expect_open()
    _closes_with(server, f"HPUB {s} 12 14\r\nNATS/1.0\r\n\r\nhi\r\n".encode(),
                 b"" if server.kind == "nats-server" else PARSER_ERROR)
    assert watcher.ping() == b"", "the rejected HPUB must not be delivered"
    watcher.close()


# ---------------------------------------------------------------------------- limits
def test_max_payload_violation_pub(server):
    s = unique("mp")
    watcher = RawClient(server)
    watcher.sub(s, 1)
    watcher.expect_open()
    # The server rejects on the PUB line itself, before any payload byte.
    _closes_with(server, f"PUB {s} {MAX_PAYLOAD + 1}\r\n".encode(),
                 b"-ERR 'Maximum Payload Violation'\r\n")
    assert watcher.ping() == b""
    watcher.close()


def test_max_payload_violation_hpub(server):
    _closes_with(server, f"HPUB foo 12 {MAX_PAYLOAD + 1}\r\n".encode(),
                 b"-ERR 'Maximum Payload Violation'\r\n", connect=HDR)


def test_max_payload_violation_with_payload_sent(server):
    # A client that sends the whole oversized message: same error, then close (the rest of
    # its bytes may be discarded; the -ERR must still arrive first).
    c = RawClient(server)
    ok = c.send_tolerant(b"PUB foo 1048577\r\n" + b"x" * (MAX_PAYLOAD + 1) + b"\r\n")
    got = c.expect_closed()
    c.close()
    assert got == b"-ERR 'Maximum Payload Violation'\r\n", (ok, got[:100])
    assert_server_serves(server)


def test_control_line_too_long(server):
    # measured: max_control_line is 4096 in nats-server 2.9.
    _closes_with(server, b"SUB " + b"a" * 5000 + b" 1\r\n",
                 b"-ERR 'maximum control line exceeded'\r\n")


def test_control_line_just_under_limit_ok(server):
    s = unique("cl")
    subj = s + "." + "a" * (4000 - len(s))
    c = RawClient(server)
    c.send(f"SUB {subj} 1\r\nPUB {subj} 1\r\nx\r\n".encode())
    assert c.ping() == f"MSG {subj} 1 1\r\nx\r\n".encode()
    c.close()


# ---------------------------------------------------------------------------- invalid subjects
INVALID_SUB_SUBJECTS = ["foo..bar", "foo.>.bar", ".foo", "foo.", ">.foo", "foo.>.", "*.>.a",
                        "foo...bar", ".", ".."]


@pytest.mark.parametrize("subject", INVALID_SUB_SUBJECTS)
def test_sub_invalid_subject_keeps_connection(server, subject):
    c = RawClient(server)
    c.send(f"SUB {subject} 1\r\n".encode())
    assert c.ping() == b"-ERR 'Invalid Subject'\r\n"
    # the connection keeps working, and the sid is free
    s = unique("after")
    c.send(f"SUB {s} 1\r\nPUB {s} 2\r\nok\r\n".encode())
    assert c.ping() == f"MSG {s} 1 2\r\nok\r\n".encode()
    c.close()
    assert_server_serves(server)


def test_sub_invalid_subject_makes_no_subscription(server):
    # 'foo.>.bar' rejected -> a publish to foo.x.bar must not reach sid 1.
    p = unique("inv")
    c = RawClient(server)
    c.send(f"SUB {p}.>.bar 1\r\nPUB {p}.x.bar 1\r\nx\r\n".encode())
    assert c.ping() == b"-ERR 'Invalid Subject'\r\n"
    c.close()


def test_sub_invalid_subject_verbose(server):
    # measured: with verbose, the rejected SUB gets -ERR and no +OK; later ops get +OK.
    c = RawClient(server, connect={"verbose": True, "pedantic": False})
    c.send(b"SUB a..b 1\r\nUNSUB 5\r\n")
    assert c.ping() == b"+OK\r\n-ERR 'Invalid Subject'\r\n+OK\r\n"
    c.close()


@pytest.mark.parametrize("subject", ["foo.*.bar", "*", ">", "a.>", "a.*.>", "foo>", "foo*", "été"])
def test_sub_valid_subjects_accepted(server, subject):
    c = RawClient(server)
    c.send(f"SUB {subject} 1\r\nUNSUB 1\r\n".encode())
    assert c.ping() == b""
    c.close()


@pytest.mark.parametrize("subject", ["foo..bar", ".foo", "foo.", "foo.*", "foo.>", ">", "*"])
@pytest.mark.parametrize("connect", [
    {"verbose": False, "pedantic": True},
    {"verbose": False},                         # measured: pedantic defaults to true
], ids=["pedantic", "pedantic-default"])
def test_pub_invalid_subject_pedantic(server, subject, connect):
    c = RawClient(server, connect=connect)
    c.send(f"PUB {subject} 2\r\nhi\r\n".encode())
    assert c.ping() == b"-ERR 'Invalid Publish Subject'\r\n"
    s = unique("after")
    c.send(f"SUB {s} 1\r\nPUB {s} 2\r\nok\r\n".encode())      # still served
    assert c.ping() == f"MSG {s} 1 2\r\nok\r\n".encode()
    c.close()


def test_pub_invalid_subject_pedantic_is_still_delivered(server):
    # measured (nats-server 2.9.10): in pedantic mode the -ERR is only advisory; the message
    # is published anyway. A wildcard-token subject then matches subscriptions literally
    # ("P.*" and "P.>" as subs match the tokens "*" and ">"; "P.x" does not); an empty-token subject
    # ("P..x") matches no subscription at all.
    p = unique("pd")
    watcher = RawClient(server)
    watcher.send(f"SUB {p}.* 1\r\nSUB {p}.x 2\r\nSUB {p}.> 3\r\n".encode())
    watcher.expect_open()
    c = RawClient(server, connect={"verbose": False, "pedantic": True, "headers": True})
    c.send(f"PUB {p}.* 2\r\nhi\r\nPUB {p}..x 2\r\nhi\r\n".encode())
    c.send(f"HPUB {p}.> 12 14\r\nNATS/1.0\r\n\r\nhi\r\n".encode())
    assert c.ping() == b"-ERR 'Invalid Publish Subject'\r\n" * 3
    got = watcher.ping()
    msgs = sorted(m for m in got.split(b"\r\nhi\r\n") if m)
    assert msgs == sorted([f"MSG {p}.* 1 2".encode(), f"MSG {p}.* 3 2".encode(),
                           f"MSG {p}.> 1 2".encode(), f"MSG {p}.> 3 2".encode()]), got
    watcher.close(), c.close()


def test_pub_invalid_subject_pedantic_verbose(server):
    # measured: CONNECT +OK, then -ERR (sent when the PUB line is parsed), then the PUB's
    # own +OK.
    c = RawClient(server, connect={"verbose": True, "pedantic": True})
    c.send(b"PUB foo..bar 2\r\nhi\r\n")
    assert c.ping() == b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\n"
    c.close()


@pytest.mark.parametrize("subject", ["foo..bar", ".foo", "foo."])
def test_pub_invalid_subject_not_pedantic_is_silent(server, subject):
    # measured: with "pedantic":false nats-server accepts the PUB without error and the
    # message (empty token) matches no subscription, not even '>'.
    watcher = RawClient(server)
    watcher.sub(">", 1)
    watcher.sub("foo.>", 2)
    watcher.expect_open()
    c = RawClient(server)
    c.send(f"PUB {subject} 2\r\nhi\r\n".encode())
    c.expect_open()
    got = watcher.ping()
    assert f"MSG {subject} ".encode() not in got, got
    watcher.close(), c.close()


def test_pub_wildcard_subject_not_pedantic_matches_literally(server):
    # measured: non-pedantic PUB to "P.*" is delivered to a subscription on "P.*"
    # (its '*' token matches the literal token "*"), not to "P.x".
    p = unique("pw")
    c = RawClient(server)
    c.send(f"SUB {p}.* 1\r\nSUB {p}.x 2\r\nPUB {p}.* 2\r\nhi\r\n".encode())
    assert c.ping() == f"MSG {p}.* 1 2\r\nhi\r\n".encode()
    c.close()


def test_pedantic_reply_with_wildcard_allowed(server):
    # measured: the reply subject is not checked, even in pedantic mode.
    s = unique("rw")
    c = RawClient(server, connect={"verbose": False, "pedantic": True})
    c.send(f"SUB {s} 1\r\nPUB {s} x.* 1\r\na\r\n".encode())
    assert c.ping() == f"MSG {s} 1 x.* 1\r\na\r\n".encode()
    c.close()


# ---------------------------------------------------------------------------- CONNECT options
def test_no_responders_requires_headers(server):
    c = RawClient(server, connect={"verbose": False, "pedantic": False, "no_responders": True})
    got = c.expect_closed()
    c.close()
    assert got == b"-ERR 'no responders requires headers support'\r\n"
    assert_server_serves(server)


# ---------------------------------------------------------------------------- robustness
def test_abrupt_disconnects_mid_message(server):
    s = unique("ab")
    watcher = RawClient(server)
    watcher.sub(s, 1)
    watcher.expect_open()
    for partial in (b"PUB", f"PUB {s}".encode(), f"PUB {s} 10\r\n".encode(),
                    f"PUB {s} 10\r\nhalf".encode(), b"CONNECT {\"verb"):
        c = RawClient(server, connect=None)
        c.send(partial)
        c.close()
    assert watcher.ping() == b""
    assert_server_serves(server)
    watcher.close()


def test_many_bad_clients_in_a_row(server):
    for i in range(30):
        c = RawClient(server)
        c.send_tolerant(b"GARBAGE %d\r\n" % i)
        assert c.expect_closed() == UNKNOWN_OP
        c.close()
    assert_server_serves(server)
