#include "appliance/cli/config_check.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "appliance/config/config.h"

namespace sealgate::appliance {

int configCheckCommand(const std::string& path, bool files, bool asJson, std::ostream& out, std::ostream& err) {
  if (!std::ifstream(path)) {
    err << "sealgate config check: cannot read " << path << "\n";
    return 2;
  }
  auto checked = Config::checkFile(path);
  std::vector<ConfigProblem> problems = std::move(checked.problems);
  if (checked.config && files) problems = unreadableFiles(*checked.config);
  if (asJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : problems) list.push_back({{"key", p.key}, {"message", p.message}});
    out << nlohmann::json{{"config", path}, {"valid", problems.empty()}, {"problems", list}}.dump(2) << "\n";
  } else if (problems.empty()) {
    out << path << ": valid" << (files ? "; every file it names can be read" : "") << "\n";
  } else {
    err << path << ": " << problems.size() << (problems.size() == 1 ? " problem" : " problems") << "\n";
    for (const auto& p : problems) {
      // Most messages name their key already; the others get it in front.
      const bool named = p.key.empty() || p.message.find(p.key) != std::string::npos;
      err << "  " << (named ? "" : p.key + ": ") << p.message << "\n";
    }
  }
  return problems.empty() ? 0 : 1;
}

}  // namespace sealgate::appliance
