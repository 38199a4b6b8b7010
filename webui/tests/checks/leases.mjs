// The leases page on real PostgreSQL leases: renew one; revoke one with a
// reason; revoke every lease under a prefix, which asks the prefix typed back.
import assert from "node:assert/strict";
import { cfg, openPage, shot, check } from "../harness.mjs";

export default async function leaseChecks({ page }) {
  await check("leases: an admin renews, revokes with a reason, and revokes a prefix typed back", async () => {
    const { renew, revoke, prefix, reason } = cfg.leases;
    await openPage(page, "leases");
    await page.getByRole("table").getByText(/^leases 1–4 of 4$/).waitFor();
    await shot(page, "leases");

    await page.locator(`tr[data-lease="${renew}"]`).getByRole("button", { name: "Renew" }).click();
    await page.getByText(`Lease ${renew} renewed.`).waitFor();

    await page.locator(`tr[data-lease="${revoke}"]`).getByRole("button", { name: "Revoke" }).click();
    let dialog = page.getByRole("dialog");
    await dialog.getByLabel(/Reason/).fill(reason);
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await page.getByText(`Lease ${revoke} revoked.`).waitFor();
    assert.equal(await page.locator(`tr[data-lease="${revoke}"]`).count(), 0);

    await page.getByLabel("Lease id prefix").fill(prefix);
    await page.getByRole("button", { name: "Revoke…" }).click();
    dialog = page.getByRole("dialog");
    await dialog.getByLabel(/Reason/).fill(reason);
    await dialog.getByLabel(`Type ${prefix} to confirm`).fill(`${prefix}/x`);
    await dialog.getByRole("button", { name: "Revoke all" }).click();
    await dialog.getByText(`Type ${prefix} exactly.`).waitFor(); // not typed back: nothing revoked
    await shot(page, "leases-revoke-prefix");
    await dialog.getByLabel(`Type ${prefix} to confirm`).fill(prefix);
    await dialog.getByRole("button", { name: "Revoke all" }).click();
    await page.getByText(`Leases under ${prefix} revoked.`).waitFor();
    await page.getByRole("table").getByText(/^leases 1–1 of 1$/).waitFor();
    assert.equal(await page.locator(`tr[data-lease="${renew}"]`).count(), 1);
  });
}
