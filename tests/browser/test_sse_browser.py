# SPDX-License-Identifier: Apache-2.0
"""Server-Sent Events in a real browser: Debian's Chromium, headless, driven by playwright-core
(tests/browser/sse_page.mjs), reads heraldd's /v1/events with the browser's own EventSource
from a page on another origin (a Python http.server on its own loopback port, so CORS is
real). heraldd is restarted under the page; the EventSource reconnects by itself, sends
Last-Event-ID, and every event arrives exactly once.

heraldd only. Needs /usr/bin/chromium and tests/js/node_modules/playwright-core (both
installed by scripts/deps); the module is skipped, saying why, only when they cannot be
installed.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from conftest import IS_NATS_SERVER, ServerProcess, unique  # noqa: E402

CHROMIUM = os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = REPO / "tests" / "js" / "node_modules" / "playwright-core" / "package.json"
T = 10

pytestmark = pytest.mark.skipif(IS_NATS_SERVER, reason="the HTTP head is heraldd's own")


def _browser_or_skip() -> None:
    """Chromium and playwright-core, installed by scripts/deps when missing; skip (with the
    reason) only when that cannot be done here."""
    if Path(CHROMIUM).exists() and PLAYWRIGHT.exists() and shutil.which("node"):
        return
    try:
        r = subprocess.run([str(REPO / "scripts" / "deps")], cwd=str(REPO), capture_output=True,
                           text=True, timeout=900)
        why = (r.stderr or r.stdout).strip()[-400:]
    except (OSError, subprocess.TimeoutExpired) as e:
        why = str(e)
    if not (Path(CHROMIUM).exists() and PLAYWRIGHT.exists() and shutil.which("node")):
        pytest.skip(f"browser test skipped: Chromium ({CHROMIUM}), node or playwright-core could "
                    f"not be installed by scripts/deps: {why}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("browser"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page_origin():
    """The test page, served from another loopback port than heraldd's."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(HERE)))
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    th.join(5)


class Driver:
    """sse_page.mjs as a child process; its JSON lines arrive in a queue."""

    def __init__(self, page_url: str, expected: int, timeout_s: float):
        env = dict(os.environ, HERALD_CHROMIUM=CHROMIUM)
        self.proc = subprocess.Popen(["node", str(HERE / "sse_page.mjs"), page_url, str(expected),
                                      str(int(timeout_s * 1000))],
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


def publish(server, subject: str, data: str) -> None:
    r = requests.post(f"{server.http_url}/v1/publish/{subject}", data=data.encode(), timeout=T)
    assert r.status_code == 200, r.text


def test_eventsource_resumes_across_a_server_restart(server, page_origin):
    _browser_or_skip()
    name, p = unique("browser").replace(".", "_").upper(), unique("browser")
    r = requests.put(f"{server.http_url}/v1/streams/{name}", json={"subjects": [f"{p}.>"]}, timeout=T)
    assert r.status_code == 201, r.text
    subject = f"{p}.ev"
    for i in range(1, 6):
        publish(server, subject, f"event {i}")
    src = f"{server.http_url}/v1/events?subject={quote(p + '.>')}&from=all"
    page = f"{page_origin}/sse_page.html?src={quote(src, safe='')}&events={quote(subject)}"
    drv = Driver(page, expected=15, timeout_s=40)
    try:
        drv.wait_for(lambda o: o.get("received") == 5, 25, "first 5 events (replay)")
        # heraldd goes away under the page and comes back on the same ports
        server.restart()
        for i in range(6, 11):  # published before the browser's retry (2 s) reconnects
            publish(server, subject, f"event {i}")
        drv.wait_for(lambda o: o.get("received", 0) >= 10 and o.get("opens", 0) >= 2, 20,
                     "events 6-10 after the reconnect")
        for i in range(11, 16):  # live
            publish(server, subject, f"event {i}")
        final = drv.wait_for(lambda o: "done" in o, 20, "the final report")
    finally:
        drv.close()
    assert final["done"], final
    got = [(e["id"], e["type"], e["data"]) for e in final["events"]]
    assert got == [(str(i), subject, f"event {i}") for i in range(1, 16)], got
    assert final["opens"] >= 2 and final["errors"] >= 1, final
