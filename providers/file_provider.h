// A development-only SecretProvider: secrets from a JSON or YAML file, reloaded
// when the file changes (its size, mtime or inode differ from the last load).
// Refused in production mode (Config "mode"): a plaintext file of secrets has no
// place on an appliance. Format (docs/PROVIDERS.md):
//   {"secrets": {"secret://acme/dev/app/db": {"password": "...", "user": "..."}}}
// Keys are secret URIs without version and field; values are objects of fields.
// A path ending in .yaml or .yml is read as YAML (yaml-cpp) with the same shape;
// its scalars are all strings. yaml-cpp's own copies of the text are freed
// unwiped (the JSON path wipes its copies): one more reason this is dev-only.
#pragma once

#include <sys/stat.h>

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "core/interfaces/secret_provider.h"

namespace sealgate::providers {

inline constexpr ErrorCode kFileProviderRefused = ErrorCode::FileProviderRefused;

class FileProvider : public SecretProvider {
 public:
  // FILE_PROVIDER_REFUSED when `production`; the file must load (else the error).
  static Result<std::unique_ptr<FileProvider>> open(const std::string& path, bool production);

  Result<FetchedSecret> fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                              const FetchContext& context) override;
  using SecretProvider::fetch;
  // False when the file has become unreadable or invalid (the last good copy is
  // then not served: fail closed).
  bool healthy() const override;

 private:
  explicit FileProvider(std::string path) : path_(std::move(path)) {}
  Result<void> reloadIfChanged();

  std::string path_;
  mutable std::mutex mu_;
  nlohmann::json secrets_;  // canonical URI -> object of fields
  struct ::stat seen_ {};
  bool good_ = false;
};

}  // namespace sealgate::providers
