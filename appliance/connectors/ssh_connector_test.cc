// SshConnector against a real sshd (tests/support/sshd.h): no mocks.
#include "appliance/connectors/ssh_connector.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "appliance/connectors/connector_test_util.h"
#include "tests/support/sshd.h"

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

constexpr const char* kOutAndErr = "echo out; echo err >&2; exit 3";
constexpr const char* kHuge = "head -c 2000000 /dev/zero | base64";
constexpr const char* kHang = "sleep 30";
constexpr const char* kBinary = "printf '\\377\\376'";

class SshConnectorTest : public ::testing::Test {
 protected:
  ConnectorContext context() const {
    ConnectorContext c;
    c.tenant = "acme";
    c.rules.hosts = {"127.0.0.1"};
    c.rules.ports = {sshd_.port()};
    c.rules.commands = {"echo hello", kOutAndErr, kHuge, kHang, kBinary};
    c.rules.hostKeys = {HostKeyPin{"127.0.0.1", sshd_.port(), {sshd_.hostKeySha256()}}};
    return c;
  }
  json passwordAction(const std::string& command = "echo hello") const {
    return json{{"connector", "ssh"},           {"host", "127.0.0.1"},       {"port", sshd_.port()},
                {"user", support::Sshd::kUser}, {"password", "{{slot:pw}}"}, {"command", command}};
  }
  json keyAction() const {
    json a = passwordAction();
    a.erase("password");
    a["private_key"] = "{{slot:key}}";
    return a;
  }
  Result<json> run(const json& action, const Slots& slots, const ConnectorContext& c) {
    auto names = connector_.validate(action, c);
    if (!names) return std::move(names).takeError();
    return connector_.run(action, c, slots.view());
  }
  Result<json> run(const json& action, const Slots& slots) { return run(action, slots, context()); }
  Slots passwordSlots() const {
    Slots s;
    s.set("pw", sshd_.password());
    return s;
  }
  bool anyoneLoggedIn() const { return sshd_.log().find("Accepted ") != std::string::npos; }

  support::Sshd sshd_;
  SshConnector connector_;
};

TEST_F(SshConnectorTest, PasswordLoginRunsTheCommand) {
  auto names = connector_.validate(passwordAction(kOutAndErr), context());
  ASSERT_TRUE(names) << names.error().describe();
  EXPECT_EQ(*names, (std::set<std::string>{"pw"}));
  auto r = run(passwordAction(kOutAndErr), passwordSlots());
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, (json{{"exit_status", 3}, {"stdout", "out\n"}, {"stderr", "err\n"}}));
}

TEST_F(SshConnectorTest, KeyLoginWithOpenSshPemAndEncryptedKeys) {
  Slots slots;
  slots.set("key", sshd_.clientKey());
  auto r = run(keyAction(), slots);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["stdout"], "hello\n");

  Slots pem;
  pem.set("key", sshd_.clientKeyPem());
  r = run(keyAction(), pem);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["exit_status"], 0);

  // The user may come from a slot too: a #username slot (the peer can say a
  // login name back, so no other slot may go there).
  ConnectorContext c = context();
  c.usernameSlots = {"user"};
  json a = keyAction();
  a["passphrase"] = "{{slot:pp}}";
  a["user"] = "{{slot:user}}";
  Slots encrypted;
  encrypted.set("key", sshd_.encryptedClientKey()).set("pp", sshd_.passphrase()).set("user", support::Sshd::kUser);
  auto names = connector_.validate(a, c);
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::set<std::string>{"key", "pp", "user"}));
  r = run(a, encrypted, c);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["stdout"], "hello\n");
}

TEST_F(SshConnectorTest, NonUtf8OutputComesBackAsBase64) {
  auto r = run(passwordAction(kBinary), passwordSlots());
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["stdout"], (json{{"base64", "//4="}}));
}

TEST_F(SshConnectorTest, WrongPasswordIsAuthFailed) {
  Slots slots;
  slots.set("pw", "wrong-" + sshd_.password());
  EXPECT_TRUE(failsWith(run(passwordAction(), slots), errc::kPeerAuthFailed, slots.secrets()));
  EXPECT_FALSE(anyoneLoggedIn());
}

TEST_F(SshConnectorTest, PasswordWithANulByteIsUnusable) {
  // Through a char* API the right password followed by NUL would log in with
  // the prefix: refused instead.
  Slots slots;
  slots.set("pw", sshd_.password() + std::string(1, '\0') + "tail");
  EXPECT_TRUE(failsWith(run(passwordAction(), slots), errc::kSecretUnusable, {sshd_.password()}));
  EXPECT_FALSE(anyoneLoggedIn());
}

TEST_F(SshConnectorTest, UnauthorisedOrUnusableKeys) {
  const support::ScopedTempDir dir("sealgate-sshkey");
  const std::string keygen = "ssh-keygen -q -t ed25519 -N '' -f " + dir.path() + "/k </dev/null >/dev/null";
  ASSERT_EQ(support::runShell(keygen).status, 0);
  Slots stranger;
  stranger.set("key", support::readFile(dir.path() + "/k"));
  EXPECT_TRUE(failsWith(run(keyAction(), stranger), errc::kPeerAuthFailed, stranger.secrets()));

  Slots garbage;
  garbage.set("key", "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n");
  EXPECT_TRUE(failsWith(run(keyAction(), garbage), errc::kSecretUnusable, garbage.secrets()));

  json a = keyAction();
  a["passphrase"] = "{{slot:pp}}";
  Slots wrongPassphrase;
  wrongPassphrase.set("key", sshd_.encryptedClientKey()).set("pp", "not-" + sshd_.passphrase());
  EXPECT_TRUE(failsWith(run(a, wrongPassphrase), errc::kSecretUnusable, wrongPassphrase.secrets()));
  EXPECT_FALSE(anyoneLoggedIn());
}

TEST_F(SshConnectorTest, HostKeyMismatchSendsNoCredential) {
  // The policy pins another key for this host: the server's key matches none.
  ConnectorContext c = context();
  c.rules.hostKeys = {HostKeyPin{
      "127.0.0.1", 0, {"SHA256:" + std::string(43, 'A'), "SHA256:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}}};
  const Slots slots = passwordSlots();
  EXPECT_TRUE(failsWith(run(passwordAction(), slots, c), errc::kPeerHostKeyMismatch, slots.secrets()));
  // sshd logs every password attempt ("Failed password" / "Accepted password"): none.
  const std::string log = sshd_.log();
  EXPECT_EQ(log.find("password for"), std::string::npos) << log;
  EXPECT_FALSE(anyoneLoggedIn());
}

TEST_F(SshConnectorTest, AnyOfSeveralPinsMatchesAndThePortEntryWins) {
  // Key rotation: the old and the new key are both pinned; the right one is second.
  ConnectorContext c = context();
  c.rules.hostKeys = {HostKeyPin{"127.0.0.1", sshd_.port(), {"SHA256:" + std::string(43, 'A'), sshd_.hostKeySha256()}}};
  auto r = run(passwordAction(), passwordSlots(), c);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["stdout"], "hello\n");
  // A host-wide entry applies to every port...
  c.rules.hostKeys = {HostKeyPin{"127.0.0.1", 0, {sshd_.hostKeySha256()}}};
  r = run(passwordAction(), passwordSlots(), c);
  ASSERT_TRUE(r) << r.error().describe();
  // ...unless an entry names the port: then only its pins count.
  c.rules.hostKeys = {HostKeyPin{"127.0.0.1", 0, {sshd_.hostKeySha256()}},
                      HostKeyPin{"127.0.0.1", sshd_.port(), {"SHA256:" + std::string(43, 'A')}}};
  EXPECT_TRUE(failsWith(run(passwordAction(), passwordSlots(), c), errc::kPeerHostKeyMismatch));
}

TEST_F(SshConnectorTest, APinFromTheCallerIsRefused) {
  // Even the right pin: the caller does not choose what to trust.
  json a = passwordAction();
  a["host_key_sha256"] = sshd_.hostKeySha256();
  auto r = connector_.validate(a, context());
  ASSERT_TRUE(failsWith(r, errc::kInvalidAction));
  EXPECT_NE(r.error().message.find("egress policy"), std::string::npos) << r.error().message;
  EXPECT_TRUE(failsWith(connector_.run(a, context(), passwordSlots().view()), errc::kInvalidAction));
  // With a pin the policy does not have, and no policy pin at all: the same.
  ConnectorContext unpinned = context();
  unpinned.rules.hostKeys.clear();
  a["host_key_sha256"] = "SHA256:" + std::string(43, 'A');
  EXPECT_TRUE(failsWith(connector_.validate(a, unpinned), errc::kInvalidAction));
  EXPECT_FALSE(anyoneLoggedIn());
}

TEST_F(SshConnectorTest, NoPolicyPinNoConnection) {
  // A listener of the test's own stands for the server: a connection attempt
  // would be waiting in its backlog when run() returns. (sshd's log cannot tell:
  // its start-up probe's connection may be logged at any time.)
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const auto port = ntohs(addr.sin_port);
  json action = passwordAction();
  action["port"] = port;
  ConnectorContext c = context();
  c.rules.ports = {port};
  c.rules.hostKeys.clear();
  EXPECT_TRUE(failsWith(connector_.validate(action, c), errc::kHostKeyNotPinned));
  // run() checks on its own, before connecting.
  EXPECT_TRUE(failsWith(connector_.run(action, c, passwordSlots().view()), errc::kHostKeyNotPinned));
  // A pin for another host or another port does not cover this one.
  c.rules.hostKeys = {HostKeyPin{"localhost", 0, {sshd_.hostKeySha256()}},
                      HostKeyPin{"127.0.0.1", static_cast<std::uint16_t>(port + 1), {sshd_.hostKeySha256()}}};
  EXPECT_TRUE(failsWith(connector_.validate(action, c), errc::kHostKeyNotPinned));
  EXPECT_TRUE(failsWith(connector_.run(action, c, passwordSlots().view()), errc::kHostKeyNotPinned));
  pollfd pending{listener, POLLIN, 0};
  EXPECT_EQ(::poll(&pending, 1, 0), 0) << "the connector connected without a pin";
  ::close(listener);
}

TEST(SshHostKeyPin, DecodesOnlyTheSshKeygenForm) {
  const std::string good = "SHA256:0UbKkxk/KPx9hRf7YqiY87A100h+wWQi9Ka9Sx1JoPc";
  auto bytes = decodeHostKeyPin(good);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->size(), 32u);
  for (const std::string& bad : {good.substr(7), std::string("MD5:00:11:22"), good.substr(0, 40), good + "=",
                                 "SHA256:" + std::string(42, 'A') + "_", "sha256:" + good.substr(7), std::string()}) {
    EXPECT_FALSE(decodeHostKeyPin(bad)) << bad;
  }
}

TEST_F(SshConnectorTest, CommandMustBeOnTheAllowList) {
  EXPECT_TRUE(failsWith(connector_.validate(passwordAction("id"), context()), errc::kCommandForbidden));
  // Exact lines only: no prefix, no suffix.
  EXPECT_TRUE(failsWith(connector_.validate(passwordAction("echo hello; id"), context()), errc::kCommandForbidden));
  EXPECT_TRUE(failsWith(connector_.validate(passwordAction("echo"), context()), errc::kCommandForbidden));
  // run() checks again on its own.
  EXPECT_TRUE(
      failsWith(connector_.run(passwordAction("id"), context(), passwordSlots().view()), errc::kCommandForbidden));
  EXPECT_FALSE(anyoneLoggedIn());
}

TEST_F(SshConnectorTest, DestinationMustBeOnTheAllowList) {
  json a = passwordAction();
  a["host"] = "localhost";
  EXPECT_TRUE(failsWith(connector_.validate(a, context()), errc::kDestinationForbidden));
  a = passwordAction();
  a["port"] = sshd_.port() == 22 ? 23 : 22;
  EXPECT_TRUE(failsWith(connector_.validate(a, context()), errc::kDestinationForbidden));
  EXPECT_TRUE(failsWith(connector_.run(a, context(), passwordSlots().view()), errc::kDestinationForbidden));
}

TEST_F(SshConnectorTest, PlaceholdersOnlyInCredentialFields) {
  const json a = passwordAction();
  ConnectorContext c = context();
  c.usernameSlots = {"u"};  // a #username slot: still only as the whole user
  expectRefused(connector_,
                {{"host", withField(a, "/host", "{{slot:pw}}")},
                 {"command", withField(a, "/command", "{{slot:pw}}")},
                 {"inside the command", withField(a, "/command", "echo {{slot:pw}}")},
                 {"user from a slot that is no #username slot", withField(a, "/user", "{{slot:pw}}")},
                 {"user with a slot and more", withField(a, "/user", "x{{slot:u}}")},
                 {"port", withField(a, "/port", "{{slot:pw}}")},
                 {"connector", withField(a, "/connector", "{{slot:pw}}")}},
                c, errc::kPlaceholderForbidden);
}

TEST_F(SshConnectorTest, MalformedActionsAreInvalid) {
  const json a = passwordAction();
  expectRefused(connector_,
                {{"unknown key", withField(a, "/timeout", 5)},
                 {"port as a string", withField(a, "/port", std::to_string(sshd_.port()))},
                 {"port 0", withField(a, "/port", 0)},
                 {"port too big", withField(a, "/port", 70000)},
                 {"port fractional", withField(a, "/port", 22.5)},
                 {"host a number", withField(a, "/host", 127)},
                 {"host with a user", withField(a, "/host", "root@127.0.0.1")},
                 {"host with a space", withField(a, "/host", "127.0.0.1 -oProxyCommand=x")},
                 {"no host", withField(a, "/host", absent())},
                 {"no user", withField(a, "/user", absent())},
                 {"user a number", withField(a, "/user", 5)},
                 {"no command", withField(a, "/command", absent())},
                 {"empty command", withField(a, "/command", "")},
                 {"a pin from the caller", withField(a, "/host_key_sha256", "{{slot:pw}}")},
                 {"both password and key", withField(a, "/private_key", "{{slot:key}}")},
                 {"neither password nor key", withField(a, "/password", absent())},
                 {"passphrase with a password", withField(a, "/passphrase", "{{slot:pp}}")},
                 {"malformed placeholder", withField(a, "/password", "{{slot:pw")},
                 {"another connector", withField(a, "/connector", "ldap")},
                 {"not an object", json::array({1, 2})}},
                context(), errc::kInvalidAction);
  // A slot the request did not provide.
  EXPECT_TRUE(failsWith(connector_.run(a, context(), {}), errc::kInvalidAction));
}

TEST_F(SshConnectorTest, OversizedOutputIsRefused) {
  const Slots slots = passwordSlots();
  EXPECT_TRUE(failsWith(run(passwordAction(kHuge), slots), errc::kPeerResponseTooLarge, slots.secrets()));
}

TEST_F(SshConnectorTest, HangingCommandTimesOut) {
  ConnectorContext c = context();
  c.timeout = std::chrono::seconds(1);
  const Slots slots = passwordSlots();
  // The call returns (the test would hang otherwise) and says why.
  EXPECT_TRUE(failsWith(run(passwordAction(kHang), slots, c), errc::kPeerTimeout, slots.secrets()));
}

TEST_F(SshConnectorTest, ServerDownIsUnreachable) {
  sshd_.stop();
  const Slots slots = passwordSlots();
  EXPECT_TRUE(failsWith(run(passwordAction(), slots), errc::kPeerUnreachable, slots.secrets()));
}

}  // namespace
}  // namespace sealgate::connectors
