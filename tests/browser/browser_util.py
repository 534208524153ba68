# SPDX-License-Identifier: Apache-2.0
"""What the browser tests share: the check that Chromium, node and playwright-core are there
(installing them with scripts/deps when not), the heraldd and page-server fixtures (the pages
come from another loopback port than heraldd's, so the browser's origin checks are real), and
the driver of a tests/browser/*.mjs script whose JSON lines the test waits on.
"""
from __future__ import annotations

import contextlib
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

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from conftest import ServerProcess  # noqa: E402

CHROMIUM = os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium")
NODE_MODULES = REPO / "tests" / "js" / "node_modules"
PLAYWRIGHT = NODE_MODULES / "playwright-core" / "package.json"


def browser_or_skip(extra: tuple = (), what: str = "node or playwright-core") -> None:
    """Chromium, node, playwright-core and the `extra` paths, installed by scripts/deps when
    missing; skip (with the reason, naming `what` besides Chromium) only when that cannot be
    done here."""

    def ready() -> bool:
        return (Path(CHROMIUM).exists() and PLAYWRIGHT.exists() and all(p.exists() for p in extra)
                and bool(shutil.which("node")))

    if ready():
        return
    try:
        r = subprocess.run([str(REPO / "scripts" / "deps")], cwd=str(REPO), capture_output=True,
                           text=True, timeout=900)
        why = (r.stderr or r.stdout).strip()[-400:]
    except (OSError, subprocess.TimeoutExpired) as e:
        why = str(e)
    if not ready():
        pytest.skip(f"browser test skipped: Chromium ({CHROMIUM}), {what} could not be installed "
                    f"by scripts/deps: {why}")


def server_fixture(name: str):
    """A module-scoped fixture: heraldd in a fresh directory named after `name`."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        srv = ServerProcess(tmp_path_factory.mktemp(name))
        srv.start()
        yield srv
        srv.stop()

    return server


def page_origin_fixture(routes: dict | None = None):
    """A module-scoped fixture: the origin (http://127.0.0.1:PORT) of an http.server on its
    own loopback port serving tests/browser, plus `routes` (URL path -> file)."""
    routes = dict(routes or {})

    class Pages(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def translate_path(self, path):
            file = routes.get(path.split("?", 1)[0])
            return str(file) if file is not None else super().translate_path(path)

    @pytest.fixture(scope="module")
    def page_origin():
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                functools.partial(Pages, directory=str(HERE)))
        th = threading.Thread(target=httpd.serve_forever, daemon=True)
        th.start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
        httpd.shutdown()
        httpd.server_close()
        th.join(5)

    return page_origin


class Driver:
    """`node tests/browser/SCRIPT ARGS...` as a child process; its JSON lines arrive in a
    queue."""

    def __init__(self, script: str, *args):
        env = dict(os.environ, HERALD_CHROMIUM=CHROMIUM)
        self.proc = subprocess.Popen(["node", str(HERE / script)] + [str(a) for a in args],
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
        """The first line that `pred` accepts. Fails on a driver or page error, and when the
        driver's last line ({"done": ...}) is not it."""
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


@contextlib.contextmanager
def driving(script: str, *args):
    """A Driver for the duration of the block, stopped at its end."""
    drv = Driver(script, *args)
    try:
        yield drv
    finally:
        drv.close()
