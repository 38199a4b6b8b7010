#include "core/json_parse.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/secret.h"

namespace sealgate {
namespace {

using nlohmann::json;

// A SAX handler that builds the document itself (nlohmann's own DOM builders are
// in its detail namespace and take neither rule), so that depth and duplicate keys
// are checked before anything deeper or repeated is stored. nlohmann's parser is
// iterative: the only recursion risk was in what walks the result.
class Builder final : public json::json_sax_t {
 public:
  explicit Builder(std::size_t maxDepth) : maxDepth_(maxDepth) {}

  bool null() override { return put(json(nullptr)); }
  bool boolean(bool v) override { return put(json(v)); }
  bool number_integer(number_integer_t v) override { return put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return put(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return put(json(v)); }
  bool string(string_t& v) override { return put(json(std::move(v))); }
  bool binary(binary_t&) override { return fail(makeError(json_errc::kBadJson, "the JSON holds binary data")); }

  bool start_object(std::size_t) override { return open(json::value_t::object); }
  bool start_array(std::size_t) override { return open(json::value_t::array); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& k) override {
    if (stack_.back()->contains(k)) {
      const bool nameable = !k.empty() && k.size() <= 64 && std::all_of(k.begin(), k.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-' || c == '.';
      });
      return fail(makeError(json_errc::kDuplicateKey,
                            nameable ? "a JSON object repeats the key \"" + k + "\"" : "a JSON object repeats a key"));
    }
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    // The position only: nlohmann's message quotes the offending token, which
    // could be part of a secret value.
    return fail(makeError(json_errc::kBadJson, "not well-formed JSON (at byte " + std::to_string(position) + ")"));
  }

  std::optional<Error>& failure() { return failure_; }
  json& root() { return root_; }

 private:
  json* place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    auto [it, inserted] = parent.get_ref<json::object_t&>().emplace(std::move(key_), std::move(v));
    return &it->second;
  }
  bool put(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json::value_t type) {
    if (stack_.size() >= maxDepth_) {
      return fail(
          makeError(json_errc::kTooDeep, "JSON nested deeper than " + std::to_string(maxDepth_) + " arrays/objects"));
    }
    // Pointers into the parent stay valid: nothing is added to a container while
    // one of its children is open.
    stack_.push_back(place(json(type)));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }
  bool fail(Error e) {
    if (!failure_) failure_ = std::move(e);
    return false;
  }

  std::size_t maxDepth_;
  json root_;
  std::vector<json*> stack_;
  string_t key_;
  std::optional<Error> failure_;
};

void wipeStrings(json& doc) {
  std::vector<json*> todo{&doc};
  while (!todo.empty()) {
    json* v = todo.back();
    todo.pop_back();
    if (v->is_string()) {
      auto& s = v->get_ref<std::string&>();
      secureWipe(s.data(), s.size());
    } else if (v->is_structured()) {
      for (auto& item : *v) todo.push_back(&item);
    }
  }
}

}  // namespace

Result<json> parseJson(std::string_view text, const JsonParseOptions& options) {
  Builder builder(std::max<std::size_t>(options.maxDepth, 1));
  const bool ok = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json, /*strict=*/true,
                                  options.allowComments);
  if (!ok || builder.failure()) {
    wipeStrings(builder.root());
    if (builder.failure()) return std::move(*builder.failure());
    return makeError(json_errc::kBadJson, "not well-formed JSON");
  }
  return std::move(builder.root());
}

Result<json> parseJson(std::span<const std::uint8_t> bytes, const JsonParseOptions& options) {
  return parseJson(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), options);
}

json parseJsonOrDiscarded(std::string_view text, const JsonParseOptions& options) {
  auto parsed = parseJson(text, options);
  return parsed ? std::move(*parsed) : json(json::value_t::discarded);
}

json parseInternalJson(std::string_view text) {
  return parseJsonOrDiscarded(text, {.maxDepth = kMaxInternalJsonDepth});
}

json parseInternalJson(std::span<const std::uint8_t> bytes) {
  return parseInternalJson(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::size_t jsonDepth(const json& value) {
  std::size_t deepest = 0;
  std::vector<std::pair<const json*, std::size_t>> todo{{&value, 0}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    for (const auto& item : *v) todo.emplace_back(&item, depth + 1);
  }
  return deepest;
}

}  // namespace sealgate
