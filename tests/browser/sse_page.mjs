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
import { drivePage, out, sleep, watch } from "./browser_page.mjs";

const [pageUrl, expectedText, timeoutText] = process.argv.slice(2);
const expected = Number(expectedText);
const timeoutMs = Number(timeoutText || 30000);

await drivePage(pageUrl, {}, async (page) => {
  const s = await watch(timeoutMs,
    () => page.evaluate(() => ({ received: window.herald.events.length,
      opens: window.herald.opens, errors: window.herald.errors })),
    (s) => s.received >= expected);
  if (s.received >= expected) // late duplicates would show up meanwhile
    await sleep(500);
  const h = await page.evaluate(() => window.herald);
  out({ done: s.received >= expected, events: h.events, opens: h.opens, errors: h.errors });
  return s.received >= expected ? 0 : 1;
});
