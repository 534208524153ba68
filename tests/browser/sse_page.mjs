// SPDX-License-Identifier: Apache-2.0
// Drives Debian's Chromium (headless, through playwright-core from tests/js/node_modules) to
// a page that reads heraldd's Server-Sent Events with a real EventSource.
//
//   node sse_page.mjs PAGE_URL EXPECTED TIMEOUT_MS
//
// Prints one JSON line whenever the page's state changes:
//   {"received": n, "opens": n, "errors": n}
// and a last line {"done": true, "events": [{id, type, data}], "opens", "errors"} 500 ms
// after EXPECTED events arrived (exit 0; later duplicates would be in it), or
// {"done": false, ...} at TIMEOUT_MS (exit 1).
// Launch failures print {"launch_error": "..."} and exit 2.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(new URL("../js/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const [pageUrl, expectedText, timeoutText] = process.argv.slice(2);
const expected = Number(expectedText);
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
  await page.goto(pageUrl, { timeout: 10000 });
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const s = await page.evaluate(() => ({ received: window.herald.events.length,
      opens: window.herald.opens, errors: window.herald.errors }));
    const now = JSON.stringify(s);
    if (now !== last) {
      out(s);
      last = now;
    }
    if (s.received >= expected || Date.now() > deadline) {
      if (s.received >= expected) // late duplicates would show up meanwhile
        await new Promise((r) => setTimeout(r, 500));
      const h = await page.evaluate(() => window.herald);
      out({ done: s.received >= expected, events: h.events, opens: h.opens, errors: h.errors });
      code = s.received >= expected ? 0 : 1;
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
