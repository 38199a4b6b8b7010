#include "attest/approver_device.h"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "attest/esys_util.h"
#include "attest/tpm.h"

namespace sealgate::attest {
namespace {

using detail::CloseTr;
using detail::EsysPtr;
using detail::Flush;

Result<Bytes> marshalPublic(const TPM2B_PUBLIC& pub) {
  Bytes out(sizeof(TPM2B_PUBLIC));
  std::size_t offset = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out.data(), out.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return tssError("Tss2_MU_TPM2B_PUBLIC_Marshal", rc);
  out.resize(offset);
  return out;
}

TPM2B_PUBLIC akTemplate() {
  TPM2B_PUBLIC pub{};
  TPMT_PUBLIC& area = pub.publicArea;
  area.type = TPM2_ALG_ECC;
  area.nameAlg = TPM2_ALG_SHA256;
  area.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
                          TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
  area.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  area.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  area.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  area.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  area.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return pub;
}

}  // namespace

struct ApproverDevice::Impl {
  detail::EsysConnection conn;
  ESYS_CONTEXT* esys = nullptr;  // conn.esys, once open
  std::mutex mu;                 // ESAPI contexts are not thread-safe

  // An ESYS_TR for the persistent object or NV index at `tpmHandle`; one that
  // is not there is TPM_KEY_MISSING (`what` names it in the message).
  Result<ESYS_TR> fromTpmPublic(std::uint32_t tpmHandle, const char* what) {
    ESYS_TR h = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(esys, tpmHandle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &h);
    if (rc != TSS2_RC_SUCCESS) {
      Error e = tssError("Esys_TR_FromTPMPublic", rc);
      if (e.code != tpm_errc::kUnavailable) {
        e.code = ErrorCode::TpmKeyMissing;
        e.message = std::string("no ") + what + " in the TPM: " + e.message;
      }
      return e;
    }
    return h;
  }

  // A policy session satisfying the EK's policy, PolicySecret(TPM_RH_ENDORSEMENT)
  // with the empty endorsement auth. Salted to `saltKey` with AES-128-CFB
  // parameter encryption of the response when `encryptResponse`.
  Result<ESYS_TR> endorsementPolicySession(ESYS_TR saltKey, bool encryptResponse) {
    TPMT_SYM_DEF symmetric{};
    symmetric.algorithm = TPM2_ALG_AES;
    symmetric.keyBits.aes = 128;
    symmetric.mode.aes = TPM2_ALG_CFB;
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(esys, saltKey, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                                       TPM2_SE_POLICY, &symmetric, TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_StartAuthSession", rc);
    Flush guard{esys, session};
    if (encryptResponse) {
      rc = Esys_TRSess_SetAttributes(esys, session, TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION, 0xff);
      if (rc != TSS2_RC_SUCCESS) return tssError("Esys_TRSess_SetAttributes", rc);
    }
    TPM2B_TIMEOUT* timeout = nullptr;
    TPMT_TK_AUTH* ticket = nullptr;
    rc = Esys_PolicySecret(esys, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                           nullptr, nullptr, 0, &timeout, &ticket);
    Esys_Free(timeout);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_PolicySecret", rc);
    guard.handle = ESYS_TR_NONE;  // handed to the caller
    return session;
  }

  Result<std::uint32_t> nvBufferMax() {
    TPMS_CAPABILITY_DATA* caps = nullptr;
    TPMI_YES_NO more = 0;
    TSS2_RC rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                    TPM2_PT_NV_BUFFER_MAX, 1, &more, &caps);
    EsysPtr<TPMS_CAPABILITY_DATA> owned(caps);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_GetCapability", rc);
    std::uint32_t max = sizeof(TPM2B_MAX_NV_BUFFER::buffer);
    const auto& props = caps->data.tpmProperties;
    if (props.count >= 1 && props.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX) {
      max = std::min(max, props.tpmProperty[0].value);
    }
    return max;
  }

  Result<AkInfo> akInfo(ESYS_TR ak, std::uint32_t handle) {
    TPM2B_PUBLIC* pub = nullptr;
    TPM2B_NAME* name = nullptr;
    TPM2B_NAME* qualified = nullptr;
    TSS2_RC rc = Esys_ReadPublic(esys, ak, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name, &qualified);
    EsysPtr<TPM2B_PUBLIC> ownedPub(pub);
    EsysPtr<TPM2B_NAME> ownedName(name);
    EsysPtr<TPM2B_NAME> ownedQualified(qualified);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_ReadPublic", rc);
    AkInfo info;
    info.handle = handle;
    SEALGATE_ASSIGN_OR_RETURN(info.publicArea, marshalPublic(*pub));
    info.name.assign(name->name, name->name + name->size);
    return info;
  }
};

ApproverDevice::ApproverDevice(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApproverDevice::~ApproverDevice() = default;

Result<std::unique_ptr<ApproverDevice>> ApproverDevice::open(const std::string& tcti) {
  auto impl = std::make_unique<Impl>();
  SEALGATE_TRY(impl->conn.open(tcti));
  impl->esys = impl->conn.esys;
  return std::unique_ptr<ApproverDevice>(new ApproverDevice(std::move(impl)));
}

Result<Bytes> ApproverDevice::ekCertificate(EkKind kind) {
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  const std::uint32_t index = kind == EkKind::Rsa2048 ? kRsaEkCertIndex : kEccEkCertIndex;
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR nv, impl_->fromTpmPublic(index, "EK certificate"));
  CloseTr closeNv{esys, nv};
  TPM2B_NV_PUBLIC* nvPublic = nullptr;
  TPM2B_NAME* nvName = nullptr;
  TSS2_RC rc = Esys_NV_ReadPublic(esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nvPublic, &nvName);
  EsysPtr<TPM2B_NV_PUBLIC> ownedPublic(nvPublic);
  EsysPtr<TPM2B_NAME> ownedName(nvName);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_NV_ReadPublic", rc);
  const std::uint16_t total = nvPublic->nvPublic.dataSize;
  SEALGATE_ASSIGN_OR_RETURN(std::uint32_t chunk, impl_->nvBufferMax());
  Bytes out;
  out.reserve(total);
  while (out.size() < total) {
    const auto size = static_cast<std::uint16_t>(std::min<std::size_t>(chunk, total - out.size()));
    TPM2B_MAX_NV_BUFFER* data = nullptr;
    // The index authorises its own read (AUTHREAD, empty auth), as the EK
    // Credential Profile provisions it.
    rc = Esys_NV_Read(esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, size,
                      static_cast<std::uint16_t>(out.size()), &data);
    EsysPtr<TPM2B_MAX_NV_BUFFER> owned(data);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_NV_Read", rc);
    if (data->size == 0) return makeError(tpm_errc::kOperation, "Esys_NV_Read returned nothing");
    out.insert(out.end(), data->buffer, data->buffer + data->size);
  }
  return out;
}

Result<Bytes> ApproverDevice::ekPublic(EkKind kind) {
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR ek,
                            impl_->fromTpmPublic(kind == EkKind::Rsa2048 ? kRsaEkHandle : kEccEkHandle, "EK"));
  CloseTr closeEk{esys, ek};
  TPM2B_PUBLIC* pub = nullptr;
  TPM2B_NAME* name = nullptr;
  TPM2B_NAME* qualified = nullptr;
  TSS2_RC rc = Esys_ReadPublic(esys, ek, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name, &qualified);
  EsysPtr<TPM2B_PUBLIC> ownedPub(pub);
  Esys_Free(name);
  Esys_Free(qualified);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_ReadPublic", rc);
  return marshalPublic(*pub);
}

Result<AkInfo> ApproverDevice::createAk(std::uint32_t handle) {
  if ((handle >> 24) != TPM2_HT_PERSISTENT) return makeError(tpm_errc::kBadInput, "not a persistent handle");
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  if (auto existing = impl_->fromTpmPublic(handle, "AK")) {
    Esys_TR_Close(esys, &*existing);
    return makeError(tpm_errc::kBadInput, "the persistent handle already holds an object");
  }
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR ek, impl_->fromTpmPublic(kRsaEkHandle, "RSA EK"));
  CloseTr closeEk{esys, ek};

  EsysPtr<TPM2B_PRIVATE> priv;
  EsysPtr<TPM2B_PUBLIC> pub;
  {
    SEALGATE_ASSIGN_OR_RETURN(ESYS_TR session, impl_->endorsementPolicySession(ESYS_TR_NONE, false));
    Flush flushSession{esys, session};
    const TPM2B_SENSITIVE_CREATE sensitive{};  // empty auth; the TPM makes the key
    const TPM2B_PUBLIC tmpl = akTemplate();
    const TPM2B_DATA outside{};
    const TPML_PCR_SELECTION creationPcr{};
    TPM2B_PRIVATE* outPrivate = nullptr;
    TPM2B_PUBLIC* outPublic = nullptr;
    TPM2B_CREATION_DATA* creationData = nullptr;
    TPM2B_DIGEST* creationHash = nullptr;
    TPMT_TK_CREATION* ticket = nullptr;
    TSS2_RC rc = Esys_Create(esys, ek, session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl, &outside, &creationPcr,
                             &outPrivate, &outPublic, &creationData, &creationHash, &ticket);
    priv.reset(outPrivate);
    pub.reset(outPublic);
    Esys_Free(creationData);
    Esys_Free(creationHash);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_Create", rc);
  }
  ESYS_TR loaded = ESYS_TR_NONE;
  {
    // The policy session of Create is spent: Load needs its own.
    SEALGATE_ASSIGN_OR_RETURN(ESYS_TR session, impl_->endorsementPolicySession(ESYS_TR_NONE, false));
    Flush flushSession{esys, session};
    TSS2_RC rc = Esys_Load(esys, ek, session, ESYS_TR_NONE, ESYS_TR_NONE, priv.get(), pub.get(), &loaded);
    if (rc != TSS2_RC_SUCCESS) return tssError("Esys_Load", rc);
  }
  Flush flushLoaded{esys, loaded};
  ESYS_TR persistent = ESYS_TR_NONE;
  TSS2_RC rc = Esys_EvictControl(esys, ESYS_TR_RH_OWNER, loaded, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, handle,
                                 &persistent);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_EvictControl", rc);
  CloseTr closePersistent{esys, persistent};
  return impl_->akInfo(persistent, handle);
}

Result<AkInfo> ApproverDevice::readAk(std::uint32_t handle) {
  std::lock_guard lock(impl_->mu);
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR ak, impl_->fromTpmPublic(handle, "AK"));
  CloseTr closeAk{impl_->esys, ak};
  return impl_->akInfo(ak, handle);
}

Result<void> ApproverDevice::evictAk(std::uint32_t handle) {
  if ((handle >> 24) != TPM2_HT_PERSISTENT) return makeError(tpm_errc::kBadInput, "not a persistent handle");
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR ak, impl_->fromTpmPublic(handle, "AK"));
  ESYS_TR none = ESYS_TR_NONE;
  // EvictControl on a persistent object removes it and invalidates `ak`.
  TSS2_RC rc =
      Esys_EvictControl(esys, ESYS_TR_RH_OWNER, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, handle, &none);
  if (rc != TSS2_RC_SUCCESS) {
    Esys_TR_Close(esys, &ak);
    return tssError("Esys_EvictControl", rc);
  }
  return Ok{};
}

Result<Secret> ApproverDevice::activateCredential(std::span<const std::uint8_t> credentialBlob,
                                                  std::span<const std::uint8_t> encryptedSecret,
                                                  std::uint32_t akHandle) {
  TPM2B_ID_OBJECT credential{};
  TPM2B_ENCRYPTED_SECRET secret{};
  std::size_t offset = 0;
  if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credentialBlob.data(), credentialBlob.size(), &offset, &credential) !=
          TSS2_RC_SUCCESS ||
      offset != credentialBlob.size()) {
    return makeError(tpm_errc::kForeignBlob, "the credential blob is not one TPM2B_ID_OBJECT");
  }
  offset = 0;
  if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(encryptedSecret.data(), encryptedSecret.size(), &offset, &secret) !=
          TSS2_RC_SUCCESS ||
      offset != encryptedSecret.size()) {
    return makeError(tpm_errc::kForeignBlob, "the encrypted secret is not one TPM2B_ENCRYPTED_SECRET");
  }
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR ak, impl_->fromTpmPublic(akHandle, "AK"));
  CloseTr closeAk{esys, ak};
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR ek, impl_->fromTpmPublic(kRsaEkHandle, "RSA EK"));
  CloseTr closeEk{esys, ek};
  // Salted to the EK, so the returned secret is encrypted between TPM and host.
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR session, impl_->endorsementPolicySession(ek, true));
  Flush flushSession{esys, session};
  TPM2B_DIGEST* certInfo = nullptr;
  TSS2_RC rc =
      Esys_ActivateCredential(esys, ak, ek, ESYS_TR_PASSWORD, session, ESYS_TR_NONE, &credential, &secret, &certInfo);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_ActivateCredential", rc);
  auto out = Secret::copyFrom(std::span<const std::uint8_t>(certInfo->buffer, certInfo->size));
  secureWipe(certInfo, sizeof *certInfo);
  Esys_Free(certInfo);
  return out;
}

Result<TpmQuote> ApproverDevice::quote(std::span<const std::uint8_t> qualifyingData, const std::vector<unsigned>& pcrs,
                                       std::uint32_t akHandle) {
  SEALGATE_TRY(detail::checkPcrs(pcrs));
  if (qualifyingData.empty() || qualifyingData.size() > 64) {
    return makeError(tpm_errc::kBadInput, "the qualifying data is 1..64 bytes");
  }
  TPM2B_DATA data{};
  data.size = static_cast<UINT16>(qualifyingData.size());
  std::memcpy(data.buffer, qualifyingData.data(), qualifyingData.size());
  const TPML_PCR_SELECTION sel = detail::pcrSelection(pcrs);
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;  // the AK's own scheme
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  SEALGATE_ASSIGN_OR_RETURN(ESYS_TR ak, impl_->fromTpmPublic(akHandle, "AK"));
  CloseTr closeAk{esys, ak};
  TPM2B_ATTEST* quoted = nullptr;
  TPMT_SIGNATURE* signature = nullptr;
  TSS2_RC rc =
      Esys_Quote(esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &data, &scheme, &sel, &quoted, &signature);
  EsysPtr<TPM2B_ATTEST> ownedQuoted(quoted);
  EsysPtr<TPMT_SIGNATURE> ownedSignature(signature);
  if (rc != TSS2_RC_SUCCESS) return tssError("Esys_Quote", rc);
  TpmQuote out;
  out.attest.assign(quoted->attestationData, quoted->attestationData + quoted->size);
  out.signature.resize(sizeof(TPMT_SIGNATURE));
  std::size_t offset = 0;
  rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, out.signature.data(), out.signature.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return tssError("Tss2_MU_TPMT_SIGNATURE_Marshal", rc);
  out.signature.resize(offset);
  return out;
}

Result<std::vector<Bytes>> ApproverDevice::readPcrs(const std::vector<unsigned>& pcrs) {
  SEALGATE_TRY(detail::checkPcrs(pcrs));
  std::lock_guard lock(impl_->mu);
  ESYS_CONTEXT* esys = impl_->esys;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::map<unsigned, Bytes> values;
    TPML_PCR_SELECTION remaining = detail::pcrSelection(pcrs);
    std::uint32_t firstCounter = 0;
    bool first = true;
    bool changed = false;
    while (std::any_of(std::begin(remaining.pcrSelections[0].pcrSelect), std::end(remaining.pcrSelections[0].pcrSelect),
                       [](std::uint8_t b) { return b != 0; })) {
      std::uint32_t counter = 0;
      TPML_PCR_SELECTION* selOut = nullptr;
      TPML_DIGEST* digests = nullptr;
      TSS2_RC rc =
          Esys_PCR_Read(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &remaining, &counter, &selOut, &digests);
      EsysPtr<TPML_PCR_SELECTION> ownedSel(selOut);
      EsysPtr<TPML_DIGEST> ownedDigests(digests);
      if (rc != TSS2_RC_SUCCESS) return tssError("Esys_PCR_Read", rc);
      if (first) firstCounter = counter;
      changed = changed || counter != firstCounter;
      first = false;
      // The digests come in selection order: ascending PCR index.
      std::uint32_t next = 0;
      for (std::uint32_t s = 0; s < selOut->count; ++s) {
        const TPMS_PCR_SELECTION& got = selOut->pcrSelections[s];
        if (got.hash != TPM2_ALG_SHA256) continue;
        for (unsigned pcr = 0; pcr < 8u * got.sizeofSelect && pcr < 24; ++pcr) {
          if (!(got.pcrSelect[pcr / 8] & (1u << (pcr % 8)))) continue;
          if (next >= digests->count) return makeError(tpm_errc::kOperation, "TPM2_PCR_Read returned too few digests");
          const TPM2B_DIGEST& d = digests->digests[next++];
          values[pcr] = Bytes(d.buffer, d.buffer + d.size);
          remaining.pcrSelections[0].pcrSelect[pcr / 8] &= static_cast<std::uint8_t>(~(1u << (pcr % 8)));
        }
      }
      if (next == 0) return makeError(tpm_errc::kOperation, "the TPM has no SHA-256 PCR bank with those PCRs");
    }
    if (changed) continue;
    std::vector<Bytes> out;
    out.reserve(values.size());
    for (auto& [pcr, value] : values) out.push_back(std::move(value));
    return out;
  }
  return makeError(tpm_errc::kOperation, "the PCRs kept changing while they were read");
}

}  // namespace sealgate::attest
