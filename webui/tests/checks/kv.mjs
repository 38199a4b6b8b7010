// The KV page: an admin browses namespace → mount → folder → secret and sees its
// versions and metadata, never a value (the canary test_webui.py planted is in
// no response; the final scan covers every page); deletes, undeletes and destroys
// versions with a reason (destroy only with the path typed back); an auditor
// browses read-only and the API refuses the auditor's delete.
import assert from "node:assert/strict";
import { cfg, seen, contextOptions, watchedPage, openPage, shot, check } from "../harness.mjs";

const { namespace: NS, mount: MOUNT } = cfg.kv;

function versionRow(page, n) {
  return page.locator(`tr[data-version="${n}"]`);
}

// Chooses `versions`, presses `button` and answers the dialog with `reason`.
async function change(page, versions, button, reason, typed) {
  for (const n of versions) await page.getByLabel(`Version ${n}`, { exact: true }).check();
  await page.getByRole("button", { name: button, exact: true }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel(/Reason/).fill(reason);
  if (typed !== undefined) await dialog.getByLabel(/^Type /).fill(typed);
  await dialog.getByRole("button", { name: button.replace("…", ""), exact: true }).click();
}

export default async function kvChecks({ browser, page }) {
  await check("kv: an admin browses namespace → mount → folder → secret; versions and metadata, no value", async () => {
    await openPage(page, "kv");
    assert.match(await page.locator(`tr[data-namespace="${NS}"]`).innerText(), /\(default\)/);
    await page.getByRole("link", { name: `Mount ${MOUNT} in ${NS}` }).click();
    await page.waitForURL(new RegExp(`#/kv/${NS}/${MOUNT}/$`));
    const folder = cfg.kv.secret.slice(0, cfg.kv.secret.lastIndexOf("/") + 1); // "app/"
    const name = cfg.kv.secret.slice(folder.length); // "db"
    await page.locator(`tr[data-key="${folder}"]`).getByRole("link").click();
    await page.waitForURL(new RegExp(`#/kv/${NS}/${MOUNT}/${folder}$`));
    const row = page.locator(`tr[data-key="${name}"]`);
    assert.match(await row.innerText(), /secret/);
    await row.getByRole("link").click();
    await page.getByRole("heading", { name: `Secret ${cfg.kv.secret}` }).waitFor();
    assert.match(await versionRow(page, 1).innerText(), /Version 1[\s\S]*\(current\)[\s\S]*active/);
    assert.match(await page.locator("dl.facts").first().innerText(), /Current version\s+1/);
    await page.getByRole("heading", { name: `Mount ${MOUNT} (${NS})` }).waitFor(); // the mount's config
    // The breadcrumb leads back up.
    assert.equal(await page.locator('nav.crumbs a[aria-current="location"]').innerText(), name);

    await openPage(page, `kv/${NS}/${MOUNT}/${cfg.kv.rotating}`);
    for (const n of [1, 2, 3]) await versionRow(page, n).waitFor();
    const custom = page.locator('pre.code[aria-label="Custom metadata"]');
    await custom.locator(".tok-key", { hasText: '"owner"' }).waitFor();
    assert.match(await custom.innerText(), new RegExp(cfg.kv.owner));
    await shot(page, "kv");

    // Never a value: no page asked for one.
    const reads = seen.requests.filter((r) => /^GET \S+\/v1\/[^/]+\/data\//.test(r));
    assert.deepEqual(reads, []);
    assert.ok(seen.requests.some((r) => r.includes(`/v1/${MOUNT}/metadata/`)), "the page's requests were watched");
  });

  await check("kv: an admin soft-deletes a version with a reason, then undeletes it", async () => {
    await openPage(page, `kv/${NS}/${MOUNT}/${cfg.kv.rotating}`);
    await page.getByRole("button", { name: "Delete…", exact: true }).click();
    await page.getByText("Choose at least one version first.").waitFor(); // nothing chosen, nothing asked
    await change(page, [2], "Delete…", cfg.kv.delete_reason);
    await page.getByText(`Version 2 of ${cfg.kv.rotating} deleted.`).waitFor();
    assert.match(await versionRow(page, 2).innerText(), /deleted/);
    assert.match(await versionRow(page, 3).innerText(), /active/);
    await change(page, [2], "Undelete…", cfg.kv.undelete_reason);
    await page.getByText(`Version 2 of ${cfg.kv.rotating} undeleted.`).waitFor();
    assert.match(await versionRow(page, 2).innerText(), /active/);
  });

  await check("kv: destroy is refused without the path typed back, then done with it", async () => {
    await page.getByLabel("Version 1", { exact: true }).check();
    await page.getByRole("button", { name: "Destroy…", exact: true }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel(/Reason/).fill(cfg.kv.destroy_reason);
    await dialog.getByLabel(/^Type /).fill("app/something-else");
    await dialog.getByRole("button", { name: "Destroy", exact: true }).click();
    await dialog.getByText(`Type ${cfg.kv.rotating} exactly.`).waitFor();
    await shot(page, "kv-destroy");
    assert.match(await versionRow(page, 1).innerText(), /active/); // nothing was sent
    await dialog.getByLabel(/^Type /).fill(cfg.kv.rotating);
    await dialog.getByRole("button", { name: "Destroy", exact: true }).click();
    await page.getByText(`Version 1 of ${cfg.kv.rotating} destroyed.`).waitFor();
    assert.match(await versionRow(page, 1).innerText(), /destroyed/);
    assert.equal(await versionRow(page, 1).getByRole("checkbox").count(), 0); // nothing left to choose
  });

  await check("kv: an auditor browses read-only, and the API refuses the auditor's delete", async () => {
    const auditor = await browser.newContext(contextOptions("auditor"));
    const ap = await watchedPage(auditor);
    await openPage(ap, `kv/${NS}/${MOUNT}/${cfg.kv.rotating}`);
    await ap.getByText("Read-only: your role cannot delete, undelete or destroy versions.").waitFor();
    for (const n of [1, 2, 3]) await versionRow(ap, n).waitFor();
    assert.equal(await ap.getByRole("checkbox").count(), 0);
    assert.equal(await ap.getByRole("button", { name: /Delete|Undelete|Destroy/ }).count(), 0);
    const refused = await ap.evaluate(async ({ mount, path, ns }) => {
      const r = await fetch(`/v1/${mount}/delete/${path}?reason=auditor-try`, { method: "POST",
        headers: { "X-Sealgate-UI": "1", "X-Vault-Namespace": ns, "Content-Type": "application/json" },
        body: JSON.stringify({ versions: [3] }) });
      return { status: r.status, code: r.headers.get("X-Sealgate-Error"), body: await r.json() };
    }, { mount: MOUNT, path: cfg.kv.rotating, ns: NS });
    assert.deepEqual(refused, { status: 403, code: "FORBIDDEN", body: { errors: ["permission denied"] } });
    await shot(ap, "kv-auditor");
    await auditor.close();
  });
}
