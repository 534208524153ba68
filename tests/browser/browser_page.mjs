// SPDX-License-Identifier: Apache-2.0
// What the browser drivers (sse_page.mjs, ws_page.mjs) share: Debian's Chromium, headless,
// through playwright-core from tests/js/node_modules, on a page; the protocol is JSON lines
// on stdout.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(new URL("../js/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Launches Chromium in a fresh profile, opens `pageUrl` (printing the page's console lines
// as {"console": ...}, and its uncaught errors as {"page_error": ...} when `pageErrors`),
// runs `run(page)` and exits with the code it returns. A launch failure prints
// {"launch_error": ...} and exits 2; anything `run` throws prints {"error": ...}, exit 1.
export async function drivePage(pageUrl, { pageErrors = false } = {}, run) {
  const userDataDir = mkdtempSync(join(tmpdir(), "herald-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.HERALD_CHROMIUM || "/usr/bin/chromium",
      headless: true,
      timeout: 20000,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage"],
    });
  } catch (e) {
    out({ launch_error: String(e && e.message || e).split("\n")[0] });
    rmSync(userDataDir, { recursive: true, force: true });
    process.exit(2);
  }

  let code = 1;
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on("console", (m) => out({ console: m.text() }));
    if (pageErrors)
      page.on("pageerror", (e) => out({ page_error: String(e && e.message || e) }));
    await page.goto(pageUrl, { timeout: 10000 });
    code = await run(page);
  } catch (e) {
    out({ error: String(e && e.message || e) });
  } finally {
    await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
  process.exit(code);
}

// Calls `read()` every 50 ms and prints what it returns whenever that changes, until
// `finished(it)` or `timeoutMs` passed; returns the last value read.
export async function watch(timeoutMs, read, finished) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const s = await read();
    const now = JSON.stringify(s);
    if (now !== last) {
      out(s);
      last = now;
    }
    if (finished(s) || Date.now() > deadline)
      return s;
    await sleep(50);
  }
}
