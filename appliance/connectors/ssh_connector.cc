#include "appliance/connectors/ssh_connector.h"

#include <libssh/libssh.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <optional>

#include "appliance/connectors/action_fields.h"
#include "core/encoding.h"

namespace sealgate::connectors {
namespace {

constexpr std::string_view kWhere = "ssh";

struct SshAction {
  std::string host;
  std::uint16_t port = 22;
  SlotTemplate user;
  std::optional<SlotTemplate> password;
  std::optional<SlotTemplate> privateKey;
  std::optional<SlotTemplate> passphrase;
  std::vector<Bytes> hostKeys;  // the policy's pins for this destination: any one may match
  std::string command;
};

Result<SshAction> parseAction(const nlohmann::json& action, const ConnectorContext& context) {
  // The caller never says which host key to trust: a caller's pin would let it
  // send the credential to any server it names (its own included).
  if (action.is_object() && action.contains("host_key_sha256")) {
    return makeError(connector_errc::kInvalidAction,
                     "ssh.host_key_sha256 is not accepted: host keys are pinned in the tenant's egress policy "
                     "(egress.<tenant>.ssh.host_keys)");
  }
  if (auto r = requireKnownKeys(
          action, {"connector", "host", "port", "user", "password", "private_key", "passphrase", "command"}, kWhere,
          "ssh");
      !r) {
    return std::move(r).takeError();
  }
  SshAction a;
  SEALGATE_ASSIGN_OR_RETURN(auto host, plainString(action, "host", kWhere, true));
  SEALGATE_ASSIGN_OR_RETURN(auto port, plainInteger(action, "port", kWhere, 1, 65535, 22));
  SEALGATE_ASSIGN_OR_RETURN(auto command, plainString(action, "command", kWhere, true));
  SEALGATE_ASSIGN_OR_RETURN(auto user, loginName(action, "user", kWhere, context));
  SEALGATE_ASSIGN_OR_RETURN(auto password, slotString(action, "password", kWhere, false));
  auto privateKey = slotString(action, "private_key", kWhere, false);
  if (!privateKey) return std::move(privateKey).takeError();
  SEALGATE_ASSIGN_OR_RETURN(auto passphrase, slotString(action, "passphrase", kWhere, false));

  if (password.has_value() == privateKey->has_value()) {
    return makeError(connector_errc::kInvalidAction, "ssh needs exactly one of password and private_key");
  }
  if (passphrase.has_value() && !privateKey->has_value()) {
    return makeError(connector_errc::kInvalidAction, "ssh.passphrase goes with private_key");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto normalized, normalizeHost(*host, "ssh.host"));
  if (command->empty()) return makeError(connector_errc::kInvalidAction, "ssh.command is required");

  a.host = std::move(normalized);
  a.port = static_cast<std::uint16_t>(port);
  a.user = std::move(user);
  a.password = std::move(password);
  a.privateKey = std::move(*privateKey);
  a.passphrase = std::move(passphrase);
  a.command = std::move(*command);

  SEALGATE_TRY(requireDestination(context, a.host, a.port));
  const auto& allowed = context.rules.commands;
  if (std::find(allowed.begin(), allowed.end(), a.command) == allowed.end()) {
    return makeError(connector_errc::kCommandForbidden, "the command is not on the tenant's allow-list");
  }
  // No pin, no connection (never trust on first use).
  const auto* pins = pinnedHostKeys(context.rules, a.host, a.port);
  if (pins == nullptr || pins->empty()) {
    return makeError(
        connector_errc::kHostKeyNotPinned,
        "the tenant's egress policy pins no host key for this destination (egress.<tenant>.ssh.host_keys)");
  }
  for (const auto& pin : *pins) {
    auto bytes = decodeHostKeyPin(pin);
    // The policy parser checked every pin: a bad one here is a policy that skipped it.
    if (!bytes)
      return makeError(connector_errc::kHostKeyNotPinned, "a host-key pin of the tenant's policy is malformed");
    a.hostKeys.push_back(std::move(*bytes));
  }
  return a;
}

struct SessionDeleter {
  void operator()(ssh_session s) const {
    // Never wait for the peer while tearing down (the deadline may be spent).
    ssh_set_blocking(s, 0);
    if (ssh_is_connected(s)) ssh_disconnect(s);
    ssh_free(s);
  }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionDeleter>;
struct ChannelDeleter {
  void operator()(ssh_channel c) const { ssh_channel_free(c); }
};
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;
struct KeyDeleter {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;

// libssh's blocking calls each wait up to the session timeout: set it to what
// is left before every step, so the steps together stay within one deadline.
void boundNextStep(ssh_session s, const Deadline& deadline) {
  const long ms = static_cast<long>(deadline.remaining().count());
  const long sec = ms / 1000;
  const long usec = (ms % 1000) * 1000;
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usec);
}

Error timedOutOr(const Deadline& deadline, ErrorCode code, const char* message) {
  if (deadline.expired()) return makeError(connector_errc::kPeerTimeout, "the ssh peer did not answer in time");
  return makeError(code, message);
}

// The server's host key must hash to one of the pinned SHA-256s, compared in constant time.
Result<void> verifyHostKey(ssh_session s, const std::vector<Bytes>& pins) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s, &raw) != SSH_OK) {
    return makeError(connector_errc::kPeerHostKeyMismatch, "the ssh peer presented no host key");
  }
  KeyPtr key(raw);
  unsigned char* hash = nullptr;
  size_t hashLength = 0;
  if (ssh_get_publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, &hash, &hashLength) != 0) {
    return makeError(connector_errc::kPeerHostKeyMismatch, "the ssh host key could not be hashed");
  }
  bool same = false;
  for (const auto& pin : pins) {
    // Every pin is compared (no early exit): the time does not say which one matched.
    same = (hashLength == pin.size() && constantTimeEquals({hash, hashLength}, pin)) || same;
  }
  ssh_clean_pubkey_hash(&hash);
  if (!same) return makeError(connector_errc::kPeerHostKeyMismatch, "the ssh host key is not one the policy pins");
  return {};
}

Result<void> authenticate(ssh_session s, const SshAction& a, const SlotValues& slots, const Deadline& deadline) {
  int rc = SSH_AUTH_ERROR;
  if (a.password) {
    SEALGATE_ASSIGN_OR_RETURN(auto password, CString::render(*a.password, slots));
    boundNextStep(s, deadline);
    rc = ssh_userauth_password(s, nullptr, password.c_str());
  } else {
    SEALGATE_ASSIGN_OR_RETURN(auto pem, CString::render(*a.privateKey, slots));
    std::optional<CString> passphrase;
    if (a.passphrase) {
      SEALGATE_ASSIGN_OR_RETURN(auto rendered, CString::render(*a.passphrase, slots));
      passphrase = std::move(rendered);
    }
    ssh_key raw = nullptr;
    // libssh parses from our protected copy; the key object it builds is freed
    // (and its private half wiped by libssh) when `key` goes out of scope.
    if (ssh_pki_import_privkey_base64(pem.c_str(), passphrase ? passphrase->c_str() : nullptr, nullptr, nullptr,
                                      &raw) != SSH_OK ||
        raw == nullptr) {
      return makeError(connector_errc::kSecretUnusable,
                       "the private_key slot does not hold a usable OpenSSH or PEM private key, "
                       "or the passphrase does not open it");
    }
    KeyPtr key(raw);
    boundNextStep(s, deadline);
    rc = ssh_userauth_publickey(s, nullptr, key.get());
  }
  if (rc == SSH_AUTH_SUCCESS) return {};
  if (rc == SSH_AUTH_DENIED || rc == SSH_AUTH_PARTIAL) {
    return makeError(connector_errc::kPeerAuthFailed, "the ssh peer refused the credential");
  }
  return timedOutOr(deadline, connector_errc::kPeerError, "ssh authentication failed");
}

struct Output {
  std::string out;
  std::string err;
};

// Reads both streams until EOF without blocking past the deadline; the total is capped.
Result<Output> readOutput(ssh_session s, ssh_channel ch, const ConnectorContext& context, const Deadline& deadline) {
  Output o;
  std::array<char, 16384> buf;
  while (true) {
    bool progressed = false;
    for (int isStderr : {0, 1}) {
      const int n = ssh_channel_read_nonblocking(ch, buf.data(), buf.size(), isStderr);
      if (n == SSH_ERROR) return timedOutOr(deadline, connector_errc::kPeerError, "reading the ssh output failed");
      if (n > 0) {
        auto& into = isStderr ? o.err : o.out;
        if (o.out.size() + o.err.size() + static_cast<std::size_t>(n) > context.maxResponseBytes) {
          return makeError(connector_errc::kPeerResponseTooLarge, "the ssh output is larger than allowed");
        }
        into.append(buf.data(), static_cast<std::size_t>(n));
        progressed = true;
      }
    }
    if (progressed) continue;
    if (ssh_channel_is_eof(ch) || !ssh_channel_is_open(ch)) return o;
    if (deadline.expired()) return makeError(connector_errc::kPeerTimeout, "the ssh command did not finish in time");
    // Nothing buffered: sleep on the socket, in short slices so that data libssh
    // has already read from it (but not decoded) cannot stall us.
    pollfd p{ssh_get_fd(s), POLLIN, 0};
    const int waitMs = static_cast<int>(std::min<long long>(deadline.remaining().count(), 100));
    if (::poll(&p, 1, waitMs) < 0 && errno != EINTR) {
      return makeError(connector_errc::kPeerError, "waiting for the ssh output failed");
    }
  }
}

}  // namespace

Result<std::set<std::string>> SshConnector::validate(const nlohmann::json& action,
                                                     const ConnectorContext& context) const {
  SEALGATE_ASSIGN_OR_RETURN(auto a, parseAction(action, context));
  const auto field = [](const std::optional<SlotTemplate>& t) { return t ? &*t : nullptr; };
  return slotNamesOf({&a.user, field(a.password), field(a.privateKey), field(a.passphrase)});
}

Result<nlohmann::json> SshConnector::run(const nlohmann::json& action, const ConnectorContext& context,
                                         const SlotValues& slots) {
  // Validated again: run() must never trust that its caller did.
  SEALGATE_ASSIGN_OR_RETURN(auto parsed, parseAction(action, context));
  const SshAction& a = parsed;
  const Deadline deadline(context.timeout);

  SEALGATE_ASSIGN_OR_RETURN(auto user, CString::render(a.user, slots));
  if (user.empty()) return makeError(connector_errc::kSecretUnusable, "the ssh user is empty");

  SessionPtr session(ssh_new());
  if (!session) return makeError(connector_errc::kPeerError, "ssh_new failed");
  ssh_session s = session.get();
  const unsigned int port = a.port;
  const int noConfig = 0;
  const int logNothing = SSH_LOG_NOLOG;
  // Trust only the policy's pins: no known_hosts files, no ~/.ssh/config.
  if (ssh_options_set(s, SSH_OPTIONS_HOST, a.host.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_USER, user.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &noConfig) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &logNothing) != SSH_OK) {
    return makeError(connector_errc::kInvalidAction, "the ssh options were refused");
  }

  boundNextStep(s, deadline);
  if (ssh_connect(s) != SSH_OK) {
    return timedOutOr(deadline, connector_errc::kPeerUnreachable, "could not connect to the ssh peer");
  }
  // Before any credential leaves: a wrong host key gets nothing.
  SEALGATE_TRY(verifyHostKey(s, a.hostKeys));
  SEALGATE_TRY(authenticate(s, a, slots, deadline));

  ChannelPtr channel(ssh_channel_new(s));
  if (!channel) return makeError(connector_errc::kPeerError, "could not open an ssh channel");
  boundNextStep(s, deadline);
  if (ssh_channel_open_session(channel.get()) != SSH_OK) {
    return timedOutOr(deadline, connector_errc::kPeerError, "the ssh peer refused a session channel");
  }
  boundNextStep(s, deadline);
  if (ssh_channel_request_exec(channel.get(), a.command.c_str()) != SSH_OK) {
    return timedOutOr(deadline, connector_errc::kPeerError, "the ssh peer refused to run the command");
  }
  SEALGATE_ASSIGN_OR_RETURN(auto output, readOutput(s, channel.get(), context, deadline));
  boundNextStep(s, deadline);
  const int status = ssh_channel_get_exit_status(channel.get());
  if (status < 0 && deadline.expired()) {
    return makeError(connector_errc::kPeerTimeout, "the ssh command did not finish in time");
  }
  ssh_channel_send_eof(channel.get());
  ssh_channel_close(channel.get());
  // No status (e.g. the command was killed by a signal): null, not a made-up number.
  return nlohmann::json{{"exit_status", status >= 0 ? nlohmann::json(status) : nlohmann::json()},
                        {"stdout", peerText(output.out)},
                        {"stderr", peerText(output.err)}};
}

}  // namespace sealgate::connectors
