#include "core/kv_request.h"

#include <algorithm>
#include <set>

#include "core/secret_uri.h"

namespace sealgate::kv {

using nlohmann::json;

namespace {

Error invalid(const std::string& why) { return makeError(kInvalid, why); }
// A path that names no KV endpoint at all (no such route, not a bad argument).
Error noEndpoint() { return makeError(ErrorCode::NotFound, "no such KV endpoint"); }

Result<void> onlyKeys(const json& body, std::initializer_list<const char*> allowed) {
  if (!body.is_object()) return invalid("the body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();  // clang 14 cannot capture structured bindings
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; })) {
      return makeError(ErrorCode::UnknownField, "unknown field in the request body");
    }
  }
  return Ok{};
}

bool validMount(std::string_view m) {
  if (m.empty() || m.size() > 63) return false;
  for (std::size_t i = 0; i < m.size(); ++i) {
    const char c = m[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '_' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

bool validPath(std::string_view path) {
  auto uri = SecretUri::parse("secret://acme/kv/" + std::string(path));
  return uri && uri->joinedPath() == path;
}

Result<std::uint32_t> uint32Of(const json& v, const char* what) {
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() > UINT32_MAX) {
    return invalid(std::string(what) + " must be a non-negative integer");
  }
  return static_cast<std::uint32_t>(v.get<std::uint64_t>());
}

Result<SettingsWrite> parseSettings(const json& body, bool withCustom, bool patch) {
  if (withCustom) {
    SEALGATE_TRY(onlyKeys(body, {"max_versions", "cas_required", "delete_version_after", "custom_metadata"}));
  } else {
    SEALGATE_TRY(onlyKeys(body, {"max_versions", "cas_required", "delete_version_after"}));
  }
  SettingsWrite w;
  if (body.contains("max_versions")) {
    SEALGATE_ASSIGN_OR_RETURN(auto v, uint32Of(body["max_versions"], "max_versions"));
    w.maxVersions = v;
  }
  if (body.contains("cas_required")) {
    if (!body["cas_required"].is_boolean()) return invalid("cas_required must be true or false");
    w.casRequired = body["cas_required"].get<bool>();
  }
  if (body.contains("delete_version_after")) {
    auto d = parseGoDuration(body["delete_version_after"]);
    if (!d) return invalid("delete_version_after must be a duration such as \"3h25m19s\"");
    w.deleteVersionAfter = *d;
  }
  if (withCustom && body.contains("custom_metadata")) {
    const json& c = body["custom_metadata"];
    if (!c.is_object() || c.size() > 64) return invalid("custom_metadata must be an object of at most 64 keys");
    for (const auto& [k, v] : c.items()) {
      const bool valueOk = (v.is_string() && v.get_ref<const std::string&>().size() <= 512) || (patch && v.is_null());
      if (k.empty() || k.size() > 128 || !valueOk) {
        return invalid("custom_metadata keys are 1-128 characters and values strings of at most 512");
      }
    }
    w.customMetadata = c;
  }
  return w;
}

}  // namespace

Result<Target> parseTarget(std::string_view rest) {
  const auto s1 = rest.find('/');
  if (s1 == std::string_view::npos) return noEndpoint();
  Target t;
  t.mount = std::string(rest.substr(0, s1));
  if (!validMount(t.mount)) return invalid("the mount name is not valid");
  const std::string_view afterMount = rest.substr(s1 + 1);
  const auto s2 = afterMount.find('/');
  t.op = std::string(afterMount.substr(0, s2));
  t.path = s2 == std::string_view::npos ? std::string() : std::string(afterMount.substr(s2 + 1));
  static const std::set<std::string> kOps{"data", "metadata", "delete", "undelete", "destroy", "config"};
  if (!kOps.count(t.op)) return noEndpoint();
  if (t.op == "config") {
    if (s2 != std::string_view::npos) return noEndpoint();
    return t;
  }
  if (t.op == "metadata" && (t.path.empty() || t.path.back() == '/')) {
    if (!t.path.empty() && !validPath(std::string_view(t.path).substr(0, t.path.size() - 1))) {
      return invalid("the path is not valid");
    }
    return t;
  }
  if (!validPath(t.path)) return invalid("the path is not valid");
  return t;
}

Result<DataWrite> parseDataWrite(const json& body) {
  SEALGATE_TRY(onlyKeys(body, {"data", "options"}));
  if (!body.contains("data")) return invalid("no data provided");
  if (!body["data"].is_object()) return invalid("data must be a JSON object");
  DataWrite w;
  if (body.contains("options")) {
    const json& o = body["options"];
    if (o.is_null()) return DataWrite{body["data"], std::nullopt};
    SEALGATE_TRY(onlyKeys(o, {"cas"}));
    if (o.contains("cas")) {
      SEALGATE_ASSIGN_OR_RETURN(auto cas, uint32Of(o["cas"], "options.cas"));
      w.cas = cas;
    }
  }
  w.data = body["data"];
  return w;
}

Result<std::vector<std::uint32_t>> parseVersions(const json& body, bool required) {
  SEALGATE_TRY(onlyKeys(body, {"versions"}));
  std::vector<std::uint32_t> out;
  if (!body.contains("versions")) {
    if (required) return invalid("no version number provided");
    return out;
  }
  const json& v = body["versions"];
  if (!v.is_array()) return invalid("versions must be an array of version numbers");
  if (v.size() > kMaxVersionsPerRequest) return invalid("too many versions in one request");
  for (const auto& n : v) {
    auto x = uint32Of(n, "versions");
    if (!x || *x == 0) return invalid("versions must be positive integers");
    out.push_back(*x);
  }
  if (required && out.empty()) return invalid("no version number provided");
  return out;
}

Result<SettingsWrite> parseMetadataWrite(const json& body, bool patch) { return parseSettings(body, true, patch); }
Result<SettingsWrite> parseConfigWrite(const json& body) { return parseSettings(body, false, false); }

Result<std::uint32_t> parseVersionQuery(std::string_view query) {
  std::uint32_t version = 0;
  std::size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    const auto amp = query.find('&', start);
    const std::string_view item =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (item.rfind("version=", 0) == 0) {
      const std::string_view n = item.substr(8);
      if (n.empty() || n.size() > 10 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return invalid("version must be a non-negative integer");
      }
      const auto v = std::stoull(std::string(n));
      if (v > UINT32_MAX) return invalid("version must be a non-negative integer");
      version = static_cast<std::uint32_t>(v);
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return version;
}

bool listQuery(std::string_view query) {
  std::size_t start = 0;
  while (true) {
    const auto amp = query.find('&', start);
    const std::string_view item =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (item == "list=true" || item == "list=1") return true;
    if (amp == std::string_view::npos) return false;
    start = amp + 1;
  }
}

std::string formatGoDuration(std::chrono::seconds d) {
  auto s = d.count();
  if (s == 0) return "0s";
  std::string out;
  if (s < 0) {
    out = "-";
    s = -s;
  }
  const auto h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(sec) + "s";
  return out;
}

std::optional<std::chrono::seconds> parseGoDuration(const json& value) {
  constexpr std::int64_t kMax = 100ll * 365 * 86400;
  if (value.is_number_integer()) {
    if (value.get<std::int64_t>() < 0 && !value.is_number_unsigned()) return std::nullopt;
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(kMax)) return std::nullopt;
    return std::chrono::seconds(static_cast<std::int64_t>(v));
  }
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty() || text.size() > 32) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (text.size() > 12) return std::nullopt;
    return parseGoDuration(json(std::stoull(text)));
  }
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i || j - i > 10 || j == text.size()) return std::nullopt;
    const std::int64_t n = std::stoll(text.substr(i, j - i));
    switch (text[j]) {
      case 'h':
        total += n * 3600;
        break;
      case 'm':
        total += n * 60;
        break;
      case 's':
        total += n;
        break;
      default:
        return std::nullopt;
    }
    if (total > kMax) return std::nullopt;
    i = j + 1;
  }
  return std::chrono::seconds(total);
}

}  // namespace sealgate::kv
