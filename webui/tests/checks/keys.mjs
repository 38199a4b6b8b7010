// The keys page: an admin rotates the grant key (confirmed, with a reason) and
// sees the new version active and the old one still verifying; retiring the old
// one too early is refused with the API's code and changes nothing; a TLS
// rotation shows the certificate request; an auditor sees the versions and no
// control. (Not the audit key: the export check pins the key in use.)
import assert from "node:assert/strict";
import { cfg, openPage, shot, check, watchedPage, contextOptions } from "../harness.mjs";

export default async function keyChecks({ browser, page }) {
  await check("keys: an admin rotates the grant and TLS keys; an early retirement is refused", async () => {
    await openPage(page, "keys");
    const v1 = page.locator('tr[data-version="sealgate-grant-es256-v1"]');
    await v1.waitFor();
    assert.match(await v1.innerText(), /active/);

    await page.getByRole("button", { name: "Rotate grant" }).click();
    let dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Rotate" }).click();
    await dialog.getByText("A reason is required.").waitFor(); // no reason, no rotation
    await dialog.getByLabel(/Reason/).fill(cfg.keys.reason);
    await dialog.getByRole("button", { name: "Rotate" }).click();
    await page.getByText("The grant key was rotated.").waitFor();
    const v2 = page.locator('tr[data-version="sealgate-grant-es256-v2"]');
    await v2.waitFor();
    assert.match(await v2.innerText(), /active/);
    assert.match(await v1.innerText(), /verifies/);

    await v1.getByRole("button", { name: "Retire sealgate-grant-es256-v1" }).click();
    dialog = page.getByRole("dialog");
    await dialog.getByLabel(/Reason/).fill(cfg.keys.reason);
    await dialog.getByLabel("Type sealgate-grant-es256-v1 to confirm").fill("sealgate-grant-es256-v1");
    await dialog.getByRole("button", { name: "Retire" }).click();
    await page.getByRole("alert").getByText("KEY_IN_USE").waitFor(); // grants it signed may still be valid
    assert.match(await v1.innerText(), /verifies/);

    await page.getByRole("button", { name: "Rotate tls" }).click();
    dialog = page.getByRole("dialog");
    await dialog.getByLabel(/Reason/).fill(cfg.keys.reason);
    await dialog.getByRole("button", { name: "Rotate" }).click();
    const csr = page.locator('pre[data-csr="sealgate-tls-v2"]');
    await csr.waitFor();
    assert.match(await csr.innerText(), /^-----BEGIN CERTIFICATE REQUEST-----/);
    assert.match(await page.locator('tr[data-version="sealgate-tls-v2"]').innerText(), /verifies/);
    assert.match(await page.locator('tr[data-version="sealgate-tls"]').innerText(), /active/);
    await shot(page, "keys-rotated");

    const auditor = await browser.newContext(contextOptions("auditor"));
    const ap = await watchedPage(auditor);
    await openPage(ap, "keys");
    await ap.locator('tr[data-version="sealgate-grant-es256-v2"]').waitFor();
    await ap.getByText("Read-only: your role cannot rotate or retire keys.").waitFor();
    assert.equal(await ap.getByRole("button", { name: /Rotate|Retire/ }).count(), 0);
    await auditor.close();
  });
}
