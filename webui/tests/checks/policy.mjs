// The policy page: an admin's edit with a validation error that points at its
// line, a dry run before and after, a save with a reason, and the new version in
// the history with its diff; an auditor reads and dry-runs but cannot edit.
import assert from "node:assert/strict";
import { cfg, contextOptions, watchedPage, openPage, shot, check } from "../harness.mjs";

const NEW_RULE = {
  id: cfg.policy.rule_id, effect: "allow", subjects: ["spiffe://acme/payments"],
  resources: [`${cfg.policy.uri_prefix}/*`], actions: ["use"],
};

async function dryRun(page, uri) {
  const panel = page.locator("section", { has: page.getByRole("heading", { name: "Dry run" }) });
  await panel.getByLabel("Subject (SPIFFE ID)", { exact: true }).fill("spiffe://acme/payments");
  await panel.getByLabel("URI", { exact: true }).fill(uri);
  await panel.getByLabel("Action", { exact: true }).fill("use");
  await panel.getByRole("button", { name: "Test" }).click();
  const decision = panel.locator("dl.decision");
  await decision.waitFor();
  const text = await decision.innerText();
  await page.evaluate(() => document.querySelector("dl.decision").remove()); // the next run's answer is its own
  return text;
}

export default async function policyChecks({ browser, page }) {
  await check("policy: an admin edits with a line-precise error, dry-runs, saves with a reason, diffs", async () => {
    await openPage(page, "policy");
    const current = page.locator('pre.code[aria-label="The current policy"]');
    await current.locator(".tok-key", { hasText: '"rules"' }).first().waitFor(); // highlighted
    const uri = `${cfg.policy.uri_prefix}/x#password`;
    assert.match(await dryRun(page, uri), /deny[\s\S]*POLICY_NO_MATCH/);

    const editor = page.getByLabel(/^Policy \(JSON/);
    const doc = JSON.parse(await editor.inputValue());
    doc.rules.push(NEW_RULE);
    const good = JSON.stringify(doc, null, 2);
    // The same text with the comma after the new rule's "effect" taken out.
    const lines = good.split("\n");
    const broken = lines.findIndex((l) => l.includes(`"id": "${NEW_RULE.id}"`)) + 1;
    assert.match(lines[broken], /"effect": "allow",$/);
    lines[broken] = lines[broken].slice(0, -1);
    await editor.fill(lines.join("\n"));
    const problem = page.locator("#policy-check li");
    await problem.waitFor();
    // The parser notices at the next line, where the comma should have come before.
    assert.equal(await problem.getAttribute("data-line"), String(broken + 2));
    assert.match(await problem.innerText(), /BAD_JSON/);
    assert.ok(await page.getByRole("button", { name: "Save…" }).isDisabled());
    await problem.getByRole("button").click(); // selects that line in the editor
    const selected = await editor.evaluate((t) => t.value.slice(0, t.selectionStart).split("\n").length);
    assert.equal(selected, broken + 2);
    await shot(page, "policy-invalid");

    await editor.fill(good);
    await page.locator("#policy-check", { hasText: "Valid:" }).waitFor();
    await page.getByRole("button", { name: "Save…" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel(/Reason/).fill(cfg.policy.reason);
    await dialog.getByRole("button", { name: "Save" }).click();
    const saved = page.getByText(/^Policy saved as version \d+\.$/);
    await saved.waitFor();
    const version = Number((await saved.innerText()).match(/\d+/)[0]);
    assert.match(await dryRun(page, uri), new RegExp(`allow[\\s\\S]*${NEW_RULE.id}`));

    const row = page.locator(`tr[data-version="${version}"]`);
    assert.match(await row.innerText(), new RegExp(cfg.policy.reason.replace(/[()]/g, "\\$&")));
    await row.getByRole("button", { name: `Show the changes of version ${version}` }).click();
    const added = page.locator("pre.diff .add");
    await added.first().waitFor();
    assert.match((await added.allInnerTexts()).join("\n"), new RegExp(`"id": "${NEW_RULE.id}"`));
    assert.equal(await page.locator("pre.diff .del").count(), 0); // a rule added, nothing taken away
    await shot(page, "policy");
  });

  await check("policy: an auditor reads and dry-runs, has no editor, and the API refuses a change", async () => {
    const auditor = await browser.newContext(contextOptions("auditor"));
    const ap = await watchedPage(auditor);
    await openPage(ap, "policy");
    await ap.getByText("Read-only: your role cannot change the policy.").waitFor();
    assert.equal(await ap.locator("#policy-text").count(), 0);
    assert.equal(await ap.getByRole("button", { name: /Save/ }).count(), 0);
    assert.match(await dryRun(ap, `${cfg.policy.uri_prefix}/y`), /allow/);
    const refused = await ap.evaluate(async () => {
      const r = await fetch("/admin/v1/policy?reason=x", { method: "PUT", headers: { "X-Sealgate-UI": "1",
        "Content-Type": "application/json" }, body: JSON.stringify({ version: 1, rules: [] }) });
      return { status: r.status, body: await r.json() };
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, "FORBIDDEN");
    await auditor.close();
  });
}
