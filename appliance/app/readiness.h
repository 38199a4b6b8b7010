// GET /readyz (docs/API.md): whether the appliance can serve, part by part. The
// composition root fills ReadinessProbes from its components (the HSM keys, the
// audit log and its Kafka forwarder, the sealed state, the PDP, the providers);
// readinessAnswer() runs them on every call and builds the answer: 200 "ready"
// when every part is ok, else 503 "not_ready" with each failing part's stable
// code. A probe that throws is that part failing, never a crash. Only a part's
// status, code and counts leave: never a message, a path or a URI.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "appliance/server/http_server.h"

namespace sealgate::appliance {

struct ReadinessProbes {
  // The HSM: {"status":"ok"}, or {"status":"fail","code":...} with "missing"
  // (the labels of missing keys) when that is the cause.
  std::function<nlohmann::json()> hsm;
  std::function<bool()> auditHealthy;
  std::function<std::uint64_t()> auditEntries;
  // The Kafka forwarder; both empty when none is configured. A stalled forwarder
  // is reported, but loses nothing (the log feeds it), so it does not fail the audit.
  std::function<std::uint64_t()> kafkaDelivered;
  std::function<bool()> kafkaHealthy;
  std::function<bool()> stateHealthy;
  // The state's status document; only its "code" is used, when not healthy.
  std::function<nlohmann::json()> stateStatus;
  std::string pdpType;
  // The providers in the answer: name -> healthy ("kv" always, the rest when configured).
  std::vector<std::pair<std::string, std::function<bool()>>> providers;
};

Response readinessAnswer(const ReadinessProbes& probes);

}  // namespace sealgate::appliance
