// Grants: every grant the state has a record of (used or revoked at least once),
// and, for admins, revocation with a confirmation and a reason (audited).
import { api } from "../api.js";
import { h, clear, table, time, confirmAction, runAction, withReason } from "../dom.js";

export default {
  id: "grants",
  title: "Grants",
  roles: ["admin", "auditor"],
  async render(el, ctx) {
    const canRevoke = ctx.who.role === "admin";
    const { grants = [] } = await api("GET", "/admin/v1/grants");
    const search = h("input", { id: "grant-search", type: "search", autocomplete: "off" });
    const notice = h("div", { "aria-live": "polite" });
    const holder = h("div");

    const revoke = async (g) => {
      const reason = await confirmAction({ title: "Revoke grant", action: "Revoke",
        detail: `Grant ${g.grant_id} and every grant delegated from it stop working at once.` });
      if (reason === null) return;
      await runAction(notice, `Grant ${g.grant_id} revoked.`, async () => {
        await api("DELETE", withReason(`/admin/v1/grants/${encodeURIComponent(g.grant_id)}`, reason));
        g.revoked = true;
        draw();
      });
    };

    const draw = () => {
      const q = search.value.trim();
      const shown = grants.filter((g) => !q || g.grant_id.includes(q));
      clear(holder).append(table(`${shown.length} of ${grants.length} grants`,
        ["Grant id", "Remaining uses", "Expires", "State", canRevoke ? "Action" : null].filter(Boolean),
        shown.map((g) => h("tr", { "data-grant": g.grant_id },
          h("th", { scope: "row" }, h("code", {}, g.grant_id)), h("td", {}, g.remaining_uses),
          h("td", {}, time(g.expires_at)), h("td", {}, g.revoked ? "revoked" : "active"),
          canRevoke ? h("td", {}, g.revoked ? "" : h("button", { type: "button", class: "danger",
            "aria-label": `Revoke grant ${g.grant_id}`, onclick: () => revoke(g) }, "Revoke")) : null))));
    };
    search.addEventListener("input", draw);
    el.append(h("label", { for: "grant-search" }, "Search by grant id "), search, notice, holder);
    if (!canRevoke) el.append(h("p", { class: "muted" }, "Read-only: your role cannot revoke grants."));
    draw();
  },
};
