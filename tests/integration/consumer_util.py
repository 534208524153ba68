# SPDX-License-Identifier: Apache-2.0
"""Raw-protocol helpers for the consumer tests (test_consumers.py, test_key_order.py).

  CEnv(server)       one stream (capturing `<subj>.>`), an API/publish connection `api` and a
                     consumer-side connection `cl`; .durable() .create() .info() .pub()
                     .pull() .fetch() .ack() .state() .reconnect()
  AckToken(reply)    the tokens of `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<cseq>.<ts>.<pending>`
  status_of(msg)     (code, description) of a status message, else None
  collect(client, seconds, ...)  [(t, Msg)] arriving within a time window
  msg_get(api, stream, seq)      STREAM.MSG.GET -> (subject, header block bytes, payload bytes)
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import re
import time
from typing import Callable, Optional

from conftest import JsClient, Msg

NS = 1_000_000_000
_seq = itertools.count(1)


def status_of(m: Msg) -> Optional[tuple[int, str]]:
    """(code, description) of a status message (`NATS/1.0 408 Request Timeout`), else None."""
    if not m.headers:
        return None
    first = m.headers.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = first.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1]), (parts[2] if len(parts) > 2 else "")


class AckToken:
    """`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts_ns>.<pending>`."""

    RE = re.compile(r"\$JS\.ACK\.([^.]+)\.([^.]+)\.(\d+)\.(\d+)\.(\d+)\.(\d+)\.(\d+)")

    def __init__(self, reply: Optional[str]):
        m = self.RE.fullmatch(reply or "")
        assert m, f"not a 9-token $JS.ACK reply subject: {reply!r}"
        self.stream, self.consumer = m.group(1), m.group(2)
        self.dc, self.sseq, self.cseq, self.ts, self.pending = (int(m.group(i)) for i in range(3, 8))

    def __repr__(self):
        return f"AckToken(dc={self.dc} sseq={self.sseq} cseq={self.cseq} pending={self.pending})"


def collect(client: JsClient, seconds: float, stop: Optional[Callable[[Msg], bool]] = None,
            t0: Optional[float] = None) -> list:
    """[(monotonic time - t0, Msg)] arriving on `client` within `seconds` (stops early once
    stop(msg) is true for a message, which is included)."""
    t0 = time.monotonic() if t0 is None else t0
    end = time.monotonic() + seconds
    out = []
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return out
        try:
            m = client.next_msg(left)
        except AssertionError as e:
            if "timed out" in str(e):
                return out
            raise
        out.append((time.monotonic() - t0, m))
        if stop is not None and stop(m):
            return out


def msg_get(api: JsClient, stream: str, seq: int) -> tuple[str, bytes, bytes]:
    """STREAM.MSG.GET by sequence: (subject, header block, payload) as stored."""
    r = api.api(f"STREAM.MSG.GET.{stream}", {"seq": seq})
    assert "error" not in r, f"STREAM.MSG.GET.{stream} seq {seq}: {r}"
    m = r["message"]
    hdrs = base64.b64decode(m["hdrs"]) if m.get("hdrs") else b""
    data = base64.b64decode(m["data"]) if m.get("data") else b""
    return m["subject"], hdrs, data


def wait_for(pred: Callable[[], object], timeout: float, interval: float = 0.05):
    """Polls pred() until it returns something truthy (returned) or `timeout` passes (None)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


class CEnv:
    """A stream `self.stream` capturing `self.subj.>` plus two connections: `api` (API calls,
    publishing) and `cl` (pull requests, deliveries, acks)."""

    def __init__(self, server, subjects: Optional[list] = None, **stream_config):
        n = next(_seq)
        self.server = server
        self.stream = f"CT{os.getpid()}_{n}"
        self.subj = f"ct{os.getpid()}_{n}"
        self.api = JsClient(server)
        self.cl = JsClient(server)
        self._r = 0
        self.api.create_stream(self.stream, subjects or [self.subj + ".>"], **stream_config)

    def close(self) -> None:
        self.api.close()
        self.cl.close()

    def reconnect(self) -> None:
        """New `api` and `cl` connections (after the server was restarted on its port)."""
        self.close()
        self.api = JsClient(self.server)
        self.cl = JsClient(self.server)

    def pub(self, token: str = "a", payload: bytes = b"x", headers=None) -> int:
        r = self.api.publish(f"{self.subj}.{token}", payload, headers)
        assert "error" not in r, r
        return r["seq"]

    def state(self, stream: Optional[str] = None) -> dict:
        return self.api.stream_info(stream or self.stream)["state"]

    def durable(self, name: str, stream: Optional[str] = None, **config) -> dict:
        """A durable consumer created with CONSUMER.CREATE.<stream>.<name> (ack explicit
        unless given); fails the test on an error."""
        config.setdefault("ack_policy", "explicit")
        r = self.create(name, stream, durable_name=name, **config)
        assert "error" not in r, f"creating consumer {name}: {r}"
        return r

    def create(self, name: str, stream: Optional[str] = None, **config) -> dict:
        stream = stream or self.stream
        return self.api.api(f"CONSUMER.CREATE.{stream}.{name}", {"stream_name": stream, "config": config})

    def info(self, name: str) -> dict:
        r = self.api.api(f"CONSUMER.INFO.{self.stream}.{name}")
        assert "error" not in r, r
        return r

    def reply(self) -> str:
        self._r += 1
        return f"{self.cl.inbox}.p{self._r}"

    def pull(self, consumer: str, body, client: Optional[JsClient] = None) -> str:
        """Publishes a CONSUMER.MSG.NEXT request; returns its reply subject."""
        client = client or self.cl
        reply = self.reply() if client is self.cl else f"{client.inbox}.p{next(_seq)}"
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        client.pub(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{consumer}", payload, reply)
        return reply

    def fetch(self, consumer: str, batch: int = 1, expires: float = 0.5) -> list:
        """The data messages of one pull request with `expires`: read until `batch` arrived
        or a closing status (consumed) ended the request."""
        self.pull(consumer, {"batch": batch, "expires": int(expires * NS)})
        data = []

        def done(m: Msg) -> bool:
            st = status_of(m)
            if st is None:
                data.append(m)
                return len(data) >= batch
            return st[0] != 100

        collect(self.cl, expires + 1.5, stop=done)
        return data

    def ack(self, m_or_reply, payload: bytes = b"+ACK", confirm: bool = False) -> Optional[Msg]:
        """Publishes `payload` to the message's ack subject; with confirm, as a request whose
        (empty) reply is returned."""
        subject = m_or_reply if isinstance(m_or_reply, str) else m_or_reply.reply
        if confirm:
            return self.cl.request(subject, payload)
        self.cl.pub(subject, payload)
        return None
