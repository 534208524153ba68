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

from urllib.parse import quote

import pytest
import requests

from browser_util import browser_or_skip, driving, page_origin_fixture, server_fixture
from conftest import IS_NATS_SERVER, unique  # tests/integration: on sys.path by browser_util

T = 10

pytestmark = pytest.mark.skipif(IS_NATS_SERVER, reason="the HTTP head is heraldd's own")

server = server_fixture("browser")
page_origin = page_origin_fixture()


def publish(server, subject: str, data: str) -> None:
    r = requests.post(f"{server.http_url}/v1/publish/{subject}", data=data.encode(), timeout=T)
    assert r.status_code == 200, r.text


def test_eventsource_resumes_across_a_server_restart(server, page_origin):
    browser_or_skip()
    name, p = unique("browser").replace(".", "_").upper(), unique("browser")
    r = requests.put(f"{server.http_url}/v1/streams/{name}", json={"subjects": [f"{p}.>"]}, timeout=T)
    assert r.status_code == 201, r.text
    subject = f"{p}.ev"
    for i in range(1, 6):
        publish(server, subject, f"event {i}")
    src = f"{server.http_url}/v1/events?subject={quote(p + '.>')}&from=all"
    page = f"{page_origin}/sse_page.html?src={quote(src, safe='')}&events={quote(subject)}"
    with driving("sse_page.mjs", page, 15, 40 * 1000) as drv:
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
    assert final["done"], final
    got = [(e["id"], e["type"], e["data"]) for e in final["events"]]
    assert got == [(str(i), subject, f"event {i}") for i in range(1, 16)], got
    assert final["opens"] >= 2 and final["errors"] >= 1, final
