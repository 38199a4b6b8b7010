// Break-glass (docs/BREAKGLASS.md): open windows with a countdown and, for
// admins, an end button; requests with exactly what they grant and the approvals
// so far; the request form for admins. Approvers see it read-only, with each
// request's digest and the command to run on their TPM device: a browser cannot
// make the TPM quote, so there is no approve button.
import { api } from "../api.js";
import { h, clear, table, time, errorBox, confirmAction, runAction, withReason } from "../dom.js";

const modeWords = {
  pdp_outage: "PDP outage: covered items pass only when the PDP fails",
  override: "override: covered items pass even when the PDP denies them",
  enrol_approver: "enrol an approver",
  remove_approver: "remove an approver",
};

function countdown(endsAt) {
  const left = Math.max(0, endsAt - Math.floor(Date.now() / 1000));
  return `${Math.floor(left / 60)} min ${String(left % 60).padStart(2, "0")} s left`;
}

function scope(r) {
  if (r.approver) return h("span", {}, `approver ${r.approver}`);
  const prefixes = (r.uri_prefixes || []).map((p, i) => [i ? ", " : null, h("code", { class: "prefix" }, p)]);
  return h("span", {}, `tenant ${r.tenant}; `, prefixes, `; actions ${(r.actions || []).join(", ")}`);
}

function approvals(r) {
  if (!r.approvals || !r.approvals.length) return h("span", { class: "muted" }, "none yet");
  return h("ul", { class: "plain" }, r.approvals.map((a) =>
    h("li", {}, `${a.approver} at ${time(a.at)} (AK `, h("code", {}, a.ak_fingerprint.slice(0, 16)), "…)")));
}

function approveCommand(r) {
  return `sealgate approve --admin ${location.origin} --ca ca.pem --cert YOU.pem --key YOU.key --tpm TCTI ${r.id}`;
}

function requestForm(onCreated) {
  const field = (id, label, input, hint) =>
    h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("small", { id: `${id}-hint` }, hint) : null);
  const tenant = h("input", { id: "bg-tenant", required: true, autocomplete: "off" });
  const prefixes = h("textarea", { id: "bg-prefixes", rows: 2, "aria-describedby": "bg-prefixes-hint" });
  const actions = h("input", { id: "bg-actions", value: "use", autocomplete: "off" });
  const mode = h("select", { id: "bg-mode" }, h("option", { value: "pdp_outage" }, modeWords.pdp_outage),
    h("option", { value: "override" }, modeWords.override));
  const reason = h("input", { id: "bg-reason", autocomplete: "off", "aria-describedby": "bg-reason-hint" });
  const duration = h("input", { id: "bg-duration", type: "number", min: 1, value: 900 });
  const problem = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-label": "New break-glass request" },
    h("h2", {}, "New request"),
    field("bg-tenant", "Tenant", tenant),
    field("bg-prefixes", "URI prefixes", prefixes, "One secret URI per line, e.g. secret://acme/kv/payments"),
    field("bg-actions", "Actions (comma-separated)", actions),
    field("bg-mode", "Mode", mode),
    field("bg-reason", "Reason", reason, "One line of printable text (the audit log records it)"),
    field("bg-duration", "Duration (seconds)", duration),
    problem,
    h("button", { type: "submit" }, "Create request"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(problem);
    try {
      const created = await api("POST", "/admin/v1/breakglass/requests", {
        tenant: tenant.value.trim(),
        uri_prefixes: prefixes.value.split("\n").map((s) => s.trim()).filter(Boolean),
        actions: actions.value.split(",").map((s) => s.trim()).filter(Boolean),
        mode: mode.value, reason: reason.value.trim(), duration_seconds: Number(duration.value),
      });
      form.reset(); // a second click makes no duplicate request
      onCreated(created);
    } catch (err) {
      problem.append(errorBox(err));
    }
  });
  return form;
}

export default {
  id: "breakglass",
  title: "Break-glass",
  roles: ["admin", "auditor", "approver"],
  async render(el, ctx) {
    const isAdmin = ctx.who.role === "admin";
    let data;
    try {
      data = await api("GET", "/admin/v1/breakglass/requests");
    } catch (err) {
      if (err.code === "BREAKGLASS_DISABLED") {
        el.append(h("p", {}, "Break-glass is not configured on this appliance (no breakglass section)."));
        return;
      }
      throw err;
    }
    const notice = h("div", { "aria-live": "polite" });
    const lists = h("div");
    const timers = [];
    const stopTimers = () => timers.splice(0).forEach(clearInterval);
    window.addEventListener("hashchange", stopTimers, { once: true });

    const end = async (r) => {
      const reason = await confirmAction({ title: "End the window now", action: "End window",
        detail: `Window ${r.id} (${r.tenant || r.approver}) closes at once; every grant issued in it stops working.` });
      if (reason === null) return;
      await runAction(notice, `Window ${r.id} ended.`, async () => {
        await api("DELETE", withReason(`/admin/v1/breakglass/active/${encodeURIComponent(r.id)}`, reason));
        await reload();
      });
    };

    const draw = (requests) => {
      stopTimers();
      const open = requests.filter((r) => r.state === "open");
      const pending = requests.filter((r) => r.state === "pending");
      const past = requests.filter((r) => r.state !== "open" && r.state !== "pending");
      clear(lists).append(
        table("Open windows", ["Window", "Scope", "Mode", "Ends", "Approved by", isAdmin ? "Action" : null].filter(Boolean),
          open.map((r) => {
            const left = h("span", { class: "countdown" }, countdown(r.ends_at));
            timers.push(setInterval(() => {
              left.textContent = countdown(r.ends_at);
              // Closed by the clock: ask the appliance again, which moves it to the past requests.
              if (r.ends_at <= Math.floor(Date.now() / 1000)) reload().catch((err) => clear(notice).append(errorBox(err)));
            }, 1000));
            return h("tr", { "data-request": r.id },
              h("th", { scope: "row" }, h("code", {}, r.id)), h("td", {}, scope(r)), h("td", {}, modeWords[r.mode] || r.mode),
              h("td", {}, time(r.ends_at), h("br"), left), h("td", {}, approvals(r)),
              isAdmin ? h("td", {}, h("button", { type: "button", class: "danger", onclick: () => end(r),
                "aria-label": `End window ${r.id}` }, "End now")) : null);
          })),
        table("Requests waiting for approval", ["Request", "Scope", "Mode and reason", "Approvals", "To approve"],
          pending.map((r) => h("tr", { "data-request": r.id },
            h("th", { scope: "row" }, h("code", {}, r.id), h("br"), `by ${r.requester}`),
            h("td", {}, scope(r), h("br"), `${r.duration_seconds} s once open; approvable until ${time(r.expires_at)}`),
            h("td", {}, modeWords[r.mode] || r.mode, h("br"), h("q", {}, r.reason)),
            h("td", {}, approvals(r), h("div", {}, `${r.approvals_needed} more needed`)),
            h("td", {}, "Digest ", h("code", { class: "digest" }, r.digest), h("br"),
              ctx.who.role === "approver" ? "On your TPM device: " : "An approver runs, on their TPM device: ",
              h("code", { class: "command" }, approveCommand(r)))))),
        table("Past requests", ["Request", "Scope", "State", "Ended by"], past.map((r) => h("tr", { "data-request": r.id },
          h("th", { scope: "row" }, h("code", {}, r.id)), h("td", {}, scope(r)), h("td", {}, r.state),
          h("td", {}, r.ended_by || "")))));
    };
    const reload = async () => draw((await api("GET", "/admin/v1/breakglass/requests")).requests || []);

    el.append(notice, lists);
    if (isAdmin) {
      el.append(requestForm(async (created) => {
        clear(notice).append(h("p", { class: "ok-text" }, `Request ${created.id} created: ${created.approvals_needed} approvals needed.`));
        await reload();
      }));
    } else {
      el.append(h("p", { class: "muted" }, ctx.who.role === "approver"
        ? "Approve on your own TPM device with the command shown; the browser cannot make the quote."
        : "Read-only: your role cannot request or end windows."));
    }
    draw(data.requests || []);
  },
};
