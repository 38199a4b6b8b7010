#include "core/slot_values.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/interfaces/connector.h"
#include "core/interfaces/secret_provider.h"
#include "core/json_parse.h"
#include "core/zeroizing_allocator.h"

namespace sealgate {

using nlohmann::json;

double byteHistogramEntropyBits(std::span<const std::uint8_t> value) {
  if (value.empty()) return 0.0;
  std::array<std::size_t, 256> counts{};
  for (std::uint8_t b : value) ++counts[b];
  const double n = static_cast<double>(value.size());
  double bitsPerByte = 0.0;
  for (std::size_t c : counts) {
    if (c == 0) continue;
    const double p = static_cast<double>(c) / n;
    bitsPerByte -= p * std::log2(p);
  }
  counts.fill(0);
  return bitsPerByte * n;
}

std::optional<std::string> slotValueShapeProblem(std::span<const std::uint8_t> value) {
  if (value.size() < kMinSlotValueBytes) {
    return "holds fewer than " + std::to_string(kMinSlotValueBytes) + " bytes: too short to keep out of outputs";
  }
  if (value.size() > kMaxSlotValueBytes) {
    return "holds more than " + std::to_string(kMaxSlotValueBytes) + " bytes: too large to keep out of outputs";
  }
  bool run = true;
  const int step = static_cast<int>(value[1]) - static_cast<int>(value[0]);
  for (std::size_t i = 2; i < value.size() && run; ++i) {
    run = static_cast<int>(value[i]) - static_cast<int>(value[i - 1]) == step;
  }
  if (run) return "is a run of evenly stepped bytes: too easy to guess or to find by chance";
  if (byteHistogramEntropyBits(value) < kMinSlotValueEntropyBits) {
    return "has too little entropy (under " + std::to_string(static_cast<int>(kMinSlotValueEntropyBits)) +
           " bits by its byte frequencies): too easy to guess or to find by chance";
  }
  return std::nullopt;
}

namespace {

void wipeStrings(json& root) {
  std::vector<json*> stack{&root};
  while (!stack.empty()) {
    json* j = stack.back();
    stack.pop_back();
    if (j->is_string()) {
      auto& s = j->get_ref<std::string&>();
      secureWipe(s.data(), s.size());
    } else if (j->is_structured()) {
      for (auto& child : *j) stack.push_back(&child);
    }
  }
}

}  // namespace

Result<std::optional<std::vector<Secret>>> jsonLeafValues(const Secret& value) {
  const auto bytes = value.exposeSecretBytes();
  std::size_t first = 0;
  while (first < bytes.size() &&
         (bytes[first] == ' ' || bytes[first] == '\t' || bytes[first] == '\n' || bytes[first] == '\r')) {
    ++first;
  }
  if (first == bytes.size() || (bytes[first] != '{' && bytes[first] != '['))
    return std::optional<std::vector<Secret>>();
  // A provider's value is outside input: the one parser (depth cap, no repeated
  // keys). A document it refuses for depth or a repeated key cannot be walked
  // leaf by leaf, so it is refused; text that is not JSON at all is no document.
  auto parsed = parseJson(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!parsed) {
    if (parsed.error().code == json_errc::kTooDeep || parsed.error().code == json_errc::kDuplicateKey) {
      return Error{connector_errc::kSecretUnusable,
                   "a JSON document nested deeper than " + std::to_string(kMaxJsonDepth) + " or with a repeated key",
                   "document_unwalkable"};
    }
    return std::optional<std::vector<Secret>>();
  }
  json doc = std::move(*parsed);
  if (!doc.is_structured()) {
    wipeStrings(doc);
    return std::optional<std::vector<Secret>>();
  }
  std::vector<Secret> leaves;
  std::optional<Error> failure;
  // Depth-first, arrays in order and objects in key order: the stack holds them reversed.
  std::vector<const json*> stack{&doc};
  while (!stack.empty() && !failure) {
    const json* j = stack.back();
    stack.pop_back();
    if (j->is_structured()) {
      const std::size_t mark = stack.size();
      for (const auto& child : *j) stack.push_back(&child);
      std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(mark), stack.end());
      continue;
    }
    std::string text;
    if (j->is_string()) {
      if (j->get_ref<const std::string&>().empty()) continue;
      text = j->get_ref<const std::string&>();
    } else if (j->is_number()) {
      text = j->dump();
    } else {
      continue;  // true, false, null
    }
    if (leaves.size() == kMaxSlotValueLeaves) {
      failure =
          Error{connector_errc::kSecretUnusable,
                "more than " + std::to_string(kMaxSlotValueLeaves) + " leaves in its JSON document", "too_many_leaves"};
    } else if (auto leaf = Secret::copyFrom(text); leaf) {
      leaves.push_back(std::move(*leaf));
    } else {
      failure = makeError(provider_errc::kUnavailable, "cannot allocate protected memory");
    }
    secureWipe(text.data(), text.size());
  }
  wipeStrings(doc);
  if (failure) return *failure;
  return std::optional<std::vector<Secret>>(std::move(leaves));
}

std::string_view protocolVocabulary() {
  // What the appliance writes on its own in responses, audit events and log
  // lines. The daemon adds the OpenAPI document's field names and enumerated
  // values (every error code) to this list (appliance/execute/execute_api.cc).
  static const std::string text = [] {
    static constexpr const char* kWords[] = {
        // JSON literals and the marker
        "true", "false", "null", "[REDACTED]",
        // decisions, outcomes, actions, levels
        "allow", "deny", "ok", "error", "use", "inspect", "reveal", "delegate", "list", "read", "write", "debug",
        "info", "warn", "pep", "admin", "service", "sealgate", "sealgated", "spiffe://", "secret://",
        // connectors and their fields
        "rest", "postgres", "ldap", "ssh", "hmac", "sign", "connector", "method", "url", "headers", "body", "json",
        "host", "port", "user", "password", "username", "database", "sslmode", "query", "params", "search", "base",
        "scope", "filter", "attributes", "command", "host_key_sha256", "private_key", "passphrase", "key", "data",
        "algorithm", "message", "encoding", "status", "rows", "columns", "command_status", "stdout", "stderr",
        "exit_status", "signature", "mac", "entries", "truncated",
        // audit event fields (docs/AUDIT.md)
        "schema_version", "audit_index", "event_id", "time", "sampled_out", "type", "action", "correlation_id", "actor",
        "spiffe_id", "cert_thumbprint", "role", "tenant", "grant_id", "decision_id", "decision", "destination", "slots",
        "slot", "resource_ref", "resource_refs", "kv_version", "lease_id", "remaining_uses", "outcome", "duration_ms",
        "redactions", "peer_status", "failed_slot", "unusable", "audit_id", "result", "grant", "uses", "max_uses",
        "obligations", "connectors", "reason", "code", "errors", "ttl", "exp", "iat", "nbf", "jti", "sub", "res", "obl",
        "cnf", "x5t#S256", "jkt", "bg", "breakglass",
        // log line fields and events
        "ts", "level", "event", "listener", "route", "identity", "http_request", "execute_refused", "audit_failure",
        "audit_event_blocked", "egress_blocked", "log_line", "what", "hsm_failure", "handler_exception",
        "connection_closed", "connection_rejected", "breakglass_grant", "window_id",
        // response headers sealgate sets
        "Content-Type", "application/json", "X-Correlation-Id", "X-Sealgate-Error", "X-Sealgate-Audit-Id", "Connection",
        "close", "keep-alive", "Allow", "DPoP-Nonce", "WWW-Authenticate"};
    json words = json::array();
    for (const char* w : kWords) words.push_back(w);
    return words.dump();
  }();
  return text;
}

}  // namespace sealgate
