// Every connector's validate() against values nested far deeper than any request
// body may be (parseJson caps bodies at kMaxJsonDepth; a connector must not rely
// on that for its stack). Before the walkers were made iterative and type-first,
// a deep array in postgres `port` or rest `json` overflowed the stack.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "appliance/connectors/crypto_connectors.h"
#include "appliance/connectors/ldap_connector.h"
#include "appliance/connectors/postgres_connector.h"
#include "appliance/connectors/rest_connector.h"
#include "appliance/connectors/ssh_connector.h"
#include "core/json_parse.h"
#include "tests/support/deep_json.h"

namespace sealgate::connectors {
namespace {

using nlohmann::json;

constexpr std::size_t kDeep = 100'000;

json deep(std::size_t depth, const json& leaf) { return testing::deepJson(depth, leaf); }

struct Sample {
  std::unique_ptr<Connector> connector;
  json action;
};

std::vector<Sample> samples() {
  std::vector<Sample> v;
  v.push_back({std::make_unique<RestConnector>(),
               json::parse(R"j({"connector":"rest","method":"POST","url":"https://127.0.0.1:8443/v1/x?k={{slot:tok}}",
                               "headers":{"Authorization":"Bearer {{slot:tok}}"},"json":{"a":"{{slot:tok}}"}})j")});
  v.push_back({std::make_unique<PostgresConnector>(),
               json::parse(R"j({"connector":"postgres","host":"127.0.0.1","port":5432,"dbname":"app","user":"app",
                               "password":"{{slot:p}}","sslmode":"disable","query":"SELECT $1","params":["x",null],
                               "max_rows":10})j")});
  v.push_back({std::make_unique<LdapConnector>(),
               json::parse(R"j({"connector":"ldap","url":"ldaps://localhost:636","starttls":false,"bind_dn":"cn=a",
                               "password":"{{slot:pw}}","search":{"base":"dc=x","scope":"sub","filter":"(uid=a)",
                               "attributes":["cn"],"size_limit":5}})j")});
  v.push_back({std::make_unique<HmacConnector>(),
               json::parse(R"j({"connector":"hmac","key":"{{slot:k}}","algorithm":"HS256","message":"m"})j")});
  v.push_back({std::make_unique<SignConnector>(),
               json::parse(R"j({"connector":"sign","key":"{{slot:k}}","algorithm":"EdDSA","message":"m"})j")});
  return v;
}

ConnectorContext context() {
  ConnectorContext c;
  c.tenant = "acme";
  c.rules.hosts = {"127.0.0.1", "localhost"};
  c.rules.plaintext = true;
  return c;
}

TEST(DeepJson, EveryConnectorFieldRefusesADeepValueWithoutWalkingIt) {
  const auto ctx = context();
  for (const auto& s : samples()) {
    ASSERT_TRUE(s.connector->validate(s.action, ctx)) << s.connector->name() << ": the sample must be valid";
    std::vector<json::json_pointer> fields;
    for (const auto& [key, value] : s.action.items()) {
      fields.emplace_back("/" + key);
      if (value.is_object()) {
        for (const auto& [inner, unused] : value.items()) fields.emplace_back("/" + key + "/" + inner);
      }
    }
    for (const json& leaf : {json("{{slot:k}}"), json(1)}) {
      // Built once and moved from field to field (a copy would recurse).
      json deepValue = deep(kDeep, leaf);
      for (const auto& field : fields) {
        json action = s.action;
        action[field] = std::move(deepValue);
        auto r = s.connector->validate(action, ctx);
        deepValue = std::move(action[field]);
        ASSERT_EQ(jsonDepth(deepValue), kDeep);
        EXPECT_FALSE(r) << s.connector->name() << " " << field.to_string();
        if (!r) {
          EXPECT_TRUE(r.error().code == connector_errc::kInvalidAction ||
                      r.error().code == connector_errc::kPlaceholderForbidden)
              << s.connector->name() << " " << field.to_string() << ": " << r.error().describe();
        }
      }
    }
  }
}

TEST(DeepJson, RestJsonIsCappedAtTheRequestDepth) {
  RestConnector rest;
  auto action = json::parse(R"j({"connector":"rest","method":"POST","url":"https://127.0.0.1:8443/x"})j");
  // `json` sits at depth 3 of an execute body ({"action":{"json":...}}), so a
  // body within the cap never holds more than kMaxJsonDepth levels here.
  action["json"] = deep(kMaxJsonDepth, "{{slot:k}}");
  auto ok = rest.validate(action, context());
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->count("k"), 1u);
  action["json"] = deep(kMaxJsonDepth + 1, "x");
  auto r = rest.validate(action, context());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kInvalidAction);
  // A placeholder in a key at depth is found without recursion.
  json keyed = json::array();
  json* at = &keyed;
  for (int i = 0; i < 20; ++i) {
    at->push_back(json::array());
    at = &at->back();
  }
  at->push_back(json{{"{{slot:k}}", 1}});
  action["json"] = keyed;
  EXPECT_EQ(rest.validate(action, context()).error().code, connector_errc::kPlaceholderForbidden);
}

TEST(DeepJson, ScalarFieldsCheckTheTypeBeforeLooking) {
  // A placeholder in a string where a number goes still names the real problem;
  // in an array it is just the wrong type (nothing walks into it).
  PostgresConnector pg;
  auto a = json::parse(R"j({"connector":"postgres","host":"127.0.0.1","dbname":"app","user":"u","query":"SELECT 1",
                           "password":"{{slot:p}}","sslmode":"disable"})j");
  a["port"] = "{{slot:k}}";
  EXPECT_EQ(pg.validate(a, context()).error().code, connector_errc::kPlaceholderForbidden);
  a["port"] = json::array({"{{slot:k}}"});
  EXPECT_EQ(pg.validate(a, context()).error().code, connector_errc::kInvalidAction);
}

}  // namespace
}  // namespace sealgate::connectors
