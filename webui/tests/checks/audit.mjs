// The audit page: the latest signed checkpoint; the entry browser filtered by type
// (the grant revocation, the policy update and the KV deletion the other checks
// made, each exactly once, with its reason) and by time, paged with "Older"
// exactly as the API pages; the export downloaded with a progress bar, saved by
// the browser byte for byte as the API serves it (test_webui.py then verifies the
// saved file with `sealgate audit verify`).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { cfg, contextOptions, watchedPage, openPage, shot, check, outputs } from "../harness.mjs";

async function filter(page, fields) {
  const form = page.getByRole("form", { name: "Filter the log" });
  for (const [label, value] of Object.entries({ Type: "", Tenant: "", Outcome: "", ...fields })) {
    await form.getByLabel(label, { exact: true }).fill(value);
  }
  const answered = page.waitForResponse((r) => r.url().includes("/admin/v1/audit/entries?"));
  await form.getByRole("button", { name: "Show", exact: true }).click();
  const response = await answered;
  await settled(page);
  return new URL(response.url());
}

// The entry list drawn after the answer (it is aria-busy while a page loads).
async function settled(page) {
  await page.locator('#audit-results:not([aria-busy="true"])').waitFor();
}

async function shownIndexes(page) {
  return page.locator("#audit-results tr[data-index]").evaluateAll((rows) => rows.map((r) => Number(r.dataset.index)));
}

async function entryJson(page, index) {
  const row = page.locator(`#audit-results tr[data-index="${index}"]`);
  await row.getByRole("button", { name: `JSON of entry ${index}` }).click();
  const json = page.locator(`#audit-json-${index}`);
  await json.locator(".tok-key").first().waitFor();
  return JSON.parse(await json.locator("pre").evaluate((p) => p.textContent));
}

export default async function auditChecks({ browser, page }) {
  await check("audit: the signed checkpoint, and the entry browser filtered by type shows exactly the changes made",
    async () => {
      await openPage(page, "audit");
      const note = await page.locator('pre[aria-label="The signed checkpoint"]').innerText();
      assert.match(note, /^.+\n\d+\n[A-Za-z0-9+/]+=*\n\n— .+ [A-Za-z0-9+/]+=*/);
      const size = Number(note.split("\n")[1]);
      assert.match(await page.locator("dl.facts").first().innerText(), new RegExp(`Tree size\\s+${size} entries`));
      assert.ok((await shownIndexes(page)).length > 0, "the newest entries are shown at once");

      for (const [type, field, want] of [["grant_revoke", "grant_id", cfg.grant_id],
        ["policy_update", "reason", cfg.policy.reason], ["kv_delete", "reason", cfg.kv.delete_reason],
        ["kv_destroy", "reason", cfg.kv.destroy_reason]]) {
        const url = await filter(page, { Type: type });
        assert.equal(url.searchParams.get("type"), type);
        const indexes = await shownIndexes(page);
        assert.equal(indexes.length, 1, `${type}: ${indexes}`);
        const entry = await entryJson(page, indexes[0]);
        assert.equal(entry.type, type);
        assert.equal(entry[field], want, type);
        assert.equal(entry.actor.role, "admin", type);
        assert.match(await page.locator(`tr[data-index="${indexes[0]}"]`).innerText(), new RegExp(type));
      }
      await shot(page, "audit");
    });

  await check("audit: since/until as unix seconds, and Older pages exactly as the API does", async () => {
    await openPage(page, "audit");
    const future = "2099-01-01T00:00";
    let url = await filter(page, { Type: "kv_write", "Since (your local time)": future });
    const want = await page.evaluate((v) => String(Math.floor(new Date(v).getTime() / 1000)), future);
    assert.equal(url.searchParams.get("since"), want);
    assert.deepEqual(await shownIndexes(page), []);
    await page.getByLabel("Since (your local time)").fill("");
    url = await filter(page, { Type: "kv_write", "Until (not included)": "2000-01-01T00:00" });
    assert.ok(Number(url.searchParams.get("until")) < 946771200, url.search);
    assert.deepEqual(await shownIndexes(page), []);
    await page.getByLabel("Until (not included)").fill("");

    const all = await page.evaluate(async () => (await (await fetch("/admin/v1/audit/entries?type=kv_write&limit=200",
      { headers: { "X-Sealgate-UI": "1" } })).json()).entries.map((e) => e.index));
    assert.ok(all.length >= 4, `kv_write entries: ${all}`);
    await page.getByLabel("Per page").fill("2");
    url = await filter(page, { Type: "kv_write" });
    assert.equal(url.searchParams.get("limit"), "2");
    assert.deepEqual(await shownIndexes(page), all.slice(0, 2));
    const older = page.getByRole("button", { name: "Older", exact: true });
    let pages = 1;
    while (await older.isVisible()) {
      const answered = page.waitForResponse((r) => r.url().includes("/admin/v1/audit/entries?"));
      await older.click();
      const next = new URL((await answered).url());
      assert.ok(next.searchParams.get("before"), next.search);
      pages += 1;
      await settled(page);
    }
    assert.deepEqual(await shownIndexes(page), all); // every entry once, newest first, none skipped
    assert.ok(pages >= 2);
  });

  await check("audit: the export downloads with a progress bar and is saved whole", async () => {
    await openPage(page, "audit");
    const served = page.waitForResponse((r) => r.url().endsWith("/admin/v1/audit/export"));
    await page.getByRole("button", { name: "Download the export" }).click();
    const response = await served;
    await page.locator("#export-status", { hasText: "Done:" }).waitFor();
    const headers = response.headers();
    const length = Number(headers["content-length"]);
    const entries = headers["x-sealgate-audit-entries"];
    assert.ok(length > 0);
    const bar = await page.locator("#export-progress").evaluate((p) => ({ value: p.value, max: p.max }));
    assert.deepEqual(bar, { value: length, max: length });
    assert.match(await page.locator("#export-status").innerText(), new RegExp(`Done: ${entries} entries`));
    const file = `sealgate-audit-${entries}.json`;
    assert.equal(headers["content-disposition"], `attachment; filename="${file}"`);
    assert.match(await page.locator("pre.command").innerText(),
      new RegExp(`sealgate audit verify --key AUDIT_KEY.pem ${file}`));

    const [download] = await Promise.all([page.waitForEvent("download"),
      page.getByRole("link", { name: `Save ${file}` }).click()]);
    assert.equal(download.suggestedFilename(), file);
    assert.equal(await download.failure(), null);
    const saved = path.join(cfg.downloads, file);
    await download.saveAs(saved);
    const bytes = fs.readFileSync(saved);
    // As many bytes as the API announced (the browser does not keep a large body to compare
    // with: test_webui.py verifies the saved file with `sealgate audit verify`).
    assert.equal(bytes.length, length);
    assert.equal(JSON.parse(bytes).tree_size, Number(entries));
    outputs.export_file = saved;
    await shot(page, "audit-export");
  });

  await check("audit: an auditor browses the log and downloads the export too", async () => {
    const auditor = await browser.newContext(contextOptions("auditor"));
    const ap = await watchedPage(auditor);
    await openPage(ap, "audit");
    await ap.locator("#who", { hasText: "(auditor)" }).waitFor();
    assert.ok((await shownIndexes(ap)).length > 0);
    await ap.getByRole("button", { name: "Download the export" }).click();
    await ap.locator("#export-status", { hasText: "Done:" }).waitFor();
    await ap.getByRole("link", { name: /^Save sealgate-audit-\d+\.json$/ }).waitFor();
    await auditor.close();
  });
}
