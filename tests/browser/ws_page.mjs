// SPDX-License-Identifier: Apache-2.0
// Drives Debian's Chromium (headless, through playwright-core from tests/js/node_modules) to
// a page that talks to heraldd over the browser's own WebSocket (ws_page.html,
// ws_nats_page.html).
//
//   node ws_page.mjs PAGE_URL TIMEOUT_MS
//
// Prints {"state": window.herald} whenever it changes, and a last line
// {"done": true|false, "state": …} when the page sets window.herald.done (exit 0) or at
// TIMEOUT_MS (exit 1). Page errors print {"page_error": "..."}; launch failures print
// {"launch_error": "..."} and exit 2.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(new URL("../js/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const [pageUrl, timeoutText] = process.argv.slice(2);
const timeoutMs = Number(timeoutText || 30000);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

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
  page.on("pageerror", (e) => out({ page_error: String(e && e.message || e) }));
  await page.goto(pageUrl, { timeout: 10000 });
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const s = await page.evaluate(() => window.herald || null);
    const now = JSON.stringify(s);
    if (now !== last) {
      out({ state: s });
      last = now;
    }
    if ((s && s.done) || Date.now() > deadline) {
      out({ done: !!(s && s.done), state: s });
      code = s && s.done ? 0 : 1;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
} catch (e) {
  out({ error: String(e && e.message || e) });
} finally {
  await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);
