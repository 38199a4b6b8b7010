// `sealgate keys versions|rotate|retire|correlate`: key rotation through the
// admin listener (docs/RUNBOOK.md, "Key rotation"; API.md, "Keys").
#pragma once

#include <iosfwd>
#include <string>

#include "appliance/cli/admin_client.h"

namespace sealgate::appliance {

struct KeysCommand {
  AdminTls tls;
  bool asJson = false;
  std::string kind;    // rotate: ref-hmac, grant, audit, tls
  std::string csrOut;  // rotate --kind tls: where the certificate request goes ("" = stdout)
  std::string label;   // retire
  std::string uri;     // correlate
  std::string reason;  // rotate, retire: recorded in the audit event
};

// Each exits 0 done, 1 refused by the appliance (the API's code is printed),
// 2 not reachable or unusable input.
int keysVersionsCommand(const KeysCommand& c, std::ostream& out, std::ostream& err);
int keysRotateCommand(const KeysCommand& c, std::ostream& out, std::ostream& err);
int keysRetireCommand(const KeysCommand& c, std::ostream& out, std::ostream& err);
int keysCorrelateCommand(const KeysCommand& c, std::ostream& out, std::ostream& err);

}  // namespace sealgate::appliance
