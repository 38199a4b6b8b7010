#include "appliance/connectors/ldap_connector.h"

#include <ldap.h>
#include <sys/time.h>

#include <memory>
#include <optional>
#include <vector>

#include "appliance/connectors/action_fields.h"

namespace sealgate::connectors {
namespace {

constexpr std::string_view kWhere = "ldap";
constexpr std::int64_t kDefaultSizeLimit = 100;
constexpr std::int64_t kMaxSizeLimit = 10000;

struct LdapAction {
  bool tls = false;  // ldaps://
  bool starttls = false;
  std::string host;
  std::uint16_t port = 389;
  std::string url;  // ldap://host:port rebuilt from the parts: what is dialled is what was allow-listed
  SlotTemplate bindDn;
  SlotTemplate password;
  std::string base;
  int scope = LDAP_SCOPE_SUBTREE;
  std::string filter;
  std::vector<std::string> attributes;  // empty: all user attributes
  int sizeLimit = kDefaultSizeLimit;
};

// "ldap[s]://host[:port][/]" and nothing else: no DN, attributes, filter or
// extensions in the URL, and never a list of URLs (libldap would try each).
Result<void> parseUrl(const std::string& url, LdapAction& a) {
  const auto bad = [] {
    return makeError(connector_errc::kInvalidAction, "ldap.url must be ldap://host[:port] or ldaps://host[:port]");
  };
  std::string_view rest(url);
  if (rest.starts_with("ldaps://")) {
    a.tls = true;
    a.port = 636;
    rest.remove_prefix(8);
  } else if (rest.starts_with("ldap://")) {
    rest.remove_prefix(7);
  } else {
    return bad();
  }
  if (rest.ends_with("/")) rest.remove_suffix(1);
  std::string_view host;
  std::string_view port;
  if (rest.starts_with("[")) {  // [IPv6]
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return bad();
    host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad();
      port = rest.substr(1);
    }
  } else {
    const auto colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad();
  }
  if (!port.empty() || rest.ends_with(":")) {
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return bad();
    const int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return bad();
    a.port = static_cast<std::uint16_t>(p);
  }
  SEALGATE_ASSIGN_OR_RETURN(auto normalized, normalizeHost(host, "ldap.url's host"));
  a.host = std::move(normalized);
  // Always dialled as ldap://: for ldaps, connect() adds TLS itself once TCP is up,
  // so that a closed port and a failed handshake stay apart.
  const bool v6 = a.host.find(':') != std::string::npos;
  a.url = "ldap://" + (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
  return {};
}

// Balanced parentheses around the whole filter: enough to refuse an obviously
// malformed one before the bind spends the use; the server checks the rest.
bool plausibleFilter(const std::string& f) {
  if (f.size() < 3 || f.front() != '(' || f.back() != ')') return false;
  int depth = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '(') ++depth;
    if (f[i] == ')' && --depth == 0 && i + 1 != f.size()) return false;
    if (depth < 0) return false;
  }
  return depth == 0;
}

Result<void> parseSearch(const nlohmann::json& action, LdapAction& a) {
  auto it = action.find("search");
  if (it == action.end()) return makeError(connector_errc::kInvalidAction, "ldap.search is required");
  const nlohmann::json& search = *it;
  constexpr std::string_view where = "ldap.search";
  if (auto r = requireKnownKeys(search, {"base", "scope", "filter", "attributes", "size_limit"}, where); !r) return r;
  SEALGATE_ASSIGN_OR_RETURN(auto base, plainString(search, "base", where, true));
  SEALGATE_ASSIGN_OR_RETURN(auto scope, plainString(search, "scope", where, false));
  SEALGATE_ASSIGN_OR_RETURN(auto filter, plainString(search, "filter", where, true));
  SEALGATE_ASSIGN_OR_RETURN(auto sizeLimit,
                            plainInteger(search, "size_limit", where, 1, kMaxSizeLimit, kDefaultSizeLimit));
  if (auto attrs = search.find("attributes"); attrs != search.end()) {
    // Types first: only the array's strings are looked at, nothing deeper is walked.
    if (!attrs->is_array()) return makeError(connector_errc::kInvalidAction, "ldap.search.attributes must be an array");
    for (const auto& name : *attrs) {
      if (name.is_string()) {
        if (auto r = forbidSlots(name.get_ref<const std::string&>(), "ldap.search.attributes"); !r) return r;
      }
      if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
        return makeError(connector_errc::kInvalidAction, "ldap.search.attributes must be non-empty strings");
      }
      a.attributes.push_back(name.get<std::string>());
    }
  }
  const std::string s = scope.value_or("sub");
  if (s == "base") {
    a.scope = LDAP_SCOPE_BASE;
  } else if (s == "one") {
    a.scope = LDAP_SCOPE_ONELEVEL;
  } else if (s == "sub") {
    a.scope = LDAP_SCOPE_SUBTREE;
  } else {
    return makeError(connector_errc::kInvalidAction, "ldap.search.scope must be base, one or sub");
  }
  if (!plausibleFilter(*filter)) {
    return makeError(connector_errc::kInvalidAction, "ldap.search.filter must be one parenthesised LDAP filter");
  }
  a.base = std::move(*base);
  a.filter = std::move(*filter);
  a.sizeLimit = static_cast<int>(sizeLimit);
  return {};
}

Result<LdapAction> parseAction(const nlohmann::json& action, const ConnectorContext& context) {
  if (auto r =
          requireKnownKeys(action, {"connector", "url", "starttls", "bind_dn", "password", "search"}, kWhere, "ldap");
      !r) {
    return std::move(r).takeError();
  }
  LdapAction a;
  SEALGATE_ASSIGN_OR_RETURN(auto url, plainString(action, "url", kWhere, true));
  auto starttls = plainBool(action, "starttls", kWhere, false);
  if (!starttls) return std::move(starttls).takeError();
  SEALGATE_ASSIGN_OR_RETURN(auto bindDn, slotString(action, "bind_dn", kWhere, true));
  SEALGATE_ASSIGN_OR_RETURN(auto password, slotString(action, "password", kWhere, true));
  SEALGATE_TRY(parseSearch(action, a));
  SEALGATE_TRY(parseUrl(*url, a));
  if (*starttls && a.tls) {
    return makeError(connector_errc::kInvalidAction, "ldap.starttls is for ldap:// URLs (ldaps:// is TLS already)");
  }
  a.starttls = *starttls;
  if (!a.tls && !a.starttls && !context.rules.plaintext) {
    return makeError(connector_errc::kPlaintextForbidden,
                     "the tenant's policy requires TLS for this bind (ldaps://, starttls, or egress.ldap.plaintext)");
  }
  a.bindDn = std::move(*bindDn);
  a.password = std::move(*password);
  SEALGATE_TRY(requireDestination(context, a.host, a.port));
  return a;
}

struct LdapDeleter {
  void operator()(LDAP* ld) const { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
using LdapPtr = std::unique_ptr<LDAP, LdapDeleter>;
struct MessageDeleter {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageDeleter>;

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// The libraries' own timeouts, set to what is left of the action's deadline.
void boundNextStep(LDAP* ld, const Deadline& deadline) {
  const timeval tv = toTimeval(deadline.remaining());
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
}

// Fixed text and the numeric result code only: the server's diagnostic text
// could echo what we sent.
Error mapLdapError(int rc, bool tls, const Deadline& deadline, const char* step) {
  using namespace connector_errc;
  if (rc == LDAP_TIMEOUT || deadline.expired()) return makeError(kPeerTimeout, "the ldap peer did not answer in time");
  if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH) {
    return makeError(kPeerAuthFailed, "the ldap peer refused the credential");
  }
  // After the handshake, LDAP_CONNECT_ERROR can only come from TLS.
  if (rc == LDAP_CONNECT_ERROR && tls) {
    return makeError(kPeerTlsFailed, "the ldap peer's TLS certificate or handshake failed");
  }
  if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
    return makeError(kPeerUnreachable, "could not connect to the ldap peer");
  }
  Error e = makeError(kPeerError, std::string(step) + " failed with LDAP result " + std::to_string(rc));
  e.operation = step;
  e.native = static_cast<unsigned long>(rc);
  return e;
}

Result<LdapPtr> connect(const LdapAction& a, const ConnectorContext& context, const Deadline& deadline) {
  LDAP* raw = nullptr;
  if (ldap_initialize(&raw, a.url.c_str()) != LDAP_SUCCESS || raw == nullptr) {
    return makeError(connector_errc::kInvalidAction, "ldap.url was refused by libldap");
  }
  LdapPtr ld(raw);
  const int version = LDAP_VERSION3;
  ldap_set_option(ld.get(), LDAP_OPT_PROTOCOL_VERSION, &version);
  // Referrals would send the bind to a host nobody allow-listed.
  ldap_set_option(ld.get(), LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  boundNextStep(ld.get(), deadline);
  const bool tls = a.tls || a.starttls;
  if (tls) {
    if (context.caFile.empty()) {
      return makeError(connector_errc::kPeerTlsFailed, "no CA bundle is configured to verify the ldap peer");
    }
    const int demand = LDAP_OPT_X_TLS_DEMAND;
    const int client = 0;
    // Per handle, then a fresh TLS context from these settings: nothing from the
    // process-wide defaults (ldap.conf's TLS_CACERT/TLS_CACERTDIR, LDAPTLS_*
    // variables) decides whom we trust.
    if (ldap_set_option(ld.get(), LDAP_OPT_X_TLS_CACERTFILE, context.caFile.c_str()) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld.get(), LDAP_OPT_X_TLS_CACERTDIR, nullptr) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld.get(), LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld.get(), LDAP_OPT_X_TLS_NEWCTX, &client) != LDAP_OPT_SUCCESS) {
      return makeError(connector_errc::kPeerTlsFailed, "the TLS settings for the ldap peer were refused");
    }
  }
  // TCP first, then (ldaps) the handshake on it: libldap's own ldaps:// path
  // reports both a refused port and a refused certificate as LDAP_SERVER_DOWN.
  if (int rc = ldap_connect(ld.get()); rc != LDAP_SUCCESS) return mapLdapError(rc, false, deadline, "connect");
  if (a.tls) {
    boundNextStep(ld.get(), deadline);
    if (ldap_install_tls(ld.get()) != LDAP_SUCCESS) {
      if (deadline.expired()) return makeError(connector_errc::kPeerTimeout, "the ldap peer did not answer in time");
      return makeError(connector_errc::kPeerTlsFailed, "the ldap peer's TLS certificate or handshake failed");
    }
  }
  if (a.starttls) {
    boundNextStep(ld.get(), deadline);
    if (int rc = ldap_start_tls_s(ld.get(), nullptr, nullptr); rc != LDAP_SUCCESS) {
      // A refused StartTLS extended operation is the peer's answer; the rest is the handshake.
      if (rc > 0) return mapLdapError(rc, false, deadline, "starttls");
      return makeError(connector_errc::kPeerTlsFailed, "the ldap peer's TLS certificate or handshake failed");
    }
  }
  return ld;
}

struct Collected {
  nlohmann::json entries = nlohmann::json::array();
  std::size_t bytes = 0;
};

// One entry as {"dn":..., "attributes":{name:[values]}}, counting its bytes.
Result<void> collectEntry(LDAP* ld, LDAPMessage* entry, Collected& c, std::size_t cap) {
  const auto tooLarge = [] {
    return makeError(connector_errc::kPeerResponseTooLarge, "the ldap result is larger than allowed");
  };
  nlohmann::json e;
  char* dn = ldap_get_dn(ld, entry);
  const std::string dnText = dn ? dn : "";
  ldap_memfree(dn);
  c.bytes += dnText.size();
  e["dn"] = peerText(dnText);
  nlohmann::json attrs = nlohmann::json::object();
  BerElement* ber = nullptr;
  for (char* attr = ldap_first_attribute(ld, entry, &ber); attr != nullptr;
       attr = ldap_next_attribute(ld, entry, ber)) {
    const std::string name = attr;
    ldap_memfree(attr);
    c.bytes += name.size();
    nlohmann::json values = nlohmann::json::array();
    if (berval** vals = ldap_get_values_len(ld, entry, name.c_str())) {
      for (berval** v = vals; *v != nullptr; ++v) {
        c.bytes += (*v)->bv_len;
        if (c.bytes > cap) break;
        values.push_back(peerText(std::string_view((*v)->bv_val, (*v)->bv_len)));
      }
      ldap_value_free_len(vals);
    }
    if (c.bytes > cap) {
      ber_free(ber, 0);
      return tooLarge();
    }
    // Attribute descriptions are ASCII by RFC 4512; peerText keeps a broken one serialisable.
    const auto key = peerText(name);
    attrs[key.is_string() ? key.get<std::string>() : key.dump()] = std::move(values);
  }
  ber_free(ber, 0);
  if (c.bytes > cap) return tooLarge();
  e["attributes"] = std::move(attrs);
  c.entries.push_back(std::move(e));
  return {};
}

Result<nlohmann::json> search(LDAP* ld, const LdapAction& a, const ConnectorContext& context,
                              const Deadline& deadline) {
  std::vector<char*> attrs;
  for (const auto& name : a.attributes) attrs.push_back(const_cast<char*>(name.c_str()));
  attrs.push_back(nullptr);
  // Also sent as the server-side time limit (whole seconds, rounded up by libldap).
  timeval limit = toTimeval(deadline.remaining());
  int msgid = 0;
  int rc = ldap_search_ext(ld, a.base.c_str(), a.scope, a.filter.c_str(), a.attributes.empty() ? nullptr : attrs.data(),
                           0, nullptr, nullptr, &limit, a.sizeLimit, &msgid);
  if (rc != LDAP_SUCCESS) return mapLdapError(rc, a.tls || a.starttls, deadline, "search");
  // Entry by entry, so that an oversized answer is refused before it is all in memory.
  Collected c;
  while (true) {
    LDAPMessage* raw = nullptr;
    timeval wait = toTimeval(deadline.remaining());
    const int type = ldap_result(ld, msgid, LDAP_MSG_ONE, &wait, &raw);
    MessagePtr msg(raw);
    if (type == 0 || (type < 0 && deadline.expired())) {
      ldap_abandon_ext(ld, msgid, nullptr, nullptr);
      return makeError(connector_errc::kPeerTimeout, "the ldap peer did not answer in time");
    }
    if (type < 0) {
      int err = LDAP_OTHER;
      ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
      return mapLdapError(err, a.tls || a.starttls, deadline, "search");
    }
    if (type == LDAP_RES_SEARCH_ENTRY) {
      if (auto r = collectEntry(ld, msg.get(), c, context.maxResponseBytes); !r) {
        ldap_abandon_ext(ld, msgid, nullptr, nullptr);
        return std::move(r).takeError();
      }
    } else if (type == LDAP_RES_SEARCH_RESULT) {
      int result = LDAP_OTHER;
      if (ldap_parse_result(ld, msg.get(), &result, nullptr, nullptr, nullptr, nullptr, 0) != LDAP_SUCCESS) {
        result = LDAP_OTHER;
      }
      if (result != LDAP_SUCCESS) return mapLdapError(result, a.tls || a.starttls, deadline, "search");
      const std::size_t count = c.entries.size();
      return nlohmann::json{{"count", count}, {"entries", std::move(c.entries)}};
    }
    // Search references point at other servers: never followed, not reported.
  }
}

}  // namespace

Result<std::set<std::string>> LdapConnector::validate(const nlohmann::json& action,
                                                      const ConnectorContext& context) const {
  SEALGATE_ASSIGN_OR_RETURN(auto a, parseAction(action, context));
  return slotNamesOf({&a.bindDn, &a.password});
}

Result<nlohmann::json> LdapConnector::run(const nlohmann::json& action, const ConnectorContext& context,
                                          const SlotValues& slots) {
  // Validated again: run() must never trust that its caller did.
  SEALGATE_ASSIGN_OR_RETURN(auto parsed, parseAction(action, context));
  const LdapAction& a = parsed;
  const Deadline deadline(context.timeout);

  SEALGATE_ASSIGN_OR_RETURN(auto bindDn, CString::render(a.bindDn, slots));
  SEALGATE_ASSIGN_OR_RETURN(auto password, a.password.render(slots));
  // An empty password makes a simple bind "unauthenticated" (RFC 4513 5.1.2),
  // which many servers accept: it would look like success without a credential.
  if (password.empty()) return makeError(connector_errc::kSecretUnusable, "the ldap password is empty");

  SEALGATE_ASSIGN_OR_RETURN(auto ld, connect(a, context, deadline));
  const auto bytes = password.exposeSecretBytes();
  berval cred{static_cast<ber_len_t>(bytes.size()), const_cast<char*>(reinterpret_cast<const char*>(bytes.data()))};
  boundNextStep(ld.get(), deadline);
  if (int rc = ldap_sasl_bind_s(ld.get(), bindDn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
      rc != LDAP_SUCCESS) {
    return mapLdapError(rc, a.tls || a.starttls, deadline, "bind");
  }
  return search(ld.get(), a, context, deadline);
}

}  // namespace sealgate::connectors
