#include "providers/database_credentials.h"

#include <libpq-fe.h>
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "core/encoding.h"
#include "core/json_parse.h"
#include "core/time_format.h"

namespace sealgate::providers {

using nlohmann::json;
using Clock = StateStore::Clock;

namespace {

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

Error unavailable(const std::string& why) { return makeError(provider_errc::kUnavailable, "the database " + why); }

std::int64_t micros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
Clock::time_point fromMicros(std::int64_t us) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
}

std::string randomHex(std::size_t bytes) {
  std::vector<std::uint8_t> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  return hexLower(raw);
}

// Reads the connection password (first line) into protected memory.
Result<Secret> readPasswordFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return unavailable("password file cannot be read");
  std::string line;
  std::getline(in, line);
  auto s = Secret::copyFrom(line);
  secureWipe(line.data(), line.size());
  return s;
}

Result<PgConn> connect(const DatabaseConnection& c, const std::string& dbname) {
  std::optional<Secret> password;
  if (!c.passwordFile.empty()) {
    SEALGATE_ASSIGN_OR_RETURN(auto p, readPasswordFile(c.passwordFile));
    password = std::move(p);
  }
  const std::string port = std::to_string(c.port);
  const std::string timeout = std::to_string(c.connectTimeout.count());
  std::string pw;
  if (password) {
    auto b = password->exposeSecretBytes();
    pw.assign(b.begin(), b.end());
  }
  const char* keys[] = {
      "host", "port", "dbname", "user", "connect_timeout", "application_name", password ? "password" : nullptr,
      nullptr};
  const char* values[] = {c.host.c_str(),
                          port.c_str(),
                          dbname.c_str(),
                          c.user.c_str(),
                          timeout.c_str(),
                          "sealgate",
                          password ? pw.c_str() : nullptr,
                          nullptr};
  PgConn conn(PQconnectdbParams(keys, values, 0), &PQfinish);
  secureWipe(pw.data(), pw.size());
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) return unavailable("is not reachable");
  // The server's NOTICEs (to statements that carry generated passwords, on request
  // threads and the reaper's) would go to stderr, past the egress guard: dropped.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

// Runs `sql`; `params` travel as bind parameters.
Result<PgResult> exec(PGconn* conn, const std::string& sql, const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PgResult r(params.empty() ? PQexec(conn, sql.c_str())
                            : PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                           nullptr, nullptr, 0),
             &PQclear);
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Error e = unavailable("refused a statement");
    e.operation = "PQexec";
    // SQLSTATE only: the server's message may quote the statement (and a password).
    if (r) {
      if (const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE))
        e.message += " (SQLSTATE " + std::string(state) + ")";
    }
    return e;
  }
  return r;
}

Result<std::string> escapeIdentifier(PGconn* conn, const std::string& s) {
  char* e = PQescapeIdentifier(conn, s.c_str(), s.size());
  if (e == nullptr) return unavailable("cannot escape an identifier");
  std::string out(e);
  PQfreemem(e);
  return out;
}

Result<std::string> escapeLiteral(PGconn* conn, std::string_view s) {
  char* e = PQescapeLiteral(conn, s.data(), s.size());
  if (e == nullptr) return unavailable("cannot escape a literal");
  std::string out(e);
  secureWipe(e, out.size());
  PQfreemem(e);
  return out;
}

void replaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

// Vault's templates quote their placeholders ("{{name}}", '{{password}}'); ours
// may not. Either way the value that lands in the SQL is escaped by libpq.
std::string substitute(std::string sql, const std::string& ident, const std::string& passwordLit,
                       const std::string& expirationLit) {
  replaceAll(sql, "\"{{name}}\"", ident);
  replaceAll(sql, "'{{password}}'", passwordLit);
  replaceAll(sql, "'{{expiration}}'", expirationLit);
  replaceAll(sql, "{{name}}", ident);
  replaceAll(sql, "{{password}}", passwordLit);
  replaceAll(sql, "{{expiration}}", expirationLit);
  return sql;
}

std::string pgTimestamp(Clock::time_point t) { return postgresTimestamp(t); }

std::string leaseJson(const LeaseInfo& l) {
  return json{{"provider", "database"},
              {"tenant", l.tenant},
              {"mount", l.mount},
              {"role", l.role},
              {"username", l.username},
              {"issue", micros(l.issueTime)},
              {"renewed", micros(l.lastRenewal)},
              {"max", micros(l.maxExpireTime)}}
      .dump();
}

std::optional<LeaseInfo> leaseFrom(const StateStore::Lease& l) {
  json j = parseInternalJson(l.dataJson);
  if (!j.is_object() || j.value("provider", "") != "database") return std::nullopt;
  try {
    LeaseInfo out;
    out.leaseId = l.leaseId;
    out.tenant = j.at("tenant");
    out.mount = j.at("mount");
    out.role = j.at("role");
    out.username = j.at("username");
    out.issueTime = fromMicros(j.at("issue"));
    out.lastRenewal = fromMicros(j.at("renewed"));
    out.maxExpireTime = fromMicros(j.at("max"));
    out.expireTime = l.expiresAt;
    return out;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

bool leaseChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '/'; }

}  // namespace

bool isValidLeaseId(const std::string& id) {
  return !id.empty() && id.size() <= 256 && std::all_of(id.begin(), id.end(), leaseChar) &&
         id.find("//") == std::string::npos && id.front() != '/' && id.back() != '/';
}

bool isValidLeasePrefix(const std::string& prefix) {
  return !prefix.empty() && prefix.size() <= 256 && std::all_of(prefix.begin(), prefix.end(), leaseChar) &&
         prefix.find("//") == std::string::npos && prefix.front() != '/';
}

DatabaseCredentials::DatabaseCredentials(std::vector<DatabaseMount> mounts, StateStore& state)
    : mounts_(std::move(mounts)), state_(state) {}

DatabaseCredentials::~DatabaseCredentials() { stopReaper(); }

const DatabaseMount* DatabaseCredentials::findMount(const std::string& tenant, const std::string& mount) const {
  for (const auto& m : mounts_) {
    if (m.tenant == tenant && m.mount == mount) return &m;
  }
  return nullptr;
}

bool DatabaseCredentials::hasMount(const std::string& tenant, const std::string& mount) const {
  return findMount(tenant, mount) != nullptr;
}

Result<DatabaseCredential> DatabaseCredentials::create(const std::string& tenant, const std::string& mount,
                                                       const std::string& roleName, Clock::time_point now) {
  now = std::chrono::floor<std::chrono::microseconds>(now);  // what the lease record keeps
  const DatabaseMount* m = findMount(tenant, mount);
  if (m == nullptr) return makeError(db_errc::kNoRole, "no such database mount");
  auto rit = m->roles.find(roleName);
  if (rit == m->roles.end()) return makeError(db_errc::kNoRole, "no such database role");
  const DatabaseRole& role = rit->second;

  std::string base = roleName.substr(0, 24);
  std::replace(base.begin(), base.end(), '-', '_');
  LeaseInfo lease;
  lease.tenant = tenant;
  lease.mount = mount;
  lease.role = roleName;
  lease.username = "v_" + base + "_" + randomHex(8);
  lease.leaseId = tenant + "/" + mount + "/creds/" + roleName + "/" + randomHex(12);
  lease.issueTime = lease.lastRenewal = now;
  lease.maxExpireTime = now + role.maxTtl;
  lease.expireTime = std::min(now + role.defaultTtl, lease.maxExpireTime);

  SEALGATE_ASSIGN_OR_RETURN(auto password, Secret::allocate(32));
  {
    std::uint8_t raw[24];
    randombytes_buf(raw, sizeof raw);
    std::string text = base64UrlNoPad(raw);  // 32 characters of [A-Za-z0-9_-]
    secureWipe(raw, sizeof raw);
    std::copy(text.begin(), text.end(), password.exposeSecretBytesMutable().begin());
    secureWipe(text.data(), text.size());
  }

  std::lock_guard lock(mu_);
  // The lease first: a crash after CREATE ROLE leaves a lease the reaper revokes.
  if (auto put = state_.putLease(StateStore::Lease{lease.leaseId, leaseJson(lease), lease.expireTime}); !put) {
    return put.error();
  }
  auto fail = [&](Error e) -> Result<DatabaseCredential> {
    if (auto del = state_.deleteLease(lease.leaseId); !del) {
      // The reaper will find the lease, see no role, and forget it.
    }
    return e;
  };
  auto conn = connect(m->connection, m->connection.dbname);
  if (!conn) return fail(conn.error());
  auto ident = escapeIdentifier(conn->get(), lease.username);
  if (!ident) return fail(ident.error());
  auto pwSpan = password.exposeSecretBytes();
  auto pwLit =
      escapeLiteral(conn->get(), std::string_view(reinterpret_cast<const char*>(pwSpan.data()), pwSpan.size()));
  if (!pwLit) return fail(pwLit.error());
  auto expLit = escapeLiteral(conn->get(), pgTimestamp(lease.expireTime));
  if (!expLit) return fail(expLit.error());
  static const std::vector<std::string> kDefault{
      "CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}"};
  const auto& statements = role.creationStatements.empty() ? kDefault : role.creationStatements;
  Result<void> created = Ok{};
  if (auto begin = exec(conn->get(), "BEGIN"); !begin) created = begin.error();
  for (const auto& t : statements) {
    if (!created) break;
    std::string sql = substitute(t, *ident, *pwLit, *expLit);
    auto r = exec(conn->get(), sql);
    secureWipe(sql.data(), sql.size());
    if (!r) created = r.error();
  }
  if (created) {
    if (auto commit = exec(conn->get(), "COMMIT"); !commit) created = commit.error();
  } else {
    (void)exec(conn->get(), "ROLLBACK");
  }
  secureWipe(pwLit->data(), pwLit->size());
  if (!created) return fail(created.error());
  return DatabaseCredential{lease, std::move(password)};
}

Result<LeaseInfo> DatabaseCredentials::lookup(const std::string& leaseId) const {
  for (const auto& l : state_.leases()) {
    if (l.leaseId != leaseId) continue;
    auto info = leaseFrom(l);
    if (info) return *info;
  }
  return makeError(db_errc::kNoLease, "no such lease");
}

std::vector<LeaseInfo> DatabaseCredentials::leases() const {
  std::vector<LeaseInfo> out;
  for (const auto& l : state_.leases()) {
    if (auto info = leaseFrom(l)) out.push_back(*info);
  }
  std::sort(out.begin(), out.end(), [](const LeaseInfo& a, const LeaseInfo& b) { return a.leaseId < b.leaseId; });
  return out;
}

Result<LeaseInfo> DatabaseCredentials::renew(const std::string& leaseId, std::chrono::seconds increment,
                                             Clock::time_point now) {
  now = std::chrono::floor<std::chrono::microseconds>(now);
  if (increment.count() < 0) return makeError(db_errc::kInvalid, "increment must not be negative");
  std::lock_guard lock(mu_);
  auto found = lookup(leaseId);
  if (!found) return found;
  LeaseInfo lease = *found;
  const DatabaseMount* m = findMount(lease.tenant, lease.mount);
  if (m == nullptr || !m->roles.count(lease.role))
    return makeError(db_errc::kNoRole, "the lease's role is no longer configured");
  if (lease.expireTime <= now) return makeError(db_errc::kNoLease, "the lease has expired");
  const auto wanted = increment.count() == 0 ? m->roles.at(lease.role).defaultTtl : increment;
  lease.expireTime = std::min(now + wanted, lease.maxExpireTime);  // capped by max_ttl
  lease.lastRenewal = now;
  auto conn = connect(m->connection, m->connection.dbname);
  if (!conn) return conn.error();
  auto ident = escapeIdentifier(conn->get(), lease.username);
  if (!ident) return ident.error();
  auto expLit = escapeLiteral(conn->get(), pgTimestamp(lease.expireTime));
  if (!expLit) return expLit.error();
  if (auto r = exec(conn->get(), "ALTER ROLE " + *ident + " VALID UNTIL " + *expLit); !r) return r.error();
  if (auto put = state_.putLease(StateStore::Lease{lease.leaseId, leaseJson(lease), lease.expireTime}); !put) {
    return put.error();
  }
  return lease;
}

Result<void> DatabaseCredentials::revokeLease(const LeaseInfo& lease) {
  const DatabaseMount* m = findMount(lease.tenant, lease.mount);
  if (m == nullptr) return unavailable("mount of the lease is no longer configured");
  auto conn = connect(m->connection, m->connection.dbname);
  if (!conn) return conn.error();
  auto exists = exec(conn->get(), "SELECT 1 FROM pg_roles WHERE rolname = $1", {lease.username});
  if (!exists) return exists.error();
  if (PQntuples(exists->get()) > 0) {
    auto ident = escapeIdentifier(conn->get(), lease.username);
    if (!ident) return ident.error();
    if (auto rit = m->roles.find(lease.role); rit != m->roles.end()) {
      for (const auto& t : rit->second.revocationStatements)
        SEALGATE_TRY(exec(conn->get(), substitute(t, *ident, "''", "''")));
    }
    // docs/DEVELOPMENT.md, "PostgreSQL": DROP ROLE alone leaves live sessions running.
    SEALGATE_TRY(exec(conn->get(), "ALTER ROLE " + *ident + " NOLOGIN"));
    SEALGATE_TRY(exec(conn->get(), "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1",
                      {lease.username}));
    auto dbs = exec(conn->get(), "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate");
    if (!dbs) return dbs.error();
    for (int i = 0; i < PQntuples(dbs->get()); ++i) {
      const std::string db = PQgetvalue(dbs->get(), i, 0);
      auto other = db == m->connection.dbname ? Result<PgConn>(PgConn(nullptr, &PQfinish)) : connect(m->connection, db);
      if (!other) return other.error();
      PGconn* c = db == m->connection.dbname ? conn->get() : other->get();
      SEALGATE_TRY(exec(c, "DROP OWNED BY " + *ident));
    }
    SEALGATE_TRY(exec(conn->get(), "DROP ROLE " + *ident));
  }
  return state_.deleteLease(lease.leaseId);
}

Result<void> DatabaseCredentials::revoke(const std::string& leaseId) {
  std::lock_guard lock(mu_);
  auto found = lookup(leaseId);
  if (!found) return found.error();
  return revokeLease(*found);
}

Result<std::size_t> DatabaseCredentials::revokePrefix(const std::string& prefix) {
  if (!isValidLeasePrefix(prefix)) return makeError(db_errc::kInvalid, "the prefix is not valid");
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& l : leases()) {
    if (l.leaseId.compare(0, prefix.size(), prefix) != 0) continue;
    SEALGATE_TRY(revokeLease(l));
    ++n;
  }
  return n;
}

std::size_t DatabaseCredentials::reapExpired(Clock::time_point now) {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& l : leases()) {
    if (l.expireTime > now) continue;
    if (revokeLease(l)) ++n;
  }
  return n;
}

void DatabaseCredentials::startReaper(std::chrono::milliseconds interval) {
  stopReaper();
  {
    std::lock_guard lock(reaperMu_);
    reaperStop_ = false;
  }
  reaper_ = std::thread([this, interval] {
    std::unique_lock lock(reaperMu_);
    while (!reaperStop_) {
      if (reaperCv_.wait_for(lock, interval, [this] { return reaperStop_; })) break;
      lock.unlock();
      reapExpired();
      lock.lock();
    }
  });
}

void DatabaseCredentials::stopReaper() {
  {
    std::lock_guard lock(reaperMu_);
    reaperStop_ = true;
  }
  reaperCv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

Result<FetchedSecret> DatabaseCredentials::fetch(const SecretUri& uri, std::optional<std::uint32_t> version,
                                                 const FetchContext& context) {
  const Error notFound = makeError(provider_errc::kNotFound, "no such database role or field");
  if (!hasMount(uri.tenant(), uri.mount()) || uri.path().size() != 1 || version || uri.version() || !uri.field() ||
      (*uri.field() != "username" && *uri.field() != "password")) {
    return notFound;
  }
  const std::string& role = uri.path()[0];
  const std::string key = context.requestId + "|" + uri.tenant() + "/" + uri.mount() + "/" + role;
  const auto now = Clock::now();
  {
    std::lock_guard lock(mu_);
    for (auto it = shared_.begin(); it != shared_.end();) {
      it = now - it->second.at > std::chrono::minutes(1) ? shared_.erase(it) : std::next(it);
    }
  }
  std::string leaseId, username;
  Result<Secret> password = notFound;
  {
    std::unique_lock lock(mu_);
    auto it = context.requestId.empty() ? shared_.end() : shared_.find(key);
    if (it != shared_.end()) {
      leaseId = it->second.leaseId;
      username = it->second.username;
      password = Secret::copyFrom(it->second.password.exposeSecretBytes());
    }
  }
  if (leaseId.empty()) {
    auto cred = create(uri.tenant(), uri.mount(), role);
    if (!cred) return cred.error().code == db_errc::kNoRole ? notFound : cred.error();
    leaseId = cred->lease.leaseId;
    username = cred->lease.username;
    password = Secret::copyFrom(cred->password.exposeSecretBytes());
    if (!context.requestId.empty()) {
      std::lock_guard lock(mu_);
      shared_.emplace(key, Shared{leaseId, username, std::move(cred->password), now});
    }
  }
  if (!password) return password.error();
  FetchedSecret out;
  out.metadata.leaseId = leaseId;
  if (auto l = lookup(leaseId)) out.metadata.ttl = l->ttl(now);
  if (*uri.field() == "username") {
    auto u = Secret::copyFrom(username);
    if (!u) return u.error();
    out.value = std::move(*u);
  } else {
    out.value = std::move(*password);
  }
  return out;
}

bool DatabaseCredentials::healthy() const {
  for (const auto& m : mounts_) {
    if (!connect(m.connection, m.connection.dbname)) return false;
  }
  return true;
}

}  // namespace sealgate::providers
