// `sealgate config check [--config FILE] [--files] [--json]`: parse and
// validate a configuration as sealgated does at start, and print every problem
// with the key it is about, not just the first.
#pragma once

#include <ostream>
#include <string>

namespace sealgate::appliance {

// The configuration the package installs, and the one `config check` reads by default.
inline constexpr const char* kDefaultConfigPath = "/etc/sealgate/sealgated.conf";

// 0 when the configuration is valid (and, with `files`, every file it names can
// be read by this user), 1 when it has problems (all of them printed), 2 when
// the file cannot be read. --json prints {"config","valid","problems":[{"key","message"}]}.
int configCheckCommand(const std::string& path, bool files, bool asJson, std::ostream& out, std::ostream& err);

}  // namespace sealgate::appliance
