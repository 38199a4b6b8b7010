#include "providers/file_provider.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/json_parse.h"
#include "providers/kv_store.h"

namespace sealgate::providers {

using nlohmann::json;

namespace {

Error unavailable(const std::string& why) { return makeError(provider_errc::kUnavailable, "the secrets file " + why); }

bool sameFile(const struct ::stat& a, const struct ::stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

bool isYamlPath(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".yaml" || ext == ".yml";
}

// Every scalar becomes a string (YAML 1.1 would read `password: no` as false and
// `pin: 0123` as octal; a secret is the text as written). Null stays null, so the
// shape checks below treat a YAML file exactly like the equivalent JSON one.
// Throws YAML::Exception for a repeated key (yaml-cpp keeps the first silently)
// and for nesting deeper than JSON may be (kMaxJsonDepth).
struct YamlTooDeep {
  YAML::Mark mark;
};
json yamlToJson(const YAML::Node& node, std::size_t depth = 0) {
  if ((node.IsMap() || node.IsSequence()) && ++depth > kMaxJsonDepth) throw YamlTooDeep{node.Mark()};
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& member : node) {
        if (!member.first.IsScalar()) throw YAML::Exception(member.first.Mark(), "a key that is not a scalar");
        const std::string& key = member.first.Scalar();
        if (out.contains(key)) throw YAML::Exception(member.first.Mark(), "a repeated key");
        out[key] = yamlToJson(member.second, depth);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& element : node) out.push_back(yamlToJson(element, depth));
      return out;
    }
    case YAML::NodeType::Scalar:
      return node.Scalar();
    default:
      return nullptr;
  }
}

}  // namespace

Result<std::unique_ptr<FileProvider>> FileProvider::open(const std::string& path, bool production) {
  if (production) {
    return makeError(kFileProviderRefused,
                     "the file provider is for development only and is refused in production mode");
  }
  std::unique_ptr<FileProvider> p(new FileProvider(path));
  std::lock_guard lock(p->mu_);
  SEALGATE_TRY(p->reloadIfChanged());
  return p;
}

Result<void> FileProvider::reloadIfChanged() {
  struct ::stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    good_ = false;
    return unavailable("cannot be read");
  }
  if (good_ && sameFile(st, seen_)) return Ok{};
  std::ifstream in(path_);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json doc;
  std::string parseError;
  if (isYamlPath(path_)) {
    try {
      doc = yamlToJson(YAML::Load(text));
    } catch (const YAML::Exception& e) {
      // The line only: yaml-cpp's message could quote the file's text.
      parseError = "is not valid YAML (line " + std::to_string(e.mark.line + 1) + ")";
    } catch (const YamlTooDeep& e) {
      parseError = "is not valid YAML (line " + std::to_string(e.mark.line + 1) + ": " +
                   errorCodeName(json_errc::kTooDeep) + ", nested deeper than " + std::to_string(kMaxJsonDepth) +
                   " levels)";
    }
  } else if (auto parsed = parseJson(text, {.allowComments = true})) {
    doc = std::move(*parsed);
  } else {
    // The code and position only, never the file's text.
    parseError = "is not valid JSON (" + parsed.error().describe() + ")";
  }
  secureWipe(text.data(), text.size());
  auto invalid = [&](const std::string& why) -> Result<void> {
    wipeJsonStrings(doc);
    good_ = false;
    wipeJsonStrings(secrets_);
    secrets_ = json::object();
    return unavailable(why);
  };
  if (!in.good() && !in.eof()) return invalid("cannot be read");
  if (!parseError.empty()) return invalid(parseError);
  if (!doc.is_object() || doc.size() != 1 || !doc.contains("secrets") || !doc["secrets"].is_object()) {
    return invalid(isYamlPath(path_) ? "must be a map with the one key secrets" : "must be {\"secrets\": {...}}");
  }
  json next = json::object();
  for (auto& [key, fields] : doc["secrets"].items()) {
    auto uri = SecretUri::parse(key);
    if (!uri || uri->version() || uri->field())
      return invalid("has a key that is not a secret URI without version and field");
    if (!fields.is_object()) return invalid("has a secret that is not an object of fields");
    next[uri->canonical()] = std::move(fields);
  }
  wipeJsonStrings(doc);
  wipeJsonStrings(secrets_);
  secrets_ = std::move(next);
  seen_ = st;
  good_ = true;
  return Ok{};
}

Result<FetchedSecret> FileProvider::fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                                          const FetchContext&) {
  std::lock_guard lock(mu_);
  SEALGATE_TRY(reloadIfChanged());
  const Error notFound = makeError(provider_errc::kNotFound, "no such secret or field");
  if (version || uri.version()) return notFound;  // the file has no versions
  auto it = secrets_.find(uri.canonicalWithoutVersionAndField());
  if (it == secrets_.end()) return notFound;
  Result<Secret> value = notFound;
  if (!uri.field()) {
    std::string text = it->dump();
    value = Secret::copyFrom(text);
    secureWipe(text.data(), text.size());
  } else {
    auto f = it->find(*uri.field());
    if (f == it->end()) return notFound;
    if (f->is_string()) {
      value = Secret::copyFrom(f->get_ref<const std::string&>());
    } else {
      std::string text = f->dump();
      value = Secret::copyFrom(text);
      secureWipe(text.data(), text.size());
    }
  }
  if (!value) return value.error();
  FetchedSecret out;
  out.value = std::move(*value);
  return out;
}

bool FileProvider::healthy() const {
  std::lock_guard lock(mu_);
  return good_;
}

}  // namespace sealgate::providers
