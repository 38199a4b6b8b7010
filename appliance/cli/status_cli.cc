#include "appliance/cli/status_cli.h"

#include <iomanip>
#include <string>

#include "appliance/cli/request_view.h"

namespace sealgate::appliance {

namespace {

using nlohmann::json;

std::string text(const json& j, const char* key, const std::string& fallback = "?") {
  if (!j.is_object() || !j.contains(key)) return fallback;
  const json& v = j[key];
  return terminalSafe(v.is_string() ? v.get<std::string>() : v.dump());
}

void line(std::ostream& out, const std::string& component, const std::string& state, const std::string& details) {
  out << "  " << std::left << std::setw(13) << component;
  if (details.empty()) {
    out << state << "\n";
  } else {
    out << std::setw(22) << state << details << "\n";
  }
}

// The readiness answer: /readyz's body when it answered (200 or 503), else the error.
json readiness(const AdminClient& client) {
  auto ready = client.getAccepting("/readyz", 503);
  if (ready) return *ready;
  return json{{"status", "not_ready"}, {"error", ready.error().describe()}};
}

void printStatus(const json& status, const json& ready, std::ostream& out) {
  const bool isReady = ready.value("status", "") == "ready";
  out << text(status, "name", "sealgate") << ": " << (isReady ? "ready" : "NOT READY") << "\n";
  if (ready.contains("error")) out << "  readiness: " << terminalSafe(ready["error"].get<std::string>()) << "\n";
  const json checks = ready.value("checks", json::object());
  auto checkState = [&](const char* name) {
    const json c = checks.value(name, json::object());
    return c.value("status", "") == "ok" ? std::string("ok") : "DOWN " + text(c, "code", "");
  };
  const json hsm = status.value("hsm", json::object());
  const json token = hsm.value("token", json::object());
  line(out, "HSM", checkState("hsm"),
       "token " + text(token, "label") + ", " + std::to_string(hsm.value("keys", json::array()).size()) + " keys");
  const json tpm = status.value("tpm", json::object());
  line(out, "TPM",
       !tpm.value("configured", false) ? "not configured" : (tpm.value("reachable", false) ? "ok" : "DOWN unreachable"),
       tpm.value("configured", false) ? text(tpm, "tcti") : "no rollback anchor");
  const json state = status.value("state", json::object());
  const json entries = state.value("entries", json::object());
  line(out, "sealed state", checkState("state"),
       text(state, "backend") + ", rollback protection " + text(state, "rollback_protection") + ", " +
           text(entries, "grants", "0") + " grants, " + text(entries, "leases", "0") + " leases");
  const json audit = checks.value("audit", json::object());
  line(out, "audit log", checkState("audit"), text(audit, "entries") + " entries");
  const json pdp = status.value("pdp", json::object());
  const json last = pdp.value("last", json::object());
  const bool pdpDown = last.is_object() && last.contains("ok") && !last.value("ok", true);
  line(out, "PDP", pdpDown ? "DOWN " + text(last, "code", "") : "ok",
       text(pdp, "type") + ", " + text(pdp, "calls", "0") + " calls, " + text(pdp, "failures", "0") + " failed");
  const json bg = status.value("breakglass", json::object());
  line(out, "break-glass", bg.value("enabled", false) ? text(bg, "open_windows", "0") + " open" : "off",
       bg.value("enabled", false) ? "quorum " + text(bg, "quorum") : "not configured");
  const json providers = checks.value("providers", json::object());
  for (const auto& [name, check] : providers.items()) {
    line(out, "provider " + terminalSafe(name),
         check.value("status", "") == "ok" ? std::string("ok") : "DOWN " + text(check, "code", ""), "");
  }
}

}  // namespace

int statusCommand(const AdminTls& tls, bool asJson, std::ostream& out, std::ostream& err) {
  auto client = AdminClient::create(tls);
  if (!client) {
    err << "sealgate status: " << terminalSafe(client.error().describe()) << "\n";
    return 2;
  }
  auto status = client->get("/admin/v1/status");
  if (!status) {
    err << "sealgate status: " << terminalSafe(status.error().describe()) << "\n";
    return 2;
  }
  const json ready = readiness(*client);
  const bool isReady = ready.value("status", "") == "ready";
  if (asJson) {
    out << json{{"ready", isReady}, {"status", *status}, {"readiness", ready}}.dump(2) << "\n";
  } else {
    printStatus(*status, ready, out);
  }
  return isReady ? 0 : 1;
}

}  // namespace sealgate::appliance
