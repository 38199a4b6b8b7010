// The postgres connector against a real, throwaway PostgreSQL 15.
#include "appliance/connectors/postgres_connector.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "tests/support/postgres.h"
#include "tests/support/temp_dir.h"

namespace sealgate::connectors {
namespace {

using nlohmann::json;

class PostgresConnectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = testing::Postgres::start().release();
    ASSERT_NE(pg_, nullptr);
    pg_->psql("CREATE ROLE app LOGIN PASSWORD 'app-pass-0k'");
    pg_->psql("CREATE DATABASE appdb OWNER app");
    pg_->psql(
        "CREATE TABLE t (id int, name text); INSERT INTO t SELECT g, 'row' || g FROM generate_series(1, 50) g;"
        "GRANT SELECT ON t TO app;",
        "appdb");
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    context_.tenant = "acme";
    context_.rules.hosts = {"127.0.0.1"};
    context_.rules.plaintext = true;  // this throwaway server has no TLS
    context_.timeout = std::chrono::milliseconds(5000);
    password_ = std::move(*Secret::copyFrom(std::string_view("app-pass-0k")));
    slots_ = {{"pw", &password_}};
  }
  json action(const std::string& query, json params = json::array()) const {
    return {{"connector", "postgres"}, {"host", "127.0.0.1"}, {"port", pg_->port()},
            {"dbname", "appdb"},       {"user", "app"},       {"password", "{{slot:pw}}"},
            {"sslmode", "disable"},    {"query", query},      {"params", params}};
  }
  Result<json> runChecked(const json& a) {
    auto names = pgc_.validate(a, context_);
    if (!names) return std::move(names).takeError();
    return pgc_.run(a, context_, slots_);
  }

  static testing::Postgres* pg_;
  ConnectorContext context_;
  Secret password_;
  SlotValues slots_;
  PostgresConnector pgc_;
};
testing::Postgres* PostgresConnectorTest::pg_ = nullptr;

TEST_F(PostgresConnectorTest, ParameterizedQueryWithASlotPassword) {
  auto names = pgc_.validate(action("SELECT id, name FROM t WHERE id <= $1 ORDER BY id", {"3"}), context_);
  ASSERT_TRUE(names) << names.error().describe();
  EXPECT_EQ(*names, std::set<std::string>{"pw"});
  auto out = runChecked(action("SELECT id, name FROM t WHERE id <= $1 ORDER BY id", {"3"}));
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ((*out)["columns"], json({"id", "name"}));
  EXPECT_EQ((*out)["rows"],
            json::array({json::array({"1", "row1"}), json::array({"2", "row2"}), json::array({"3", "row3"})}));
  EXPECT_EQ((*out)["row_count"], 3);
  EXPECT_EQ((*out)["command"], "SELECT 3");
}

TEST_F(PostgresConnectorTest, ParamsAreValuesNeverSql) {
  // An injection attempt in a param is compared as text: no row, no error.
  auto out = runChecked(action("SELECT id FROM t WHERE name = $1", {"x' OR '1'='1"}));
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ((*out)["row_count"], 0);
  auto nulls = runChecked(action("SELECT $1::text IS NULL AS n", {nullptr}));
  ASSERT_TRUE(nulls);
  EXPECT_EQ((*nulls)["rows"], json::array({json::array({"t"})}));
  // No slot in a param: the caller's SQL could hand it back transformed
  // (reverse($1), encode($1, 'base64')), past the egress guard.
  for (const char* q : {"SELECT length($1)", "SELECT reverse($1)"}) {
    auto slot = pgc_.validate(action(q, {"{{slot:pw}}"}), context_);
    ASSERT_FALSE(slot);
    EXPECT_EQ(slot.error().code, connector_errc::kPlaceholderForbidden);
  }
}

TEST_F(PostgresConnectorTest, HostsAreOneCleanNameNeverCutShortByANul) {
  context_.rules.hosts = {"*.example.com", "127.0.0.1"};
  for (const std::string& host : {std::string("evil.net\0.example.com", 22), std::string("/tmp"),
                                  std::string("a,b.example.com"), std::string("-oops.example.com")}) {
    auto a = action("SELECT 1");
    a["host"] = host;
    auto r = pgc_.validate(a, context_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, connector_errc::kInvalidAction);
  }
  EXPECT_FALSE(egressHostAllowed(context_.rules, std::string("evil.net\0.example.com", 22), 5432));
}

TEST_F(PostgresConnectorTest, ManyEmptyCellsCountAgainstTheSizeCap) {
  context_.maxResponseBytes = 4096;
  auto r = runChecked(action("SELECT NULL::text FROM generate_series(1, 1000)"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerResponseTooLarge);
}

TEST_F(PostgresConnectorTest, AWrongPasswordIsAnAuthFailure) {
  auto wrong = Secret::copyFrom(std::string_view("not-the-password"));
  slots_ = {{"pw", &*wrong}};
  auto r = runChecked(action("SELECT 1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerAuthFailed);
  EXPECT_EQ(r.error().describe().find("not-the-password"), std::string::npos);
  EXPECT_EQ(r.error().describe().find("app"), std::string::npos);  // not even the user name
}

TEST_F(PostgresConnectorTest, SqlErrorsCarryOnlyTheSqlstate) {
  auto r = runChecked(action("SELECT * FROM no_such_table"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerError);
  EXPECT_NE(r.error().message.find("42P01"), std::string::npos);
  EXPECT_EQ(r.error().message.find("no_such_table"), std::string::npos);
}

TEST_F(PostgresConnectorTest, ASlowQueryIsBoundedByTheTimeout) {
  context_.timeout = std::chrono::milliseconds(500);
  auto r = runChecked(action("SELECT pg_sleep(20)"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerTimeout);
}

TEST_F(PostgresConnectorTest, OversizedResultsAreRefused) {
  auto a = action("SELECT id FROM t");
  a["max_rows"] = 10;
  auto rows = runChecked(a);
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().code, connector_errc::kPeerResponseTooLarge);
  context_.maxResponseBytes = 1024;
  auto bytes = runChecked(action("SELECT repeat('x', 100000)"));
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, connector_errc::kPeerResponseTooLarge);
}

TEST_F(PostgresConnectorTest, PlaintextNeedsThePolicysConsent) {
  context_.rules.plaintext = false;
  auto r = pgc_.validate(action("SELECT 1"), context_);  // sslmode disable
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPlaintextForbidden);
  auto a = action("SELECT 1");
  a.erase("sslmode");
  EXPECT_TRUE(pgc_.validate(a, context_));
}

TEST_F(PostgresConnectorTest, TlsIsRequiredUnlessDisabled) {
  auto a = action("SELECT 1");
  a.erase("sslmode");  // verify-full by default; this server has no TLS
  auto r = runChecked(a);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerTlsFailed);
}

TEST_F(PostgresConnectorTest, SlotsAreForbiddenInHostDatabaseAndSql) {
  for (const char* key : {"host", "dbname", "query"}) {
    auto a = action("SELECT 1");
    a[key] = "x{{slot:pw}}";
    auto r = pgc_.validate(a, context_);
    ASSERT_FALSE(r) << key;
    EXPECT_EQ(r.error().code, connector_errc::kPlaceholderForbidden) << key;
  }
}

TEST_F(PostgresConnectorTest, DestinationsAndMalformedActionsAreRefused) {
  auto a = action("SELECT 1");
  a["host"] = "localhost";
  EXPECT_EQ(pgc_.validate(a, context_).error().code, connector_errc::kDestinationForbidden);
  context_.rules.ports = {5432};
  EXPECT_EQ(pgc_.validate(action("SELECT 1"), context_).error().code, connector_errc::kDestinationForbidden);
  context_.rules.ports.clear();
  std::vector<json> bad;
  for (auto [k, v] : std::vector<std::pair<std::string, json>>{{"port", 0},
                                                               {"port", "5432"},
                                                               {"sslmode", "prefer"},
                                                               {"max_rows", 0},
                                                               {"params", "x"},
                                                               {"params", json::array({1})},
                                                               {"extra", true},
                                                               {"host", "/tmp"},
                                                               {"user", ""}}) {
    auto b = action("SELECT 1");
    b[k] = v;
    bad.push_back(b);
  }
  auto noQuery = action("SELECT 1");
  noQuery.erase("query");
  bad.push_back(noQuery);
  for (const auto& b : bad) {
    auto r = pgc_.validate(b, context_);
    ASSERT_FALSE(r) << b.dump();
    EXPECT_EQ(r.error().code, connector_errc::kInvalidAction) << b.dump();
  }
}

TEST_F(PostgresConnectorTest, ALoginNameComesOnlyFromAUsernameSlot) {
  // Any other slot in user would come back through current_user in whatever
  // form the caller's SQL likes: SELECT reverse(current_user).
  auto a = action("SELECT reverse(current_user)");
  a["user"] = "{{slot:pw}}";
  auto r = pgc_.validate(a, context_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPlaceholderForbidden);
  // run() refuses on its own, before connecting.
  auto ran = pgc_.run(a, context_, slots_);
  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().code, connector_errc::kPlaceholderForbidden);

  // A #username slot (a dynamic credential's user) may, as the whole value only.
  auto user = Secret::copyFrom(std::string_view("app"));
  SlotValues slots{{"pw", &password_}, {"u", &*user}};
  context_.usernameSlots = {"u"};
  a["user"] = "{{slot:u}}";
  auto names = pgc_.validate(a, context_);
  ASSERT_TRUE(names) << names.error().describe();
  EXPECT_EQ(*names, (std::set<std::string>{"pw", "u"}));
  auto out = pgc_.run(a, context_, slots);
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ((*out)["rows"], json::array({json::array({"ppa"})}));
  for (const char* user : {"x{{slot:u}}", "{{slot:u}}{{slot:u}}", "{{slot:pw}}"}) {
    a["user"] = user;
    auto refused = pgc_.validate(a, context_);
    ASSERT_FALSE(refused) << user;
    EXPECT_EQ(refused.error().code, connector_errc::kPlaceholderForbidden) << user;
  }
}

// The daemon's environment and home directory, set for one test and restored.
class ScopedEnv {
 public:
  void set(const char* name, const std::string& value) {
    if (!saved_.count(name)) {
      const char* old = ::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST_F(PostgresConnectorTest, NoAmbientCredentialIsEverUsed) {
  // Every place libpq looks for a credential of its own holds the right one:
  // the environment, a password file named by PGPASSFILE, ~/.pgpass.
  const std::string home = testing::makeTempDir("sealgate-pghome");
  const std::string line = "*:*:*:app:app-pass-0k\n";
  for (const std::string& f : {home + "/.pgpass", home + "/passfile"}) {
    std::ofstream(f) << line;
    ::chmod(f.c_str(), 0600);
  }
  {
    ScopedEnv env;
    env.set("HOME", home);
    env.set("PGPASSFILE", home + "/passfile");
    env.set("PGPASSWORD", "app-pass-0k");
    env.set("PGUSER", "app");
    env.set("PGSSLMODE", "disable");

    // An empty password or user would let libpq take its default: refused.
    auto empty = Secret::copyFrom(std::string_view(""));
    SlotValues emptyPassword{{"pw", &*empty}};
    auto r = pgc_.run(action("SELECT current_user"), context_, emptyPassword);
    ASSERT_FALSE(r) << "connected with an ambient password: " << r->dump();
    EXPECT_EQ(r.error().code, connector_errc::kSecretUnusable);

    auto a = action("SELECT current_user");
    a["user"] = "{{slot:u}}";
    context_.usernameSlots = {"u"};
    SlotValues emptyUser{{"pw", &password_}, {"u", &*empty}};
    r = pgc_.run(a, context_, emptyUser);
    ASSERT_FALSE(r) << "connected as an ambient user: " << r->dump();
    EXPECT_EQ(r.error().code, connector_errc::kSecretUnusable);

    // No password at all is malformed (the password is required).
    auto none = action("SELECT 1");
    none.erase("password");
    EXPECT_EQ(pgc_.validate(none, context_).error().code, connector_errc::kInvalidAction);
    r = pgc_.run(none, context_, slots_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, connector_errc::kInvalidAction);

    // A wrong password stays wrong: nothing falls back to the file or the environment.
    auto wrong = Secret::copyFrom(std::string_view("not-the-password"));
    SlotValues wrongPassword{{"pw", &*wrong}};
    r = pgc_.run(action("SELECT 1"), context_, wrongPassword);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, connector_errc::kPeerAuthFailed);

    // The action's own credential still works under that environment.
    auto ok = pgc_.run(action("SELECT current_user"), context_, slots_);
    ASSERT_TRUE(ok) << ok.error().describe();
    EXPECT_EQ((*ok)["rows"], json::array({json::array({"app"})}));
  }
  std::filesystem::remove_all(home);
}

TEST_F(PostgresConnectorTest, AStoppedServerIsUnreachable) {
  auto a = action("SELECT 1");
  a["port"] = testing::freeLoopbackPort();
  auto r = runChecked(a);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, connector_errc::kPeerUnreachable);
}

}  // namespace
}  // namespace sealgate::connectors
