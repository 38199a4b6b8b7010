// Overview: the health of everything the appliance stands on, green / amber /
// red, with the error code of whatever is down. From /admin/v1/status (HSM, TPM,
// sealed state, break-glass), /readyz (the same checks the load balancer sees:
// audit, PDP, providers) and the audit log's latest signed checkpoint.
import { api } from "../api.js";
import { h, badge, table } from "../dom.js";

function row(name, state, words, details) {
  return h("tr", { "data-component": name },
    h("th", { scope: "row" }, name), h("td", {}, badge(state, words)), h("td", {}, details));
}

const okOrDown = (check) => (check && check.status === "ok" ? "ok" : "down");
const wordsOf = (check) => (check && check.status === "ok" ? "ok" : (check && check.code) || "unknown");

function hsmRow(hsm, check) {
  const t = hsm.token || {};
  return row("HSM", hsm.error ? "down" : okOrDown(check), hsm.error || wordsOf(check),
    `token ${t.label || "?"} (${t.manufacturer || "?"} ${t.model || ""}), ${(hsm.keys || []).length} keys, ` +
    `${t.open_sessions ?? "?"} open sessions, module ${hsm.module || "?"}`);
}

function tpmRow(tpm) {
  if (!tpm.configured) return row("TPM", "warn", "not configured", "no TPM: the sealed state has no rollback anchor");
  return row("TPM", tpm.reachable ? "ok" : "down", tpm.reachable ? "ok" : "unreachable",
    `${tpm.tcti || ""}, PCR policy ${(tpm.pcrs || []).join(", ") || "none"}`);
}

function stateRow(state) {
  const ok = state.status === "ok";
  const entries = state.entries || {};
  return row("Sealed state", ok ? "ok" : "down", ok ? "ok" : state.code || state.status || "unknown",
    [`backend ${state.backend || "?"}`, `rollback protection ${state.rollback_protection || "?"}`,
      `generation ${state.generation ?? "?"}, checkpoint ${state.checkpoint ?? "?"}`,
      `${entries.grants ?? 0} grants, ${entries.jtis ?? 0} proof ids, ${entries.leases ?? 0} leases`].join(", "));
}

function auditRow(check, checkpoint) {
  const kafka = check && check.kafka;
  return row("Audit log", okOrDown(check), wordsOf(check),
    [checkpoint ? `tree size ${checkpoint.tree_size}, checkpoint signed` : null,
      kafka ? `Kafka ${kafka.stalled ? "stalled" : "flowing"}, ${kafka.delivered} delivered` : null]
      .filter(Boolean).join(", "));
}

function pdpRow(check) {
  return row("PDP", okOrDown(check), wordsOf(check), `type ${(check && check.type) || "?"}`);
}

function breakGlassRow(bg) {
  if (!bg || !bg.enabled) return row("Break-glass", "ok", "off", "not configured");
  const open = bg.open_windows || 0;
  return row("Break-glass", open ? "warn" : "ok", open ? `${open} window(s) open` : "no window open",
    `quorum ${bg.quorum}, ${bg.approvers_enrolled} approvers enrolled`);
}

export default {
  id: "overview",
  title: "Overview",
  roles: ["admin", "auditor"],
  async render(el) {
    const [status, ready, checkpoint] = await Promise.all([
      api("GET", "/admin/v1/status"),
      api("GET", "/readyz").catch((e) => e.data || { status: e.code, checks: {} }),
      api("GET", "/admin/v1/audit/checkpoint").catch(() => null),
    ]);
    const checks = ready.checks || {};
    document.getElementById("appliance-name").textContent = status.name || "";
    el.append(
      h("p", {}, "Readiness: ", badge(ready.status === "ready" ? "ok" : "down", ready.status || "unknown")),
      table("Components", ["Component", "State", "Details"], [
        hsmRow(status.hsm || {}, checks.hsm), tpmRow(status.tpm || {}), stateRow(status.state || {}),
        auditRow(checks.audit, checkpoint), pdpRow(checks.pdp), breakGlassRow(status.breakglass)]),
      table("Providers", ["Mount", "State"], Object.entries(checks.providers || {}).map(([name, check]) =>
        h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, badge(okOrDown(check), wordsOf(check)))))));
  },
};
