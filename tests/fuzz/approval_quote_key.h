// The AK, challenge and golden PCR digest of the seed quote in
// tests/fuzz/corpus/approval_quote (made by swtpm in attest/approver_test.cc's
// ApproverQuote.GoodQuoteVerifies, written out with
// SEALGATE_WRITE_QUOTE_SEED=FILE). The AK's private half stayed in a software TPM
// that is gone: the fuzzer reaches past the signature check only by keeping
// the seed's attest and signature, which is the point.
#pragma once

// Marshalled TPM2B_PUBLIC of the AK (ECC P-256, ECDSA-SHA256, restricted).
inline constexpr const char* kFuzzAkPublicHex =
    "00580023000b00050072000000100018000b0003001000205219a3db9a01483694e964e17a7a48ca6d1c33ad4a4d0c5804ec42927d86e8"
    "c5002069d6ddca261c90a05d44cc23063c1313d50ed233cc5744fb1c696c1f7fb722bc";
// The qualifying data the seed quote carries.
inline constexpr const char* kFuzzQuoteNonceHex = "658d59aa62493d66965ecc88107cf387c9869d6a5d9581b04c1a6e1fd6118471";
// pcrCompositeDigest of PCRs 0, 1, 2, 3, 7, 16 (SHA-256 bank) at the quote.
inline constexpr const char* kFuzzQuotePcrDigestHex =
    "5d89f056865052bcb89c910d2d62872e029fb273c3db03f8968a52a41593c1b5";
