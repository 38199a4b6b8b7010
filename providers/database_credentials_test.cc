// PostgreSQL dynamic credentials against a real throwaway PostgreSQL 15.
#include "providers/database_credentials.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "tests/support/memory_state_store.h"
#include "tests/support/postgres.h"

namespace sealgate::providers {
namespace {

using std::chrono::seconds;

testing::Postgres& pg() {
  static std::unique_ptr<testing::Postgres> server = [] {
    auto s = testing::Postgres::start();
    if (!s) std::abort();
    return s;
  }();
  return *server;
}

std::string text(const Secret& s) {
  auto b = s.exposeSecretBytes();
  return std::string(b.begin(), b.end());
}

// A login as the credential, over TCP with scram-sha-256 (as a client would).
std::unique_ptr<PGconn, decltype(&PQfinish)> login(const std::string& user, const std::string& password) {
  const std::string port = std::to_string(pg().port());
  const char* keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout", nullptr};
  const char* values[] = {"127.0.0.1", port.c_str(), "postgres", user.c_str(), password.c_str(), "5", nullptr};
  return {PQconnectdbParams(keys, values, 0), &PQfinish};
}

bool alive(PGconn* c) {
  PGresult* r = PQexec(c, "SELECT 1");
  const bool ok = r != nullptr && PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  return ok;
}

class DatabaseCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseMount m;
    m.tenant = "acme";
    m.mount = "db";
    m.connection.host = pg().socketDir();
    m.connection.port = pg().port();
    DatabaseRole readonly;
    readonly.creationStatements = {
        R"(CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';)",
        R"(GRANT pg_read_all_data TO "{{name}}";)"};
    readonly.defaultTtl = seconds(60);
    readonly.maxTtl = seconds(120);
    m.roles["readonly"] = readonly;
    DatabaseRole owner;  // the default creation statement, and a role that owns objects
    owner.creationStatements = {"CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}",
                                "GRANT CREATE ON SCHEMA public TO {{name}}"};
    m.roles["owner"] = owner;
    DatabaseRole broken;
    broken.creationStatements = {"CREATE ROLE {{name}} LOGIN", "THIS IS NOT SQL"};
    m.roles["broken"] = broken;
    db_ = std::make_unique<DatabaseCredentials>(std::vector<DatabaseMount>{m}, state_);
  }
  std::string roleExists(const std::string& user) {
    return pg().psql("SELECT count(*) FROM pg_roles WHERE rolname = '" + user + "'");
  }

  appliance::MemoryStateStore state_;
  std::unique_ptr<DatabaseCredentials> db_;
};

TEST_F(DatabaseCredentialsTest, CreateLogsInAndCarriesALease) {
  auto c = db_->create("acme", "db", "readonly");
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_TRUE(isValidLeaseId(c->lease.leaseId));
  EXPECT_EQ(c->lease.leaseId.rfind("acme/db/creds/readonly/", 0), 0u);
  EXPECT_EQ(c->lease.ttl(c->lease.issueTime), seconds(60));
  EXPECT_EQ(c->password.size(), 32u);
  auto conn = login(c->lease.username, text(c->password));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_TRUE(alive(conn.get()));
  // the lease is in the state store, without the password
  ASSERT_EQ(state_.leases().size(), 1u);
  EXPECT_EQ(state_.leases()[0].dataJson.find(text(c->password)), std::string::npos);
  EXPECT_NE(PQstatus(login(c->lease.username, "wrong-password").get()), CONNECTION_OK);
}

TEST_F(DatabaseCredentialsTest, RenewIsCappedByMaxTtl) {
  auto c = db_->create("acme", "db", "readonly");
  ASSERT_TRUE(c) << c.error().describe();
  const auto t0 = c->lease.issueTime;
  auto r = db_->renew(c->lease.leaseId, seconds(30), t0 + seconds(10));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->expireTime, t0 + seconds(40));
  r = db_->renew(c->lease.leaseId, seconds(0), t0 + seconds(20));  // default_ttl 60
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expireTime, t0 + seconds(80));
  r = db_->renew(c->lease.leaseId, seconds(3600), t0 + seconds(30));  // capped: issue + max_ttl 120
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expireTime, t0 + seconds(120));
  EXPECT_EQ(db_->lookup(c->lease.leaseId)->expireTime, t0 + seconds(120));
  EXPECT_EQ(db_->renew(c->lease.leaseId, seconds(-1)).error().code, db_errc::kInvalid);
  EXPECT_EQ(db_->renew("acme/db/creds/readonly/000000000000000000000000", seconds(1)).error().code, db_errc::kNoLease);
  // the role's VALID UNTIL moved too
  EXPECT_NE(pg().psql("SELECT rolvaliduntil FROM pg_roles WHERE rolname = '" + c->lease.username + "'"), "");
}

TEST_F(DatabaseCredentialsTest, RevokeTerminatesLiveSessionsAndDropsOwnedObjects) {
  auto c = db_->create("acme", "db", "owner");
  ASSERT_TRUE(c) << c.error().describe();
  auto session = login(c->lease.username, text(c->password));
  ASSERT_EQ(PQstatus(session.get()), CONNECTION_OK) << PQerrorMessage(session.get());
  PGresult* made = PQexec(session.get(), "CREATE TABLE owned_by_lease (x int)");
  ASSERT_EQ(PQresultStatus(made), PGRES_COMMAND_OK) << PQresultErrorMessage(made);
  PQclear(made);
  ASSERT_TRUE(alive(session.get()));
  ASSERT_TRUE(db_->revoke(c->lease.leaseId));
  EXPECT_FALSE(alive(session.get()));  // terminated, not merely unable to log in again
  EXPECT_EQ(roleExists(c->lease.username), "0");
  EXPECT_EQ(pg().psql("SELECT count(*) FROM pg_tables WHERE tablename = 'owned_by_lease'"), "0");
  EXPECT_TRUE(state_.leases().empty());
  auto again = login(c->lease.username, text(c->password));
  EXPECT_NE(PQstatus(again.get()), CONNECTION_OK);
  // revoking twice: the lease is gone, nothing is revoked again
  EXPECT_EQ(db_->revoke(c->lease.leaseId).error().code, db_errc::kNoLease);
}

TEST_F(DatabaseCredentialsTest, RevokeOfARoleAlreadyGoneFinishesTheBookkeeping) {
  auto c = db_->create("acme", "db", "readonly");
  ASSERT_TRUE(c);
  pg().psql("DROP ROLE " + c->lease.username);  // as if a crash came after DROP ROLE
  EXPECT_EQ(roleExists(c->lease.username), "0");
  ASSERT_TRUE(db_->revoke(c->lease.leaseId));
  EXPECT_TRUE(state_.leases().empty());
}

TEST_F(DatabaseCredentialsTest, RevokePrefixAndTheReaper) {
  auto a = db_->create("acme", "db", "readonly");
  auto b = db_->create("acme", "db", "readonly");
  auto o = db_->create("acme", "db", "owner");
  ASSERT_TRUE(a && b && o);
  auto n = db_->revokePrefix("acme/db/creds/readonly/");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(roleExists(a->lease.username), "0");
  EXPECT_EQ(roleExists(b->lease.username), "0");
  EXPECT_EQ(roleExists(o->lease.username), "1");
  EXPECT_EQ(db_->revokePrefix("../x").error().code, db_errc::kInvalid);
  EXPECT_EQ(db_->revokePrefix("").error().code, db_errc::kInvalid);
  // the reaper revokes what has expired, and only that
  auto fresh = db_->create("acme", "db", "readonly");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(db_->reapExpired(fresh->lease.issueTime + seconds(30)), 0u);
  // readonly lives 60 s, owner 3600 s (the default): only the first has expired
  EXPECT_EQ(db_->reapExpired(fresh->lease.expireTime + seconds(1)), 1u);
  EXPECT_EQ(roleExists(fresh->lease.username), "0");
  EXPECT_EQ(roleExists(o->lease.username), "1");
  ASSERT_EQ(state_.leases().size(), 1u);
  EXPECT_EQ(state_.leases()[0].leaseId, o->lease.leaseId);
}

TEST_F(DatabaseCredentialsTest, FailedCreationLeavesNoRoleAndNoLease) {
  auto c = db_->create("acme", "db", "broken");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, provider_errc::kUnavailable);
  EXPECT_EQ(c.error().message.find("NOT SQL"), std::string::npos);  // no statement text in errors
  EXPECT_TRUE(state_.leases().empty());
  EXPECT_EQ(pg().psql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v_broken_%'"), "0");
  EXPECT_EQ(db_->create("acme", "db", "nosuchrole").error().code, db_errc::kNoRole);
  EXPECT_EQ(db_->create("globex", "db", "readonly").error().code, db_errc::kNoRole);
}

TEST_F(DatabaseCredentialsTest, ADownDatabaseIsProviderUnavailableAndLeavesNoLease) {
  DatabaseMount m;
  m.tenant = "acme";
  m.mount = "db";
  m.connection.host = "127.0.0.1";
  m.connection.port = testing::freeLoopbackPort();  // nothing listens there
  m.connection.connectTimeout = seconds(2);
  m.roles["readonly"] = DatabaseRole{};
  DatabaseCredentials down({m}, state_);
  auto c = down.create("acme", "db", "readonly");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, provider_errc::kUnavailable);
  EXPECT_TRUE(state_.leases().empty());
  EXPECT_FALSE(down.healthy());
  auto f = down.fetch(*SecretUri::parse("secret://acme/db/readonly#password"));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, provider_errc::kUnavailable);
}

TEST_F(DatabaseCredentialsTest, FetchesOfOneRequestShareOneLease) {
  const FetchContext req{"request-1"};
  auto user = db_->fetch(*SecretUri::parse("secret://acme/db/readonly#username"), std::nullopt, req);
  auto pass = db_->fetch(*SecretUri::parse("secret://acme/db/readonly#password"), std::nullopt, req);
  ASSERT_TRUE(user && pass);
  EXPECT_EQ(*user->metadata.leaseId, *pass->metadata.leaseId);
  EXPECT_EQ(state_.leases().size(), 1u);
  auto conn = login(text(user->value), text(pass->value));
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  auto other =
      db_->fetch(*SecretUri::parse("secret://acme/db/readonly#username"), std::nullopt, FetchContext{"request-2"});
  ASSERT_TRUE(other);
  EXPECT_NE(*other->metadata.leaseId, *user->metadata.leaseId);
  for (const char* bad : {"secret://acme/db/readonly", "secret://acme/db/readonly#other",
                          "secret://acme/db/a/b#username", "secret://acme/db/readonly?version=1#username",
                          "secret://acme/db/nosuch#username", "secret://acme/other/readonly#username"}) {
    auto f = db_->fetch(*SecretUri::parse(bad), std::nullopt, req);
    ASSERT_FALSE(f) << bad;
    EXPECT_EQ(f.error().code, provider_errc::kNotFound) << bad;
  }
}

TEST(LeaseIds, Grammar) {
  EXPECT_TRUE(isValidLeaseId("acme/db/creds/readonly/0123456789abcdef01234567"));
  for (const char* bad : {"", "/a", "a/", "a//b", "A/b", "a b", "a;b", "a'b"}) EXPECT_FALSE(isValidLeaseId(bad)) << bad;
  EXPECT_TRUE(isValidLeasePrefix("acme/db/"));
  for (const char* bad : {"", "/a", "a//", "a'"}) EXPECT_FALSE(isValidLeasePrefix(bad)) << bad;
}

}  // namespace
}  // namespace sealgate::providers
