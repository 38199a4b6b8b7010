// Grants: every grant the state has a record of (used or revoked at least once),
// paged and searched by the server,
// and, for admins, revocation with a confirmation and a reason (audited).
import { api } from "../api.js";
import { h, time, confirmAction, runAction, withReason } from "../dom.js";
import { pagedList } from "../paged.js";

// What each binding means to a reader (API.md: the grant's `cnf`).
const BINDINGS = { mtls: "mTLS certificate", dpop: "DPoP key", unknown: "unknown (revoked before any use)" };

export default {
  id: "grants",
  title: "Grants",
  roles: ["admin", "auditor"],
  async render(el, ctx) {
    const canRevoke = ctx.who.role === "admin";
    const notice = h("div", { "aria-live": "polite" });
    const revoke = async (g) => {
      const reason = await confirmAction({ title: "Revoke grant", action: "Revoke",
        detail: `Grant ${g.grant_id} and every grant delegated from it stop working at once.` });
      if (reason === null) return;
      await runAction(notice, `Grant ${g.grant_id} revoked.`, async () => {
        await api("DELETE", withReason(`/admin/v1/grants/${encodeURIComponent(g.grant_id)}`, reason));
        await list.reload();
      });
    };
    const list = pagedList({ id: "grant", noun: "grants", path: "/admin/v1/grants", field: "grants",
      headers: ["Grant id", "Binding", "Remaining uses", "Expires", "State", canRevoke ? "Action" : null]
        .filter(Boolean),
      row: (g) => h("tr", { "data-grant": g.grant_id },
        h("th", { scope: "row" }, h("code", {}, g.grant_id)), h("td", {}, BINDINGS[g.binding] || g.binding),
        h("td", {}, g.remaining_uses),
        h("td", {}, time(g.expires_at)), h("td", {}, g.revoked ? "revoked" : "active"),
        canRevoke ? h("td", {}, g.revoked ? "" : h("button", { type: "button", class: "danger",
          "aria-label": `Revoke grant ${g.grant_id}`, onclick: () => revoke(g) }, "Revoke")) : null) });
    el.append(notice, list.element);
    if (!canRevoke) el.append(h("p", { class: "muted" }, "Read-only: your role cannot revoke grants."));
    await list.reload();
  },
};
