// LdapConnector against a real slapd (tests/support/slapd.h): no mocks.
#include "appliance/connectors/ldap_connector.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "appliance/connectors/connector_test_util.h"
#include "tests/support/postgres.h"
#include "tests/support/slapd.h"

namespace sealgate::connectors {
namespace {

using nlohmann::json;
using testing::absent;
using testing::expectRefused;
using testing::failsWith;
using testing::Slots;
using testing::withField;
namespace support = sealgate::testing;
namespace errc = connector_errc;

class LdapConnectorTest : public ::testing::Test {
 protected:
  ConnectorContext context() const {
    ConnectorContext c;
    c.tenant = "acme";
    c.rules.hosts = {"127.0.0.1"};
    c.rules.plaintext = true;  // most cases bind over ldap:// (one test checks the default refuses it)
    c.rules.ports = {slapd_.port(), slapd_.tlsPort()};
    c.caFile = slapd_.caFile();
    return c;
  }
  json action(const std::string& filter = "(uid=alice)") const {
    return json{{"connector", "ldap"},
                {"url", slapd_.url()},
                {"starttls", false},
                {"bind_dn", support::Slapd::kServiceDn},
                {"password", "{{slot:pw}}"},
                {"search",
                 {{"base", support::Slapd::kBaseDn},
                  {"scope", "sub"},
                  {"filter", filter},
                  {"attributes", {"cn", "mail"}},
                  {"size_limit", 100}}}};
  }
  Slots slots() const {
    Slots s;
    s.set("pw", slapd_.servicePassword());
    return s;
  }
  Result<json> run(const json& a, const Slots& s, const ConnectorContext& c) {
    auto names = connector_.validate(a, c);
    if (!names) return std::move(names).takeError();
    return connector_.run(a, c, s.view());
  }
  Result<json> run(const json& a, const Slots& s) { return run(a, s, context()); }

  static const json& alice() {
    static const json entry{{"dn", "uid=alice,ou=people,dc=example,dc=org"},
                            {"attributes", {{"cn", {"Alice Example"}}, {"mail", {"alice@example.org"}}}}};
    return entry;
  }

  support::Slapd slapd_;
  LdapConnector connector_;
};

TEST_F(LdapConnectorTest, BindsAndSearches) {
  auto names = connector_.validate(action(), context());
  ASSERT_TRUE(names) << names.error().describe();
  EXPECT_EQ(*names, (std::set<std::string>{"pw"}));
  auto r = run(action(), slots());
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, (json{{"count", 1}, {"entries", {alice()}}}));

  // One level below ou=people: every user; the bind DN may come from a slot.
  json a = action("(objectClass=inetOrgPerson)");
  a["bind_dn"] = "{{slot:dn}}";
  a["search"]["base"] = "ou=people,dc=example,dc=org";
  a["search"]["scope"] = "one";
  Slots s = slots();
  s.set("dn", support::Slapd::kServiceDn);
  r = run(a, s);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["count"], support::Slapd::kUserCount);
}

TEST_F(LdapConnectorTest, APlaintextBindNeedsThePolicysConsent) {
  ConnectorContext strict = context();
  strict.rules.plaintext = false;
  auto plain = connector_.validate(action(), strict);  // ldap:// without StartTLS
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code, connector_errc::kPlaintextForbidden);
  json tls = action();
  tls["starttls"] = true;
  EXPECT_TRUE(connector_.validate(tls, strict));
}

TEST_F(LdapConnectorTest, LdapsAndStartTlsVerifyTheCa) {
  json a = action();
  a["url"] = slapd_.ldapsUrl();
  auto r = run(a, slots());
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["entries"][0], alice());

  json st = action();
  st["starttls"] = true;
  r = run(st, slots());
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["count"], 1);

  ConnectorContext wrongCa = context();
  wrongCa.caFile = slapd_.otherCaFile();
  const Slots s = slots();
  EXPECT_TRUE(failsWith(run(a, s, wrongCa), errc::kPeerTlsFailed, s.secrets()));
  EXPECT_TRUE(failsWith(run(st, s, wrongCa), errc::kPeerTlsFailed, s.secrets()));
  // And the right CA still works afterwards: the TLS context is per connection.
  r = run(a, slots());
  EXPECT_TRUE(r) << r.error().describe();
}

TEST_F(LdapConnectorTest, ProcessWideTlsDefaultsDoNotWidenTrust) {
  // libldap reads LDAPTLS_CACERT into its process-wide defaults on first use
  // (under ctest this test is the process's first use). Those defaults trust the
  // server here; the connector's own CA bundle does not, and must win.
  ::setenv("LDAPTLS_CACERT", slapd_.caFile().c_str(), 1);
  ConnectorContext wrongCa = context();
  wrongCa.caFile = slapd_.otherCaFile();
  json a = action();
  a["url"] = slapd_.ldapsUrl();
  const Slots s = slots();
  EXPECT_TRUE(failsWith(run(a, s, wrongCa), errc::kPeerTlsFailed, s.secrets()));
  ::unsetenv("LDAPTLS_CACERT");
}

TEST_F(LdapConnectorTest, WrongPasswordIsAuthFailed) {
  Slots s;
  s.set("pw", "wrong-" + slapd_.servicePassword());
  EXPECT_TRUE(failsWith(run(action(), s), errc::kPeerAuthFailed, s.secrets()));
}

TEST_F(LdapConnectorTest, EmptyPasswordIsRefusedBeforeBinding) {
  Slots s;
  s.set("pw", "");
  EXPECT_TRUE(failsWith(run(action(), s), errc::kSecretUnusable));
}

TEST_F(LdapConnectorTest, ResultOverTheSizeCapIsRefused) {
  ConnectorContext c = context();
  c.maxResponseBytes = 100;  // alice alone is ~80 bytes; three users are more
  const Slots s = slots();
  EXPECT_TRUE(failsWith(run(action("(objectClass=inetOrgPerson)"), s, c), errc::kPeerResponseTooLarge, s.secrets()));
  EXPECT_TRUE(run(action(), s, c));
}

TEST_F(LdapConnectorTest, OtherLdapErrorsCarryOnlyTheResultCode) {
  json a = action();
  a["search"]["base"] = "ou=nowhere,dc=example,dc=org";
  const Slots s = slots();
  auto r = run(a, s);
  ASSERT_TRUE(failsWith(r, errc::kPeerError, s.secrets()));
  EXPECT_NE(r.error().message.find("LDAP result 32"), std::string::npos) << r.error().message;  // noSuchObject

  a = action("(objectClass=inetOrgPerson)");
  a["search"]["size_limit"] = 1;
  r = run(a, s);
  ASSERT_TRUE(failsWith(r, errc::kPeerError, s.secrets()));
  EXPECT_NE(r.error().message.find("LDAP result 4"), std::string::npos) << r.error().message;  // sizeLimitExceeded
}

TEST_F(LdapConnectorTest, ServerDownIsUnreachable) {
  slapd_.stop();
  const Slots s = slots();
  EXPECT_TRUE(failsWith(run(action(), s), errc::kPeerUnreachable, s.secrets()));
}

TEST_F(LdapConnectorTest, SilentPeerTimesOut) {
  // A listener that never accepts: the TCP connect completes, no LDAP answer comes.
  const std::uint16_t port = support::freeLoopbackPort();
  ASSERT_NE(port, 0);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ConnectorContext c = context();
  c.rules.ports = {port};
  c.timeout = std::chrono::seconds(1);
  json a = action();
  a["url"] = "ldap://127.0.0.1:" + std::to_string(port);
  const Slots s = slots();
  EXPECT_TRUE(failsWith(run(a, s, c), errc::kPeerTimeout, s.secrets()));
  ::close(fd);
}

TEST_F(LdapConnectorTest, DestinationMustBeOnTheAllowList) {
  json a = action();
  a["url"] = "ldap://localhost:" + std::to_string(slapd_.port());
  EXPECT_TRUE(failsWith(connector_.validate(a, context()), errc::kDestinationForbidden));
  a["url"] = "ldap://127.0.0.1:389";
  EXPECT_TRUE(failsWith(connector_.validate(a, context()), errc::kDestinationForbidden));
  a["url"] = "ldap://127.0.0.1";  // the default port, 389, is not allowed either
  EXPECT_TRUE(failsWith(connector_.validate(a, context()), errc::kDestinationForbidden));
  EXPECT_TRUE(failsWith(connector_.run(a, context(), slots().view()), errc::kDestinationForbidden));
}

TEST_F(LdapConnectorTest, PlaceholdersOnlyInBindDnAndPassword) {
  const json a = action();
  expectRefused(connector_,
                {{"url", withField(a, "/url", "ldap://{{slot:pw}}:389")},
                 {"starttls", withField(a, "/starttls", "{{slot:pw}}")},
                 {"base", withField(a, "/search/base", "{{slot:pw}}")},
                 {"filter", withField(a, "/search/filter", "{{slot:pw}}")},
                 {"inside the filter", withField(a, "/search/filter", "(uid={{slot:pw}})")},
                 {"scope", withField(a, "/search/scope", "{{slot:pw}}")},
                 {"size_limit", withField(a, "/search/size_limit", "{{slot:pw}}")},
                 {"attributes", withField(a, "/search/attributes", {"cn", "{{slot:pw}}"})}},
                context(), errc::kPlaceholderForbidden);
}

TEST_F(LdapConnectorTest, MalformedActionsAreInvalid) {
  const json a = action();
  const std::string hostPort = "127.0.0.1:" + std::to_string(slapd_.port());
  expectRefused(connector_,
                {{"unknown key", withField(a, "/timeout", 5)},
                 {"http url", withField(a, "/url", "http://" + hostPort)},
                 {"url with a dn", withField(a, "/url", "ldap://" + hostPort + "/dc=example,dc=org")},
                 {"url list", withField(a, "/url", "ldap://" + hostPort + " ldap://10.0.0.1")},
                 {"url with a user", withField(a, "/url", "ldap://x@" + hostPort)},
                 {"url with an empty port", withField(a, "/url", "ldap://127.0.0.1:")},
                 {"url with a bad port", withField(a, "/url", "ldap://127.0.0.1:99999")},
                 {"url not a string", withField(a, "/url", 5)},
                 {"no url", withField(a, "/url", absent())},
                 {"starttls not a bool", withField(a, "/starttls", "yes")},
                 {"starttls on ldaps", withField(withField(a, "/url", slapd_.ldapsUrl()), "/starttls", true)},
                 {"no bind_dn", withField(a, "/bind_dn", absent())},
                 {"no password", withField(a, "/password", absent())},
                 {"password not a string", withField(a, "/password", 5)},
                 {"no search", withField(a, "/search", absent())},
                 {"search not an object", withField(a, "/search", "(uid=alice)")},
                 {"another connector", withField(a, "/connector", "ssh")},
                 {"unknown search key", withField(a, "/search/deref", "always")},
                 {"bad scope", withField(a, "/search/scope", "tree")},
                 {"no base", withField(a, "/search/base", absent())},
                 {"no filter", withField(a, "/search/filter", absent())},
                 {"filter without parentheses", withField(a, "/search/filter", "uid=alice")},
                 {"unbalanced filter", withField(a, "/search/filter", "(uid=alice))(")},
                 {"attributes not an array", withField(a, "/search/attributes", "cn")},
                 {"attribute not a string", withField(a, "/search/attributes", json::array({1}))},
                 {"size_limit 0", withField(a, "/search/size_limit", 0)},
                 {"size_limit a string", withField(a, "/search/size_limit", "10")}},
                context(), errc::kInvalidAction);
}

}  // namespace
}  // namespace sealgate::connectors
