// Keys: every key in the HSM token, as the HSM describes it (PKCS#11 attributes
// shown +SET / -CLEAR), and the versions of the rotating keys (API.md, "Admin
// listener: key rotation"). Values never leave the HSM, so there is nothing else
// to show. Admins rotate a key and retire an earlier version, each with a
// confirmation and a reason (audited); a TLS rotation shows the certificate
// request to have signed.
import { api } from "../api.js";
import { h, table, time, confirmAction, runAction, withReason } from "../dom.js";

// What a rotation does, per kind, as the confirmation says it.
const ROTATIONS = {
  "ref-hmac": "New resource_refs are computed under the new version; grants issued before keep theirs.",
  grant: "The new version signs every grant from now on; the old one keeps verifying until retired.",
  audit: "Both keys sign a handover checkpoint; auditors then pin the new public key as well.",
  tls: "Creates the next TLS key and its certificate request; it serves once its certificate is installed.",
};

function versionState(k) {
  if (k.active) return "active";
  return k.retired ? "retired" : "verifies";
}

export default {
  id: "keys",
  title: "Keys",
  roles: ["admin", "auditor"],
  async render(el, ctx) {
    const canChange = ctx.who.role === "admin";
    const notice = h("div", { "aria-live": "polite" });
    const summary = h("p", {});
    const versionsBox = h("div", {});
    const requestBox = h("div", {});
    const hsmBox = h("div", {});

    // The tables, fetched again after every change.
    const draw = async () => {
      const [status, inventory] = await Promise.all([api("GET", "/admin/v1/status"), api("GET", "/admin/v1/keys")]);
      const hsm = status.hsm || {};
      summary.textContent = `Token ${(hsm.token || {}).label || "?"}; resource_ref key version ${hsm.ref_key_version ?? "?"}.`;
      versionsBox.replaceChildren(table("Key versions",
        ["Label", "Kind", "State", "Retirable from", canChange ? "Action" : null].filter(Boolean),
        (inventory.keys || []).map((k) => h("tr", { "data-version": k.label },
          h("th", { scope: "row" }, k.label), h("td", {}, k.kind), h("td", {}, versionState(k)),
          h("td", {}, k.retirable_at && !k.active && !k.retired ? time(k.retirable_at) : ""),
          canChange ? h("td", {}, k.active || k.retired ? "" : h("button", { type: "button", class: "danger",
            "aria-label": `Retire ${k.label}`, onclick: () => retire(k) }, "Retire")) : null))));
      hsmBox.replaceChildren(table("Keys in the HSM", ["Label", "Type", "Bits", "Fingerprint / KCV", "Attributes"],
        (hsm.keys || []).map((k) => h("tr", { "data-key": k.label },
          h("th", { scope: "row" }, k.label), h("td", {}, k.type), h("td", {}, k.bits ?? ""),
          h("td", {}, h("code", {}, k.fingerprint || "")),
          h("td", {}, Object.entries(k.attributes || {}).map(([name, on]) =>
            h("span", { class: `attr ${on ? "on" : "off"}` }, `${on ? "+" : "-"}${name}`)))))));
    };

    const rotate = async (kind) => {
      const reason = await confirmAction({ title: `Rotate the ${kind} key`, action: "Rotate", detail: ROTATIONS[kind] });
      if (reason === null) return;
      await runAction(notice, `The ${kind} key was rotated.`, async () => {
        const answer = await api("POST", withReason("/admin/v1/keys/rotate", reason), { kind });
        requestBox.replaceChildren();
        if (answer.certificate_request) {
          requestBox.append(
            h("h2", {}, `Certificate request for ${answer.label}`),
            h("p", {}, "Have your CA sign it, install the certificate, name both in the config and reload " +
              "(RUNBOOK, \"The TLS key\")."),
            h("pre", { "data-csr": answer.label }, answer.certificate_request));
        }
        await draw();
      });
    };
    const retire = async (k) => {
      const reason = await confirmAction({ title: `Retire ${k.label}`, action: "Retire", typed: k.label,
        detail: `${k.label} is never used again (it stays in the HSM): what depends on it stops working.` });
      if (reason === null) return;
      await runAction(notice, `${k.label} retired.`, async () => {
        await api("POST", withReason("/admin/v1/keys/retire", reason), { label: k.label });
        await draw();
      });
    };

    el.append(summary, notice, versionsBox,
      canChange
        ? h("div", { class: "actions" }, Object.keys(ROTATIONS).map((kind) => h("button", { type: "button",
          onclick: () => rotate(kind) }, `Rotate ${kind}`)))
        : h("p", { class: "muted" }, "Read-only: your role cannot rotate or retire keys."),
      requestBox, hsmBox);
    await draw();
  },
};
