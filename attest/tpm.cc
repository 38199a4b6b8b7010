#include "attest/tpm.h"

#include <openssl/sha.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "attest/esys_util.h"

namespace sealgate::attest {

Error tssError(const char* operation, std::uint32_t rc) {
  const char* decoded = Tss2_RC_Decode(rc);
  Error e{tpm_errc::kOperation, std::string(operation) + " failed: " + (decoded ? decoded : "unknown"), operation, rc};
  // Layer 0 is the TPM itself; format-one codes carry handle/session/parameter
  // numbers in the high bits of the low word, masked off here.
  if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1)) {
    const std::uint32_t base = rc & (TPM2_RC_FMT1 | 0x3f);
    if (base == TPM2_RC_POLICY_FAIL)
      e.code = tpm_errc::kPolicy;
    else if (base == TPM2_RC_INTEGRITY || base == TPM2_RC_SIZE || base == TPM2_RC_KEY || base == TPM2_RC_VALUE)
      e.code = tpm_errc::kForeignBlob;
    else if (base == TPM2_RC_AUTH_FAIL || base == TPM2_RC_BAD_AUTH)
      e.code = tpm_errc::kCounterAuth;
    else if (base == TPM2_RC_HANDLE)
      e.code = tpm_errc::kCounterMissing;
  } else if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER) {
    e.code = tpm_errc::kUnavailable;
  } else if ((rc & TSS2_RC_LAYER_MASK) == TSS2_ESAPI_RC_LAYER) {
    const std::uint32_t base = rc & ~TSS2_RC_LAYER_MASK;
    if (base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_TRY_AGAIN || base == TSS2_BASE_RC_NO_CONNECTION)
      e.code = tpm_errc::kUnavailable;
  }
  return e;
}

namespace detail {

Result<void> EsysConnection::open(const std::string& tctiConf) {
  // tpm2-tss logs to stderr in its own format; our errors carry its codes.
  // An operator can still turn its log on with TSS2_LOG.
  ::setenv("TSS2_LOG", "all+none", /*overwrite=*/0);
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tctiConf.c_str(), &tcti);
  if (rc != TSS2_RC_SUCCESS) {
    Error e = tssError("Tss2_TctiLdr_Initialize", rc);
    e.code = tpm_errc::kUnavailable;
    return e;
  }
  rc = Esys_Initialize(&esys, tcti, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    Error e = tssError("Esys_Initialize", rc);
    e.code = tpm_errc::kUnavailable;
    return e;
  }
  TPMS_CAPABILITY_DATA* caps = nullptr;
  TPMI_YES_NO more = 0;
  rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER,
                          1, &more, &caps);
  Esys_Free(caps);
  if (rc != TSS2_RC_SUCCESS) {
    Error e = tssError("Esys_GetCapability", rc);
    e.code = tpm_errc::kUnavailable;
    return e;
  }
  return Ok{};
}

TPML_PCR_SELECTION pcrSelection(const std::vector<unsigned>& pcrs) {
  TPML_PCR_SELECTION sel{};
  sel.count = 1;
  sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
  sel.pcrSelections[0].sizeofSelect = 3;
  for (unsigned p : pcrs) sel.pcrSelections[0].pcrSelect[p / 8] |= static_cast<std::uint8_t>(1u << (p % 8));
  return sel;
}

Result<void> checkPcrs(const std::vector<unsigned>& pcrs) {
  if (pcrs.empty()) return makeError(tpm_errc::kBadInput, "a PCR selection needs at least one PCR");
  for (unsigned p : pcrs) {
    if (p > 23) return makeError(tpm_errc::kBadInput, "PCR indices are 0..23");
  }
  return Ok{};
}

}  // namespace detail

namespace {

using detail::checkPcrs;
using detail::EsysPtr;
using detail::pcrSelection;

TPM2B_AUTH toAuth(const Secret& auth) {
  TPM2B_AUTH a{};
  const auto bytes = auth.exposeSecretBytes();
  a.size = static_cast<UINT16>(std::min<std::size_t>(bytes.size(), sizeof a.buffer));
  std::memcpy(a.buffer, bytes.data(), a.size);
  return a;
}

}  // namespace

struct Tpm::Impl {
  detail::EsysConnection conn;
  ESYS_CONTEXT* esys = nullptr;  // conn.esys, once open
  std::mutex mu;                 // ESAPI contexts are not thread-safe

  using Flush = detail::Flush;

  Result<ESYS_TR> createStoragePrimary() {
    TPM2B_SENSITIVE_CREATE sensitive{};
    TPM2B_PUBLIC pub{};
    TPMT_PUBLIC& area = pub.publicArea;
    area.type = TPM2_ALG_ECC;
    area.nameAlg = TPM2_ALG_SHA256;
    area.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                            TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                            TPMA_OBJECT_NODA;
    area.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    area.parameters.eccDetail.symmetric.keyBits.aes = 128;
    area.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    area.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    area.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    area.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION creationPcr{};
    ESYS_TR handle = ESYS_TR_NONE;
    TPM2B_PUBLIC* outPublic = nullptr;
    TPM2B_CREATION_DATA* creationData = nullptr;
    TPM2B_DIGEST* creationHash = nullptr;
    TPMT_TK_CREATION* ticket = nullptr;
    TSS2_RC rc =
        Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &pub,
                           &outside, &creationPcr, &handle, &outPublic, &creationData, &creationHash, &ticket);
    Esys_Free(outPublic);
    Esys_Free(creationData);
    Esys_Free(creationHash);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_CreatePrimary", rc);
    return handle;
  }

  // A policy session over `pcrs`: a trial one (to compute the digest at seal
  // time) or a real, salted one that encrypts the unsealed response.
  Result<ESYS_TR> startPolicySession(TPM2_SE type, ESYS_TR saltKey) {
    TPMT_SYM_DEF symmetric{};
    if (type == TPM2_SE_TRIAL) {
      symmetric.algorithm = TPM2_ALG_NULL;
    } else {
      symmetric.algorithm = TPM2_ALG_AES;
      symmetric.keyBits.aes = 128;
      symmetric.mode.aes = TPM2_ALG_CFB;
    }
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(esys, saltKey, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                                       type, &symmetric, TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_StartAuthSession", rc);
    if (type != TPM2_SE_TRIAL) {
      const TPMA_SESSION attrs = TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION;
      rc = Esys_TRSess_SetAttributes(esys, session, attrs, 0xff);
      if (rc != TSS2_RC_SUCCESS) {
        Esys_FlushContext(esys, session);
        return tssError("Esys_TRSess_SetAttributes", rc);
      }
    }
    return session;
  }

  Result<ESYS_TR> nvHandle(std::uint32_t nvIndex, const Secret* auth) {
    ESYS_TR h = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(esys, nvIndex, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &h);
    if (rc != TSS2_RC_SUCCESS) {
      Error e = tssError("Esys_TR_FromTPMPublic", rc);
      if (e.code == tpm_errc::kOperation) e.code = tpm_errc::kCounterMissing;
      return e;
    }
    if (auth) {
      TPM2B_AUTH a = toAuth(*auth);
      rc = Esys_TR_SetAuth(esys, h, &a);
      secureWipe(&a, sizeof a);
      if (rc != TSS2_RC_SUCCESS) {
        Esys_TR_Close(esys, &h);
        return tssError("Esys_TR_SetAuth", rc);
      }
    }
    return h;
  }
};

Tpm::Tpm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tpm::~Tpm() = default;

Result<std::unique_ptr<Tpm>> Tpm::open(const std::string& tcti) {
  auto impl = std::make_unique<Impl>();
  SEALGATE_TRY(impl->conn.open(tcti));
  impl->esys = impl->conn.esys;
  return std::unique_ptr<Tpm>(new Tpm(std::move(impl)));
}

Result<Bytes> Tpm::seal(const Secret& data, const std::vector<unsigned>& pcrs) {
  SEALGATE_TRY(checkPcrs(pcrs));
  if (data.empty() || data.size() > 128) return makeError(tpm_errc::kBadInput, "the TPM seals 1..128 bytes");
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  const TPML_PCR_SELECTION sel = pcrSelection(pcrs);

  EsysPtr<TPM2B_DIGEST> policy;
  {
    SEALGATE_ASSIGN_OR_RETURN(auto trial, impl_->startPolicySession(TPM2_SE_TRIAL, ESYS_TR_NONE));
    Impl::Flush flushTrial{esys, trial};
    const TPM2B_DIGEST current{};  // empty: the TPM uses the PCRs' current values
    TSS2_RC rc = Esys_PolicyPCR(esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &sel);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_PolicyPCR", rc);
    TPM2B_DIGEST* digest = nullptr;
    rc = Esys_PolicyGetDigest(esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &digest);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_PolicyGetDigest", rc);
    policy.reset(digest);
  }

  SEALGATE_ASSIGN_OR_RETURN(auto primary, impl_->createStoragePrimary());
  Impl::Flush flushPrimary{esys, primary};

  TPM2B_SENSITIVE_CREATE sensitive{};
  const auto bytes = data.exposeSecretBytes();
  sensitive.sensitive.data.size = static_cast<UINT16>(bytes.size());
  std::memcpy(sensitive.sensitive.data.buffer, bytes.data(), bytes.size());
  TPM2B_PUBLIC pub{};
  TPMT_PUBLIC& area = pub.publicArea;
  area.type = TPM2_ALG_KEYEDHASH;
  area.nameAlg = TPM2_ALG_SHA256;
  // No USERWITHAUTH: the PCR policy is the only way in. NODA: no lockout.
  area.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
  area.authPolicy = *policy;
  area.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creationPcr{};
  TPM2B_PRIVATE* outPrivate = nullptr;
  TPM2B_PUBLIC* outPublic = nullptr;
  TPM2B_CREATION_DATA* creationData = nullptr;
  TPM2B_DIGEST* creationHash = nullptr;
  TPMT_TK_CREATION* ticket = nullptr;
  TSS2_RC rc = Esys_Create(esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &pub, &outside,
                           &creationPcr, &outPrivate, &outPublic, &creationData, &creationHash, &ticket);
  secureWipe(&sensitive, sizeof sensitive);
  EsysPtr<TPM2B_PRIVATE> priv(outPrivate);
  EsysPtr<TPM2B_PUBLIC> pubOut(outPublic);
  Esys_Free(creationData);
  Esys_Free(creationHash);
  Esys_Free(ticket);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_Create", rc);

  Bytes blob(sizeof(TPM2B_PRIVATE) + sizeof(TPM2B_PUBLIC));
  std::size_t offset = 0;
  rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv.get(), blob.data(), blob.size(), &offset);
  if (rc == TSS2_RC_SUCCESS) rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pubOut.get(), blob.data(), blob.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return tssError("Tss2_MU_Marshal", rc);
  blob.resize(offset);
  return blob;
}

Result<Secret> Tpm::unseal(const Bytes& blob, const std::vector<unsigned>& pcrs) {
  SEALGATE_TRY(checkPcrs(pcrs));
  TPM2B_PRIVATE priv{};
  TPM2B_PUBLIC pub{};
  std::size_t offset = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob.data(), blob.size(), &offset, &priv);
  if (rc == TSS2_RC_SUCCESS) rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob.data(), blob.size(), &offset, &pub);
  if (rc != TSS2_RC_SUCCESS || offset != blob.size()) {
    return makeError(tpm_errc::kForeignBlob, "the sealed blob is not a TPM2B_PRIVATE and TPM2B_PUBLIC pair");
  }
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  SEALGATE_ASSIGN_OR_RETURN(auto primary, impl_->createStoragePrimary());
  Impl::Flush flushPrimary{esys, primary};
  ESYS_TR object = ESYS_TR_NONE;
  rc = Esys_Load(esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &object);
  if (rc != TSS2_RC_SUCCESS) {
    Error e = tssError("Esys_Load", rc);
    if (e.code == tpm_errc::kOperation) e.code = tpm_errc::kForeignBlob;
    return e;
  }
  Impl::Flush flushObject{esys, object};
  SEALGATE_ASSIGN_OR_RETURN(auto session, impl_->startPolicySession(TPM2_SE_POLICY, primary));
  Impl::Flush flushSession{esys, session};
  const TPML_PCR_SELECTION sel = pcrSelection(pcrs);
  const TPM2B_DIGEST current{};
  rc = Esys_PolicyPCR(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &sel);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_PolicyPCR", rc);
  TPM2B_SENSITIVE_DATA* out = nullptr;
  rc = Esys_Unseal(esys, object, session, ESYS_TR_NONE, ESYS_TR_NONE, &out);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_Unseal", rc);
  auto secret = Secret::copyFrom(std::span<const std::uint8_t>(out->buffer, out->size));
  secureWipe(out, sizeof *out);
  Esys_Free(out);
  return secret;
}

Result<void> Tpm::defineCounter(std::uint32_t nvIndex, const Secret& auth) {
  if ((nvIndex >> 24) != TPM2_HT_NV_INDEX) return makeError(tpm_errc::kBadInput, "not an NV index handle");
  {
    std::lock_guard lock(impl_->mu);
    TPM2B_AUTH a = toAuth(auth);
    TPM2B_NV_PUBLIC info{};
    info.nvPublic.nvIndex = nvIndex;
    info.nvPublic.nameAlg = TPM2_ALG_SHA256;
    info.nvPublic.attributes = (TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD |
                               TPMA_NV_OWNERREAD | TPMA_NV_NO_DA;
    info.nvPublic.dataSize = 8;
    ESYS_TR h = ESYS_TR_NONE;
    TSS2_RC rc =
        Esys_NV_DefineSpace(impl_->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &a, &info, &h);
    secureWipe(&a, sizeof a);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_NV_DefineSpace", rc);
    Esys_TR_Close(impl_->esys, &h);
  }
  SEALGATE_TRY(incrementCounter(nvIndex, auth));
  return Ok{};
}

Result<void> Tpm::undefineCounter(std::uint32_t nvIndex) {
  std::lock_guard lock(impl_->mu);
  SEALGATE_ASSIGN_OR_RETURN(auto h, impl_->nvHandle(nvIndex, nullptr));
  TSS2_RC rc = Esys_NV_UndefineSpace(impl_->esys, ESYS_TR_RH_OWNER, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
  if (rc != TSS2_RC_SUCCESS) {
    Esys_TR_Close(impl_->esys, &h);
    return tssError("Esys_NV_UndefineSpace", rc);
  }
  return Ok{};
}

bool Tpm::counterDefined(std::uint32_t nvIndex) {
  std::lock_guard lock(impl_->mu);
  auto h = impl_->nvHandle(nvIndex, nullptr);
  if (!h) return false;
  Esys_TR_Close(impl_->esys, &*h);
  return true;
}

Result<std::uint64_t> Tpm::readCounter(std::uint32_t nvIndex, const Secret& auth) {
  std::lock_guard lock(impl_->mu);
  SEALGATE_ASSIGN_OR_RETURN(auto h, impl_->nvHandle(nvIndex, &auth));
  TPM2B_MAX_NV_BUFFER* data = nullptr;
  TSS2_RC rc = Esys_NV_Read(impl_->esys, h, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
  Esys_TR_Close(impl_->esys, &h);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_NV_Read", rc);
  EsysPtr<TPM2B_MAX_NV_BUFFER> owned(data);
  if (data->size != 8) return makeError(tpm_errc::kOperation, "the NV counter is not 8 bytes");
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | data->buffer[i];  // big-endian
  return v;
}

Result<std::uint64_t> Tpm::incrementCounter(std::uint32_t nvIndex, const Secret& auth) {
  {
    std::lock_guard lock(impl_->mu);
    SEALGATE_ASSIGN_OR_RETURN(auto h, impl_->nvHandle(nvIndex, &auth));
    TSS2_RC rc = Esys_NV_Increment(impl_->esys, h, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    Esys_TR_Close(impl_->esys, &h);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_NV_Increment", rc);
  }
  return readCounter(nvIndex, auth);
}

Result<void> Tpm::extendPcr(unsigned pcr, std::string_view data) {
  if (pcr > 23) return makeError(tpm_errc::kBadInput, "PCR indices are 0..23");
  TPML_DIGEST_VALUES digests{};
  digests.count = 1;
  digests.digests[0].hashAlg = TPM2_ALG_SHA256;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digests.digests[0].digest.sha256);
  std::lock_guard lock(impl_->mu);
  TSS2_RC rc = Esys_PCR_Extend(impl_->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digests);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_PCR_Extend", rc);
  return Ok{};
}

Result<void> Tpm::resetPcr(unsigned pcr) {
  if (pcr > 23) return makeError(tpm_errc::kBadInput, "PCR indices are 0..23");
  std::lock_guard lock(impl_->mu);
  TSS2_RC rc = Esys_PCR_Reset(impl_->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_PCR_Reset", rc);
  return Ok{};
}

}  // namespace sealgate::attest
