// The break-glass page in Debian's Chromium, driven by playwright-core, against a
// real sealgated with two approvers enrolled on software TPMs
// (tests/e2e/test_webui_breakglass.py starts it and passes what it set up in
// SEALGATE_UI_TEST as JSON). Exits non-zero, naming the check, on any failure.
//
// An admin asks for a window in the form; an approver sees the request
// read-only, with its digest and the `sealgate approve … ID` command, and the
// API refuses the approver's changes. The browser cannot make the TPM quote, so
// this script hands the command it read off the page to the Python test (a JSON
// line on stdout) and waits on stdin until that test has run it with two
// approvers' TPMs. Then: the open window with its countdown, as admin, approver
// and auditor; the admin ends it with a reason. Throughout: no CSP violation,
// no page error, axe-core on each role's view, and no key material anywhere.
import assert from "node:assert/strict";
import readline from "node:readline";
import { cfg, launchChromium, ORIGIN, seen, axeSource, contextOptions, watchedPage, openPage, shot, check,
  passed } from "./harness.mjs";

const ADMIN_ID = "spiffe://sealgate-admin/admin/admin";
const ask = cfg.ask; // what the admin types in the form

// The Python side answers each hand-off with one JSON line on stdin.
const stdin = readline.createInterface({ input: process.stdin });
const stdinLines = stdin[Symbol.asyncIterator]();
async function handOff(message) {
  console.log(JSON.stringify(message));
  const { value, done } = await stdinLines.next();
  if (done) throw new Error("the test closed stdin before answering");
  return JSON.parse(value);
}

const sorted = (list) => [...list].sort();
// The scope as the server normalised it (sorted, no repeats): what the approvers sign.
const scopeText = `tenant ${ask.tenant}; ${sorted(ask.uri_prefixes).join(", ")}; `
  + `actions ${sorted(ask.actions).join(", ")}`;
const table = (page, caption) => page.getByRole("table", { name: caption });
const mainControls = (page) => page.locator("main").locator("button, form, input, textarea, select");

// "9 min 58 s left" in seconds.
function secondsIn(text) {
  const m = /^(\d+) min (\d\d) s left$/.exec(text);
  assert.ok(m, `not a countdown: ${text}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

// axe-core on the break-glass page as `role` sees it, in a context of its own
// that ignores the CSP (axe is injected as a script). `before` may open
// something (a dialog) to check as well.
async function axeCheck(browser, role, before) {
  const context = await browser.newContext(contextOptions(role, { bypassCSP: true }));
  try {
    const p = await context.newPage();
    await openPage(p, "breakglass");
    if (before) await before(p);
    await p.addScriptTag({ content: axeSource });
    const violations = await p.evaluate(async () => (await window.axe.run()).violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`));
    assert.deepEqual(violations, [], role);
  } finally {
    await context.close();
  }
}

// A call to the API from a page, as the page's own code would make it.
async function callFrom(page, method, path, body) {
  return page.evaluate(async ({ method, path, body }) => {
    const r = await fetch(path, { method, headers: { "X-Sealgate-UI": "1", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  }, { method, path, body });
}

const browser = await launchChromium();
let result = {};
try {
  const admin = await browser.newContext(contextOptions("admin"));
  const page = await watchedPage(admin);
  let id, digest, command;

  await check("admin: a request without a reason is refused by the server, and nothing is asked", async () => {
    await openPage(page, "breakglass");
    await page.locator("#who", { hasText: "admin (admin)" }).waitFor();
    assert.equal(await table(page, "Open windows").locator("tbody tr[data-request]").count(), 0);
    await page.getByLabel("Tenant").fill(ask.tenant);
    await page.getByLabel("URI prefixes").fill(ask.uri_prefixes.join("\n"));
    await page.getByLabel("Actions (comma-separated)").fill(ask.actions.join(", "));
    await page.getByLabel("Mode").selectOption(ask.mode);
    await page.getByLabel("Duration (seconds)").fill(String(ask.duration_seconds));
    await page.getByRole("button", { name: "Create request" }).click();
    const problem = page.getByRole("form", { name: "New break-glass request" }).getByRole("alert");
    await problem.waitFor();
    assert.match(await problem.innerText(), /^INVALID_REQUEST 'reason' must be printable text/);
    assert.equal(await table(page, "Requests waiting for approval").locator("tr[data-request]").count(), 0);
  });

  await check("admin: the request made in the form is listed with its digest and the approve command", async () => {
    await page.getByLabel("Reason", { exact: true }).fill(ask.reason);
    await page.getByRole("button", { name: "Create request" }).click();
    const created = page.getByText(/^Request [0-9a-f]{32} created: \d+ approvals needed\.$/);
    await created.waitFor();
    const m = /^Request ([0-9a-f]{32}) created: (\d+) approvals needed\.$/.exec(await created.innerText());
    id = m[1];
    assert.equal(Number(m[2]), cfg.quorum);
    const row = table(page, "Requests waiting for approval").locator(`tr[data-request="${id}"]`);
    await row.waitFor();
    const text = await row.innerText();
    for (const shown of [`by ${ADMIN_ID}`, scopeText,
      `${ask.duration_seconds} s once open`, cfg.mode_words[ask.mode], ask.reason, "none yet",
      `${cfg.quorum} more needed`]) {
      assert.ok(text.includes(shown), `${shown} not in ${text}`);
    }
    digest = await row.locator("code.digest").innerText();
    assert.match(digest, /^[0-9a-f]{64}$/);
    command = await row.locator("code.command").innerText();
    assert.equal(command,
      `sealgate approve --admin ${ORIGIN} --ca ca.pem --cert YOU.pem --key YOU.key --tpm TCTI ${id}`);
    await shot(page, "breakglass-request");
  });

  const approverContext = await browser.newContext(contextOptions("approver"));
  const ap = await watchedPage(approverContext);

  await check("approver: the request read-only, the same digest and command, no control", async () => {
    await openPage(ap, "breakglass");
    await ap.locator("#who", { hasText: `${cfg.approver_name} (approver)` }).waitFor();
    assert.deepEqual(await ap.locator("#nav a").allInnerTexts(), ["Break-glass"]);
    const row = table(ap, "Requests waiting for approval").locator(`tr[data-request="${id}"]`);
    await row.waitFor();
    assert.equal(await row.locator("code.digest").innerText(), digest);
    assert.equal(await row.locator("code.command").innerText(), command);
    assert.ok((await row.innerText()).includes(ask.reason));
    await ap.getByText("Approve on your own TPM device with the command shown; the browser cannot make the quote.")
      .waitFor();
    assert.equal(await mainControls(ap).count(), 0, "no approve button, no form");
    await shot(ap, "breakglass-approver");
  });

  await check("approver: the API refuses a request from the approver's page", async () => {
    const refused = await callFrom(ap, "POST", "/admin/v1/breakglass/requests", { ...ask, reason: "from an approver" });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, "FORBIDDEN");
  });

  await check("accessibility: the pending request as admin and as approver", async () => {
    await axeCheck(browser, "admin");
    await axeCheck(browser, "approver");
  });

  // The approvers run the command on their TPM devices (the Python side).
  const answer = await handOff({ approve: { id, digest, command } });
  assert.deepEqual(answer.approved.map((a) => a.name).sort(), cfg.approvers);

  const openRow = (p) => table(p, "Open windows").locator(`tr[data-request="${id}"]`);

  await check("admin: the open window, who approved it, and a countdown that decreases", async () => {
    await openPage(page, "breakglass");
    const row = openRow(page);
    await row.waitFor();
    const text = await row.innerText();
    for (const a of answer.approved) {
      assert.ok(text.includes(`${a.name} at `), `${a.name} not in ${text}`);
      assert.ok(text.includes(`(AK ${a.ak_fingerprint.slice(0, 16)}…)`), `${a.name}'s AK not in ${text}`);
    }
    assert.ok(text.includes(cfg.mode_words[ask.mode]));
    assert.equal(await table(page, "Requests waiting for approval").locator("tr[data-request]").count(), 0);
    const first = secondsIn(await row.locator(".countdown").innerText());
    assert.ok(first > 0 && first <= ask.duration_seconds, `${first} s left`);
    await page.waitForFunction(({ selector, first }) => {
      const m = /^(\d+) min (\d\d) s left$/.exec(document.querySelector(selector)?.textContent || "");
      return m && Number(m[1]) * 60 + Number(m[2]) < first;
    }, { selector: `tr[data-request="${id}"] .countdown`, first });
    const later = secondsIn(await row.locator(".countdown").innerText());
    assert.ok(later < first && later > 0, `${first} s, then ${later} s`);
    await row.getByRole("button", { name: `End window ${id}` }).waitFor();
    await shot(page, "breakglass-window");
  });

  await check("approver: the open window without an end button; the API refuses to close it", async () => {
    await openPage(ap, "breakglass");
    await openRow(ap).locator(".countdown").waitFor();
    assert.equal(await mainControls(ap).count(), 0);
    const refused = await callFrom(ap, "DELETE", `/admin/v1/breakglass/active/${id}?reason=approver`);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, "FORBIDDEN");
  });

  await check("auditor: the open window read-only; the API refuses to close it or to ask for one", async () => {
    const auditorContext = await browser.newContext(contextOptions("auditor"));
    const au = await watchedPage(auditorContext);
    await openPage(au, "breakglass");
    await au.locator("#who", { hasText: "(auditor)" }).waitFor();
    await openRow(au).locator(".countdown").waitFor();
    await au.getByText("Read-only: your role cannot request or end windows.").waitFor();
    assert.equal(await mainControls(au).count(), 0);
    const closing = await callFrom(au, "DELETE", `/admin/v1/breakglass/active/${id}?reason=auditor`);
    assert.equal(closing.status, 403);
    assert.equal(closing.body.error.code, "FORBIDDEN");
    const asking = await callFrom(au, "POST", "/admin/v1/breakglass/requests", { ...ask, reason: "from an auditor" });
    assert.equal(asking.status, 403);
    assert.equal(asking.body.error.code, "FORBIDDEN");
    await auditorContext.close();
  });

  await check("accessibility: the open window as admin (and its end dialog), approver and auditor", async () => {
    await axeCheck(browser, "admin", async (p) => {
      await openRow(p).getByRole("button", { name: `End window ${id}` }).click();
      await p.getByRole("dialog").waitFor();
    });
    await axeCheck(browser, "approver");
    await axeCheck(browser, "auditor");
  });

  await check("admin: cancelling the end dialog ends nothing", async () => {
    await openPage(page, "breakglass");
    await openRow(page).getByRole("button", { name: `End window ${id}` }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    await openPage(page, "breakglass");
    await openRow(page).waitFor();
  });

  await check("admin: ends the window with a reason in the confirmation dialog; it is gone", async () => {
    await openRow(page).getByRole("button", { name: `End window ${id}` }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "End window" }).click();
    await dialog.getByText("A reason is required.").waitFor(); // no reason, no ending
    assert.equal(await openRow(page).count(), 1);
    await shot(page, "breakglass-end");
    await dialog.getByLabel(/Reason/).fill(cfg.end_reason);
    await dialog.getByRole("button", { name: "End window" }).click();
    await page.getByText(`Window ${id} ended.`).waitFor();
    assert.equal(await openRow(page).count(), 0);
    assert.equal(await table(page, "Open windows").locator("tr[data-request]").count(), 0);
    const past = table(page, "Past requests").locator(`tr[data-request="${id}"]`);
    assert.deepEqual(await past.locator("td").allInnerTexts(),
      [scopeText, "ended", ADMIN_ID]);
  });
  await approverContext.close();

  await check("no page broke its Content-Security-Policy, and none threw", async () => {
    assert.deepEqual(seen.csp, []);
    assert.deepEqual(seen.console.filter((m) => m.startsWith("pageerror:")), []);
  });

  await check("no key material in any page, DOM, response or console message", async () => {
    const everything = seen.bodies.join("\n") + "\n" + seen.console.join("\n");
    for (const form of cfg.canary_forms) assert.ok(!everything.includes(form), "key material leaked");
    assert.ok(everything.includes(digest), "the scan saw the pages' responses");
  });
  result = { id, digest, command };
} finally {
  await browser.close();
  stdin.close();
}
console.log(JSON.stringify({ passed, ...result }));
