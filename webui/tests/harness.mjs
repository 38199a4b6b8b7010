// What every browser check shares: the set-up tests/e2e/test_webui.py passed in
// SEALGATE_UI_TEST (JSON), browser contexts with a role's client certificate,
// pages whose responses, console messages and CSP violations are kept for the
// final scans, and `check(name, fn)`, which records a passed check by its name.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

export const cfg = JSON.parse(process.env.SEALGATE_UI_TEST);
export const require = createRequire(path.join(cfg.node_modules, "package.json"));
export const ORIGIN = cfg.origin; // https://127.0.0.1:<admin port>
export const seen = { bodies: [], console: [], csp: [], requests: [] }; // requests: "METHOD url"
export const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

// Every page of the UI, by its address (#/<id>): the narrow-window and
// accessibility checks visit each, and a KV secret's own address too (when the
// run has one: cfg.kv).
export const PAGE_IDS = ["overview", "keys", "policy", "grants", "leases", "kv", "breakglass", "audit", "metrics",
  ...(cfg.kv ? [`kv/${cfg.kv.namespace}/${cfg.kv.mount}/${cfg.kv.rotating}`] : [])];

// Debian's Chromium, headless, with nothing that would reach the network by itself.
export function launchChromium() {
  const { chromium } = require("playwright-core");
  return chromium.launch({
    executablePath: cfg.chromium,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

export function contextOptions(role, extra = {}) {
  return {
    ignoreHTTPSErrors: true, // the dev CA is not the browser's
    clientCertificates: [{ origin: ORIGIN, certPath: cfg.certs[role].cert, keyPath: cfg.certs[role].key }],
    viewport: { width: 1280, height: 800 },
    ...extra,
  };
}

// A page whose every response body, console message and CSP violation is kept
// for the canary scan and the CSP check.
export async function watchedPage(context) {
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    seen.console.push(m.text());
    if (/Content Security Policy|CSP violation/i.test(m.text())) seen.csp.push(m.text());
  });
  page.on("pageerror", (e) => seen.console.push(`pageerror: ${e.message}`));
  page.on("request", (r) => seen.requests.push(`${r.method()} ${r.url()}`));
  page.on("response", async (r) => {
    try { seen.bodies.push(await r.text()); } catch (e) { /* a redirect has no body */ }
  });
  return page;
}

// Opens #/<id> and waits until the page has rendered. Always a fresh load: going
// from one #/ address to another only changes the hash, and the old page could
// still be on screen when the wait below looks.
export async function openPage(page, id) {
  if (page.url().startsWith(`${ORIGIN}/ui/`)) await page.goto("about:blank");
  await page.goto(`${ORIGIN}/ui/#/${id}`);
  await page.locator("main h1").first().waitFor();
  await page.locator('main .page:not([aria-busy="true"])').waitFor();
  seen.bodies.push(await page.content());
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(cfg.screenshots, `${name}.png`), fullPage: true });
}

// What the run hands back to test_webui.py beside the passed checks (e.g. the
// path of the audit export the browser downloaded, which it verifies).
export const outputs = {};

export const passed = [];
export async function check(name, fn) {
  await fn();
  passed.push(name);
}
