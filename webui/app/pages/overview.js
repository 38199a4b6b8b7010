// Overview: the health of everything the appliance stands on, green / amber /
// red, with the error code of whatever is down. From /admin/v1/status (HSM, TPM,
// sealed state, break-glass), /readyz (the same checks the load balancer sees:
// audit, PDP, providers) and the audit log's latest signed checkpoint.
import { api } from "../api.js";
import { h, badge, table, time } from "../dom.js";

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

function tpmRow(tpm, state) {
  if (!tpm.configured) return row("TPM", "warn", "not configured", "no TPM: the sealed state has no rollback anchor");
  const counter = state.anchor && state.anchor !== "none"
    ? `, NV counter ${state.anchor} at ${state.checkpoint ?? "?"}${state.counter_behind ? " (an increment is pending)" : ""}`
    : "";
  return row("TPM", tpm.reachable ? "ok" : "down", tpm.reachable ? "ok" : "unreachable",
    `${tpm.tcti || ""}, PCR policy ${(tpm.pcrs || []).join(", ") || "none"}${counter}`);
}

function stateRow(state) {
  const ok = state.status === "ok";
  const entries = state.entries || {};
  return row("Sealed state", ok ? "ok" : "down", ok ? "ok" : state.code || state.status || "unknown",
    [`backend ${state.backend || "?"}`, `rollback protection ${state.rollback_protection || "?"}`,
      `generation ${state.generation ?? "?"}, checkpoint ${state.checkpoint ?? "?"}`,
      `${entries.grants ?? 0} grants, ${entries.jtis ?? 0} proof ids, ${entries.leases ?? 0} leases`].join(", "));
}

// The log's tree size and how far its latest signed checkpoint reaches (the
// newest entry it covers, and when that entry was written); the Kafka
// forwarder's lag: entries written but not yet delivered. A stalled forwarder
// is amber: it loses nothing (the log feeds it) but the SIEM is behind.
function auditRow(check, checkpoint, newest) {
  const kafka = check && check.kafka;
  const signed = checkpoint ? `checkpoint signed over ${checkpoint.tree_size} entries` +
    (newest ? `, the newest written ${time(newest.time)}` : "") : null;
  const lag = kafka ? Math.max(0, (check.entries ?? 0) - kafka.delivered) : 0;
  const state = okOrDown(check) === "ok" && kafka && kafka.stalled ? "warn" : okOrDown(check);
  return row("Audit log", state, state === "warn" ? "Kafka stalled" : wordsOf(check),
    [`${check && check.entries !== undefined ? check.entries : "?"} entries`, signed,
      kafka ? `Kafka ${kafka.stalled ? "stalled" : "flowing"}, ${kafka.delivered} delivered, lag ${lag}` : null]
      .filter(Boolean).join(", "));
}

// The PDP as the decision cache has seen it: its last call's outcome and latency.
function pdpRow(pdp) {
  const last = pdp.last;
  if (!last) return row("PDP", "ok", "no call yet", `type ${pdp.type || "?"}`);
  const failed = `${pdp.failures} of ${pdp.calls} calls failed`;
  return row("PDP", last.ok ? (pdp.failures ? "warn" : "ok") : "down", last.ok ? "reachable" : last.code,
    `type ${pdp.type || "?"}, last call ${time(last.at)} took ${last.latency_ms.toFixed(1)} ms, ${failed}`);
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
    // The newest entry the checkpoint covers: when the signed part of the log ends.
    const newest = checkpoint && checkpoint.tree_size > 0
      ? await api("GET", `/admin/v1/audit/entries?limit=1&before=${checkpoint.tree_size}`)
        .then((page) => ((page.entries || [])[0] || {}).entry).catch(() => null)
      : null;
    const checks = ready.checks || {};
    document.getElementById("appliance-name").textContent = status.name || "";
    el.append(
      h("p", {}, "Readiness: ", badge(ready.status === "ready" ? "ok" : "down", ready.status || "unknown")),
      table("Components", ["Component", "State", "Details"], [
        hsmRow(status.hsm || {}, checks.hsm), tpmRow(status.tpm || {}, status.state || {}),
        stateRow(status.state || {}), auditRow(checks.audit, checkpoint, newest), pdpRow(status.pdp || {}),
        breakGlassRow(status.breakglass)]),
      table("Providers", ["Mount", "State"], Object.entries(checks.providers || {}).map(([name, check]) =>
        h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, badge(okOrDown(check), wordsOf(check)))))));
  },
};
