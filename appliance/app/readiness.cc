#include "appliance/app/readiness.h"

#include "appliance/telemetry/logging.h"
#include "core/error_code.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

json failed(ErrorCode code) { return json{{"status", "fail"}, {"code", code}}; }

// Runs one part's check; a throw is that part failing with `code` (logged by
// name only: an exception's text is not ours to repeat).
template <typename F>
json guarded(const char* part, ErrorCode code, F&& check) {
  try {
    return check();
  } catch (...) {
    logEvent(LogLevel::Error, "readiness_check_threw", {{"check", part}, {"code", code}});
    return failed(code);
  }
}

// The HSM's answer, kept to its status, code and missing labels.
json hsmCheck(const ReadinessProbes& p) {
  return guarded("hsm", ErrorCode::HsmUnavailable, [&] {
    const json in = p.hsm();
    if (!in.is_object() || in.value("status", "") != "ok") {
      json out = failed(ErrorCode::HsmUnavailable);
      if (in.is_object() && in.contains("code") && in["code"].is_string()) out["code"] = in["code"];
      if (in.is_object() && in.contains("missing")) out["missing"] = in["missing"];
      return out;
    }
    return json{{"status", "ok"}};
  });
}

json auditCheck(const ReadinessProbes& p) {
  return guarded("audit", ErrorCode::AuditUnavailable, [&] {
    if (!p.auditHealthy()) return failed(ErrorCode::AuditUnavailable);
    json out = {{"status", "ok"}, {"entries", p.auditEntries()}};
    if (p.kafkaDelivered) out["kafka"] = {{"delivered", p.kafkaDelivered()}, {"stalled", !p.kafkaHealthy()}};
    return out;
  });
}

json stateCheck(const ReadinessProbes& p) {
  return guarded("state", ErrorCode::StateUnavailable, [&] {
    if (p.stateHealthy()) return json{{"status", "ok"}, {"backend", "sealed-journal"}};
    const json s = p.stateStatus();
    return json{{"status", "fail"}, {"code", s.value("code", std::string(errorCodeName(ErrorCode::StateUnavailable)))}};
  });
}

json providerCheck(const std::string& name, const std::function<bool()>& healthy) {
  return guarded(name.c_str(), ErrorCode::ProviderUnavailable, [&] {
    return healthy() ? json{{"status", "ok"}} : failed(ErrorCode::ProviderUnavailable);
  });
}

}  // namespace

Response readinessAnswer(const ReadinessProbes& probes) {
  json checks = json::object();
  checks["hsm"] = hsmCheck(probes);
  checks["audit"] = auditCheck(probes);
  checks["state"] = stateCheck(probes);
  checks["pdp"] = {{"status", "ok"}, {"type", probes.pdpType}};
  json providers = json::object();
  for (const auto& [name, healthy] : probes.providers) providers[name] = providerCheck(name, healthy);
  checks["providers"] = providers;
  bool ready = true;
  for (const auto& part : {checks["hsm"], checks["audit"], checks["state"]}) ready = ready && part["status"] == "ok";
  for (const auto& [name, check] : providers.items()) ready = ready && check["status"] == "ok";
  return Response{ready ? 200 : 503, json{{"status", ready ? "ready" : "not_ready"}, {"checks", checks}}};
}

}  // namespace sealgate::appliance
