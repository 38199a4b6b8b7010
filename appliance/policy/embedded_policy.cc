#include "appliance/policy/embedded_policy.h"

#include <algorithm>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "appliance/connectors/ssh_connector.h"
#include "core/json_parse.h"
#include "core/secret_uri.h"
#include "core/time_format.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

Error policyError(const std::string& message) { return makeError(ErrorCode::PolicyInvalid, message); }

// Inside this file, a POLICY_INVALID Error's `operation` carries the JSON pointer
// (RFC 6901) of the element it names, relative to the function that returned it;
// each caller prefixes its own part, and Policy::parse moves the whole pointer out
// (no caller sees it in `operation`: describe() and messages stay as they were).
std::string pointerSegment(std::string_view key) {
  std::string out = "/";
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}
std::string pointerSegment(std::size_t index) { return "/" + std::to_string(index); }

Error located(Error e, const std::string& prefix) {
  e.operation = prefix + e.operation;
  return e;
}
template <typename T>
Result<T> within(Result<T> r, const std::string& prefix) {
  if (r.ok()) return r;
  return located(std::move(r).takeError(), prefix);
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto slash = s.find('/', start);
    out.emplace_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// `*` matches one segment, `**` any number (including none); others literally.
bool globMatch(const std::vector<std::string>& glob, std::size_t gi, const std::vector<std::string>& segs,
               std::size_t si) {
  if (gi == glob.size()) return si == segs.size();
  if (glob[gi] == "**") {
    for (std::size_t k = si; k <= segs.size(); ++k) {
      if (globMatch(glob, gi + 1, segs, k)) return true;
    }
    return false;
  }
  if (si == segs.size()) return false;
  if (glob[gi] != "*" && glob[gi] != segs[si]) return false;
  return globMatch(glob, gi + 1, segs, si + 1);
}

bool isReasonCode(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::vector<std::string>> stringList(const json& rule, const char* key, const std::string& where) {
  if (!rule.contains(key) || !rule[key].is_array() || rule[key].empty() || rule[key].size() > 256) {
    return located(policyError(where + "." + key + " must be a non-empty array of strings"), pointerSegment(key));
  }
  std::vector<std::string> out;
  for (const auto& v : rule[key]) {
    if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 1024) {
      return located(policyError(where + "." + key + " must hold non-empty strings"),
                     pointerSegment(key) + pointerSegment(out.size()));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::vector<std::string>> resourceGlob(const std::string& glob, const std::string& where) {
  constexpr std::string_view kScheme = "secret://";
  if (glob.compare(0, kScheme.size(), kScheme) != 0)
    return policyError(where + ": resource globs start with secret://");
  if (glob.find_first_of("?#%") != std::string::npos) {
    return policyError(where + ": resource globs match URIs without version, field or escapes");
  }
  auto segs = split(std::string_view(glob).substr(kScheme.size()));
  if (segs.size() < 2) return policyError(where + ": a resource glob needs a tenant and a mount");
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto& s = segs[i];
    if (s.empty()) return policyError(where + ": empty segment in a resource glob");
    if (s == "**" && i < 2) return policyError(where + ": ** may not stand for the tenant or the mount");
    if (s != "*" && s != "**" && s.find('*') != std::string::npos) {
      return policyError(where + ": * and ** must be whole segments");
    }
  }
  return segs;
}

Result<int> parseClock(const json& v, const std::string& where) {
  if (!v.is_string()) return policyError(where + " must be \"HH:MM\"");
  const std::string t = v;
  if (t.size() != 5 || t[2] != ':' || !std::isdigit(static_cast<unsigned char>(t[0])) ||
      !std::isdigit(static_cast<unsigned char>(t[1])) || !std::isdigit(static_cast<unsigned char>(t[3])) ||
      !std::isdigit(static_cast<unsigned char>(t[4]))) {
    return policyError(where + " must be \"HH:MM\"");
  }
  const int h = (t[0] - '0') * 10 + (t[1] - '0'), m = (t[3] - '0') * 10 + (t[4] - '0');
  if (h > 24 || m > 59 || (h == 24 && m != 0)) return policyError(where + " is not a time of day");
  return h * 60 + m;
}

// <where>.time, into `out`; pointers relative to the time object.
Result<void> parseTime(const json& t, const std::string& where, PolicyConditions& out) {
  if (!t.is_object()) return policyError(where + ".time must be an object");
  for (const auto& [k, v] : t.items()) {
    if (k != "days" && k != "from" && k != "to" && k != "tz")
      return located(policyError("unknown key " + where + ".time." + k.substr(0, 64)), pointerSegment(k));
  }
  if (t.contains("tz") && t["tz"] != "UTC") return located(policyError(where + ".time.tz must be UTC"), "/tz");
  if (t.contains("days")) {
    static const std::vector<std::string> kDays{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    if (!t["days"].is_array() || t["days"].empty())
      return located(policyError(where + ".time.days must be a non-empty array"), "/days");
    for (const auto& d : t["days"]) {
      auto it = d.is_string() ? std::find(kDays.begin(), kDays.end(), d.get<std::string>()) : kDays.end();
      if (it == kDays.end()) {
        return located(policyError(where + ".time.days holds sun, mon, tue, wed, thu, fri, sat"),
                       "/days" + pointerSegment(out.days.size()));
      }
      out.days.push_back(static_cast<int>(it - kDays.begin()));
    }
  }
  if (t.contains("from")) {
    SEALGATE_ASSIGN_OR_RETURN(out.fromMinute, within(parseClock(t["from"], where + ".time.from"), "/from"));
  }
  if (t.contains("to")) {
    SEALGATE_ASSIGN_OR_RETURN(out.toMinute, within(parseClock(t["to"], where + ".time.to"), "/to"));
  }
  return Ok{};
}

// <where>.context, into `out`; pointers relative to the context object.
Result<void> parseContextConditions(const json& ctx, const std::string& where, PolicyConditions& out) {
  if (!ctx.is_object()) return policyError(where + ".context must be an object");
  for (const auto& [k, v] : ctx.items()) {
    if (!v.is_array() || v.empty()) {
      return located(policyError(where + ".context." + k.substr(0, 64) + " must list allowed values"),
                     pointerSegment(k));
    }
    std::vector<json> values;
    for (const auto& x : v) {
      if (!x.is_string() && !x.is_number() && !x.is_boolean()) {
        return located(policyError(where + ".context." + k.substr(0, 64) + " holds strings, numbers or booleans"),
                       pointerSegment(k) + pointerSegment(values.size()));
      }
      values.push_back(x);
    }
    out.context.emplace_back(k, std::move(values));
  }
  return Ok{};
}

Result<PolicyConditions> parseConditions(const json& c, const std::string& where) {
  if (!c.is_object()) return policyError(where + " must be an object");
  PolicyConditions out;
  for (const auto& [k, v] : c.items()) {
    if (k != "time" && k != "context") {
      return located(policyError("unknown key " + where + "." + k.substr(0, 64)), pointerSegment(k));
    }
  }
  if (c.contains("time")) SEALGATE_TRY(within(parseTime(c["time"], where, out), "/time"));
  if (c.contains("context")) SEALGATE_TRY(within(parseContextConditions(c["context"], where, out), "/context"));
  return out;
}

constexpr std::size_t kMaxHostKeyEntries = 256;
constexpr std::size_t kMaxPinsPerHost = 16;

bool isHostChars(std::string_view h) {
  return !h.empty() && h.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-:") == std::string_view::npos;
}

// A host_keys key: "host", "host:port", an IPv6 literal, or "[v6]:port".
std::optional<HostKeyPin> hostKeyDestination(std::string key) {
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  HostKeyPin out;
  std::optional<std::string> portText;
  if (!key.empty() && key.front() == '[') {
    const auto close = key.find("]:");
    if (close == std::string::npos) return std::nullopt;
    out.host = key.substr(1, close - 1);
    portText = key.substr(close + 2);
    if (out.host.find(':') == std::string::npos) return std::nullopt;  // brackets are for IPv6 only
  } else if (std::count(key.begin(), key.end(), ':') == 1) {
    const auto colon = key.find(':');
    out.host = key.substr(0, colon);
    portText = key.substr(colon + 1);
  } else {
    out.host = key;  // a name, IPv4, or an IPv6 literal without a port
  }
  if (!isHostChars(out.host) || out.host.front() == '-') return std::nullopt;
  if (portText) {
    if (portText->empty() || portText->size() > 5 || portText->find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    const int port = std::stoi(*portText);
    if (port < 1 || port > 65535) return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

// egress.<tenant>.ssh.host_keys: {"<host>[:<port>]": ["SHA256:...", ...]}.
Result<std::vector<HostKeyPin>> parseHostKeys(const json& v, const EgressRules& rules, const std::string& at) {
  if (!v.is_object() || v.empty() || v.size() > kMaxHostKeyEntries) {
    return policyError(at + ".host_keys must be an object of \"host\" or \"host:port\" -> [\"SHA256:...\"]");
  }
  std::vector<HostKeyPin> out;
  for (const auto& [key, pins] : v.items()) {
    const std::string where = at + ".host_keys." + key.substr(0, 64);
    auto dest = hostKeyDestination(key);
    if (!dest)
      return located(policyError(where + ": a host name or IP literal, optionally with :port ([v6]:port), no wildcard"),
                     pointerSegment(key));
    for (const auto& other : out) {
      if (other.host == dest->host && other.port == dest->port)
        return located(policyError(where + ": the destination is listed twice"), pointerSegment(key));
    }
    // A pin for a destination the hosts/ports never allow is a typo, not a rule.
    const std::uint16_t probe = dest->port != 0 ? dest->port : rules.ports.empty() ? 22 : rules.ports.front();
    if (!egressHostAllowed(rules, dest->host, probe)) {
      return located(policyError(where + ": not a destination that hosts (and ports) allow"), pointerSegment(key));
    }
    if (!pins.is_array() || pins.empty() || pins.size() > kMaxPinsPerHost) {
      return located(policyError(where + " must be a non-empty array of at most 16 pins"), pointerSegment(key));
    }
    for (const auto& pin : pins) {
      if (!pin.is_string() || !connectors::decodeHostKeyPin(pin.get<std::string>())) {
        return located(policyError(where + ": pins are SHA256:<43 base64 characters>, as ssh-keygen -lf prints them"),
                       pointerSegment(key) + pointerSegment(dest->sha256.size()));
      }
      dest->sha256.push_back(pin.get<std::string>());
    }
    out.push_back(std::move(*dest));
  }
  return out;
}

bool conditionsHold(const PolicyConditions& c, const json& context, std::chrono::system_clock::time_point now) {
  if (!c.days.empty() || c.fromMinute != 0 || c.toMinute != 24 * 60) {
    const std::tm tm = utcCalendar(now);
    if (!c.days.empty() && std::find(c.days.begin(), c.days.end(), tm.tm_wday) == c.days.end()) return false;
    const int minute = tm.tm_hour * 60 + tm.tm_min;
    const bool inWindow = c.fromMinute <= c.toMinute ? (minute >= c.fromMinute && minute < c.toMinute)
                                                     : (minute >= c.fromMinute || minute < c.toMinute);
    if (!inWindow) return false;
  }
  for (const auto& [attr, allowed] : c.context) {
    if (!context.is_object() || !context.contains(attr)) return false;
    if (std::find(allowed.begin(), allowed.end(), context[attr]) == allowed.end()) return false;
  }
  return true;
}

// <at>.hosts (lowercased host names, IP literals or "*." + a name) or, for ssh,
// <at>.commands.
Result<void> readHostsOrCommands(const std::string& k, const json& v, const std::string& at, EgressRules& rules) {
  const std::string field = at + "." + k;
  if (!v.is_array() || v.empty()) return policyError(field + " must be a non-empty array of strings");
  for (const auto& item : v) {
    const std::string itemAt = pointerSegment(k == "hosts" ? rules.hosts.size() : rules.commands.size());
    if (!item.is_string() || item.get<std::string>().empty()) {
      return located(policyError(field + " holds non-empty strings"), itemAt);
    }
    std::string text = item;
    if (k == "hosts") {
      std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
      // A host name, IPv4 or IPv6 literal (no brackets), or "*." + a name.
      const std::string_view hostPart = text.compare(0, 2, "*.") == 0 ? std::string_view(text).substr(2) : text;
      if (hostPart.empty() ||
          hostPart.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-:") != std::string_view::npos) {
        return located(policyError(field + ": a host name or IP address (or *.name), no scheme, port or path"), itemAt);
      }
      rules.hosts.push_back(std::move(text));
    } else {
      rules.commands.push_back(std::move(text));
    }
  }
  return Ok{};
}

// <at>.ports: 1-65535.
Result<void> readPorts(const json& v, const std::string& at, EgressRules& rules) {
  if (!v.is_array() || v.empty()) return policyError(at + ".ports must be a non-empty array of ports");
  for (const auto& p : v) {
    if (!p.is_number_unsigned() || p.get<std::uint64_t>() == 0 || p.get<std::uint64_t>() > 65535) {
      return located(policyError(at + ".ports holds ports 1-65535"), pointerSegment(rules.ports.size()));
    }
    rules.ports.push_back(p.get<std::uint16_t>());
  }
  return Ok{};
}

// policy.egress.<tenant>.<connector> (`at`): the keys that connector takes;
// host_keys are checked against hosts and ports once both are read.
Result<EgressRules> parseConnectorEgress(const std::string& name, const json& r, const std::string& at) {
  if (!r.is_object()) return policyError(at + " must be an object");
  EgressRules rules;
  const json* hostKeys = nullptr;
  for (const auto& [k, v] : r.items()) {
    if (k == "host_keys" && name == "ssh") {
      hostKeys = &v;
    } else if (k == "hosts" || (k == "commands" && name == "ssh")) {
      SEALGATE_TRY(within(readHostsOrCommands(k, v, at, rules), pointerSegment(k)));
    } else if (k == "plaintext" && (name == "postgres" || name == "ldap")) {
      if (!v.is_boolean()) return located(policyError(at + ".plaintext must be true or false"), "/plaintext");
      rules.plaintext = v.get<bool>();
    } else if (k == "ports") {
      SEALGATE_TRY(within(readPorts(v, at, rules), "/ports"));
    } else {
      return located(policyError("unknown key " + at + "." + k.substr(0, 64)), pointerSegment(k));
    }
  }
  if (rules.hosts.empty()) return policyError(at + ".hosts is required");
  if (name == "ssh" && rules.commands.empty()) return policyError(at + ".commands is required for ssh");
  if (hostKeys != nullptr) {
    SEALGATE_ASSIGN_OR_RETURN(auto pins, within(parseHostKeys(*hostKeys, rules, at), "/host_keys"));
    rules.hostKeys = std::move(pins);
  }
  return rules;
}

// policy.egress: {"<tenant>": {"<connector>": {"hosts": [...], "ports": [...], "commands": [...],
//                                               "host_keys": {...}}}}
Result<std::map<std::string, std::map<std::string, EgressRules>>> parseEgress(const json& e) {
  static const std::vector<std::string> kConnectors{"rest", "postgres", "ldap", "ssh"};
  if (!e.is_object()) return policyError("policy.egress must be an object of tenants");
  std::map<std::string, std::map<std::string, EgressRules>> out;
  for (const auto& [tenant, connectors] : e.items()) {
    const std::string where = "policy.egress." + tenant.substr(0, 64);
    if (tenant.empty() || tenant == "sealgate-admin" || tenant.find_first_of("/*") != std::string::npos) {
      return located(policyError(where + ": not a tenant name"), pointerSegment(tenant));
    }
    if (!connectors.is_object()) {
      return located(policyError(where + " must be an object of connectors"), pointerSegment(tenant));
    }
    for (const auto& [name, r] : connectors.items()) {
      const std::string at = where + "." + name.substr(0, 64);
      if (std::find(kConnectors.begin(), kConnectors.end(), name) == kConnectors.end()) {
        return located(policyError("unknown connector " + at + " (rest, postgres, ldap or ssh)"),
                       pointerSegment(tenant) + pointerSegment(name));
      }
      SEALGATE_ASSIGN_OR_RETURN(
          auto rules, within(parseConnectorEgress(name, r, at), pointerSegment(tenant) + pointerSegment(name)));
      out[tenant][name] = std::move(rules);
    }
  }
  return out;
}

// policy: an object of version 1, rules and (optionally) egress.
Result<void> checkPolicyDocument(const json& doc) {
  if (!doc.is_object()) return policyError("the policy is not a JSON object");
  for (const auto& [k, v] : doc.items()) {
    if (k != "version" && k != "rules" && k != "egress") {
      return located(policyError("unknown key policy." + k.substr(0, 64)), pointerSegment(k));
    }
  }
  if (!doc.contains("version") || doc["version"] != 1)
    return located(policyError("policy.version must be 1"), "/version");
  if (!doc.contains("rules") || !doc["rules"].is_array() || doc["rules"].size() > 10000) {
    return located(policyError("policy.rules must be an array"), "/rules");
  }
  return Ok{};
}

Result<void> checkRuleKeys(const json& r, const std::string& where) {
  static const std::vector<std::string> kKeys{"id",      "effect",      "subjects",   "resources",
                                              "actions", "obligations", "conditions", "reason"};
  for (const auto& [k, v] : r.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), k) == kKeys.end()) {
      return located(policyError("unknown key " + where + "." + k.substr(0, 64)), pointerSegment(k));
    }
  }
  return Ok{};
}

// <where>.subjects: SPIFFE ID globs, split into path segments after spiffe://.
Result<std::vector<std::vector<std::string>>> parseSubjectGlobs(const json& r, const std::string& where) {
  SEALGATE_ASSIGN_OR_RETURN(auto subjects, stringList(r, "subjects", where));
  std::vector<std::vector<std::string>> out;
  for (const auto& s : subjects) {
    if (s.compare(0, 9, "spiffe://") != 0) {
      return located(policyError(where + ".subjects: SPIFFE ID globs start with spiffe://"),
                     "/subjects" + pointerSegment(out.size()));
    }
    out.push_back(split(std::string_view(s).substr(9)));
  }
  return out;
}

Result<std::vector<std::vector<std::string>>> parseResourceGlobs(const json& r, const std::string& where) {
  SEALGATE_ASSIGN_OR_RETURN(auto resources, stringList(r, "resources", where));
  std::vector<std::vector<std::string>> out;
  for (const auto& g : resources) {
    SEALGATE_ASSIGN_OR_RETURN(auto segs,
                              within(resourceGlob(g, where + ".resources"), "/resources" + pointerSegment(out.size())));
    out.push_back(std::move(segs));
  }
  return out;
}

// One key of <where>.obligations: its name and the type and range of its value.
Result<void> checkObligation(const std::string& k, const json& v, const std::string& where) {
  if (k == "connectors") {
    static const std::vector<std::string> kNames{"rest", "postgres", "ldap", "ssh", "hmac", "sign"};
    if (!v.is_array() || v.empty()) return policyError(where + ".obligations.connectors must be a non-empty array");
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string() || std::find(kNames.begin(), kNames.end(), v[i].get<std::string>()) == kNames.end()) {
        return located(policyError(where + ".obligations.connectors: rest, postgres, ldap, ssh, hmac or sign"),
                       pointerSegment(i));
      }
    }
    return Ok{};
  }
  if (k == "cacheable" || k == "version_pin" || k == "reason_required") {
    if (!v.is_boolean()) return policyError(where + ".obligations." + k + " must be true or false");
    return Ok{};
  }
  if (k != "ttl_seconds" && k != "max_uses") {
    return policyError("unknown key " + where + ".obligations." + k.substr(0, 64));
  }
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() == 0 ||
      v.get<std::uint64_t>() > (k == "ttl_seconds" ? 86400u : 1000000u)) {
    return policyError(where + ".obligations." + k + " is out of range");
  }
  return Ok{};
}

// <where>.obligations, every key checked before any is read.
Result<PolicyObligations> parseObligations(const json& o, const std::string& where) {
  if (!o.is_object()) return policyError(where + ".obligations must be an object");
  for (const auto& [k, v] : o.items()) SEALGATE_TRY(within(checkObligation(k, v, where), pointerSegment(k)));
  PolicyObligations out;
  if (o.contains("ttl_seconds")) out.ttlSeconds = o["ttl_seconds"].get<std::uint32_t>();
  if (o.contains("max_uses")) out.maxUses = o["max_uses"].get<std::uint32_t>();
  if (o.contains("cacheable")) out.cacheable = o["cacheable"].get<bool>();
  if (o.contains("version_pin")) out.versionPin = o["version_pin"].get<bool>();
  if (o.contains("reason_required")) out.reasonRequired = o["reason_required"].get<bool>();
  if (o.contains("connectors")) out.connectors = o["connectors"].get<std::vector<std::string>>();
  return out;
}

// policy.rules[i] (`where`).
Result<PolicyRule> parseRule(const json& r, const std::string& where) {
  if (!r.is_object()) return policyError(where + " must be an object");
  SEALGATE_TRY(checkRuleKeys(r, where));
  PolicyRule rule;
  if (!r.contains("id") || !r["id"].is_string() || r["id"].get<std::string>().empty()) {
    return located(policyError(where + ".id is required"), "/id");
  }
  rule.id = r["id"];
  if (!r.contains("effect") || !r["effect"].is_string() || (r["effect"] != "allow" && r["effect"] != "deny")) {
    return located(policyError(where + ".effect must be allow or deny"), "/effect");
  }
  rule.allow = r["effect"] == "allow";
  SEALGATE_ASSIGN_OR_RETURN(rule.subjects, parseSubjectGlobs(r, where));
  SEALGATE_ASSIGN_OR_RETURN(rule.resources, parseResourceGlobs(r, where));
  SEALGATE_ASSIGN_OR_RETURN(rule.actions, stringList(r, "actions", where));
  if (r.contains("obligations")) {
    SEALGATE_ASSIGN_OR_RETURN(rule.obligations, within(parseObligations(r["obligations"], where), "/obligations"));
    if (!rule.allow) return located(policyError(where + ": deny rules carry no obligations"), "/obligations");
  }
  if (r.contains("conditions")) {
    SEALGATE_ASSIGN_OR_RETURN(rule.conditions,
                              within(parseConditions(r["conditions"], where + ".conditions"), "/conditions"));
  }
  if (r.contains("reason")) {
    if (!r["reason"].is_string() || !isReasonCode(r["reason"])) {
      return located(policyError(where + ".reason must be an UPPER_SNAKE code"), "/reason");
    }
    rule.reason = r["reason"];
  }
  if (!rule.allow && rule.reason.empty()) rule.reason = "POLICY_DENIED";
  return rule;
}

}  // namespace

Result<Policy> Policy::parse(std::string_view text) { return parse(text, nullptr); }

Result<Policy> Policy::parse(std::string_view text, std::string* faultPointer) {
  auto parsed = parseDocument(text);
  if (parsed.ok()) return parsed;
  Error e = std::move(parsed).takeError();
  if (faultPointer != nullptr) *faultPointer = e.operation;
  e.operation.clear();  // the carrier (see `located`), not a failed call
  return e;
}

Result<Policy> Policy::parseDocument(std::string_view text) {
  auto parsed = parseJson(text, {.allowComments = true});
  if (!parsed) return policyError("the policy is not acceptable JSON (" + parsed.error().describe() + ")");
  json doc = std::move(*parsed);
  SEALGATE_TRY(checkPolicyDocument(doc));
  Policy policy;
  for (std::size_t i = 0; i < doc["rules"].size(); ++i) {
    SEALGATE_ASSIGN_OR_RETURN(auto rule, within(parseRule(doc["rules"][i], "policy.rules[" + std::to_string(i) + "]"),
                                                "/rules" + pointerSegment(i)));
    policy.rules_.push_back(std::move(rule));
  }
  if (doc.contains("egress")) {
    SEALGATE_ASSIGN_OR_RETURN(auto egress, within(parseEgress(doc["egress"]), "/egress"));
    policy.egress_ = std::move(egress);
  }
  policy.source_ = std::string(text);
  return policy;
}

EgressRules Policy::egress(const std::string& tenant, const std::string& connector) const {
  auto t = egress_.find(tenant);
  if (t == egress_.end()) return {};
  auto c = t->second.find(connector);
  return c == t->second.end() ? EgressRules{} : c->second;
}

Result<Policy> Policy::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return policyError("cannot read the policy file " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(text);
}

Decision Policy::decide(const DecisionSubject& subject, const DecisionRequest& request,
                        std::chrono::system_clock::time_point now) const {
  Decision d;
  d.index = request.index;
  auto uri = SecretUri::parse(request.canonicalUri);
  if (!uri) {
    d.reason = errorCodeName(uri.error().code);
    return d;
  }
  const std::string base = uri->canonicalWithoutVersionAndField();
  const auto resourceSegs = split(std::string_view(base).substr(9));
  if (subject.spiffeId.compare(0, 9, "spiffe://") != 0) {
    d.reason = "POLICY_NO_MATCH";
    return d;
  }
  const auto subjectSegs = split(std::string_view(subject.spiffeId).substr(9));
  const json context = parseInternalJson(request.contextJson);
  std::optional<std::uint32_t> ttl, maxUses;
  bool cacheable = true;  // only if every matching allow says so
  bool versionPin = false, reasonRequired = false;
  std::optional<std::vector<std::string>> connectors;
  std::vector<std::string> allowedBy;
  for (const auto& rule : rules_) {
    const bool actionOk = std::any_of(rule.actions.begin(), rule.actions.end(),
                                      [&](const std::string& a) { return a == "*" || a == request.action; });
    if (!actionOk) continue;
    const bool subjectOk = std::any_of(rule.subjects.begin(), rule.subjects.end(),
                                       [&](const auto& g) { return globMatch(g, 0, subjectSegs, 0); });
    if (!subjectOk) continue;
    const bool resourceOk = std::any_of(rule.resources.begin(), rule.resources.end(),
                                        [&](const auto& g) { return globMatch(g, 0, resourceSegs, 0); });
    if (!resourceOk) continue;
    if (!conditionsHold(rule.conditions, context, now)) continue;
    if (!rule.allow) {  // deny overrides
      d.allow = false;
      d.reason = rule.reason;
      return d;
    }
    allowedBy.push_back(rule.id);
    cacheable = cacheable && rule.obligations.cacheable;
    versionPin = versionPin || rule.obligations.versionPin;
    reasonRequired = reasonRequired || rule.obligations.reasonRequired;
    if (rule.obligations.ttlSeconds) ttl = std::min(ttl.value_or(UINT32_MAX), *rule.obligations.ttlSeconds);
    if (rule.obligations.maxUses) maxUses = std::min(maxUses.value_or(UINT32_MAX), *rule.obligations.maxUses);
    if (rule.obligations.connectors) {  // the tightest: what every listing rule allows
      if (!connectors) {
        connectors = *rule.obligations.connectors;
      } else {
        std::vector<std::string> both;
        for (const auto& c : *connectors) {
          const auto& other = *rule.obligations.connectors;
          if (std::find(other.begin(), other.end(), c) != other.end()) both.push_back(c);
        }
        connectors = std::move(both);
      }
    }
  }
  if (allowedBy.empty()) {
    d.reason = "POLICY_NO_MATCH";
    return d;
  }
  if (versionPin && !uri->version()) {
    d.reason = "VERSION_PIN_REQUIRED";
    return d;
  }
  if (reasonRequired && !(context.is_object() && context.contains("reason") && context["reason"].is_string() &&
                          !context["reason"].get<std::string>().empty())) {
    d.reason = "REASON_REQUIRED";
    return d;
  }
  d.allow = true;
  d.cacheable = cacheable;
  d.reason = allowedBy.front();
  json obl = json::object();
  if (ttl) obl["ttl_seconds"] = *ttl;
  if (versionPin) obl["version_pin"] = true;
  if (reasonRequired) obl["reason_required"] = true;
  if (maxUses) obl["max_uses"] = *maxUses;
  if (connectors) obl["connectors"] = *connectors;
  d.obligationsJson = obl.dump();
  return d;
}

Result<std::vector<Decision>> EmbeddedPolicyDecisionPoint::decide(const DecisionSubject& subject,
                                                                  const std::vector<DecisionRequest>& requests,
                                                                  std::chrono::milliseconds) {
  auto policy = current();
  std::vector<Decision> out;
  out.reserve(requests.size());
  for (const auto& r : requests) out.push_back(policy->decide(subject, r));
  return out;
}

void EmbeddedPolicyDecisionPoint::replace(std::shared_ptr<const Policy> policy) {
  std::lock_guard lock(mu_);
  policy_ = std::move(policy);
}

std::shared_ptr<const Policy> EmbeddedPolicyDecisionPoint::current() const {
  std::lock_guard lock(mu_);
  return policy_;
}

std::string devPolicyJson() {
  return R"({
  // Development policy written by `sealgate dev-init` (docs/POLICY.md).
  "version": 1,
  "rules": [
    {
      "id": "acme-payments-app",
      "effect": "allow",
      "subjects": ["spiffe://acme/payments"],
      "resources": ["secret://acme/kv/app/*"],
      "actions": ["use"],
      "obligations": {"ttl_seconds": 300, "max_uses": 5}
    },
    {
      "id": "globex-billing-kv",
      "effect": "allow",
      "subjects": ["spiffe://globex/billing"],
      "resources": ["secret://globex/kv/*"],
      "actions": ["use"],
      "obligations": {"ttl_seconds": 300, "max_uses": 5}
    },
    {
      "id": "admin-reveal-kv",
      "effect": "allow",
      "subjects": ["spiffe://sealgate-admin/admin/*"],
      "resources": ["secret://acme/kv/**", "secret://globex/kv/**"],
      "actions": ["reveal"]
    }
  ],
  // Where each tenant's connectors may go (POST /v1/execute; docs/CONNECTORS.md).
  "egress": {
    "acme": {"rest": {"hosts": ["127.0.0.1", "localhost"]}},
    "globex": {"rest": {"hosts": ["127.0.0.1", "localhost"]}}
  }
}
)";
}

}  // namespace sealgate::appliance
