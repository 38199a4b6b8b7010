// libFuzzer target for break-glass approval quotes (attest/approver_verifier.cc).
// Input: a 2-byte big-endian length, that many bytes of TPMS_ATTEST, and the
// rest as the TPMT_SIGNATURE. parseQuote and verifyQuote with the pinned AK of
// the seed (tests/fuzz/approval_quote_key.h) never crash; a refusal has one of
// the quote's codes; an accepted quote is the seed's attest with the seed's
// challenge and PCR digest (the AK signed nothing else). The whole input also
// goes through parseAkPublic and parseEkPublic.
#include <cstddef>
#include <cstdint>
#include <span>

#include "attest/approver_verifier.h"
#include "core/encoding.h"
#include "tests/fuzz/approval_quote_key.h"

namespace {
void check(bool cond) {
  if (!cond) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sealgate;
  using namespace sealgate::attest;
  static const AkPublic ak = std::move(*parseAkPublic(*decodeHex(kFuzzAkPublicHex)));
  static const QuoteExpectation expect{
      *decodeHex(kFuzzQuoteNonceHex), {0, 1, 2, 3, 7, 16}, *decodeHex(kFuzzQuotePcrDigestHex)};
  const std::span<const std::uint8_t> in(data, size);

  if (auto p = parseAkPublic(in)) {
    check(p->name.size() == kSha256NameSize && p->key && p->fingerprint.size() == 64);
  } else {
    check(p.error().code == ErrorCode::AkRejected);
  }
  if (auto e = parseEkPublic(in)) {
    check(e->key && (e->name.size() == 34 || e->name.size() == 50));
  } else {
    check(e.error().code == ErrorCode::EkUntrusted);
  }

  if (size < 2) return 0;
  const std::size_t attestSize = (std::size_t{data[0]} << 8) | data[1];
  if (attestSize > size - 2) return 0;
  const auto attest = in.subspan(2, attestSize);
  const auto signature = in.subspan(2 + attestSize);

  if (auto q = parseQuote(attest, signature)) {
    for (std::size_t i = 1; i < q->pcrs.size(); ++i) check(q->pcrs[i - 1] < q->pcrs[i]);
    check(q->extraData.size() <= 64);
  } else {
    check(q.error().code == ErrorCode::QuoteMalformed);
  }
  auto v = verifyQuote(ak, attest, signature, expect);
  if (v.ok()) {
    check(v->extraData == expect.qualifyingData && v->pcrDigest == expect.pcrDigest);
    check(v->pcrs == expect.pcrs);
  } else {
    const ErrorCode c = v.error().code;
    check(c == ErrorCode::QuoteMalformed || c == ErrorCode::QuoteSignatureInvalid ||
          c == ErrorCode::QuoteNonceMismatch || c == ErrorCode::QuotePcrMismatch);
  }
  return 0;
}
