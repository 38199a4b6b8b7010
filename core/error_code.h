// ErrorCode: every error code of the project, in one list, with its wire name and,
// for the codes the HTTP API answers, its status. docs/API.md's error table is the
// contract; error_code_test.cc parses it and fails when this list and the table
// (or docs/openapi.json's enum of codes) differ.
//
// Two kinds of code:
//  - API-facing (`Exposure::Api`): exactly the rows of API.md's error table. An HTTP
//    surface answers only these; the status is the table's, taken from here by
//    appliance::HttpError (there is no other code -> status mapping).
//  - Internal (`Exposure::Internal`): the codes of components (hsm/, attest/,
//    providers/, core's verifiers, the stores at start, configuration). They name
//    a failure in logs, CLI output and /readyz checks and never leave as an HTTP
//    error: where a component's error meets the API, the caller maps it to an
//    API-facing code in one function (e.g. stateFailureCode() in
//    core/interfaces/state_store.h, KvApi's kvError()); one that slips through is
//    answered 500 INTERNAL by HttpError (and logged).
//
// Raw causes stay raw: a component keeps the library's own value in
// Error::native and the failing call in Error::operation (CK_RV and "C_Sign" in
// hsm/, TSS2_RC in attest/, errno for files, the SQLSTATE is in the message of
// the postgres connector). The area libraries construct errors with an ErrorCode
// directly, through their `*_errc` aliases (hsm_errc::kBusy is ErrorCode::HsmBusy):
// the alias lists say which codes an interface returns, and no translation table
// between a component's own strings and this list has to be kept in step.
//
// Adding a code: one line below (API-facing ones also in API.md's table and
// openapi.json's enum, which the test checks). Wire names never change: clients
// and the e2e tests match them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>

namespace sealgate {

// API(Id, "NAME", http status) / INTERNAL(Id, "NAME")
#define SEALGATE_ERROR_CODES(API, INTERNAL)                                   \
  /* API-facing: docs/API.md's error table, in its order. */                  \
  API(BadJson, "BAD_JSON", 400)                                               \
  API(JsonTooDeep, "JSON_TOO_DEEP", 400)                                      \
  API(JsonDuplicateKey, "JSON_DUPLICATE_KEY", 400)                            \
  API(UnknownField, "UNKNOWN_FIELD", 400)                                     \
  API(InvalidRequest, "INVALID_REQUEST", 400)                                 \
  API(UriTooLong, "URI_TOO_LONG", 400)                                        \
  API(UriCharset, "URI_CHARSET", 400)                                         \
  API(UriScheme, "URI_SCHEME", 400)                                           \
  API(UriAuthority, "URI_AUTHORITY", 400)                                     \
  API(UriTenant, "URI_TENANT", 400)                                           \
  API(UriMount, "URI_MOUNT", 400)                                             \
  API(UriPath, "URI_PATH", 400)                                               \
  API(UriEmptySegment, "URI_EMPTY_SEGMENT", 400)                              \
  API(UriEncoding, "URI_ENCODING", 400)                                       \
  API(UriTraversal, "URI_TRAVERSAL", 400)                                     \
  API(UriQuery, "URI_QUERY", 400)                                             \
  API(UriVersion, "URI_VERSION", 400)                                         \
  API(UriField, "URI_FIELD", 400)                                             \
  API(Unauthenticated, "UNAUTHENTICATED", 401)                                \
  API(UriTenantMismatch, "URI_TENANT_MISMATCH", 403)                          \
  API(WrongListener, "WRONG_LISTENER", 403)                                   \
  API(IdentityInvalid, "IDENTITY_INVALID", 403)                               \
  API(Forbidden, "FORBIDDEN", 403)                                            \
  API(CsrfRejected, "CSRF_REJECTED", 403)                                     \
  API(NotFound, "NOT_FOUND", 404)                                             \
  API(MethodNotAllowed, "METHOD_NOT_ALLOWED", 405)                            \
  API(RequestTimeout, "REQUEST_TIMEOUT", 408)                                 \
  API(BodyTooLarge, "BODY_TOO_LARGE", 413)                                    \
  API(HttpFraming, "HTTP_FRAMING", 400)                                       \
  API(HttpMalformed, "HTTP_MALFORMED", 400)                                   \
  API(HostInvalid, "HOST_INVALID", 400)                                       \
  API(MisdirectedRequest, "MISDIRECTED_REQUEST", 421)                         \
  API(ExpectationFailed, "EXPECTATION_FAILED", 417)                           \
  API(HeadersTooLarge, "HEADERS_TOO_LARGE", 431)                              \
  API(HttpVersionNotSupported, "HTTP_VERSION_NOT_SUPPORTED", 505)             \
  API(CertificateRevoked, "CERTIFICATE_REVOKED", 401)                         \
  API(CertificateInvalid, "CERTIFICATE_INVALID", 401)                         \
  API(UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", 415)                    \
  API(GrantInvalid, "GRANT_INVALID", 401)                                     \
  API(GrantExpired, "GRANT_EXPIRED", 401)                                     \
  API(BindingMismatch, "BINDING_MISMATCH", 401)                               \
  API(DpopInvalid, "DPOP_INVALID", 401)                                       \
  API(DpopReplay, "DPOP_REPLAY", 401)                                         \
  API(DpopNonceRequired, "DPOP_NONCE_REQUIRED", 401)                          \
  API(ScopeWidened, "SCOPE_WIDENED", 403)                                     \
  API(DelegationDepth, "DELEGATION_DEPTH", 403)                               \
  API(GrantExhausted, "GRANT_EXHAUSTED", 403)                                 \
  API(GrantRevoked, "GRANT_REVOKED", 403)                                     \
  API(ActionNotGranted, "ACTION_NOT_GRANTED", 403)                            \
  API(BreakglassWindowClosed, "BREAKGLASS_WINDOW_CLOSED", 403)                \
  API(PolicyInvalid, "POLICY_INVALID", 400)                                   \
  API(PolicyPersistFailed, "POLICY_PERSIST_FAILED", 503)                      \
  API(PdpUnavailable, "PDP_UNAVAILABLE", 503)                                 \
  API(AuditUnavailable, "AUDIT_UNAVAILABLE", 503)                             \
  API(StateUnavailable, "STATE_UNAVAILABLE", 503)                             \
  API(StateTampered, "STATE_TAMPERED", 503)                                   \
  API(StateFormatUnsupported, "STATE_FORMAT_UNSUPPORTED", 503)                \
  API(StateRollback, "STATE_ROLLBACK", 503)                                   \
  API(StateMissing, "STATE_MISSING", 503)                                     \
  API(StateFull, "STATE_FULL", 503)                                           \
  API(TpmUnavailable, "TPM_UNAVAILABLE", 503)                                 \
  API(TpmBlobRejected, "TPM_BLOB_REJECTED", 503)                              \
  API(TpmCounterMissing, "TPM_COUNTER_MISSING", 503)                          \
  API(TpmPolicyMismatch, "TPM_POLICY_MISMATCH", 503)                          \
  API(TpmError, "TPM_ERROR", 503)                                             \
  API(GrantPredatesState, "GRANT_PREDATES_STATE", 401)                        \
  API(KvInvalid, "KV_INVALID", 400)                                           \
  API(KvCasRequired, "KV_CAS_REQUIRED", 400)                                  \
  API(KvCasMismatch, "KV_CAS_MISMATCH", 400)                                  \
  API(KvNoMount, "KV_NO_MOUNT", 404)                                          \
  API(VersionDeleted, "VERSION_DELETED", 404)                                 \
  API(VersionDestroyed, "VERSION_DESTROYED", 404)                             \
  API(RevealDenied, "REVEAL_DENIED", 403)                                     \
  API(LeaseInvalid, "LEASE_INVALID", 400)                                     \
  API(LeaseNotFound, "LEASE_NOT_FOUND", 404)                                  \
  API(DbRoleNotFound, "DB_ROLE_NOT_FOUND", 404)                               \
  API(WrappingUnsupported, "WRAPPING_UNSUPPORTED", 400)                       \
  API(ProviderUnavailable, "PROVIDER_UNAVAILABLE", 503)                       \
  API(Internal, "INTERNAL", 500)                                              \
  API(HsmUnavailable, "HSM_UNAVAILABLE", 503)                                 \
  API(InvalidAction, "INVALID_ACTION", 400)                                   \
  API(ConnectorUnknown, "CONNECTOR_UNKNOWN", 400)                             \
  API(PlaceholderForbidden, "PLACEHOLDER_FORBIDDEN", 400)                     \
  API(SlotUnknown, "SLOT_UNKNOWN", 400)                                       \
  API(SlotUnused, "SLOT_UNUSED", 400)                                         \
  API(SlotNotCovered, "SLOT_NOT_COVERED", 403)                                \
  API(PlaintextForbidden, "PLAINTEXT_FORBIDDEN", 403)                         \
  API(ConnectorNotAllowed, "CONNECTOR_NOT_ALLOWED", 403)                      \
  API(DestinationForbidden, "DESTINATION_FORBIDDEN", 403)                     \
  API(CommandForbidden, "COMMAND_FORBIDDEN", 403)                             \
  API(HostKeyNotPinned, "HOST_KEY_NOT_PINNED", 403)                           \
  API(SecretUnusable, "SECRET_UNUSABLE", 422)                                 \
  API(PeerUnreachable, "PEER_UNREACHABLE", 502)                               \
  API(PeerTlsFailed, "PEER_TLS_FAILED", 502)                                  \
  API(PeerHostKeyMismatch, "PEER_HOST_KEY_MISMATCH", 502)                     \
  API(PeerAuthFailed, "PEER_AUTH_FAILED", 502)                                \
  API(PeerError, "PEER_ERROR", 502)                                           \
  API(PeerResponseTooLarge, "PEER_RESPONSE_TOO_LARGE", 502)                   \
  API(PeerTimeout, "PEER_TIMEOUT", 504)                                       \
  API(EgressBlocked, "EGRESS_BLOCKED", 502)                                   \
  API(BreakglassRequestUnknown, "BREAKGLASS_REQUEST_UNKNOWN", 404)            \
  API(BreakglassRequestExpired, "BREAKGLASS_REQUEST_EXPIRED", 409)            \
  API(BreakglassRequestClosed, "BREAKGLASS_REQUEST_CLOSED", 409)              \
  API(BreakglassNotOpen, "BREAKGLASS_NOT_OPEN", 409)                          \
  API(ApproverNotEnrolled, "APPROVER_NOT_ENROLLED", 403)                      \
  API(ApprovalSelf, "APPROVAL_SELF", 403)                                     \
  API(ApprovalDuplicate, "APPROVAL_DUPLICATE", 409)                           \
  API(EnrolmentNeedsQuorum, "ENROLMENT_NEEDS_QUORUM", 403)                    \
  API(ApproverExists, "APPROVER_EXISTS", 409)                                 \
  API(ApproverNotPending, "APPROVER_NOT_PENDING", 409)                        \
  API(ApproverDeviceInUse, "APPROVER_DEVICE_IN_USE", 409)                     \
  API(CredentialExpired, "CREDENTIAL_EXPIRED", 409)                           \
  API(QuorumWouldBreak, "QUORUM_WOULD_BREAK", 409)                            \
  API(BreakglassDisabled, "BREAKGLASS_DISABLED", 404)                         \
  /* API-facing: break-glass approval and approver enrolment (attest/). */    \
  API(EkUntrusted, "EK_UNTRUSTED", 403)                                       \
  API(EkMismatch, "EK_MISMATCH", 403)                                         \
  API(AkRejected, "AK_REJECTED", 403)                                         \
  API(CredentialMismatch, "CREDENTIAL_MISMATCH", 403)                         \
  API(QuoteMalformed, "QUOTE_MALFORMED", 400)                                 \
  API(QuoteSignatureInvalid, "QUOTE_SIGNATURE_INVALID", 403)                  \
  API(QuoteNonceMismatch, "QUOTE_NONCE_MISMATCH", 403)                        \
  API(QuotePcrMismatch, "QUOTE_PCR_MISMATCH", 403)                            \
  API(QuoteNotFresh, "QUOTE_NOT_FRESH", 403)                                  \
  /* API-facing: key rotation and retirement (appliance/rotation/). */        \
  API(KeyUnknown, "KEY_UNKNOWN", 404)                                         \
  API(KeyActive, "KEY_ACTIVE", 409)                                           \
  API(KeyInUse, "KEY_IN_USE", 409)                                            \
  API(KeyVersionPinned, "KEY_VERSION_PINNED", 409)                            \
  API(KeyRetired, "KEY_RETIRED", 401)                                         \
  /* Internal: core: files, crypto, JWS/JWK, signed notes, Merkle proofs. */  \
  INTERNAL(IoError, "IO_ERROR")                                               \
  INTERNAL(CryptoInit, "CRYPTO_INIT")                                         \
  INTERNAL(OutOfSecureMemory, "OUT_OF_SECURE_MEMORY")                         \
  INTERNAL(JwsMalformed, "JWS_MALFORMED")                                     \
  INTERNAL(JwkInvalid, "JWK_INVALID")                                         \
  INTERNAL(JwkPrivateKey, "JWK_PRIVATE_KEY")                                  \
  INTERNAL(KeyInvalid, "KEY_INVALID")                                         \
  INTERNAL(SignatureInvalid, "SIGNATURE_INVALID")                             \
  INTERNAL(NoteInvalid, "NOTE_INVALID")                                       \
  INTERNAL(NoteUnsigned, "NOTE_UNSIGNED")                                     \
  INTERNAL(MerkleRange, "MERKLE_RANGE")                                       \
  /* Internal: core/audit_bundle: offline verification of an audit bundle. */ \
  INTERNAL(BundleCorrupt, "BUNDLE_CORRUPT")                                   \
  INTERNAL(CheckpointInvalid, "CHECKPOINT_INVALID")                           \
  INTERNAL(EntryMismatch, "ENTRY_MISMATCH")                                   \
  INTERNAL(TreeMismatch, "TREE_MISMATCH")                                     \
  INTERNAL(ProofInvalid, "PROOF_INVALID")                                     \
  /* Internal: hsm/: PKCS#11 (CK_RV in Error::native). */                     \
  INTERNAL(HsmModule, "HSM_MODULE")                                           \
  INTERNAL(HsmTokenNotFound, "HSM_TOKEN_NOT_FOUND")                           \
  INTERNAL(HsmPin, "HSM_PIN")                                                 \
  INTERNAL(HsmKeyNotFound, "HSM_KEY_NOT_FOUND")                               \
  INTERNAL(HsmKeyAmbiguous, "HSM_KEY_AMBIGUOUS")                              \
  INTERNAL(HsmKeyExists, "HSM_KEY_EXISTS")                                    \
  INTERNAL(HsmUnsupported, "HSM_UNSUPPORTED")                                 \
  INTERNAL(HsmBusy, "HSM_BUSY")                                               \
  INTERNAL(HsmDecryptFailed, "HSM_DECRYPT_FAILED")                            \
  INTERNAL(HsmBadInput, "HSM_BAD_INPUT")                                      \
  INTERNAL(HsmError, "HSM_ERROR")                                             \
  INTERNAL(HsmEngine, "HSM_ENGINE")                                           \
  INTERNAL(HsmNotLoggedIn, "HSM_NOT_LOGGED_IN")                               \
  INTERNAL(HsmKeyMissing, "HSM_KEY_MISSING")                                  \
  /* Internal: attest/: the TPM (TSS2_RC in Error::native). */                \
  INTERNAL(TpmCounterAuth, "TPM_COUNTER_AUTH")                                \
  INTERNAL(TpmBadInput, "TPM_BAD_INPUT")                                      \
  INTERNAL(TpmKeyMissing, "TPM_KEY_MISSING")                                  \
  /* Internal: appliance/keys/: the sealed data key. */                       \
  INTERNAL(SealedKeyInvalid, "SEALED_KEY_INVALID")                            \
  INTERNAL(SealedKeyTpmMismatch, "SEALED_KEY_TPM_MISMATCH")                   \
  /* Internal: appliance/state/, appliance/audit/: stores. */                 \
  INTERNAL(StateExists, "STATE_EXISTS")                                       \
  INTERNAL(AuditLogCorrupt, "AUDIT_LOG_CORRUPT")                              \
  INTERNAL(AuditLogRollback, "AUDIT_LOG_ROLLBACK")                            \
  INTERNAL(AuditIo, "AUDIT_IO")                                               \
  INTERNAL(AuditInvalidEvent, "AUDIT_INVALID_EVENT")                          \
  INTERNAL(KafkaUnavailable, "KAFKA_UNAVAILABLE")                             \
  /* Internal: providers/. */                                                 \
  INTERNAL(KvTampered, "KV_TAMPERED")                                         \
  INTERNAL(FileProviderRefused, "FILE_PROVIDER_REFUSED")                      \
  /* Internal: start-up and tools: config, TLS, CRLs, PKI, dev-init. */       \
  INTERNAL(ConfigInvalid, "CONFIG_INVALID")                                   \
  INTERNAL(TlsConfig, "TLS_CONFIG")                                           \
  INTERNAL(ListenFailed, "LISTEN_FAILED")                                     \
  INTERNAL(DataDirInUse, "DATA_DIR_IN_USE")                                   \
  INTERNAL(CrlInvalid, "CRL_INVALID")                                         \
  INTERNAL(PkiError, "PKI_ERROR")                                             \
  INTERNAL(DevInit, "DEV_INIT")                                               \
  /* Internal: the operator CLI (appliance/cli/). */                          \
  INTERNAL(AdminClient, "ADMIN_CLIENT")                                       \
  INTERNAL(RequestDigestMismatch, "REQUEST_DIGEST_MISMATCH")

enum class ErrorCode : std::uint8_t {
#define SEALGATE_ERROR_CODE_API(id, name, status) id,
#define SEALGATE_ERROR_CODE_INTERNAL(id, name) id,
  SEALGATE_ERROR_CODES(SEALGATE_ERROR_CODE_API, SEALGATE_ERROR_CODE_INTERNAL)
#undef SEALGATE_ERROR_CODE_API
#undef SEALGATE_ERROR_CODE_INTERNAL
};

enum class Exposure : std::uint8_t {
  Api,       // a row of API.md's error table: answered by HTTP surfaces
  Internal,  // a component's code: logs, CLI, /readyz; mapped before an HTTP answer
};

struct ErrorCodeInfo {
  ErrorCode code;
  const char* name;  // the wire name, UPPER_SNAKE
  int httpStatus;    // API.md's status; 500 for internal codes (answered as INTERNAL)
  Exposure exposure;
};

// The one table, indexed by the enum's value.
inline constexpr ErrorCodeInfo kErrorCodes[] = {
#define SEALGATE_ERROR_CODE_API(id, name, status) {ErrorCode::id, name, status, Exposure::Api},
#define SEALGATE_ERROR_CODE_INTERNAL(id, name) {ErrorCode::id, name, 500, Exposure::Internal},
    SEALGATE_ERROR_CODES(SEALGATE_ERROR_CODE_API, SEALGATE_ERROR_CODE_INTERNAL)
#undef SEALGATE_ERROR_CODE_API
#undef SEALGATE_ERROR_CODE_INTERNAL
};
inline constexpr std::size_t kErrorCodeCount = sizeof kErrorCodes / sizeof kErrorCodes[0];

constexpr const ErrorCodeInfo& errorCodeInfo(ErrorCode code) { return kErrorCodes[static_cast<std::size_t>(code)]; }

// The wire name ("INVALID_REQUEST"): JSON bodies, X-Sealgate-Error, logs.
constexpr const char* errorCodeName(ErrorCode code) { return errorCodeInfo(code).name; }

// The HTTP status API.md gives the code (500 for an internal code).
constexpr int httpStatus(ErrorCode code) { return errorCodeInfo(code).httpStatus; }

constexpr bool isApiCode(ErrorCode code) { return errorCodeInfo(code).exposure == Exposure::Api; }

// The code of a wire name, for text that comes from outside the process (a
// document, a peer) or from a test; nullopt for a name not in the list.
constexpr std::optional<ErrorCode> parseErrorCode(std::string_view name) {
  for (const auto& info : kErrorCodes) {
    if (name == info.name) return info.code;
  }
  return std::nullopt;
}

// Prints the wire name (for logs and test failure messages).
std::ostream& operator<<(std::ostream& os, ErrorCode code);

// A code in a JSON document (a log line, a /readyz check) is its wire name, never
// the enum's number (nlohmann would otherwise write enums as integers).
void to_json(nlohmann::json& j, ErrorCode code);

namespace error_code_detail {
// Names are checked unique by error_code_test: comparing every pair here exceeds
// clang's constexpr step limit.
constexpr bool rowsInEnumOrder() {
  for (std::size_t i = 0; i < kErrorCodeCount; ++i) {
    if (static_cast<std::size_t>(kErrorCodes[i].code) != i) return false;
  }
  return true;
}
}  // namespace error_code_detail
static_assert(error_code_detail::rowsInEnumOrder(), "every ErrorCode has one row, in enum order");

}  // namespace sealgate
