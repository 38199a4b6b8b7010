// libFuzzer target: connector actions as /v1/execute receives them. Every
// connector's validate() (strict fields, where {{slot:name}} may go, the egress
// allow-list) over the input as JSON, and the slot template parser and renderer
// over the input as text. Nothing is run against a peer.
//
// Properties: nothing crashes; names that validate() returns are well-formed
// slot names; a template that parses renders with any slot values in every
// encoding, and its raw rendering of empty slots equals the text minus its
// placeholders.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "appliance/connectors/crypto_connectors.h"
#include "appliance/connectors/ldap_connector.h"
#include "appliance/connectors/postgres_connector.h"
#include "appliance/connectors/rest_connector.h"
#include "appliance/connectors/ssh_connector.h"
#include "core/json_parse.h"
#include "core/slot_template.h"

using namespace sealgate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<std::unique_ptr<Connector>> all = [] {
    std::vector<std::unique_ptr<Connector>> v;
    v.push_back(std::make_unique<connectors::RestConnector>());
    v.push_back(std::make_unique<connectors::PostgresConnector>());
    v.push_back(std::make_unique<connectors::LdapConnector>());
    v.push_back(std::make_unique<connectors::SshConnector>());
    v.push_back(std::make_unique<connectors::HmacConnector>());
    v.push_back(std::make_unique<connectors::SignConnector>());
    return v;
  }();
  ConnectorContext context;
  context.tenant = "acme";
  context.rules.hosts = {"127.0.0.1", "localhost", "*.example.com"};
  context.rules.commands = {"uptime", "echo hello"};

  const std::string text(reinterpret_cast<const char*>(data), size);
  // As /v1/execute receives it: through parseJson (depth-capped, no repeated keys).
  if (auto action = parseJson(text)) {
    for (auto& connector : all) {
      auto names = connector->validate(*action, context);
      if (!names) continue;
      for (const auto& n : *names) {
        if (!isSlotName(n)) std::abort();
      }
    }
  }

  auto t = SlotTemplate::parse(text);
  if (t) {
    auto value = Secret::copyFrom(std::string_view("v\"\\/&=\n\x01\xff"));
    auto empty = Secret::copyFrom(std::string_view(""));
    SlotValues filled, blank;
    for (const auto& n : t->slotNames()) {
      if (!isSlotName(n)) std::abort();
      filled[n] = &*value;
      blank[n] = &*empty;
    }
    for (auto e : {SlotEncoding::Raw, SlotEncoding::Percent, SlotEncoding::JsonString}) {
      if (!t->render(filled, e)) std::abort();
    }
    auto stripped = t->render(blank);
    if (!stripped || stripped->size() > text.size()) std::abort();
    if (t->hasSlots() != (stripped->size() < text.size())) std::abort();
  }
  (void)forbidSlots(text, "fuzz");
  (void)peerText(text).dump();
  return 0;
}
