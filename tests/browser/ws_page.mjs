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
import { drivePage, out, watch } from "./browser_page.mjs";

const [pageUrl, timeoutText] = process.argv.slice(2);
const timeoutMs = Number(timeoutText || 30000);

await drivePage(pageUrl, { pageErrors: true }, async (page) => {
  const { state } = await watch(timeoutMs,
    async () => ({ state: await page.evaluate(() => window.herald || null) }),
    (o) => !!(o.state && o.state.done));
  out({ done: !!(state && state.done), state });
  return state && state.done ? 0 : 1;
});
