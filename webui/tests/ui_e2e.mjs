// The admin UI in Debian's Chromium, driven by playwright-core, against a real
// sealgated (tests/e2e/test_webui.py starts it and passes what it set up in
// SEALGATE_UI_TEST as JSON). Exits non-zero, naming the check, on any failure.
//
// What it checks: an admin sees the status, the HSM's key labels and revokes a
// grant with a reason; each page's own checks (checks/*.mjs: policy, KV store,
// leases, metrics, key rotation, audit log); an auditor gets no working control and the API refuses it; a page
// on another origin cannot make the browser change anything (CSRF); no page
// breaks its Content-Security-Policy; axe-core finds no serious accessibility
// violation; a planted canary secret is in no page, DOM, network
// response or console message. Screenshots of every page go to cfg.screenshots.
import assert from "node:assert/strict";
import { cfg, launchChromium, ORIGIN, seen, axeSource, PAGE_IDS, contextOptions, watchedPage, openPage, shot, check, passed,
  outputs } from "./harness.mjs";
import policyChecks from "./checks/policy.mjs";
import metricsChecks from "./checks/metrics.mjs";
import leaseChecks from "./checks/leases.mjs";
import kvChecks from "./checks/kv.mjs";
import auditChecks from "./checks/audit.mjs";
import keyChecks from "./checks/keys.mjs";

const browser = await launchChromium();
try {
  const admin = await browser.newContext(contextOptions("admin"));
  const page = await watchedPage(admin);

  await check("the UI answers with its security headers", async () => {
    const res = await page.goto(`${ORIGIN}/ui/`);
    assert.equal(res.status(), 200);
    const csp = res.headers()["content-security-policy"];
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers()["x-content-type-options"], "nosniff");
    assert.equal(res.headers()["referrer-policy"], "no-referrer");
  });

  await check("overview: the admin sees every component green", async () => {
    await openPage(page, "overview");
    await page.locator("#who", { hasText: "admin (admin)" }).waitFor();
    for (const component of ["HSM", "Sealed state", "Audit log", "PDP"]) {
      const badge = page.locator(`tr[data-component="${component}"] .badge`);
      assert.equal(await badge.getAttribute("class"), "badge ok", component);
    }
    assert.match(await page.locator('tr[data-component="HSM"]').innerText(), /token sealgate-dev/);
    assert.match(await page.locator('tr[data-component="PDP"]').innerText(),
      /reachable[\s\S]*type embedded, last call \S+ took \d+\.\d ms, 0 of [1-9]\d* calls failed/);
    assert.match(await page.locator('tr[data-component="Audit log"]').innerText(),
      /[1-9]\d* entries, checkpoint signed over [1-9]\d* entries, the newest written 20\d\d-/);
    await shot(page, "overview");
  });

  await check("keys: the HSM's key labels and attributes", async () => {
    await openPage(page, "keys");
    for (const label of cfg.key_labels) {
      await page.locator(`tr[data-key="${label}"]`).waitFor();
    }
    assert.match(await page.locator('tr[data-key="sealgate-kek"]').innerText(), /-EXTRACTABLE/);
    await shot(page, "keys");
  });

  await check("grants: an admin revokes a grant, with a reason", async () => {
    await openPage(page, "grants");
    // The server searches: part of the id finds that grant alone.
    await page.getByLabel("Search grants by id").fill(cfg.grant_id.slice(2, 12));
    await page.getByRole("table").getByText(/^grants 1–1 of 1$/).waitFor();
    const row = page.locator(`tr[data-grant="${cfg.grant_id}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /mTLS certificate/); // bound to the service's certificate
    await row.getByRole("button", { name: /Revoke grant/ }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await dialog.getByText("A reason is required.").waitFor(); // no reason, no revocation
    await shot(page, "grants-revoke");
    await dialog.getByLabel(/Reason/).fill(cfg.revoke_reason);
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await page.getByText(`Grant ${cfg.grant_id} revoked.`).waitFor();
    assert.match(await row.innerText(), /revoked/);
    await shot(page, "grants");
  });

  // Each page's own checks (checks/*.mjs). The audit checks come last: they look
  // for the changes the others made.
  await policyChecks({ browser, page });
  await leaseChecks({ browser, page });
  await metricsChecks({ browser, page });
  await kvChecks({ browser, page });
  await keyChecks({ browser, page });
  await auditChecks({ browser, page });

  await check("keyboard: the skip link and the navigation work without a mouse", async () => {
    await openPage(page, "overview");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await page.waitForURL(/#\/keys$/);
  });

  await check("a narrow window: nothing overflows sideways", async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    for (const id of PAGE_IDS) {
      await openPage(page, id);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${id} overflows by ${overflow}px`);
      if (id.startsWith("kv/")) await shot(page, "kv-narrow");
    }
    await openPage(page, "overview");
    await shot(page, "overview-narrow");
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await check("CSRF: a page on another origin cannot make the browser change anything", async () => {
    const attack = await watchedPage(admin);
    await attack.goto(cfg.attacker_url);
    await attack.waitForFunction(() => document.title === "done", null, { timeout: 15000 });
    const outcome = await attack.evaluate(() => window.outcome);
    assert.equal(outcome.sent, true, JSON.stringify(outcome)); // the browser did send them
    await attack.close();
  });

  await check("an auditor: read-only pages, and the API refuses a change", async () => {
    const auditor = await browser.newContext(contextOptions("auditor"));
    const ap = await watchedPage(auditor);
    await openPage(ap, "grants");
    await ap.locator("#who", { hasText: "(auditor)" }).waitFor();
    await ap.getByText("Read-only: your role cannot revoke grants.").waitFor();
    assert.equal(await ap.getByRole("button", { name: /Revoke/ }).count(), 0);
    const refused = await ap.evaluate(async (id) => {
      const r = await fetch(`/admin/v1/grants/${id}?reason=x`, { method: "DELETE", headers: { "X-Sealgate-UI": "1" } });
      return { status: r.status, body: await r.json() };
    }, cfg.other_grant_id);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, "FORBIDDEN");
    await shot(ap, "grants-auditor");
    await auditor.close();
  });

  await check("accessibility: axe-core finds no serious or critical violation", async () => {
    // A context of its own that ignores the CSP: axe is injected as a script.
    const axeContext = await browser.newContext(contextOptions("admin", { bypassCSP: true }));
    const ap = await axeContext.newPage();
    for (const id of PAGE_IDS) {
      await openPage(ap, id);
      await ap.addScriptTag({ content: axeSource });
      const violations = await ap.evaluate(async () => (await window.axe.run()).violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`));
      assert.deepEqual(violations, [], id);
    }
    await axeContext.close();
  });

  await check("no page broke its Content-Security-Policy", async () => {
    assert.deepEqual(seen.csp, []);
  });

  await check("the canary is in no page, DOM, response or console message", async () => {
    const everything = seen.bodies.join("\n") + "\n" + seen.console.join("\n");
    for (const form of cfg.canary_forms) assert.ok(!everything.includes(form), "the canary leaked");
    assert.ok(seen.bodies.length > 10, "the scan saw the pages' responses");
  });
} finally {
  await browser.close();
}
console.log(JSON.stringify({ passed, ...outputs }));
