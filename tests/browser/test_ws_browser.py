# SPDX-License-Identifier: Apache-2.0
"""WebSockets in a real browser: Debian's Chromium, headless, driven by playwright-core
(tests/browser/ws_page.mjs), loads a page from another origin (a Python http.server on its own
loopback port) that talks to heraldd over the browser's own WebSocket:

  - ws_page.html: `new WebSocket("ws://127.0.0.1:<http_port>/v1/ws", "herald.v1")`, subscribes,
    publishes, receives its own message and one the test publishes over NATS, pings, and
    closes with 1000 (the server echoes the close: the browser reports a clean close).
  - ws_nats_page.html: nats.ws, the browser NATS client, connects to ws://127.0.0.1:<http_port>
    and does pub/sub, request/reply and a JetStream publish.

heraldd only. Needs /usr/bin/chromium and tests/js/node_modules/playwright-core (and nats.ws)
(installed by scripts/deps); the module is skipped, saying why, only when they cannot be
installed.
"""
from __future__ import annotations

import socket
from urllib.parse import quote

import pytest

from browser_util import NODE_MODULES, browser_or_skip, driving, page_origin_fixture, server_fixture
from conftest import IS_NATS_SERVER, unique  # tests/integration: on sys.path by browser_util

NATS_WS = NODE_MODULES / "nats.ws" / "esm" / "nats.js"

pytestmark = pytest.mark.skipif(IS_NATS_SERVER, reason="the HTTP head is heraldd's own")

server = server_fixture("wsbrowser")
# The test pages, and nats.ws as /nats.ws.js.
page_origin = page_origin_fixture({"/nats.ws.js": NATS_WS})


def _browser_or_skip() -> None:
    browser_or_skip((NATS_WS,), "node, playwright-core or nats.ws")


def nats_pub(server, subject: str, payload: bytes) -> None:
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.settimeout(5)
        s.sendall(b'CONNECT {"verbose":false}\r\n' + f"PUB {subject} {len(payload)}\r\n".encode()
                  + payload + b"\r\nPING\r\n")
        buf = b""
        while b"PONG\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, f"server closed: {buf!r}"
            buf += chunk


def _phase(obj) -> str:
    st = obj.get("state") or {}
    return st.get("phase", "")


def test_browser_websocket_herald_v1(server, page_origin):
    _browser_or_skip()
    subject = unique("browserws")
    ws_url = f"ws://127.0.0.1:{server.http_port}/v1/ws"
    page = f"{page_origin}/ws_page.html?ws={quote(ws_url, safe='')}&subject={quote(subject)}"
    with driving("ws_page.mjs", page, 30 * 1000) as drv:
        drv.wait_for(lambda o: _phase(o) in ("own", "external", "closed"), 25,
                     "the page's own message back")
        nats_pub(server, subject, "from the test, over NATS ✓".encode())
        final = drv.wait_for(lambda o: o.get("done") is True, 15, "the page to finish")
    st = final["state"]
    assert st["protocol"] == "herald.v1", st
    assert st["errors"] == 0, st
    msgs = st["messages"]
    assert msgs[0] == {"op": "subscribed", "sid": "b1", "id": "sub-1"}, msgs
    assert {"op": "puback", "stored": False, "id": "pub-1"} in msgs, msgs
    got = [m for m in msgs if m.get("op") == "msg"]
    assert [(m["sid"], m["subject"], m["data"]) for m in got] == [
        ("b1", subject, "hello from the browser ✓"),
        ("b1", subject, "from the test, over NATS ✓"),
    ], got
    assert got[0]["headers"].get("X-From") == "chromium", got[0]
    assert {"op": "pong"} in msgs, msgs
    # the server answered the browser's close: a clean close with the browser's code
    assert st["close"] == {"code": 1000, "reason": "done", "wasClean": True}, st["close"]


def test_browser_nats_ws_client(server, page_origin):
    _browser_or_skip()
    subject = unique("browsernats")
    ws_url = f"ws://127.0.0.1:{server.http_port}"
    page = f"{page_origin}/ws_nats_page.html?ws={quote(ws_url, safe='')}&subject={quote(subject)}"
    with driving("ws_page.mjs", page, 30 * 1000) as drv:
        final = drv.wait_for(lambda o: o.get("done") is True, 35, "the page to finish")
    st = final["state"]
    assert "error" not in st, st
    assert st["own"] == "nats.ws in chromium", st
    assert st["reply"] == "re:q", st
    assert st["pubAck"] == {"stream": subject.replace(".", "_").upper(), "seq": 1}, st
    assert st["phase"] == "closed", st
