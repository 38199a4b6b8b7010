#include "core/audit_bundle.h"

#include <map>
#include <nlohmann/json.hpp>

#include "core/json_parse.h"
#include "core/signed_note.h"

namespace sealgate::audit {
namespace {

using nlohmann::json;

Error corrupt(const std::string& m) { return makeError(ErrorCode::BundleCorrupt, m); }

Error entryError(ErrorCode code, std::uint64_t index, const std::string& m) {
  Error e = makeError(code, "entry " + std::to_string(index) + ": " + m);
  e.operation = "entry";
  e.native = static_cast<unsigned long>(index);
  return e;
}

Result<merkle::Hash> hashFrom(const json& j, const std::string& what) {
  if (!j.is_string()) return corrupt(what + " is not a base64 string");
  auto raw = note::decodeBase64Std(j.get_ref<const std::string&>());
  if (!raw || raw->size() != 32) return corrupt(what + " is not a 32-byte base64 hash");
  merkle::Hash h{};
  std::copy(raw->begin(), raw->end(), h.begin());
  return h;
}

Result<std::vector<merkle::Hash>> hashesFrom(const json& j, const std::string& what) {
  if (!j.is_array()) return corrupt(what + " is not an array");
  std::vector<merkle::Hash> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    SEALGATE_ASSIGN_OR_RETURN(auto h, hashFrom(j[i], what + "[" + std::to_string(i) + "]"));
    out.push_back(h);
  }
  return out;
}

Result<std::uint64_t> sizeFrom(const json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned()) {
    return corrupt(what + "." + key + " is not a non-negative integer");
  }
  return j[key].get<std::uint64_t>();
}

// A signed note by the pinned key, for `origin`.
Result<note::Checkpoint> checkedCheckpoint(const json& j, const std::string& what, const std::string& origin,
                                           const VerifyOptions& o) {
  if (!j.is_string()) return corrupt(what + " is not a string");
  auto parsed = note::parseNote(j.get_ref<const std::string&>());
  if (!parsed) return makeError(parsed.error().code, what + ": " + parsed.error().message);
  // Signed by at least one pinned key, and no pinned key's signature fails.
  const std::string keyName = o.keyName.empty() ? origin : o.keyName;
  auto v = note::verifyEcdsa(*parsed, keyName, o.spkiDer);
  for (const Bytes& key : o.moreKeys) {
    if (!v && v.error().code != ErrorCode::NoteUnsigned) break;
    auto other = note::verifyEcdsa(*parsed, keyName, key);
    if (other || other.error().code != ErrorCode::NoteUnsigned) v = std::move(other);
  }
  if (!v) return makeError(v.error().code, what + ": " + v.error().message);
  auto cp = note::parseCheckpoint(parsed->text);
  if (!cp) return makeError(cp.error().code, what + ": " + cp.error().message);
  if (cp->origin != origin)
    return makeError(ErrorCode::CheckpointInvalid, what + " is for another log (origin " + cp->origin + ")");
  return *cp;
}

// Strict shape: exactly these keys, so no part of a bundle can be renamed away.
Result<void> exactKeys(const json& j, std::initializer_list<const char*> keys, const std::string& what) {
  if (!j.is_object()) return corrupt(what + " is not an object");
  if (j.size() != keys.size()) return corrupt(what + " must have exactly the fields of " + kBundleFormat);
  for (const char* k : keys) {
    if (!j.contains(k)) return corrupt(what + " has no " + k);
  }
  return Ok{};
}

// The entry's top-level "audit_index", read with nlohmann's SAX parser, which
// stops as soon as it is found (the log writes keys sorted, so it comes early):
// a full DOM per entry would dominate the time to verify a large export.
class AuditIndexSax : public json::json_sax_t {
 public:
  std::optional<std::uint64_t> found;
  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(json::number_integer_t) override { return scalar(); }
  bool number_unsigned(json::number_unsigned_t v) override {
    if (depth_ == 1 && wantValue_) {
      found = v;
      return false;  // done: stop parsing
    }
    return scalar();
  }
  bool number_float(json::number_float_t, const json::string_t&) override { return scalar(); }
  bool string(json::string_t&) override { return scalar(); }
  bool binary(json::binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override { return open(); }
  bool key(json::string_t& k) override {
    wantValue_ = depth_ == 1 && k == "audit_index";
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool scalar() { return !(depth_ == 1 && wantValue_); }  // audit_index of another type: stop, not found
  bool open() {
    if (depth_ == 0 && seenRoot_) return false;
    seenRoot_ = true;
    if (depth_ == 1 && wantValue_) return false;
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }
  int depth_ = 0;
  bool seenRoot_ = false;
  bool wantValue_ = false;
};

std::optional<std::uint64_t> topLevelAuditIndex(const std::string& text) {
  AuditIndexSax sax;
  (void)json::sax_parse(text, &sax, json::input_format_t::json, /*strict=*/false);
  return sax.found;
}

}  // namespace

Result<VerifyReport> verifyBundle(std::string_view bundleJson, const VerifyOptions& o) {
  auto parsed = parseJson(bundleJson);
  if (!parsed)
    return corrupt("the bundle is not acceptable JSON (truncated or corrupt file: " + parsed.error().message + ")");
  json b = std::move(*parsed);
  if (!b.is_object()) return corrupt("the bundle is not a JSON object");
  if (!b.contains("format") || b["format"] != kBundleFormat)
    return corrupt(std::string("the bundle format is not ") + kBundleFormat);
  if (auto shape = exactKeys(
          b, {"format", "origin", "tree_size", "checkpoint", "checkpoints", "entries", "leaf_hashes", "proofs"},
          "the bundle");
      !shape) {
    return std::move(shape).takeError();
  }
  if (!b["checkpoints"].is_array()) return corrupt("checkpoints is not an array");
  SEALGATE_TRY(exactKeys(b["proofs"], {"consistency", "inclusion"}, "proofs"));
  for (const char* k : {"origin", "checkpoint"}) {
    if (!b.contains(k) || !b[k].is_string()) return corrupt(std::string("the bundle has no ") + k);
  }
  for (const char* k : {"entries", "leaf_hashes"}) {
    if (!b.contains(k) || !b[k].is_array()) return corrupt(std::string("the bundle has no ") + k + " array");
  }
  const std::string origin = b["origin"];
  VerifyReport report;

  // 1. The final checkpoint, signed by the pinned key.
  SEALGATE_ASSIGN_OR_RETURN(auto final, checkedCheckpoint(b["checkpoint"], "the checkpoint", origin, o));
  report.checkpoints = 1;
  const json& entries = b["entries"];
  const json& leavesJson = b["leaf_hashes"];
  if (entries.size() != final.size) {
    return makeError(ErrorCode::TreeMismatch, "the checkpoint covers " + std::to_string(final.size) +
                                                  " entries but the bundle has " + std::to_string(entries.size()));
  }
  if (leavesJson.size() != final.size) return corrupt("leaf_hashes does not have one hash per entry");
  if (!b["tree_size"].is_number_unsigned() || b["tree_size"].get<std::uint64_t>() != final.size) {
    return corrupt("tree_size does not match the signed checkpoint");
  }

  // 2. Earlier checkpoints: each signed, none larger than the final one.
  std::vector<std::pair<std::uint64_t, merkle::Hash>> earlier;
  if (b.contains("checkpoints")) {
    if (!b["checkpoints"].is_array()) return corrupt("checkpoints is not an array");
    for (std::size_t i = 0; i < b["checkpoints"].size(); ++i) {
      const json& c = b["checkpoints"][i];
      const std::string what = "checkpoints[" + std::to_string(i) + "]";
      SEALGATE_TRY(exactKeys(c, {"size", "note"}, what));
      SEALGATE_ASSIGN_OR_RETURN(auto cp, checkedCheckpoint(c["note"], what, origin, o));
      if (!c["size"].is_number_unsigned() || c["size"].get<std::uint64_t>() != cp.size) {
        return corrupt(what + ".size does not match its signed note");
      }
      if (cp.size > final.size)
        return makeError(ErrorCode::TreeMismatch, what + " is larger than the final checkpoint");
      earlier.emplace_back(cp.size, cp.root);
      ++report.checkpoints;
    }
  }

  // 3. Rebuild the tree from the recorded leaf hashes; at each earlier
  // checkpoint's size the root must match it.
  std::vector<merkle::Hash> leaves;
  leaves.reserve(final.size);
  std::vector<std::optional<merkle::Hash>> rootAt(earlier.size());
  merkle::Tree tree;
  // Earlier checkpoints by size, so each leaf costs one lookup, not one per checkpoint.
  std::multimap<std::uint64_t, std::size_t> bySize;
  for (std::size_t i = 0; i < earlier.size(); ++i) bySize.emplace(earlier[i].first, i);
  auto nextEarlier = bySize.begin();
  auto checkEarlier = [&](std::uint64_t size) {
    while (nextEarlier != bySize.end() && nextEarlier->first == size) {
      rootAt[nextEarlier->second] = tree.root();
      ++nextEarlier;
    }
  };
  checkEarlier(0);
  const std::uint64_t total = final.size;
  for (std::uint64_t i = 0; i < total; ++i) {
    auto h = hashFrom(leavesJson[i], "its leaf hash");
    if (!h) return entryError(ErrorCode::BundleCorrupt, i, h.error().message);
    leaves.push_back(*h);
    tree.append(*h);
    checkEarlier(i + 1);
    if (o.progress && ((i + 1) % 65536 == 0)) o.progress(i + 1, total * 2);
  }
  // Where the recorded hashes first disagree with the entries (for the verdict).
  auto firstEntryMismatch = [&]() -> std::optional<std::uint64_t> {
    for (std::uint64_t i = 0; i < total; ++i) {
      if (!entries[i].is_string() || merkle::leafHash(entries[i].get_ref<const std::string&>()) != leaves[i]) return i;
    }
    return std::nullopt;
  };
  for (std::size_t i = 0; i < earlier.size(); ++i) {
    if (*rootAt[i] != earlier[i].second) {
      std::uint64_t from = 0;
      for (std::size_t j = 0; j < earlier.size(); ++j) {
        if (earlier[j].first < earlier[i].first && *rootAt[j] == earlier[j].second)
          from = std::max(from, earlier[j].first);
      }
      if (auto bad = firstEntryMismatch(); bad && *bad < earlier[i].first) {
        return entryError(ErrorCode::EntryMismatch, *bad,
                          "does not match the log's leaf hash (signed checkpoint of size " +
                              std::to_string(earlier[i].first) + " fails)");
      }
      Error e = entryError(ErrorCode::TreeMismatch, from,
                           "the leaf hashes of entries " + std::to_string(from) + ".." +
                               std::to_string(earlier[i].first - 1) + " do not match the signed checkpoint of size " +
                               std::to_string(earlier[i].first));
      return e;
    }
  }
  report.treeSize = total;
  report.root = tree.root();
  if (report.root != final.root) {
    std::uint64_t from = 0;
    for (std::size_t j = 0; j < earlier.size(); ++j) from = std::max(from, earlier[j].first);
    if (auto bad = firstEntryMismatch(); bad) {
      return entryError(ErrorCode::EntryMismatch, *bad, "does not match the log's leaf hash (the signed root differs)");
    }
    return entryError(ErrorCode::TreeMismatch, from,
                      "the leaf hashes from entry " + std::to_string(from) + " on do not match the signed root");
  }

  // 4. Every entry hashes to its authenticated leaf, and says where it is.
  for (std::uint64_t i = 0; i < total; ++i) {
    const json& e = entries[i];
    if (!e.is_string()) return entryError(ErrorCode::EntryMismatch, i, "is not a string");
    const std::string& text = e.get_ref<const std::string&>();
    if (merkle::leafHash(text) != leaves[i])
      return entryError(ErrorCode::EntryMismatch, i, "does not match the signed tree");
    if (auto at = topLevelAuditIndex(text); !at || *at != i) {
      return entryError(ErrorCode::EntryMismatch, i, "is not an audit event recorded at this index");
    }
    if (o.progress && ((i + 1) % 65536 == 0)) o.progress(total + i + 1, total * 2);
  }

  // 5. The proofs the exporter included, against the roots just checked.
  auto rootForSize = [&](std::uint64_t size) -> merkle::Hash {
    return merkle::rootOf(std::span(leaves).subspan(0, size));
  };
  if (b.contains("proofs")) {
    const json& p = b["proofs"];
    if (!p.is_object()) return corrupt("proofs is not an object");
    if (p.contains("consistency")) {
      if (!p["consistency"].is_array()) return corrupt("proofs.consistency is not an array");
      for (std::size_t i = 0; i < p["consistency"].size(); ++i) {
        const json& c = p["consistency"][i];
        const std::string what = "proofs.consistency[" + std::to_string(i) + "]";
        SEALGATE_TRY(exactKeys(c, {"first", "second", "proof"}, what));
        SEALGATE_ASSIGN_OR_RETURN(auto first, sizeFrom(c, "first", what));
        SEALGATE_ASSIGN_OR_RETURN(auto second, sizeFrom(c, "second", what));
        if (second > total || first > second) return makeError(ErrorCode::ProofInvalid, what + " is for another tree");
        SEALGATE_ASSIGN_OR_RETURN(auto proof, hashesFrom(c.value("proof", json()), what + ".proof"));
        if (auto v = merkle::verifyConsistency(first, second, rootForSize(first), rootForSize(second), proof); !v) {
          return makeError(ErrorCode::ProofInvalid, what + ": " + v.error().message);
        }
        ++report.proofs;
      }
    }
    if (p.contains("inclusion")) {
      if (!p["inclusion"].is_array()) return corrupt("proofs.inclusion is not an array");
      for (std::size_t i = 0; i < p["inclusion"].size(); ++i) {
        const json& c = p["inclusion"][i];
        const std::string what = "proofs.inclusion[" + std::to_string(i) + "]";
        SEALGATE_TRY(exactKeys(c, {"index", "tree_size", "proof"}, what));
        SEALGATE_ASSIGN_OR_RETURN(auto index, sizeFrom(c, "index", what));
        SEALGATE_ASSIGN_OR_RETURN(auto size, sizeFrom(c, "tree_size", what));
        if (size > total || index >= size) return makeError(ErrorCode::ProofInvalid, what + " is for another tree");
        SEALGATE_ASSIGN_OR_RETURN(auto proof, hashesFrom(c.value("proof", json()), what + ".proof"));
        if (auto v = merkle::verifyInclusion(index, size, leaves[index], proof, rootForSize(size)); !v) {
          return makeError(ErrorCode::ProofInvalid, what + ": " + v.error().message);
        }
        ++report.proofs;
      }
    }
  }
  if (o.progress) o.progress(total * 2, total * 2);
  return report;
}

}  // namespace sealgate::audit
