#include "appliance/connectors/postgres_connector.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <memory>

#include "appliance/connectors/action_fields.h"
#include "appliance/connectors/socket_deadline.h"
#include "core/slot_template.h"

namespace sealgate::connectors {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxParams = 64;
constexpr std::int64_t kDefaultMaxRows = 1000;
constexpr std::int64_t kMaxRows = 100000;
constexpr std::size_t kCellCost = 16;  // charged per cell against max_response_bytes, NULL included
// A path that cannot exist (a file below /dev/null): libpq reads no password
// file and finds no client certificate or key there (it treats a missing file
// as "none"). An empty value would not do: libpq replaces it with the default.
constexpr const char* kNoFile = "/dev/null/sealgate-none";

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// A field rendered for libpq, which takes C strings (CString refuses an embedded NUL).
Result<CString> renderField(const std::string& text, const SlotValues& slots) {
  SEALGATE_ASSIGN_OR_RETURN(auto t, SlotTemplate::parse(text));
  return CString::render(t, slots);
}

Error timeoutError() {
  return makeError(connector_errc::kPeerTimeout, "the database did not answer within the connector timeout");
}

// Connection failures, classified from libpq's message, which is never returned
// (it may name the user).
Error connectError(PGconn* conn) {
  const std::string m = conn ? PQerrorMessage(conn) : "";
  if (m.find("authentication failed") != std::string::npos || m.find("no password supplied") != std::string::npos ||
      m.find("password") != std::string::npos) {
    return makeError(connector_errc::kPeerAuthFailed, "the database refused the credential");
  }
  if (m.find("SSL") != std::string::npos || m.find("certificate") != std::string::npos) {
    return makeError(connector_errc::kPeerTlsFailed, "the database's TLS certificate or handshake was refused");
  }
  return makeError(connector_errc::kPeerUnreachable, "cannot connect to the database");
}

}  // namespace

Result<std::set<std::string>> PostgresConnector::validate(const json& action, const ConnectorContext& context) const {
  SEALGATE_TRY(
      onlyFields(action, "postgres",
                 {"connector", "host", "port", "dbname", "user", "password", "sslmode", "query", "params", "max_rows"},
                 {"connector", "host", "dbname", "user", "password", "query"}));
  for (const char* k : {"host", "dbname", "user", "query"}) {
    if (!action[k].is_string() || action[k].get<std::string>().empty()) {
      return invalidAction(std::string("'") + k + "' must be a non-empty string");
    }
  }
  SEALGATE_TRY(forbidSlots(action["host"].get<std::string>(), "the host"));
  SEALGATE_TRY(forbidSlots(action["dbname"].get<std::string>(), "the database name"));
  SEALGATE_TRY(forbidSlots(action["query"].get<std::string>(), "the SQL text (pass values as params)"));
  SEALGATE_ASSIGN_OR_RETURN(auto port, plainInteger(action, "port", "the action", 1, 65535, 5432));
  // One TCP host, only [a-z0-9.-:]: no socket path, list, option or NUL (which
  // would end the name libpq resolves after the allow-list compared it whole).
  SEALGATE_ASSIGN_OR_RETURN(auto host, normalizeHost(action["host"].get<std::string>(), "'host'"));
  if (!egressHostAllowed(context.rules, host, static_cast<std::uint16_t>(port))) {
    return makeError(connector_errc::kDestinationForbidden, "the tenant's policy does not allow this destination");
  }
  if (action.contains("sslmode") && action["sslmode"] != "verify-full" && action["sslmode"] != "disable") {
    return invalidAction("'sslmode' is verify-full (the default) or disable");
  }
  if (action.value("sslmode", std::string("verify-full")) == "disable" && !context.rules.plaintext) {
    return makeError(connector_errc::kPlaintextForbidden,
                     "the tenant's policy requires TLS to this database (egress.postgres.plaintext)");
  }
  if (auto rows = plainInteger(action, "max_rows", "the action", 1, kMaxRows, kDefaultMaxRows); !rows) {
    return std::move(rows).takeError();
  }
  std::set<std::string> names;
  auto collect = [&](const json& v, const char* what) -> Result<void> {
    if (!v.is_string()) return invalidAction(std::string(what) + " must be a string");
    SEALGATE_ASSIGN_OR_RETURN(auto t, SlotTemplate::parse(v.get<std::string>()));
    names.insert(t.slotNames().begin(), t.slotNames().end());
    return {};
  };
  // The login name may come from a #username slot only (a dynamic credential's
  // user): the caller's SQL can read it back (current_user) in any form.
  SEALGATE_ASSIGN_OR_RETURN(auto user, loginName(action, "user", "postgres", context));
  names.insert(user.slotNames().begin(), user.slotNames().end());
  // Required, so that libpq never falls back to PGPASSWORD or a password file.
  SEALGATE_TRY(collect(action["password"], "'password'"));
  if (action.contains("params")) {
    if (!action["params"].is_array() || action["params"].size() > kMaxParams) {
      return invalidAction("'params' must be an array of at most 64 strings or nulls");
    }
    // No slots in params: the SQL is the caller's, and SELECT reverse($1) or
    // encode($1, 'base64') would hand a slot value back in a form the egress
    // guard cannot recognise. Secrets go only into the connection.
    for (const auto& p : action["params"]) {
      if (!p.is_null() && !p.is_string()) return invalidAction("each param must be a string or null");
      if (p.is_string())
        SEALGATE_TRY(forbidSlots(p.get<std::string>(), "params (the SQL could return them transformed)"));
    }
  }
  return names;
}

namespace {

using TimePoint = SocketDeadline::Clock::time_point;

// Starts a non-blocking connection with only the action's credential: every
// option through which libpq would pick up one of the daemon's own (a password
// file, a client certificate in ~/.postgresql, a Kerberos ticket through GSS
// encryption) is set explicitly, so neither the environment (PG* variables, a
// PGSERVICE entry) nor the home directory fills it in. An explicit value always
// wins over both.
PgConn startConnection(const json& action, const ConnectorContext& context, const CString& user,
                       const CString& password) {
  const std::string host = *normalizeHost(action["host"].get<std::string>(), "'host'");  // validated
  const std::string port = std::to_string(action.value("port", std::int64_t{5432}));
  const std::string dbname = action["dbname"];
  const std::string sslmode = action.value("sslmode", std::string("verify-full"));
  const auto timeoutMs = std::max<long long>(context.timeout.count(), 1);
  const std::string options = "-c statement_timeout=" + std::to_string(timeoutMs);
  std::vector<const char*> keys{"host",
                                "port",
                                "dbname",
                                "user",
                                "password",
                                "sslmode",
                                "options",
                                "application_name",
                                "client_encoding",
                                "passfile",
                                "gssencmode",
                                "sslcert",
                                "sslkey"};
  std::vector<const char*> values{host.c_str(),     port.c_str(),    dbname.c_str(),  user.c_str(),
                                  password.c_str(), sslmode.c_str(), options.c_str(), "sealgate-postgres-connector",
                                  "UTF8",           kNoFile,         "disable",       kNoFile,
                                  kNoFile};
  if (sslmode == "verify-full" && !context.caFile.empty()) {
    keys.push_back("sslrootcert");
    values.push_back(context.caFile.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  return PgConn(PQconnectStartParams(keys.data(), values.data(), 0));
}

// Drives the non-blocking connect to its end, each wait bounded by the deadline.
Result<void> awaitConnection(PGconn* conn, TimePoint deadline) {
  for (PostgresPollingStatusType st = PGRES_POLLING_WRITING;;) {
    if (st == PGRES_POLLING_OK) return {};
    if (st == PGRES_POLLING_FAILED) return connectError(conn);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SocketDeadline::Clock::now());
    if (left.count() <= 0) return timeoutError();
    pollfd pfd{PQsocket(conn), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready == 0) return timeoutError();
    st = PQconnectPoll(conn);
  }
}

// The connection, logged in with the action's credential within the deadline.
Result<PgConn> connectWithin(const json& action, const ConnectorContext& context, const SlotValues& slots,
                             TimePoint deadline) {
  SEALGATE_ASSIGN_OR_RETURN(auto user, renderField(action["user"], slots));
  SEALGATE_ASSIGN_OR_RETURN(auto password, renderField(action["password"], slots));
  // libpq skips an empty value and takes the default instead (PGUSER or the OS
  // user; PGPASSWORD or the password file): never an ambient credential.
  if (user.empty()) return makeError(connector_errc::kSecretUnusable, "the postgres user is empty");
  if (password.empty()) return makeError(connector_errc::kSecretUnusable, "the postgres password is empty");
  PgConn conn = startConnection(action, context, user, password);
  if (!conn || PQstatus(conn.get()) == CONNECTION_BAD) return connectError(conn.get());
  // libpq's default notice processor prints the server's NOTICEs (which a peer
  // may fill with a slot value) to stderr, past the egress guard: drop them.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  SEALGATE_TRY(awaitConnection(conn.get(), deadline));
  return conn;
}

// Sends the query with its params and asks for its rows one at a time (so the
// caps stop an oversized answer early).
Result<void> sendQuery(PGconn* conn, const json& action, const SocketDeadline& guard) {
  std::vector<CString> params;  // validated: no slots, so plain text
  std::vector<const char*> paramValues;
  if (action.contains("params")) {
    params.reserve(action["params"].size());
    for (const auto& p : action["params"]) {
      if (p.is_null()) {
        paramValues.push_back(nullptr);
        continue;
      }
      SEALGATE_ASSIGN_OR_RETURN(auto rendered, renderField(p.get<std::string>(), {}));
      params.push_back(std::move(rendered));
      paramValues.push_back(params.back().c_str());
    }
  }
  const std::string query = action["query"];
  if (!PQsendQueryParams(conn, query.c_str(), static_cast<int>(paramValues.size()), nullptr, paramValues.data(),
                         nullptr, nullptr, 0)) {
    return guard.expired() ? timeoutError() : makeError(connector_errc::kPeerError, "the query could not be sent");
  }
  PQsetSingleRowMode(conn);
  return {};
}

// The answer so far, and the first failure (after which the rest is only drained).
struct QueryAnswer {
  json columns = json::array();
  json rows = json::array();
  std::size_t bytes = 0;  // charged against max_response_bytes
  std::string command;
  std::optional<Error> failure;
};

// What row `r` is charged before anything is copied: each cell's bytes plus a
// fixed cost (so a million NULL or empty cells cannot build a huge result either).
std::size_t rowCost(const PGresult* res, int r) {
  std::size_t rowBytes = 0;
  for (int c = 0; c < PQnfields(res); ++c) {
    rowBytes += kCellCost + (PQgetisnull(res, r, c) ? 0 : static_cast<std::size_t>(PQgetlength(res, r, c)));
  }
  return rowBytes;
}

json rowJson(const PGresult* res, int r) {
  json row = json::array();
  for (int c = 0; c < PQnfields(res); ++c) {
    if (PQgetisnull(res, r, c)) {
      row.push_back(nullptr);
      continue;
    }
    const auto n = static_cast<std::size_t>(PQgetlength(res, r, c));
    row.push_back(peerText(std::string_view(PQgetvalue(res, r, c), n)));
  }
  return row;
}

// Adds the rows of `res` (and the column names, the first time) to `answer`
// while they stay within max_rows and the size cap; the cap exceeded is the error.
std::optional<Error> appendRows(const PGresult* res, std::size_t maxRows, std::size_t maxBytes, QueryAnswer& answer) {
  if (answer.columns.empty()) {
    for (int c = 0; c < PQnfields(res); ++c) answer.columns.push_back(peerText(PQfname(res, c)));
  }
  for (int r = 0; r < PQntuples(res); ++r) {
    if (answer.rows.size() >= maxRows) {
      return makeError(connector_errc::kPeerResponseTooLarge, "the query returned more than max_rows rows");
    }
    const std::size_t rowBytes = rowCost(res, r);
    if (answer.bytes + rowBytes > maxBytes) {
      return makeError(connector_errc::kPeerResponseTooLarge, "the rows exceed the connector's size cap");
    }
    answer.bytes += rowBytes;
    answer.rows.push_back(rowJson(res, r));
  }
  return std::nullopt;
}

// A failed statement, classified by its SQLSTATE (never libpq's message).
Error statementError(const PGresult* res, const SocketDeadline& guard) {
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const std::string sqlstate = state ? state : "";
  if (sqlstate == "57014" || guard.expired()) {
    return timeoutError();  // statement_timeout (query_canceled), or our deadline
  }
  if (!sqlstate.empty() && std::all_of(sqlstate.begin(), sqlstate.end(), ::isalnum)) {
    return makeError(connector_errc::kPeerError, "the database refused the query (SQLSTATE " + sqlstate + ")");
  }
  return makeError(connector_errc::kPeerError, "the exchange with the database failed");
}

// Stops the server's work on the query. Never on a timeout: the cancel request
// is a new connection that the deadline would not bound.
void cancelQuery(PGconn* conn) {
  if (PGcancel* cancel = PQgetCancel(conn)) {
    char err[64];
    PQcancel(cancel, err, sizeof err);
    PQfreeCancel(cancel);
  }
}

// Reads every result of the query. After a failure the rest is drained so the
// connection ends cleanly (an oversized answer is cancelled first).
Result<json> collectAnswer(PGconn* conn, const json& action, const ConnectorContext& context,
                           const SocketDeadline& guard) {
  const auto maxRows = static_cast<std::size_t>(action.value("max_rows", kDefaultMaxRows));
  QueryAnswer answer;
  while (PgResult res{PQgetResult(conn)}) {
    if (answer.failure) continue;  // drain what is left so the connection ends cleanly
    const ExecStatusType st = PQresultStatus(res.get());
    if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
      answer.failure = appendRows(res.get(), maxRows, context.maxResponseBytes, answer);
      if (st == PGRES_TUPLES_OK) answer.command = PQcmdStatus(res.get());
    } else if (st == PGRES_COMMAND_OK) {
      answer.command = PQcmdStatus(res.get());
    } else {
      answer.failure = statementError(res.get(), guard);
    }
    if (answer.failure && answer.failure->code == connector_errc::kPeerResponseTooLarge) cancelQuery(conn);
  }
  if (answer.failure) return *answer.failure;
  if (guard.expired()) return timeoutError();
  return json{{"columns", answer.columns},
              {"rows", answer.rows},
              {"row_count", answer.rows.size()},
              {"command", peerText(answer.command)}};
}

}  // namespace

Result<json> PostgresConnector::run(const json& action, const ConnectorContext& context, const SlotValues& slots) {
  // Validated again: run() must never trust that its caller did.
  SEALGATE_TRY(validate(action, context));
  const auto deadline = SocketDeadline::Clock::now() + context.timeout;
  SEALGATE_ASSIGN_OR_RETURN(auto conn, connectWithin(action, context, slots, deadline));
  SocketDeadline guard(PQsocket(conn.get()), deadline);
  SEALGATE_TRY(sendQuery(conn.get(), action, guard));
  return collectAnswer(conn.get(), action, context, guard);
}

}  // namespace sealgate::connectors
