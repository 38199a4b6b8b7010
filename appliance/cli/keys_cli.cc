#include "appliance/cli/keys_cli.h"

#include <Poco/URI.h>

#include <fstream>
#include <iomanip>
#include <ostream>

#include "appliance/cli/request_view.h"
#include "core/time_format.h"

namespace sealgate::appliance {

namespace {

using nlohmann::json;

// An answer from the admin listener, or the exit status of its failure.
struct Outcome {
  std::optional<json> body;
  int status = 0;
};

Outcome call(const KeysCommand& c, const char* what, std::ostream& err,
             const std::function<Result<json>(const AdminClient&)>& request) {
  auto client = AdminClient::create(c.tls);
  if (!client) {
    err << "sealgate keys " << what << ": " << terminalSafe(client.error().describe()) << "\n";
    return {std::nullopt, 2};
  }
  auto answer = request(*client);
  if (!answer) {
    err << "sealgate keys " << what << ": " << terminalSafe(answer.error().describe()) << "\n";
    // An answer of the API (its code) is a refusal; no answer at all is 2.
    return {std::nullopt, answer.error().code == ErrorCode::AdminClient ? 2 : 1};
  }
  return {std::move(*answer), 0};
}

std::string withReason(const std::string& path, const std::string& reason) {
  if (reason.empty()) return path;
  std::string encoded;
  Poco::URI::encode(reason, "!#$&'()*+,/:;=?@[]%", encoded);
  return path + "?reason=" + encoded;
}

std::string text(const json& j, const char* key) {
  if (!j.contains(key)) return "";
  const json& v = j[key];
  return terminalSafe(v.is_string() ? v.get<std::string>() : v.dump());
}

}  // namespace

int keysVersionsCommand(const KeysCommand& c, std::ostream& out, std::ostream& err) {
  auto r = call(c, "versions", err, [](const AdminClient& a) { return a.get("/admin/v1/keys"); });
  if (!r.body) return r.status;
  if (c.asJson) {
    out << r.body->dump(2) << "\n";
    return 0;
  }
  out << std::left << std::setw(28) << "LABEL" << std::setw(10) << "KIND" << std::setw(9) << "STATE"
      << "DETAILS\n";
  for (const auto& k : r.body->value("keys", json::array())) {
    const bool active = k.value("active", false), retired = k.value("retired", false);
    std::string details = "fingerprint " + text(k, "fingerprint");
    if (k.contains("retirable_at") && k["retirable_at"].is_number_integer() && !active && !retired) {
      details += ", retirable from " + rfc3339Seconds(k["retirable_at"].get<std::int64_t>());
    }
    if (k.contains("retired_at") && k["retired_at"].is_number_integer()) {
      details += ", retired " + rfc3339Seconds(k["retired_at"].get<std::int64_t>()) + " by " + text(k, "retired_by");
    }
    if (k.contains("note_key_id")) details += ", note key id " + text(k, "note_key_id");
    out << std::setw(28) << text(k, "label") << std::setw(10) << text(k, "kind") << std::setw(9)
        << (active    ? "active"
            : retired ? "retired"
                      : "verifies")
        << details << "\n";
  }
  return 0;
}

int keysRotateCommand(const KeysCommand& c, std::ostream& out, std::ostream& err) {
  auto r = call(c, "rotate", err, [&](const AdminClient& a) {
    return a.post(withReason("/admin/v1/keys/rotate", c.reason), json{{"kind", c.kind}});
  });
  if (!r.body) return r.status;
  const std::string request = r.body->value("certificate_request", "");
  if (!request.empty() && !c.csrOut.empty()) {
    std::ofstream file(c.csrOut, std::ios::binary | std::ios::trunc);
    file << request;
    if (!file.flush()) {
      err << "sealgate keys rotate: " << r.body->value("label", "") << " was created, but its request could not be "
          << "written to " << terminalSafe(c.csrOut) << "\n"
          << request;
      return 2;
    }
  }
  if (c.asJson) {
    out << r.body->dump(2) << "\n";
  } else if (!request.empty()) {
    out << "created " << text(*r.body, "label") << "; " << text(*r.body, "previous")
        << " stays in use until the new key's certificate is installed (docs/RUNBOOK.md, \"Key rotation\")\n";
    if (c.csrOut.empty()) out << request;
  } else {
    out << "rotated " << text(*r.body, "kind") << ": " << text(*r.body, "label") << " is active; "
        << text(*r.body, "previous") << " stays in use for what it signed until it is retired\n";
  }
  return 0;
}

int keysRetireCommand(const KeysCommand& c, std::ostream& out, std::ostream& err) {
  auto r = call(c, "retire", err, [&](const AdminClient& a) {
    return a.post(withReason("/admin/v1/keys/retire", c.reason), json{{"label", c.label}});
  });
  if (!r.body) return r.status;
  if (c.asJson) {
    out << r.body->dump(2) << "\n";
  } else {
    out << text(*r.body, "label") << (r.body->value("already_retired", false) ? " was already retired" : " is retired")
        << " (kept in the HSM, never used again)\n";
  }
  return 0;
}

int keysCorrelateCommand(const KeysCommand& c, std::ostream& out, std::ostream& err) {
  auto r = call(c, "correlate", err, [&](const AdminClient& a) {
    return a.post("/admin/v1/keys/correlate", json{{"uri", c.uri}});
  });
  if (!r.body) return r.status;
  if (c.asJson) {
    out << r.body->dump(2) << "\n";
    return 0;
  }
  for (const auto& v : r.body->value("resource_refs", json::array())) {
    out << "v" << text(v, "version") << "  "
        << (v.contains("resource_ref") ? text(v, "resource_ref") : std::string("(retired: not computed)"))
        << (v.value("active", false) ? "  active" : "") << "\n";
  }
  return 0;
}

}  // namespace sealgate::appliance
