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

import functools
import http.server
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from conftest import IS_NATS_SERVER, ServerProcess, unique  # noqa: E402

CHROMIUM = os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium")
NODE_MODULES = REPO / "tests" / "js" / "node_modules"
PLAYWRIGHT = NODE_MODULES / "playwright-core" / "package.json"
NATS_WS = NODE_MODULES / "nats.ws" / "esm" / "nats.js"

pytestmark = pytest.mark.skipif(IS_NATS_SERVER, reason="the HTTP head is heraldd's own")


def _ready() -> bool:
    return Path(CHROMIUM).exists() and PLAYWRIGHT.exists() and NATS_WS.exists() and bool(shutil.which("node"))


def _browser_or_skip() -> None:
    """Chromium, playwright-core and nats.ws, installed by scripts/deps when missing; skip
    (with the reason) only when that cannot be done here."""
    if _ready():
        return
    try:
        r = subprocess.run([str(REPO / "scripts" / "deps")], cwd=str(REPO), capture_output=True,
                           text=True, timeout=900)
        why = (r.stderr or r.stdout).strip()[-400:]
    except (OSError, subprocess.TimeoutExpired) as e:
        why = str(e)
    if not _ready():
        pytest.skip(f"browser test skipped: Chromium ({CHROMIUM}), node, playwright-core or nats.ws "
                    f"could not be installed by scripts/deps: {why}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("wsbrowser"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page_origin():
    """The test pages (and nats.ws as /nats.ws.js), served from another loopback port."""

    class Pages(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def translate_path(self, path):
            if path.split("?", 1)[0] == "/nats.ws.js":
                return str(NATS_WS)
            return super().translate_path(path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Pages, directory=str(HERE)))
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    th.join(5)


class Driver:
    """ws_page.mjs as a child process; its JSON lines arrive in a queue."""

    def __init__(self, page_url: str, timeout_s: float):
        env = dict(os.environ, HERALD_CHROMIUM=CHROMIUM)
        self.proc = subprocess.Popen(["node", str(HERE / "ws_page.mjs"), page_url, str(int(timeout_s * 1000))],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env, cwd=str(HERE))
        self.lines: "queue.Queue[dict]" = queue.Queue()
        self.log: list = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            self.log.append(obj)
            self.lines.put(obj)

    def wait_for(self, pred, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                obj = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"browser: no {what} within {timeout}s; driver said {self.log[-5:]}")
            if "launch_error" in obj:
                pytest.fail(f"Chromium did not start: {obj['launch_error']}", pytrace=False)
            if "error" in obj:
                raise AssertionError(f"browser driver failed: {obj['error']}")
            if "page_error" in obj:
                raise AssertionError(f"error in the page: {obj['page_error']}; driver said {self.log[-5:]}")
            if "done" in obj:
                if pred(obj):
                    return obj
                raise AssertionError(f"browser finished without {what}: {obj}")
            if pred(obj):
                return obj

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


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
    drv = Driver(page, timeout_s=30)
    try:
        drv.wait_for(lambda o: _phase(o) in ("own", "external", "closed"), 25,
                     "the page's own message back")
        nats_pub(server, subject, "from the test, over NATS ✓".encode())
        final = drv.wait_for(lambda o: o.get("done") is True, 15, "the page to finish")
    finally:
        drv.close()
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
    drv = Driver(page, timeout_s=30)
    try:
        final = drv.wait_for(lambda o: o.get("done") is True, 35, "the page to finish")
    finally:
        drv.close()
    st = final["state"]
    assert "error" not in st, st
    assert st["own"] == "nats.ws in chromium", st
    assert st["reply"] == "re:q", st
    assert st["pubAck"] == {"stream": subject.replace(".", "_").upper(), "seq": 1}, st
    assert st["phase"] == "closed", st
