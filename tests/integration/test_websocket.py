# SPDX-License-Identifier: Apache-2.0
"""WebSockets on heraldd's HTTP port (docs/websocket.md).

1. RFC 6455 edge cases over bare sockets with hand-built (masked) frames: the opening
   handshake and its refusals, fragmentation, control frames inside a fragmented message,
   protocol violations and the close codes they earn (1002, 1007, 1009), the close handshake.
   After each, the server still serves other WebSocket and NATS clients.
2. The herald.v1 JSON protocol at /v1/ws, driven with python3-websockets: pub/puback, live
   and replaying subscriptions, resume with last_id, fetch/ack/nak on a pull consumer,
   errors that keep the connection open, and a slow reader that is closed.
3. NATS over WebSocket at / and /nats: the NATS client protocol in binary messages, with
   python3-websockets and with the browser NATS client nats.ws (run in Node with the `ws`
   package as its WebSocket).

Every socket wait is bounded (SOCK_TIMEOUT), every asyncio test runs under wait_for, and
every subprocess has a timeout. heraldd only: nats-server has no WebSocket listener here.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time
import urllib.error
import urllib.request
from typing import Callable, Optional

import pytest

from conftest import (IS_NATS_SERVER, SOCK_TIMEOUT, RawClient, assert_server_serves,
                      encode_headers, run_node, unique)

pytestmark = pytest.mark.skipif(IS_NATS_SERVER, reason="WebSockets are served by heraldd's HTTP head")

try:
    import websockets  # Debian's python3-websockets (run with /usr/bin/python3)
except ImportError:  # pragma: no cover - depends on the interpreter
    websockets = None

needs_websockets = pytest.mark.skipif(websockets is None,
                                      reason="python3-websockets missing: run with /usr/bin/python3")

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="          # RFC 6455 section 1.3
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# --------------------------------------------------------------------------------------
# Raw RFC 6455 client
# --------------------------------------------------------------------------------------
def mask_bytes(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    reps = (len(payload) + 3) // 4
    k = int.from_bytes((key * reps)[:len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


def build_frame(opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True,
                rsv: int = 0, length: Optional[int] = None) -> bytes:
    """One frame as a client sends it (masked unless mask=False). `length` overrides the
    declared payload length (for a header announcing more than is sent)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class WsClosed(AssertionError):
    pass


class RawWs:
    """A WebSocket client on a bare socket: the handshake by hand, frames by hand."""

    def __init__(self, server, path: str = "/v1/ws", protocol: Optional[str] = "herald.v1",
                 key: Optional[str] = RFC_KEY, version: Optional[str] = "13",
                 extra: str = "", method: str = "GET", http: str = "HTTP/1.1",
                 timeout: float = SOCK_TIMEOUT, rcvbuf: Optional[int] = None):
        self.timeout = timeout
        self.buf = b""
        self.key = key
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((server.host, server.http_port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [f"{method} {path} {http}", f"Host: 127.0.0.1:{server.http_port}",
                 "Upgrade: websocket", "Connection: Upgrade"]
        if key is not None:
            lines.append(f"Sec-WebSocket-Key: {key}")
        if version is not None:
            lines.append(f"Sec-WebSocket-Version: {version}")
        if protocol is not None:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        req = "\r\n".join(lines) + "\r\n" + extra + "\r\n"
        self.sock.sendall(req.encode())
        self.status, self.headers, self.body = self._read_response_head()

    # -- plumbing ----------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for the server")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            raise TimeoutError("timed out waiting for the server") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise WsClosed(f"connection closed by the server (buffered {self.buf[:100]!r})")
        self.buf += chunk

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_response_head(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0] == "HTTP/1.1", f"bad status line {lines[0]!r}"
        status = int(parts[1])
        headers: dict = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
        body = b""
        if status != 101 and "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]), deadline)
        return status, headers, body

    # -- frames ------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_tolerant(self, data: bytes) -> bool:
        """Send; a peer that has already closed (EPIPE/ECONNRESET) is not an error here."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def send_frame(self, opcode: int, payload: bytes = b"", **kw) -> None:
        self.send(build_frame(opcode, payload, **kw))

    def send_json(self, obj) -> None:
        self.send_frame(OP_TEXT, json.dumps(obj).encode())

    def read_frame(self, timeout: Optional[float] = None) -> tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the next frame from the server, which must be unmasked
        with clear RSV bits (RFC 6455 5.1, 5.2)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        b0, b1 = self._read_exact(2, deadline)
        assert not b1 & 0x80, "a server frame is masked (RFC 6455 5.1 forbids it)"
        assert not b0 & 0x70, f"server frame with RSV bits {b0 & 0x70:#x}"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8, deadline))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self._read_exact(n, deadline)

    def read_message(self, timeout: Optional[float] = None) -> tuple[int, bytes]:
        """The next whole data message (fragments joined); pongs are skipped."""
        deadline = time.monotonic() + (timeout or self.timeout)
        parts, first = [], None
        while True:
            fin, op, payload = self.read_frame(max(0.01, deadline - time.monotonic()))
            if op == OP_PONG:
                continue
            assert op != OP_CLOSE, f"server closed with {decode_close(payload)}"
            assert op != OP_PING, "unexpected server ping"
            if first is None:
                assert op in (OP_TEXT, OP_BINARY), f"message starts with opcode {op}"
                first = op
            else:
                assert op == OP_CONT, f"opcode {op} inside a fragmented message"
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def recv_json(self, timeout: Optional[float] = None):
        op, data = self.read_message(timeout)
        assert op == OP_TEXT, f"herald.v1 answers in text messages, got opcode {op}"
        return json.loads(data)

    def expect_close(self, timeout: Optional[float] = None) -> tuple[Optional[int], bytes]:
        """Reads (skipping data frames) until the server's close frame; then the server must
        close the TCP connection. Returns (code, reason)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                fin, op, payload = self.read_frame(max(0.01, deadline - time.monotonic()))
            except WsClosed as e:
                raise AssertionError(f"the server dropped the connection without a close frame: {e}")
            if op == OP_CLOSE:
                break
        assert fin, "a fragmented close frame"
        code, reason = decode_close(payload)
        self.expect_eof(max(0.01, deadline - time.monotonic()))
        return code, reason

    def expect_eof(self, timeout: Optional[float] = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            self.buf = b""
            try:
                self._fill(deadline)
            except WsClosed:
                return


def decode_close(payload: bytes) -> tuple[Optional[int], bytes]:
    if len(payload) < 2:
        return None, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def assert_ws_serves(server) -> None:
    """A new herald.v1 client gets a pong and its own message back, and a NATS client
    pub/subs: one misbehaving WebSocket peer hurt nobody else."""
    subj = unique("wsalive")
    with RawWs(server) as ws:
        assert ws.status == 101, f"server no longer upgrades: {ws.status} {ws.body!r}"
        ws.send_json({"op": "ping"})
        assert ws.recv_json() == {"op": "pong"}
        ws.send_json({"op": "sub", "sid": "a", "subject": subj})
        assert ws.recv_json() == {"op": "subscribed", "sid": "a"}
        ws.send_json({"op": "pub", "subject": subj, "data": "alive"})
        got = [ws.recv_json(), ws.recv_json()]
        assert {"op": "puback", "stored": False} in got, got
        msg = next(m for m in got if m.get("op") == "msg")
        assert msg["subject"] == subj and msg["data"] == "alive", got
    assert_server_serves(server)


# --------------------------------------------------------------------------------------
# HTTP and JetStream helpers
# --------------------------------------------------------------------------------------
def rest(server, method: str, path: str, body=None, timeout: float = SOCK_TIMEOUT):
    """(status, parsed JSON or raw bytes) of one request to the HTTP head."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(server.http_url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw


def make_stream(server, tag: str, **config) -> tuple[str, str]:
    """A stream created through REST (PUT /v1/streams/S) on `<prefix>.>`; (name, prefix)."""
    prefix = unique(tag)
    name = prefix.replace(".", "_").upper()
    status, body = rest(server, "PUT", f"/v1/streams/{name}", {"subjects": [prefix + ".>"], **config})
    assert status in (200, 201), f"creating stream {name}: {status} {body}"
    return name, prefix


def nats_pub(server, subject: str, payload: bytes, headers: Optional[dict] = None) -> None:
    with RawClient(server) as c:
        if headers:
            c.send(b"CONNECT {\"headers\":true,\"verbose\":false}\r\n")
            c.hpub(subject, encode_headers(headers), payload)
        else:
            c.pub(subject, payload)
        assert c.ping() == b""


def wait_for(pred: Callable[[], bool], timeout: float = SOCK_TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# --------------------------------------------------------------------------------------
# asyncio plumbing for python3-websockets (10.x: asyncio API only)
# --------------------------------------------------------------------------------------
def run(coro, timeout: float = 30.0):
    """Run a coroutine to completion, failing the test if it takes longer than `timeout`."""
    async def bounded():
        try:
            return await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"test body timed out after {timeout}s") from None
    return asyncio.run(bounded())


def v1_connect(server, **kw):
    """`async with v1_connect(server) as ws` or `ws = await v1_connect(server)`."""
    return websockets.connect(f"ws://127.0.0.1:{server.http_port}/v1/ws",
                                    subprotocols=["herald.v1"], open_timeout=SOCK_TIMEOUT,
                                    close_timeout=2, max_size=1 << 24, **kw)


async def jrecv(ws, timeout: float = SOCK_TIMEOUT):
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"no message within {timeout}s") from None
    assert isinstance(raw, str), f"herald.v1 sends text messages, got {raw!r}"
    return json.loads(raw)


async def jrecv_until(ws, pred, timeout: float = SOCK_TIMEOUT, skipped: Optional[list] = None):
    """Next message satisfying pred; others go to `skipped` (if given)."""
    deadline = time.monotonic() + timeout
    while True:
        m = await jrecv(ws, max(0.01, deadline - time.monotonic()))
        if pred(m):
            return m
        if skipped is not None:
            skipped.append(m)


async def jexpect_nothing(ws, wait: float = 0.3):
    try:
        raw = await asyncio.wait_for(ws.recv(), wait)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected message {raw!r}")


async def jsend(ws, obj):
    await ws.send(json.dumps(obj))


# ======================================================================================
# 1. RFC 6455 over bare sockets
# ======================================================================================
def test_handshake_accept_for_the_rfc_key(server):
    assert accept_for(RFC_KEY) == RFC_ACCEPT  # the helper itself, against RFC 6455 1.3
    with RawWs(server, key=RFC_KEY) as ws:
        assert ws.status == 101, (ws.status, ws.headers, ws.body)
        assert ws.headers.get("upgrade", "").lower() == "websocket", ws.headers
        assert "upgrade" in ws.headers.get("connection", "").lower(), ws.headers
        assert ws.headers.get("sec-websocket-accept") == RFC_ACCEPT, ws.headers
        assert ws.headers.get("sec-websocket-protocol") == "herald.v1", ws.headers
        assert ws.buf == b"", f"bytes after the 101 before any request: {ws.buf!r}"
        ws.send_json({"op": "ping"})
        assert ws.recv_json() == {"op": "pong"}


def test_handshake_random_key_and_protocol_list(server):
    key = base64.b64encode(os.urandom(16)).decode()
    with RawWs(server, key=key, protocol="mqtt, herald.v1") as ws:
        assert ws.status == 101, (ws.status, ws.body)
        assert ws.headers.get("sec-websocket-accept") == accept_for(key)
        assert ws.headers.get("sec-websocket-protocol") == "herald.v1"


def test_handshake_nats_paths_have_no_subprotocol_and_send_info(server):
    for path in ("/", "/nats"):
        with RawWs(server, path=path, protocol=None) as ws:
            assert ws.status == 101, (path, ws.status, ws.body)
            assert ws.headers.get("sec-websocket-accept") == RFC_ACCEPT
            assert "sec-websocket-protocol" not in ws.headers, ws.headers
            op, data = ws.read_message()
            assert op == OP_BINARY, f"{path}: NATS over WebSocket uses binary messages, got {op}"
            assert data.startswith(b"INFO {") and data.endswith(b"\r\n"), data[:200]
            json.loads(data[5:-2])


def test_frame_sent_with_the_handshake_is_served(server):
    """A frame in the same TCP segment as the upgrade request (RFC 6455 asks clients to wait
    for the 101, but bytes that arrive early must not wait for the next segment)."""
    sock = socket.create_connection((server.host, server.http_port), timeout=SOCK_TIMEOUT)
    try:
        req = (f"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: herald.v1\r\n\r\n").encode()
        sock.sendall(req + build_frame(OP_TEXT, b'{"op":"ping"}'))
        buf = b""
        deadline = time.monotonic() + SOCK_TIMEOUT
        want = b'\x81\x0d{"op":"pong"}'
        while want not in buf and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        assert buf.startswith(b"HTTP/1.1 101 "), buf[:100]
        assert want in buf, f"no pong for the frame sent with the handshake: {buf!r}"
    finally:
        sock.close()


def test_handshake_wrong_version_is_426(server):
    with RawWs(server, version="8") as ws:
        assert ws.status == 426, (ws.status, ws.body)
        assert ws.headers.get("sec-websocket-version") == "13", ws.headers
        assert "sec-websocket-accept" not in ws.headers
        body = json.loads(ws.body)  # Content-Length must match the JSON body
        assert body["error"]["code"] == 426, body
    with RawWs(server, version=None) as ws:
        assert ws.status == 426, (ws.status, ws.body)
        assert ws.headers.get("sec-websocket-version") == "13", ws.headers
    assert_ws_serves(server)


def test_handshake_missing_or_bad_key_is_400(server):
    with RawWs(server, key=None) as ws:
        assert ws.status == 400, (ws.status, ws.body)
        assert "sec-websocket-accept" not in ws.headers
        assert json.loads(ws.body)["error"]["code"] == 400
    with RawWs(server, key="short") as ws:
        assert ws.status == 400, (ws.status, ws.body)
    assert_ws_serves(server)


def test_handshake_v1_ws_needs_the_herald_subprotocol(server):
    with RawWs(server, path="/v1/ws", protocol=None) as ws:
        assert ws.status == 400, (ws.status, ws.body)
        assert "sec-websocket-accept" not in ws.headers
        assert "herald.v1" in json.loads(ws.body)["error"]["description"]
    with RawWs(server, path="/v1/ws", protocol="mqtt") as ws:
        assert ws.status == 400, (ws.status, ws.body)
    assert_ws_serves(server)


def test_handshake_must_be_get_over_http11(server):
    with RawWs(server, method="POST", extra="Content-Length: 0\r\n") as ws:
        assert ws.status == 400, (ws.status, ws.body)
        assert "sec-websocket-accept" not in ws.headers
    with RawWs(server, http="HTTP/1.0") as ws:
        assert ws.status != 101, (ws.status, ws.headers)
    assert_ws_serves(server)


def test_fragmented_text_message_is_reassembled(server):
    subj = unique("wsfrag")
    with RawWs(server) as ws:
        ws.send_json({"op": "sub", "sid": "f", "subject": subj})
        assert ws.recv_json() == {"op": "subscribed", "sid": "f"}
        text = json.dumps({"op": "pub", "subject": subj, "data": "héllo, fragments", "id": "frag"}).encode()
        a, b = len(text) // 3, 2 * len(text) // 3
        ws.send_frame(OP_TEXT, text[:a], fin=False)
        ws.send_frame(OP_CONT, text[a:b], fin=False)
        time.sleep(0.1)  # the last fragment in a later TCP segment
        ws.send_frame(OP_CONT, text[b:], fin=True)
        got = sorted((ws.recv_json(), ws.recv_json()), key=lambda m: m["op"])
        assert got[0]["op"] == "msg" and got[0]["data"] == "héllo, fragments", got
        assert got[1] == {"op": "puback", "stored": False, "id": "frag"}, got
    assert_ws_serves(server)


def test_frame_split_byte_by_byte(server):
    with RawWs(server) as ws:
        frame = build_frame(OP_TEXT, json.dumps({"op": "ping"}).encode())
        for i in range(len(frame)):
            ws.send(frame[i:i + 1])
            time.sleep(0.005)
        assert ws.recv_json() == {"op": "pong"}


def test_ping_inside_fragmented_message_gets_pong(server):
    with RawWs(server) as ws:
        text = json.dumps({"op": "pub", "subject": unique("wsfragping"), "data": "x", "id": 3}).encode()
        ws.send_frame(OP_TEXT, text[:10], fin=False)
        ws.send_frame(OP_PING, b"in-between")
        fin, op, payload = ws.read_frame()
        assert (fin, op, payload) == (True, OP_PONG, b"in-between"), (fin, op, payload)
        ws.send_frame(OP_CONT, text[10:20], fin=False)
        ws.send_frame(OP_PING, b"")
        fin, op, payload = ws.read_frame()
        assert (op, payload) == (OP_PONG, b"")
        ws.send_frame(OP_CONT, text[20:], fin=True)
        assert ws.recv_json() == {"op": "puback", "stored": False, "id": 3}
        ws.send_frame(OP_PONG, b"unsolicited")  # allowed (RFC 6455 5.5.3): ignored
        ws.send_json({"op": "ping"})
        assert ws.recv_json() == {"op": "pong"}
    assert_ws_serves(server)


def test_binary_message_on_herald_v1_is_parsed_as_json(server):
    """herald.v1 reads one JSON object per message; it answers in text whatever came in."""
    with RawWs(server) as ws:
        ws.send_frame(OP_BINARY, b'{"op":"ping"}')
        assert ws.recv_json() == {"op": "pong"}


@pytest.mark.parametrize("case", ["unmasked", "rsv1", "reserved_opcode", "orphan_continuation",
                                  "text_inside_fragmented", "fragmented_ping", "long_ping"])
def test_protocol_violation_closes_with_1002(server, case):
    with RawWs(server) as ws:
        ws.send_json({"op": "ping"})
        assert ws.recv_json() == {"op": "pong"}
        if case == "unmasked":
            ws.send_frame(OP_TEXT, b'{"op":"ping"}', mask=False)
        elif case == "rsv1":  # no extension was negotiated
            ws.send_frame(OP_TEXT, b'{"op":"ping"}', rsv=4)
        elif case == "reserved_opcode":
            ws.send_frame(0x3, b"?")
        elif case == "orphan_continuation":
            ws.send_frame(OP_CONT, b'{"op":"ping"}')
        elif case == "text_inside_fragmented":
            ws.send_frame(OP_TEXT, b'{"op":', fin=False)
            ws.send_frame(OP_TEXT, b'"ping"}')
        elif case == "fragmented_ping":
            ws.send_frame(OP_PING, b"a", fin=False)
        elif case == "long_ping":  # control frames carry at most 125 bytes
            ws.send_frame(OP_PING, b"p" * 126)
        code, _ = ws.expect_close()
        assert code == 1002, f"{case}: closed with {code}, expected 1002 (protocol error)"
    assert_ws_serves(server)


def test_invalid_utf8_text_closes_with_1007(server):
    with RawWs(server) as ws:
        ws.send_frame(OP_TEXT, b'{"op":"pub","subject":"x","data":"\xff\xfe"}')
        code, _ = ws.expect_close()
        assert code == 1007, f"closed with {code}, expected 1007 (invalid payload data)"
    with RawWs(server) as ws:  # a multi-byte sequence cut short at the end of the message
        ws.send_frame(OP_TEXT, b'{"op":"ping","x":"\xe2\x82"', fin=False)
        ws.send_frame(OP_CONT, b"}")
        code, _ = ws.expect_close()
        assert code == 1007, f"closed with {code}, expected 1007"
    with RawWs(server) as ws:  # a valid sequence split across fragments is fine
        ws.send_frame(OP_TEXT, b'{"op":"ping","x":"\xe2\x82', fin=False)
        ws.send_frame(OP_CONT, b'\xac"}')
        assert ws.recv_json() == {"op": "pong"}
    assert_ws_serves(server)


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1016, 2999, 5000])
def test_bad_close_code_closes_with_1002(server, code):
    with RawWs(server) as ws:
        ws.send_frame(OP_CLOSE, close_payload(code))
        got, _ = ws.expect_close()
        assert got == 1002, f"close code {code} answered with {got}, expected 1002"
    assert_ws_serves(server)


def test_close_handshake_is_echoed(server):
    with RawWs(server) as ws:
        ws.send_json({"op": "ping"})
        assert ws.recv_json() == {"op": "pong"}
        ws.send_frame(OP_CLOSE, close_payload(1000, b"bye"))
        code, _ = ws.expect_close()
        assert code == 1000, f"server answered close 1000 with {code}"
    with RawWs(server) as ws:  # answers to what came before the close, in the same read, come first
        ws.send(build_frame(OP_TEXT, b'{"op":"ping"}') + build_frame(OP_CLOSE, close_payload(1001)))
        assert ws.recv_json() == {"op": "pong"}
        code, _ = ws.expect_close()
        assert code == 1001, code
    with RawWs(server) as ws:  # a close without a status code is answered too
        ws.send_frame(OP_CLOSE, b"")
        ws.expect_close()
    with RawWs(server, path="/nats", protocol=None) as ws:  # and on the NATS flavour
        assert ws.read_message()[1].startswith(b"INFO ")
        ws.send_frame(OP_CLOSE, close_payload(4000, b"app"))
        code, _ = ws.expect_close()
        assert code == 4000, f"server answered close 4000 with {code}"
    assert_ws_serves(server)


def test_abrupt_disconnect_mid_frame(server):
    """A peer that vanishes in the middle of a frame (and of a fragmented message) leaves
    no trace: its subscription is gone and the server serves the next client."""
    subj = unique("wsabrupt")
    with RawWs(server) as ws:
        ws.send_json({"op": "sub", "sid": "s", "subject": subj})
        assert ws.recv_json()["op"] == "subscribed"
        ws.send_frame(OP_TEXT, b'{"op":', fin=False)
        ws.send(build_frame(OP_CONT, b'"ping"}' * 100)[:50])
    nats_pub(server, subj, b"to nobody")
    assert_ws_serves(server)


def test_oversized_message_closes_with_1009(server_factory):
    srv = server_factory(["--max_payload", "4096"])
    limit = 4096 + 64 * 1024
    # one frame announcing more than the limit: refused on its header
    with RawWs(srv) as ws:
        frame = build_frame(OP_TEXT, b"a" * (limit + 1))
        ws.send_tolerant(frame[:20000])
        code, _ = ws.expect_close()
        assert code == 1009, f"closed with {code}, expected 1009 (message too big)"
    # the limit summed over fragments
    with RawWs(srv) as ws:
        chunk = b"b" * 30000
        for _ in range(3):
            if not ws.send_tolerant(build_frame(OP_TEXT if _ == 0 else OP_CONT, chunk, fin=False)):
                break
        code, _ = ws.expect_close()
        assert code == 1009, f"closed with {code}, expected 1009"
    # NATS over WebSocket has the same limit
    with RawWs(srv, path="/nats", protocol=None) as ws:
        ws.read_message()
        ws.send_tolerant(build_frame(OP_BINARY, b"c" * (limit + 10))[:1000])
        code, _ = ws.expect_close()
        assert code == 1009, f"closed with {code}, expected 1009"
    # under the WebSocket limit but over max_payload: a herald.v1 error, the connection stays
    with RawWs(srv) as ws:
        ws.send_json({"op": "pub", "subject": "big.one", "data": "d" * 8000, "id": "big"})
        m = ws.recv_json()
        assert m["op"] == "error" and m["id"] == "big" and m["error"]["code"] == 413, m
        ws.send_json({"op": "ping"})
        assert ws.recv_json() == {"op": "pong"}
        # a message just under the WebSocket limit still goes through the filter
        ws.send_frame(OP_TEXT, b'{"op":"ping","pad":"' + b"p" * (limit - 40) + b'"}')
        assert ws.recv_json() == {"op": "pong"}
    assert_ws_serves(srv)


def test_v1_keepalive_pings_a_silent_peer_and_closes_it_after_ping_max(server_factory):
    """A herald.v1 peer that sends nothing gets a WebSocket ping each ping_interval (checked
    on the server's 1 s tick); one that answers with pongs stays; one that leaves ping_max
    pings unanswered is closed with 1001."""
    srv = server_factory(["--ping_interval", "1s", "--ping_max", "2"])
    with RawWs(srv) as quiet, RawWs(srv) as answering:
        # the answering peer pongs every ping for 4 s (longer than quiet's whole life)
        end = time.monotonic() + 4.0
        pings = 0
        while time.monotonic() < end:
            try:
                fin, op, payload = answering.read_frame(timeout=max(0.05, end - time.monotonic()))
            except TimeoutError:
                break
            assert op == OP_PING, f"expected a ping, got opcode {op}"
            pings += 1
            answering.send_frame(OP_PONG, payload)
        assert pings >= 2, f"only {pings} pings in 4 s with ping_interval 1s"
        answering.send_json({"op": "ping", "id": 1})
        while True:
            fin, op, payload = answering.read_frame(timeout=3.0)
            if op == OP_PING:
                answering.send_frame(OP_PONG, payload)
                continue
            assert op == OP_TEXT and json.loads(payload) == {"op": "pong", "id": 1}, (op, payload)
            break
        # the quiet peer: pinged ping_max times, then closed with 1001
        seen = []
        while True:
            fin, op, payload = quiet.read_frame(timeout=5.0)
            seen.append(op)
            if op == OP_CLOSE:
                break
        assert seen.count(OP_PING) == 2, f"frames before the close: {seen}"
        code, reason = decode_close(payload)
        assert code == 1001, f"closed with {code} {reason!r}, expected 1001"
        quiet.expect_eof(timeout=2.0)
    assert_ws_serves(srv)


def test_server_initiated_close_sends_the_error_then_a_close_frame(server):
    """When the server ends a WebSocket connection (here the NATS head's -ERR for an unknown
    operation), the peer gets the last words in a data message and then a close frame
    with the reason: a clean close, not 1006."""
    with RawWs(server, path="/nats", protocol=None) as ws:
        op, info = ws.read_message()
        assert info.startswith(b"INFO "), info
        ws.send_frame(OP_BINARY, b"FOO BAR\r\n")
        op, err = ws.read_message()
        assert err == b"-ERR 'Unknown Protocol Operation'\r\n", err
        code, reason = ws.expect_close()
        assert code == 1000, f"closed with {code} {reason!r}"
        assert b"Unknown Protocol Operation" in reason, reason
    assert_ws_serves(server)


def test_many_messages_in_one_segment_and_large_server_frames(server):
    """Several frames in one TCP write are all processed; an answer over 64 KiB uses the
    64-bit length form."""
    subj = unique("wsbatch")
    with RawWs(server) as ws:
        ws.send_json({"op": "sub", "sid": "b", "subject": subj})
        assert ws.recv_json()["op"] == "subscribed"
        big = "z" * 70000
        batch = b"".join(build_frame(OP_TEXT, json.dumps({"op": "pub", "subject": subj, "data": d}).encode())
                         for d in ("one", "two", big))
        ws.send(batch)
        msgs = [m for m in (ws.recv_json() for _ in range(6)) if m["op"] == "msg"]
        assert [m["data"] for m in msgs] == ["one", "two", big]


# ======================================================================================
# 2. herald.v1 with python3-websockets
# ======================================================================================
@needs_websockets
def test_v1_ping_pong_and_subprotocol(server):
    async def body():
        async with v1_connect(server) as ws:
            assert ws.subprotocol == "herald.v1"
            await jsend(ws, {"op": "ping", "id": 1})
            assert await jrecv(ws) == {"op": "pong", "id": 1}  # id is echoed on answers
            await jsend(ws, {"op": "ping"})
            assert await jrecv(ws) == {"op": "pong"}
            pong = await ws.ping(b"lib")  # a WebSocket-level ping
            await asyncio.wait_for(pong, SOCK_TIMEOUT)
    run(body())


@needs_websockets
def test_v1_pub_without_stream_is_not_stored(server):
    async def body():
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "pub", "subject": unique("wsnostream"), "data": "x", "id": "p1"})
            assert await jrecv(ws) == {"op": "puback", "stored": False, "id": "p1"}
            await jsend(ws, {"op": "pub", "subject": unique("wsnostream"), "data": "y"})
            assert await jrecv(ws) == {"op": "puback", "stored": False}
    run(body())


@needs_websockets
def test_v1_pub_to_stream_gets_puback_with_seq(server):
    name, prefix = make_stream(server, "wspub")

    async def body():
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "pub", "subject": f"{prefix}.a", "data": "one", "id": 1})
            a = await jrecv(ws)
            assert a == {"op": "puback", "id": 1, "stream": name, "seq": 1}, a
            await jsend(ws, {"op": "pub", "subject": f"{prefix}.b", "data": "two", "id": {"k": [2]},
                             "headers": {"Nats-Msg-Id": "m2", "X-Trace": "t"}})
            a = await jrecv(ws)
            assert a["op"] == "puback" and a["seq"] == 2 and a["id"] == {"k": [2]}, a
            assert not a.get("duplicate"), a
            # the same Nats-Msg-Id again: deduplicated, no new sequence
            await jsend(ws, {"op": "pub", "subject": f"{prefix}.b", "data": "two",
                             "headers": {"Nats-Msg-Id": "m2"}, "id": 3})
            a = await jrecv(ws)
            assert a["op"] == "puback" and a["seq"] == 2 and a.get("duplicate") is True, a
            # a failed expectation comes back as an error on the puback
            await jsend(ws, {"op": "pub", "subject": f"{prefix}.c", "data": "x", "id": 4,
                             "headers": {"Nats-Expected-Last-Sequence": "99"}})
            a = await jrecv(ws)
            assert a["op"] == "puback" and a["id"] == 4 and "error" in a and "seq" not in a, a
            assert a["error"]["code"] == 400 and a["error"]["err_code"] == 10071, a
    run(body())
    status, info = rest(server, "GET", f"/v1/streams/{name}")
    assert status == 200 and info["state"]["messages"] == 2, info
    status, m = rest(server, "GET", f"/v1/streams/{name}/messages/2")
    assert status == 200, m
    assert json.dumps(m).count("X-Trace") == 1, m  # the header was stored


@needs_websockets
def test_v1_sub_live_gets_nats_and_rest_publishes(server):
    subj = unique("wslive")

    async def body():
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "sub", "sid": "s1", "subject": subj + ".*", "id": 9})
            assert await jrecv(ws) == {"op": "subscribed", "sid": "s1", "id": 9}
            await asyncio.to_thread(nats_pub, server, subj + ".nats", b"from nats")
            await asyncio.to_thread(nats_pub, server, subj + ".hdr", b"with headers", {"X-A": "1"})
            status, _ = await asyncio.to_thread(rest, server, "POST", f"/v1/publish/{subj}.rest", b"from rest")
            assert status in (200, 201, 202), status
            await asyncio.to_thread(nats_pub, server, subj + ".bin", b"\xff\x00\xfe")
            got = [await jrecv(ws) for _ in range(4)]
            for m in got:
                assert m["op"] == "msg" and m["sid"] == "s1", m
            by = {m["subject"]: m for m in got}
            assert by[subj + ".nats"]["data"] == "from nats"
            assert by[subj + ".hdr"]["data"] == "with headers"
            assert by[subj + ".hdr"]["headers"].get("X-A") == "1", by[subj + ".hdr"]
            assert by[subj + ".rest"]["data"] == "from rest"
            b = by[subj + ".bin"]
            assert b.get("data_encoding") == "base64" and base64.b64decode(b["data"]) == b"\xff\x00\xfe", b
            # and the WebSocket's own publish
            await jsend(ws, {"op": "pub", "subject": subj + ".self", "data": "self"})
            got = [await jrecv(ws), await jrecv(ws)]
            assert any(m["op"] == "msg" and m["data"] == "self" for m in got), got
    run(body())


@needs_websockets
def test_v1_ws_publish_reaches_nats_subscriber(server):
    subj = unique("wstonats")
    with RawClient(server, connect={"verbose": False, "headers": True}) as c:
        c.sub(subj, 1)
        assert c.ping() == b""

        async def body():
            async with v1_connect(server) as ws:
                await jsend(ws, {"op": "pub", "subject": subj, "data": "to nats", "headers": {"H": "v"}})
                assert (await jrecv(ws))["op"] == "puback"
        run(body())
        m = c.read_msg()
        assert m.subject == subj and m.payload == b"to nats" and b"H: v" in (m.headers or b""), m


@needs_websockets
def test_v1_unsub_stops_delivery(server):
    subj = unique("wsunsub")

    async def body():
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "sub", "sid": "u", "subject": subj})
            await jsend(ws, {"op": "sub", "sid": "keep", "subject": subj})
            assert (await jrecv(ws))["sid"] == "u"
            assert (await jrecv(ws))["sid"] == "keep"
            await asyncio.to_thread(nats_pub, server, subj, b"1")
            got = {(await jrecv(ws))["sid"], (await jrecv(ws))["sid"]}
            assert got == {"u", "keep"}
            await jsend(ws, {"op": "unsub", "sid": "u"})
            await jsend(ws, {"op": "ping"})
            assert await jrecv(ws) == {"op": "pong"}  # the unsub was processed
            await asyncio.to_thread(nats_pub, server, subj, b"2")
            m = await jrecv(ws)
            assert m["sid"] == "keep" and m["data"] == "2", m
            await jexpect_nothing(ws)
            # the sid is free again
            await jsend(ws, {"op": "sub", "sid": "u", "subject": subj})
            assert await jrecv(ws) == {"op": "subscribed", "sid": "u"}
    run(body())


@needs_websockets
def test_v1_sub_from_all_replays_then_goes_live(server):
    name, prefix = make_stream(server, "wsreplay")
    for i in range(1, 4):
        nats_pub(server, f"{prefix}.e", f"old{i}".encode())

    async def body():
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "sub", "sid": "r", "subject": prefix + ".>", "from": "all", "id": "x"})
            first = await jrecv(ws)
            assert first == {"op": "subscribed", "sid": "r", "id": "x"}, first
            got = [await jrecv(ws) for _ in range(3)]
            assert [(m["seq"], m["data"]) for m in got] == [(1, "old1"), (2, "old2"), (3, "old3")], got
            assert all(m["sid"] == "r" and "time" in m for m in got), got
            await asyncio.to_thread(nats_pub, server, f"{prefix}.e", b"new4")
            m = await jrecv(ws)
            assert (m["seq"], m["data"]) == (4, "new4"), m
            # a filter narrower than the stream and an explicit stream name
            await jsend(ws, {"op": "sub", "sid": "f", "subject": f"{prefix}.e", "stream": name, "from": 3})
            assert (await jrecv(ws))["op"] == "subscribed"
            got = [await jrecv(ws) for _ in range(2)]
            assert [m["seq"] for m in got] == [3, 4] and {m["sid"] for m in got} == {"f"}, got
            await jsend(ws, {"op": "sub", "sid": "n", "subject": prefix + ".>", "from": "new"})
            assert (await jrecv(ws))["op"] == "subscribed"
            await jsend(ws, {"op": "sub", "sid": "l", "subject": prefix + ".>", "from": "last"})
            assert (await jrecv(ws))["op"] == "subscribed"
            m = await jrecv(ws)
            assert m["sid"] == "l" and m["seq"] == 4, m
            await jexpect_nothing(ws)
    run(body())


@needs_websockets
def test_v1_last_id_resume_has_no_gap_or_duplicate(server):
    name, prefix = make_stream(server, "wsresume")
    for i in range(1, 4):
        nats_pub(server, f"{prefix}.e", f"m{i}".encode())

    async def body():
        seen = []
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "sub", "sid": "r", "subject": prefix + ".>", "from": "all"})
            assert (await jrecv(ws))["op"] == "subscribed"
            for _ in range(3):
                seen.append(await jrecv(ws))
        last_id = seen[-1]["seq"]
        for i in range(4, 7):  # published while the client is away
            await asyncio.to_thread(nats_pub, server, f"{prefix}.e", f"m{i}".encode())
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "sub", "sid": "r", "subject": prefix + ".>", "last_id": last_id})
            assert (await jrecv(ws))["op"] == "subscribed"
            for _ in range(3):
                seen.append(await jrecv(ws))
            await asyncio.to_thread(nats_pub, server, f"{prefix}.e", b"m7")
            seen.append(await jrecv(ws))
            await jexpect_nothing(ws)
        assert [m["seq"] for m in seen] == list(range(1, 8)), seen
        assert [m["data"] for m in seen] == [f"m{i}" for i in range(1, 8)], seen
    run(body())
    # the temporary consumers went away with the subscriptions
    def no_ws_consumers():
        status, lst = rest(server, "GET", f"/v1/streams/{name}/consumers")
        return status == 200 and not any(c.get("name", "").startswith("hrws") for c in lst.get("consumers") or [])
    wait_for(no_ws_consumers, what="the WebSocket's push consumers to be deleted")


def make_pull_consumer(server, name: str, consumer: str, **config) -> None:
    status, body = rest(server, "PUT", f"/v1/streams/{name}/consumers/{consumer}",
                        {"ack_policy": "explicit", **config})
    assert status in (200, 201), f"creating consumer {consumer}: {status} {body}"


def consumer_info(server, name: str, consumer: str) -> dict:
    status, info = rest(server, "GET", f"/v1/streams/{name}/consumers/{consumer}")
    assert status == 200, info
    return info


@needs_websockets
def test_v1_fetch_and_ack_advance_the_ack_floor(server):
    name, prefix = make_stream(server, "wsfetch")
    for i in range(1, 4):
        nats_pub(server, f"{prefix}.job", f"job{i}".encode())
    make_pull_consumer(server, name, "billing")

    async def body():
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "fetch", "id": "f1", "stream": name, "consumer": "billing",
                             "batch": 2, "wait_ms": 1000})
            got = [await jrecv(ws) for _ in range(2)]
            for m in got:
                assert m["op"] == "msg" and m["id"] == "f1" and m["deliveries"] == 1, m
                assert m["ack_id"].startswith("$JS.ACK."), m
            assert [(m["seq"], m["data"]) for m in got] == [(1, "job1"), (2, "job2")], got
            # a filled batch ends with fetch_done 200 (the engine itself sends no status then)
            done = await jrecv(ws)
            assert done == {"op": "fetch_done", "id": "f1", "status": 200}, done
            info = consumer_info(server, name, "billing")
            assert info["num_ack_pending"] == 2 and info["ack_floor"]["stream_seq"] == 0, info
            await jsend(ws, {"op": "ack", "ack_id": got[0]["ack_id"]})
            wait_for(lambda: consumer_info(server, name, "billing")["ack_floor"]["stream_seq"] == 1,
                     what="ack floor 1")
            await jsend(ws, {"op": "ack", "ack_id": got[1]["ack_id"], "type": "ack"})
            wait_for(lambda: consumer_info(server, name, "billing")["ack_floor"]["stream_seq"] == 2,
                     what="ack floor 2")
            # the last one, then an empty fetch that ends with fetch_done 408
            await jsend(ws, {"op": "fetch", "id": "f2", "stream": name, "consumer": "billing",
                             "batch": 5, "wait_ms": 500})
            m = await jrecv(ws)
            assert m["op"] == "msg" and m["seq"] == 3 and m["id"] == "f2", m
            done = await jrecv(ws, 5)
            assert done == {"op": "fetch_done", "id": "f2", "status": 408}, done
            await jsend(ws, {"op": "ack", "ack_id": m["ack_id"], "type": "term"})
            wait_for(lambda: consumer_info(server, name, "billing")["num_ack_pending"] == 0,
                     what="nothing pending after +TERM")
            # a fetch that expires with nothing to deliver
            t0 = time.monotonic()
            await jsend(ws, {"op": "fetch", "id": 7, "stream": name, "consumer": "billing", "wait_ms": 300})
            done = await jrecv(ws, 5)
            assert done == {"op": "fetch_done", "id": 7, "status": 408}, done
            assert time.monotonic() - t0 >= 0.25
            # no_wait on an empty consumer
            await jsend(ws, {"op": "fetch", "id": 8, "stream": name, "consumer": "billing", "wait_ms": 0})
            done = await jrecv(ws, 5)
            assert done["op"] == "fetch_done" and done["id"] == 8 and done["status"] in (404, 408), done
            # an unknown consumer or stream, a push consumer: errors at once, as REST answers
            await jsend(ws, {"op": "fetch", "id": 9, "stream": name, "consumer": "nope", "wait_ms": 3000})
            m = await jrecv(ws, 2)
            assert m["op"] == "error" and m["id"] == 9 and m["error"]["code"] == 404, m
            assert m["error"]["err_code"] == 10014, m
            await jsend(ws, {"op": "fetch", "id": 10, "stream": "NO_SUCH", "consumer": "x", "wait_ms": 3000})
            m = await jrecv(ws, 2)
            assert m["op"] == "error" and m["id"] == 10 and m["error"]["code"] == 404, m
            status, _ = rest(server, "PUT", f"/v1/streams/{name}/consumers/pushy",
                             {"deliver_subject": unique("pushy"), "ack_policy": "explicit"})
            assert status in (200, 201)
            await jsend(ws, {"op": "fetch", "id": 11, "stream": name, "consumer": "pushy", "wait_ms": 3000})
            m = await jrecv(ws, 2)
            assert m["op"] == "error" and m["id"] == 11 and m["error"]["code"] == 409, m
            await jsend(ws, {"op": "ping"})
            assert await jrecv(ws) == {"op": "pong"}
    run(body())


@needs_websockets
def test_v1_fetch_satisfied_batches_do_not_pile_up(server):
    """A fetch whose batch is delivered in full ends with fetch_done 200 and frees its inbox:
    a long-lived client doing many fetches does not pile up subscriptions."""
    name, prefix = make_stream(server, "wsfetchmany")
    make_pull_consumer(server, name, "w")
    n = 40
    for i in range(n):
        nats_pub(server, f"{prefix}.j", str(i).encode())

    def nsubs() -> int:
        status, subsz = rest(server, "GET", "/subsz")
        assert status == 200, subsz
        return subsz["num_subscriptions"]

    async def body():
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "ping"})
            assert await jrecv(ws) == {"op": "pong"}
            before = await asyncio.to_thread(nsubs)
            for i in range(n):
                await jsend(ws, {"op": "fetch", "id": i, "stream": name, "consumer": "w", "batch": 1,
                                 "wait_ms": 2000})
                m = await jrecv(ws)
                assert m["op"] == "msg" and m["id"] == i and m["data"] == str(i), m
                assert await jrecv(ws) == {"op": "fetch_done", "id": i, "status": 200}
                await jsend(ws, {"op": "ack", "ack_id": m["ack_id"]})
            await jexpect_nothing(ws, 0.5)
            after = await asyncio.to_thread(nsubs)
            # each fetch's inbox went away with it (not one subscription left per fetch)
            assert after - before < 5, (before, after)
    run(body())
    wait_for(lambda: consumer_info(server, name, "w")["ack_floor"]["stream_seq"] == n, what="all acked")


@needs_websockets
def test_v1_resubscribing_a_sid_replays_afresh(server):
    """unsub deletes the subscription's consumer, so the same sid (same slot, same consumer
    name) subscribed again from "all" replays from the start, once."""
    name, prefix = make_stream(server, "wsresub")
    for i in range(1, 4):
        nats_pub(server, f"{prefix}.e", f"m{i}".encode())

    async def body():
        async with v1_connect(server) as ws:
            for round_ in range(3):
                await jsend(ws, {"op": "sub", "sid": "r", "subject": prefix + ".>", "from": "all"})
                assert await jrecv(ws) == {"op": "subscribed", "sid": "r"}, round_
                got = [await jrecv(ws) for _ in range(3)]
                assert [m["seq"] for m in got] == [1, 2, 3], (round_, got)
                await jexpect_nothing(ws, 0.3)
                await jsend(ws, {"op": "unsub", "sid": "r"})
            # a different filter on the same slot is not refused as "consumer already exists"
            await jsend(ws, {"op": "sub", "sid": "r", "subject": prefix + ".e", "from": 2})
            assert await jrecv(ws) == {"op": "subscribed", "sid": "r"}
            got = [await jrecv(ws) for _ in range(2)]
            assert [m["seq"] for m in got] == [2, 3], got
    run(body())


@needs_websockets
def test_v1_nak_with_delay_redelivers_later(server):
    name, prefix = make_stream(server, "wsnak")
    nats_pub(server, f"{prefix}.job", b"retry me")
    make_pull_consumer(server, name, "retry", ack_wait=30_000_000_000)

    async def body():
        async with v1_connect(server) as ws:
            await jsend(ws, {"op": "fetch", "id": 1, "stream": name, "consumer": "retry", "wait_ms": 1000})
            m = await jrecv(ws)
            assert m["op"] == "msg" and m["deliveries"] == 1, m
            assert await jrecv(ws) == {"op": "fetch_done", "id": 1, "status": 200}
            t0 = time.monotonic()
            await jsend(ws, {"op": "ack", "ack_id": m["ack_id"], "type": "nak", "delay_ms": 800})
            # not before the delay
            await jsend(ws, {"op": "fetch", "id": 2, "stream": name, "consumer": "retry", "wait_ms": 300})
            done = await jrecv(ws)
            assert done == {"op": "fetch_done", "id": 2, "status": 408}, done
            # but after it
            await jsend(ws, {"op": "fetch", "id": 3, "stream": name, "consumer": "retry", "wait_ms": 4000})
            m2 = await jrecv(ws, 6)
            waited = time.monotonic() - t0
            assert m2["op"] == "msg" and m2["id"] == 3 and m2["seq"] == m["seq"], m2
            assert m2["deliveries"] == 2 and m2["data"] == "retry me", m2
            assert waited >= 0.7, f"redelivered after {waited:.2f}s, before the 800 ms delay"
            assert await jrecv(ws) == {"op": "fetch_done", "id": 3, "status": 200}
            # a plain nak redelivers at once
            await jsend(ws, {"op": "ack", "ack_id": m2["ack_id"], "type": "nak"})
            await jsend(ws, {"op": "fetch", "id": 4, "stream": name, "consumer": "retry", "wait_ms": 2000})
            m3 = await jrecv(ws)
            assert m3["op"] == "msg" and m3["deliveries"] == 3, m3
            await jsend(ws, {"op": "ack", "ack_id": m3["ack_id"]})
    run(body())
    wait_for(lambda: consumer_info(server, name, "retry")["ack_floor"]["stream_seq"] == 1, what="acked")


@needs_websockets
def test_v1_errors_keep_the_connection_open(server):
    name, prefix = make_stream(server, "wserr")

    async def body():
        async with v1_connect(server) as ws:
            cases = [
                ("not json", None),
                ("[1,2]", None),
                ('{"no":"op"}', None),
                ('{"op":42}', None),
                ('{"op":"frobnicate","id":"u1"}', "u1"),
                ('{"op":"pub","id":"p1"}', "p1"),
                ('{"op":"pub","subject":"a.*","data":"x","id":"p2"}', "p2"),
                ('{"op":"pub","subject":"a.b","data":5,"id":"p3"}', "p3"),
                ('{"op":"sub","sid":"x","id":"s1"}', "s1"),
                ('{"op":"sub","sid":"x","subject":"bad..subject","id":"s2"}', "s2"),
                ('{"op":"sub","subject":"ok","id":"s3"}', "s3"),
                ('{"op":"sub","sid":"' + "x" * 64 + '","subject":"ok","id":"s4"}', "s4"),
                ('{"op":"fetch","id":"f1"}', "f1"),
                ('{"op":"ack","ack_id":"nope","id":"a1"}', "a1"),
            ]
            for text, want_id in cases:
                await ws.send(text)
                m = await jrecv(ws)
                assert m["op"] == "error" and m["error"]["code"] == 400, (text, m)
                assert m.get("id") == want_id, (text, m)
                assert m["error"]["description"], m
            await jsend(ws, {"op": "sub", "sid": "dup", "subject": "x.y"})
            assert (await jrecv(ws))["op"] == "subscribed"
            await jsend(ws, {"op": "sub", "sid": "dup", "subject": "x.z", "id": 5})
            m = await jrecv(ws)
            assert m["op"] == "error" and m["error"]["code"] == 409 and m["sid"] == "dup" and m["id"] == 5, m
            await jsend(ws, {"op": "sub", "sid": "ns", "subject": "x", "stream": "NO_SUCH_STREAM", "id": 6})
            m = await jrecv(ws)
            assert m["op"] == "error" and m["error"]["code"] == 404 and m["id"] == 6, m
            await jsend(ws, {"op": "sub", "sid": "bad", "subject": prefix + ".>", "from": "sometime", "id": 7})
            m = await jrecv(ws)
            assert m["op"] == "error" and m["sid"] == "bad" and m["id"] == 7, m
            await jsend(ws, {"op": "unsub", "sid": "never-subscribed"})  # silently nothing
            await jsend(ws, {"op": "ping"})
            assert await jrecv(ws) == {"op": "pong"}
            # the sid of a failed stored subscription is usable again
            await jsend(ws, {"op": "sub", "sid": "bad", "subject": prefix + ".>", "from": "all", "id": 8})
            assert await jrecv(ws) == {"op": "subscribed", "sid": "bad", "id": 8}
    run(body())


def slow_consumers_total(server) -> int:
    status, text = rest(server, "GET", "/metrics")
    assert status == 200, text
    for line in text.decode().splitlines():
        if line.startswith("herald_slow_consumers_total "):
            return int(float(line.split()[1]))
    raise AssertionError("no herald_slow_consumers_total in /metrics")


def flood_a_reader_that_stopped(srv, ws: RawWs, subj: str, check: Callable[[int, bytes], None]) -> int:
    """Publish ~4.8 MB to `subj` while `ws` reads nothing, then read: what was queued must come
    out whole (check(opcode, payload) per message), then the server must end the connection.
    Returns how many messages arrived."""
    payload = b"s" * 8000
    with RawClient(srv) as pub:
        for _ in range(600):  # far beyond max_pending and the socket buffers
            pub.send(f"PUB {subj} {len(payload)}\r\n".encode() + payload + b"\r\n")
        assert pub.ping(timeout=SOCK_TIMEOUT) == b""
    deadline = time.monotonic() + 15
    n = 0
    while time.monotonic() < deadline:
        try:
            op, data = ws.read_message(max(0.01, deadline - time.monotonic()))
        except WsClosed:
            return n
        except AssertionError as e:  # a close frame is fine too
            if "server closed with" in str(e):
                ws.expect_eof()
                return n
            raise
        check(op, data)
        n += 1
    raise AssertionError(f"the slow reader was not closed ({n} messages read in 15 s)")


@needs_websockets
def test_v1_slow_reader_is_closed_and_server_stays_healthy(server_factory):
    """A herald.v1 reader that stops reading while its subscription is flooded is closed
    once more than max_pending is queued for it; the messages it did get are whole."""
    srv = server_factory(["--max_pending", str(256 * 1024), "--max_payload", str(64 * 1024)])
    subj = unique("wsslow")
    before = slow_consumers_total(srv)
    with RawWs(srv, rcvbuf=16 * 1024) as ws:
        ws.send_json({"op": "sub", "sid": "slow", "subject": subj})
        assert ws.recv_json() == {"op": "subscribed", "sid": "slow"}

        def check(op, data):
            assert op == OP_TEXT, op
            m = json.loads(data)  # each message is one whole JSON object
            assert m["op"] == "msg" and m["sid"] == "slow" and len(m["data"]) == 8000, m.get("op")

        n = flood_a_reader_that_stopped(srv, ws, subj, check)
        assert n < 600, "every message was delivered: the reader was never slow?"
    assert slow_consumers_total(srv) == before + 1
    assert_ws_serves(srv)


def test_nats_ws_slow_reader_is_closed(server_factory):
    """The same for NATS over WebSocket: the NATS head's slow-consumer rule applies."""
    srv = server_factory(["--max_pending", str(256 * 1024), "--max_payload", str(64 * 1024)])
    subj = unique("natswsslow")
    before = slow_consumers_total(srv)
    with RawWs(srv, path="/nats", protocol=None, rcvbuf=16 * 1024) as ws:
        op, info = ws.read_message()
        assert info.startswith(b"INFO ")
        ws.send_frame(OP_BINARY, f'CONNECT {{"verbose":false}}\r\nSUB {subj} 1\r\nPING\r\n'.encode())
        assert ws.read_message() == (OP_BINARY, b"PONG\r\n")
        stream = bytearray()

        def check(op, data):
            assert op == OP_BINARY, op
            stream.extend(data)

        flood_a_reader_that_stopped(srv, ws, subj, check)
        # what arrived is a prefix of whole MSGs (a frame may end mid-message: NATS is a stream)
        unit = f"MSG {subj} 1 8000\r\n".encode() + b"s" * 8000 + b"\r\n"
        whole = len(stream) // len(unit)
        assert bytes(stream[:whole * len(unit)]) == unit * whole
        assert whole < 600
    assert slow_consumers_total(srv) == before + 1
    assert_ws_serves(srv)


@needs_websockets
def test_v1_many_clients_and_close_from_client(server):
    subj = unique("wsmany")

    async def body():
        clients = [await v1_connect(server) for _ in range(20)]
        try:
            for i, ws in enumerate(clients):
                await jsend(ws, {"op": "sub", "sid": str(i), "subject": subj})
                assert (await jrecv(ws))["op"] == "subscribed"
            await jsend(clients[0], {"op": "pub", "subject": subj, "data": "fanout"})
            for i, ws in enumerate(clients):
                m = await jrecv_until(ws, lambda x: x["op"] == "msg")
                assert m["sid"] == str(i) and m["data"] == "fanout", m
        finally:
            for ws in clients:
                await ws.close(1000, "done")
        assert all(ws.close_code == 1000 for ws in clients), [ws.close_code for ws in clients]
    run(body())
    assert_ws_serves(server)


# ======================================================================================
# 3. NATS over WebSocket
# ======================================================================================
class NatsWs:
    """NATS protocol lines over a python3-websockets connection (binary messages)."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = b""

    async def send(self, data: bytes):
        await self.ws.send(data)

    async def _fill(self, deadline: float):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; buffered {self.buf[:200]!r}")
        try:
            data = await asyncio.wait_for(self.ws.recv(), left)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out; buffered {self.buf[:200]!r}") from None
        assert isinstance(data, bytes), f"NATS over WebSocket must be binary, got {data!r}"
        self.buf += data

    async def line(self, timeout: float = SOCK_TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            await self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    async def exact(self, n: int, timeout: float = SOCK_TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            await self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    async def msg(self, timeout: float = SOCK_TIMEOUT) -> tuple[list, bytes]:
        line = await self.line(timeout)
        parts = line.split(b" ")
        assert parts[0] in (b"MSG", b"HMSG"), line
        payload = await self.exact(int(parts[-1]) + 2, timeout)
        assert payload.endswith(b"\r\n")
        return parts, payload[:-2]


async def nats_ws_connect(server, path: str = "/"):
    ws = await websockets.connect(f"ws://127.0.0.1:{server.http_port}{path}", open_timeout=SOCK_TIMEOUT,
                                  close_timeout=2, max_size=1 << 24)
    c = NatsWs(ws)
    info = await c.line()
    assert info.startswith(b"INFO {"), info
    c.info = json.loads(info[5:])
    return c


@needs_websockets
def test_nats_ws_info_connect_ping(server):
    async def body():
        for path in ("/", "/nats"):
            c = await nats_ws_connect(server, path)
            assert c.ws.subprotocol is None
            assert "max_payload" in c.info and c.info.get("headers") is True, c.info
            await c.send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nPING\r\n')
            assert await c.line() == b"PONG"
            await c.ws.close()
    run(body())


@needs_websockets
def test_nats_ws_pub_sub_split_and_batched(server):
    subj = unique("natsws")

    async def body():
        c = await nats_ws_connect(server)
        # several operations in one message
        await c.send(f'CONNECT {{"verbose":true,"headers":true}}\r\nSUB {subj} 1\r\nPUB {subj} 5\r\nhello\r\nPING\r\n'.encode())
        assert await c.line() == b"+OK"  # CONNECT
        assert await c.line() == b"+OK"  # SUB
        assert await c.line() == b"+OK"  # PUB
        assert await c.line() == f"MSG {subj} 1 5".encode()
        assert await c.exact(7) == b"hello\r\n"
        assert await c.line() == b"PONG"
        # a PUB split across two WebSocket messages, in the middle of the control line and
        # of the payload
        await c.send(f"PUB {subj} 11\r\nhel".encode()[:6])
        await c.send(f"PUB {subj} 11\r\nhello world\r\n".encode()[6:])
        assert await c.line() == b"+OK"
        parts, payload = await c.msg()
        assert payload == b"hello world", payload
        await c.send(f"PUB {subj} 11\r\nhello ".encode())
        await asyncio.sleep(0.05)
        await c.send(b"again\r\n")
        assert await c.line() == b"+OK"
        assert (await c.msg())[1] == b"hello again"
        # one byte per message
        for ch in f"PUB {subj} 2\r\nab\r\nPING\r\n".encode():
            await c.send(bytes([ch]))
        assert await c.line() == b"+OK"
        assert (await c.msg())[1] == b"ab"
        assert await c.line() == b"PONG"
        # headers
        hdr = b"NATS/1.0\r\nX-K: v\r\n\r\n"
        await c.send(f"HPUB {subj} {len(hdr)} {len(hdr) + 2}\r\n".encode() + hdr + b"hi\r\n")
        assert await c.line() == b"+OK"
        parts, payload = await c.msg()
        assert parts[0] == b"HMSG" and payload == hdr + b"hi", (parts, payload)
        await c.ws.close()
    run(body())


@needs_websockets
def test_nats_ws_interoperates_with_tcp_clients_and_request_reply(server):
    subj = unique("natswstcp")

    async def body():
        c = await nats_ws_connect(server)
        await c.send(f'CONNECT {{"verbose":false}}\r\nSUB {subj}.toWs 1\r\nSUB {subj}.svc 2\r\nPING\r\n'.encode())
        assert await c.line() == b"PONG"

        def tcp_side():
            with RawClient(server) as t:
                t.sub(f"{subj}.fromWs", 9)
                t.sub(f"_R.{subj}", 10)
                assert t.ping() == b""
                t.pub(f"{subj}.toWs", b"tcp->ws")
                t.pub(f"{subj}.svc", b"question", reply=f"_R.{subj}")
                a = t.read_msg()
                b = t.read_msg()
                return {a.subject: a.payload, b.subject: b.payload}

        fut = asyncio.get_running_loop().run_in_executor(None, tcp_side)
        got = {}
        for _ in range(2):
            parts, payload = await c.msg(10)
            got[parts[1].decode()] = (parts, payload)
            if parts[1].decode() == f"{subj}.svc":
                reply = parts[3].decode()
                await c.send(f"PUB {reply} 6\r\nanswer\r\n".encode())
            else:
                await c.send(f"PUB {subj}.fromWs 7\r\nws->tcp\r\n".encode())
        assert got[f"{subj}.toWs"][1] == b"tcp->ws"
        assert got[f"{subj}.svc"][1] == b"question"
        tcp = await asyncio.wait_for(fut, 15)
        assert tcp == {f"{subj}.fromWs": b"ws->tcp", f"_R.{subj}": b"answer"}, tcp
        await c.ws.close()
    run(body())


@needs_websockets
def test_nats_ws_jetstream_api(server):
    name = unique("NWS").replace(".", "_").upper()

    async def body():
        c = await nats_ws_connect(server)
        inbox = f"_INBOX.{name}"
        body = json.dumps({"name": name, "subjects": [name.lower() + ".>"]}).encode()
        await c.send(f'CONNECT {{"verbose":false,"headers":true}}\r\nSUB {inbox}.* 1\r\n'
                     f"PUB $JS.API.STREAM.CREATE.{name} {inbox}.1 {len(body)}\r\n".encode() + body + b"\r\n")
        parts, payload = await c.msg()
        assert json.loads(payload)["config"]["name"] == name, payload
        await c.send(f"PUB {name.lower()}.x {inbox}.2 2\r\nhi\r\n".encode())
        parts, payload = await c.msg()
        ack = json.loads(payload)
        assert ack == {"stream": name, "seq": 1} or (ack["stream"] == name and ack["seq"] == 1), ack
        await c.ws.close()
    run(body())


@needs_websockets
def test_nats_ws_protocol_error_is_reported_and_closed(server):
    async def body():
        c = await nats_ws_connect(server)
        await c.send(b'CONNECT {"verbose":false}\r\nBOGUS\r\n')
        line = await c.line()
        assert line.startswith(b"-ERR"), line
        try:
            await asyncio.wait_for(c.ws.recv(), SOCK_TIMEOUT)
        except websockets.ConnectionClosed:
            return
        raise AssertionError("the connection stayed open after -ERR")
    run(body())
    assert_ws_serves(server)


def _node_has(pkg: str) -> bool:
    from conftest import JS_DIR
    return (JS_DIR / "node_modules" / pkg / "package.json").exists()


def test_nats_ws_with_the_nats_ws_client(server):
    """nats.ws (the browser NATS client) in Node 20, with the `ws` package as its WebSocket:
    connect, pub/sub, request/reply, headers, JetStream publish, KV put/get, a consumer."""
    from conftest import JS_DIR
    if not (_node_has("nats.ws") and _node_has("ws")):
        import subprocess
        from conftest import REPO
        r = subprocess.run([str(REPO / "scripts" / "deps")], cwd=str(REPO), capture_output=True,
                           text=True, timeout=600)
        if not (_node_has("nats.ws") and _node_has("ws")):
            pytest.fail(f"tests/js/node_modules lacks nats.ws or ws, and scripts/deps did not "
                        f"install them:\n{r.stdout}\n{r.stderr}", pytrace=False)
    assert (JS_DIR / "ws_nats_ws.mjs").exists()
    subj = unique("nodews")
    with RawClient(server) as t:
        t.sub(f"{subj}.fromnode", 1)
        assert t.ping() == b""
        r = run_node("ws_nats_ws", f"ws://127.0.0.1:{server.http_port}", subj, timeout=60)
        m = t.read_msg()
        assert m.subject == f"{subj}.fromnode" and m.payload == b"hello from nats.ws", m
    out = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert out, f"no JSON from the script:\n{r.stdout}\n{r.stderr}"
    res = out[-1]
    assert res.get("ok") is True, res
    assert res["pubsub"] == ["a", "b", "c"], res
    assert res["request"] == "re:ping", res
    assert res["headers"] == "v1", res
    assert res["pubAck"]["stream"] and res["pubAck"]["seq"] == 1, res
    assert res["kv"] == {"value": "v2", "revision": 2}, res
    assert res["consumed"] == ["e1", "e2"], res


# ======================================================================================
# 4. The server after all of the above
# ======================================================================================
def test_server_still_healthy_at_the_end(server):
    assert_ws_serves(server)
    status, varz = rest(server, "GET", "/varz")
    assert status == 200, varz
