// Leases: dynamic database credentials (docs/PROVIDERS.md) with their expiry;
// admins renew, revoke (confirmation and a reason) and revoke by prefix (typed
// confirmation).
import { api } from "../api.js";
import { h, time, confirmAction, runAction, withReason } from "../dom.js";
import { pagedList } from "../paged.js";

export default {
  id: "leases",
  title: "Leases",
  roles: ["admin", "auditor"],
  async render(el, ctx) {
    const isAdmin = ctx.who.role === "admin";
    const notice = h("div", { "aria-live": "polite" });
    const act = (what, fn) => runAction(notice, what, async () => {
      await fn();
      await reload();
    });
    const renew = (l) => act(`Lease ${l.id} renewed.`, () => api("PUT", "/admin/v1/leases/renew", { lease_id: l.id }));
    const revoke = async (l) => {
      const reason = await confirmAction({ title: "Revoke lease", action: "Revoke",
        detail: `The database user of ${l.id} is dropped and its sessions are ended.` });
      if (reason !== null) {
        await act(`Lease ${l.id} revoked.`, () =>
          api("PUT", withReason("/admin/v1/leases/revoke", reason), { lease_id: l.id }));
      }
    };
    const prefix = h("input", { id: "lease-prefix", autocomplete: "off" });
    const revokePrefix = async (e) => {
      e.preventDefault();
      const p = prefix.value.trim();
      if (!p) return;
      const reason = await confirmAction({ title: "Revoke every lease under a prefix", action: "Revoke all",
        detail: `Every lease whose id starts with ${p} is revoked.`, typed: p });
      if (reason !== null) {
        await act(`Leases under ${p} revoked.`, () =>
          api("PUT", withReason(`/admin/v1/leases/revoke-prefix/${p.split("/").map(encodeURIComponent).join("/")}`, reason)));
      }
    };
    const list = pagedList({ id: "lease", noun: "leases", path: "/admin/v1/leases", field: "leases",
      headers: ["Lease id", "Tenant / mount / role", "Expires", "Renewable", isAdmin ? "Actions" : null].filter(Boolean),
      row: (l) => h("tr", { "data-lease": l.id },
        h("th", { scope: "row" }, h("code", {}, l.id)), h("td", {}, `${l.tenant} / ${l.mount} / ${l.role}`),
        h("td", {}, time(l.expire_time)), h("td", {}, l.renewable ? "yes" : "no"),
        isAdmin ? h("td", {}, h("button", { type: "button", onclick: () => renew(l) }, "Renew"), " ",
          h("button", { type: "button", class: "danger", onclick: () => revoke(l) }, "Revoke")) : null) });
    const reload = () => list.reload();
    el.append(notice, list.element);
    if (isAdmin) {
      el.append(h("form", { class: "card", "aria-label": "Revoke by prefix", onsubmit: revokePrefix },
        h("h2", {}, "Revoke by prefix"), h("label", { for: "lease-prefix" }, "Lease id prefix "), prefix, " ",
        h("button", { type: "submit", class: "danger" }, "Revoke…")));
    } else {
      el.append(h("p", { class: "muted" }, "Read-only: your role cannot renew or revoke leases."));
    }
    await reload();
  },
};
