// The public half of the key that signed the audit seed corpora
// (tests/fuzz/corpus/audit_bundle, signed_note). Its private half was thrown
// away after signing: the fuzzers can reach past the signature check only by
// keeping a seed's signed checkpoint, which is the point.
#pragma once

inline constexpr const char* kFuzzAuditSpkiHex =
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004e73945b8c5eb1e002457be03ca8fc025995482a6b6e0071eb0e8040b9203"
    "9de62aba4594f0f24874eb3b642f70b4255c1d605d5c944e7a0aa5f8671018083507";
