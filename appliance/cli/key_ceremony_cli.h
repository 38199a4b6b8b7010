// `sealgate keys ceremony`: the initial key ceremony on a production token
// (docs/RUNBOOK.md, "Initial key ceremony").
#pragma once

#include <iosfwd>
#include <string>

namespace sealgate::appliance {

struct CeremonyCommand {
  std::string configPath;
  std::string tlsCommonName;  // with csrOut: the TLS key's certificate request
  std::string tlsSubjectAltNames;
  std::string csrOut;
  bool asJson = false;
};

// Creates every key the config's token lacks (never replacing one), writes the
// TLS key's certificate request when asked, and records what it did in the
// audit log (`key_ceremony`). Exit 0 done (also when nothing was missing),
// 1 refused or failed, 2 unusable config.
int keyCeremonyCommand(const CeremonyCommand& c, std::ostream& out, std::ostream& err);

}  // namespace sealgate::appliance
