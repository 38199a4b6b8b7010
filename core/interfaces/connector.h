// Connector: performs an action with secrets placed in slots, so that callers use
// a secret without reading it.
#pragma once

#include <map>
#include <string>

#include "core/result.h"
#include "core/secret.h"

namespace sealgate {

struct ConnectorAction {
  std::string actionJson;  // the request's "action" object, with {{slot:name}} placeholders
};

struct ConnectorOutcome {
  std::string resultJson;  // the peer's answer, before the egress guard scrubs it
};

class Connector {
 public:
  virtual ~Connector() = default;

  // The connector's name in requests ("rest", "postgres", "ldap", "ssh", ...).
  virtual std::string name() const = 0;

  // Checks the action against the destination allow-list before any use is spent.
  virtual Result<void> validate(const ConnectorAction& action) const = 0;

  // Runs the action with `slots` substituted. Contract: slot values are used only
  // to talk to the peer; they are never logged; the outcome is passed through the
  // egress guard by the caller before it reaches any response.
  virtual Result<ConnectorOutcome> run(const ConnectorAction& action,
                                       const std::map<std::string, const Secret*>& slots) = 0;
};

}  // namespace sealgate
