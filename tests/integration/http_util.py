# SPDX-License-Identifier: Apache-2.0
"""Raw-socket HTTP/1.1 and Server-Sent Events helpers for the HTTP head's tests
(test_http.py, test_http_sse.py, tests/browser).

  HttpConn(server)           one TCP connection to server.http_port: .send() .request()
                             .read_response() .expect_closed() .is_open()
  Response                   .status .reason .headers (lower-case keys; repeated fields joined
                             with ", ") .body .json() .raw_head
  SseClient(server, path)    GET path, reads the response head; .next_event() parses the
                             stream as a browser does (WHATWG HTML 9.2.6), .retry, .comments
  Event                      .id .event .data
  stream_name(prefix)        a stream name and subject prefix no other test uses

Every read is bounded (<= SOCK_TIMEOUT unless a test passes more); nothing here retries.
"""
from __future__ import annotations

import json
import socket
import time
from typing import Optional

from conftest import SOCK_TIMEOUT, unique


def stream_name(tag: str) -> tuple[str, str]:
    """(STREAM_NAME, subject.prefix), unique to the calling test."""
    p = unique(tag)
    return p.replace(".", "_").upper(), p


class Response:
    __slots__ = ("status", "reason", "headers", "body", "raw_head", "version")

    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body, self.raw_head = headers, body, raw_head

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Response({self.status} {self.reason} {self.headers} {self.body[:200]!r})"


class HttpConn:
    """A bare HTTP/1.1 connection for exact-byte tests (pipelining, framing errors, timeouts)."""

    def __init__(self, server, timeout: float = SOCK_TIMEOUT, rcvbuf: Optional[int] = None):
        self.host, self.port = server.host, server.http_port
        self.timeout = timeout
        self.buf = b""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # set before connect so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    @staticmethod
    def build(method: str, path: str, body: bytes = b"", headers: Optional[dict] = None,
              host: bool = True, length: bool = True) -> bytes:
        lines = [f"{method} {path} HTTP/1.1"]
        hdrs = dict(headers or {})
        if host and not any(k.lower() == "host" for k in hdrs):
            lines.append("Host: test")
        if length and (body or method in ("POST", "PUT")) and \
                not any(k.lower() in ("content-length", "transfer-encoding") for k in hdrs):
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def request(self, method: str, path: str, body: bytes = b"", headers: Optional[dict] = None,
                timeout: Optional[float] = None) -> Response:
        self.send(self.build(method, path, body, headers))
        return self.read_response(head_only=method == "HEAD", timeout=timeout)

    def _fill(self, deadline: float) -> bool:
        """Read more; False at EOF (or reset). Raises socket.timeout past the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_head(self, timeout: Optional[float] = None) -> Response:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\r\n\r\n" not in self.buf:
            try:
                if not self._fill(deadline):
                    raise AssertionError(f"connection closed before a response head; have {self.buf[:300]!r}")
            except socket.timeout:
                raise AssertionError(f"timed out waiting for a response head; have {self.buf[:300]!r}") from None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers: dict = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            k, v = k.strip().lower(), v.strip()
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        return Response(version, int(status), reason, headers, b"", head + b"\r\n\r\n")

    def read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            try:
                if not self._fill(deadline):
                    raise AssertionError(f"connection closed after {len(self.buf)} of {n} body bytes")
            except socket.timeout:
                raise AssertionError(f"timed out after {len(self.buf)} of {n} body bytes") from None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_only: bool = False, timeout: Optional[float] = None) -> Response:
        """The next final response (1xx responses are returned too: check .status)."""
        t = self.timeout if timeout is None else timeout
        r = self.read_head(t)
        if head_only or r.status < 200 or r.status in (204, 304):
            return r
        assert "content-length" in r.headers, f"response without Content-Length (H2): {r.raw_head!r}"
        r.body = self.read_exact(int(r.headers["content-length"]), time.monotonic() + t)
        return r

    def expect_closed(self, timeout: Optional[float] = None) -> bytes:
        """Wait for EOF (or a reset); return the bytes received before it."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while self._fill(deadline):
                pass
        except socket.timeout:
            raise AssertionError(f"connection still open; received {self.buf[:300]!r}") from None
        out, self.buf = self.buf, b""
        return out

    def is_open(self, wait: float = 0.05) -> bool:
        """True when the server has neither closed the connection nor sent anything."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(1 << 16, socket.MSG_PEEK)
        except socket.timeout:
            return True
        except ConnectionResetError:
            return False
        return bool(chunk)


class Event:
    """One dispatched event; .id is the id: field sent with it (None when it had none)."""
    __slots__ = ("id", "event", "data")

    def __init__(self, id, event, data):
        self.id, self.event, self.data = id, event, data

    def __repr__(self):
        return f"Event(id={self.id!r} event={self.event!r} data={self.data[:80]!r})"


class SseClient(HttpConn):
    """GET an event stream and parse it as a browser does: `data:` lines joined with LF, one
    leading space dropped from values, an event dispatched at a blank line when its data
    buffer is non-empty; `id:` sets the last event id (kept across events), `retry:` the
    reconnection time; comment lines are counted."""

    def __init__(self, server, path: str, headers: Optional[dict] = None,
                 timeout: float = SOCK_TIMEOUT, rcvbuf: Optional[int] = None, expect: int = 200):
        super().__init__(server, timeout=timeout, rcvbuf=rcvbuf)
        self.retry: Optional[int] = None
        self.last_id: Optional[str] = None
        self.comments = 0
        self.send(self.build("GET", path, headers=headers))
        self.response = self.read_head()
        if self.response.status != 200 or \
                not self.response.headers.get("content-type", "").startswith("text/event-stream"):
            if "content-length" in self.response.headers:
                self.response.body = self.read_exact(int(self.response.headers["content-length"]),
                                                     time.monotonic() + timeout)
        assert self.response.status == expect, f"GET {path}: {self.response!r}"

    def _line(self, deadline: float) -> Optional[str]:
        scanned = 0
        while (i := self.buf.find(b"\n", scanned)) < 0:
            scanned = len(self.buf)
            if not self._fill(deadline):
                return None
        line, self.buf = self.buf[:i], self.buf[i + 1:]
        if line.endswith(b"\r"):
            line = line[:-1]
        return line.decode("utf-8")

    def next_event(self, timeout: Optional[float] = None) -> Event:
        """The next dispatched event. AssertionError on timeout or when the stream ends."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        data: list[str] = []
        event = ""
        this_id = None  # the id: field of this event (None: it had none)
        while True:
            try:
                line = self._line(deadline)
            except socket.timeout:
                raise AssertionError(f"no event within the timeout; have {self.buf[:200]!r}") from None
            if line is None:
                raise AssertionError(f"the event stream ended; unread {self.buf[:200]!r}")
            if line == "":
                if data:
                    return Event(this_id, event or "message", "\n".join(data))
                event, this_id = "", None
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                self.last_id = this_id = value
            elif name == "retry" and value.isdigit():
                self.retry = int(value)

    def events(self, n: int, timeout: float = SOCK_TIMEOUT) -> list:
        deadline = time.monotonic() + timeout
        return [self.next_event(max(0.01, deadline - time.monotonic())) for _ in range(n)]

    def expect_no_event(self, seconds: float) -> None:
        try:
            ev = self.next_event(seconds)
        except AssertionError as e:
            if "no event within" in str(e):
                return
            raise
        raise AssertionError(f"unexpected event {ev!r}")
