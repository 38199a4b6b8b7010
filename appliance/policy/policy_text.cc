#include "appliance/policy/policy_text.h"

#include <algorithm>
#include <set>
#include <vector>

#include "core/json_parse.h"

namespace sealgate::appliance {

using nlohmann::json;

namespace {

// Records where nlohmann's parser gave up; builds nothing.
class SyntaxProbe final : public json::json_sax_t {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_object() override { return true; }
  bool end_array() override { return true; }
  bool key(string_t&) override { return true; }
  // `position` counts the characters read, the offending token's last one (or
  // the end of input) included; `lastToken` is that token as read.
  bool parse_error(std::size_t position, const std::string& lastToken, const nlohmann::detail::exception&) override {
    // A control character is shown as "<U+001F>": then only the position is known.
    const bool raw = lastToken.find("<U+") == std::string::npos;
    offset = raw && position >= lastToken.size() ? position - lastToken.size() : (position > 0 ? position - 1 : 0);
    return false;
  }
  std::optional<std::size_t> offset;
};

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A JSON pointer's reference tokens, unescaped (~1 is '/', ~0 is '~').
std::vector<std::string> pointerTokens(std::string_view pointer) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < pointer.size() && pointer[i] == '/') {
    ++i;
    std::string token;
    for (; i < pointer.size() && pointer[i] != '/'; ++i) {
      if (pointer[i] == '~' && i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token += pointer[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += pointer[i];
      }
    }
    out.push_back(std::move(token));
  }
  return out;
}

// One pass over well-formed JSON, without recursion: reports every value
// (its path and the offset of its key, or of the value when it has no key), and
// every container opened (its depth). A visitor returning true stops the walk;
// malformed text just ends it.
class Walker {
 public:
  explicit Walker(std::string_view text) : t_(text) {}

  // onValue(path, offset, keyAlreadySeen, depthOfContainersAround) -> stop?
  template <typename OnValue, typename OnOpen>
  void walk(OnValue onValue, OnOpen onOpen) {
    struct Frame {
      bool object = false;
      std::size_t index = 0;
      std::set<std::string> keys;
    };
    std::vector<Frame> stack;
    std::vector<std::string> path;
    skipSpace();
    std::size_t at = i_;
    bool duplicate = false;
    while (true) {
      // A value starts at i_; `at` is where it is reported (its key, if any).
      if (onValue(path, at, duplicate)) return;
      if (i_ >= t_.size()) return;
      const char c = t_[i_];
      bool closed = false;  // the value ended (a scalar, or an empty container)
      if (c == '{' || c == '[') {
        if (onOpen(stack.size() + 1, i_)) return;
        stack.push_back(Frame{c == '{', 0, {}});
        ++i_;
        skipSpace();
        if (i_ < t_.size() && t_[i_] == (c == '{' ? '}' : ']')) {
          ++i_;
          stack.pop_back();
          closed = true;
        } else if (c == '[') {
          path.emplace_back("0");
          at = i_;
          duplicate = false;
          continue;
        } else {
          if (!member(stack.back().keys, path, at, duplicate)) return;
          continue;
        }
      } else if (c == '"') {
        if (!skipString(nullptr)) return;
        closed = true;
      } else {
        while (i_ < t_.size() && !isSpace(t_[i_]) && t_[i_] != ',' && t_[i_] != ']' && t_[i_] != '}') ++i_;
        closed = true;
      }
      // After a value: a comma (the next member or item) or the end of containers.
      while (closed) {
        if (stack.empty()) return;
        path.pop_back();
        skipSpace();
        if (i_ >= t_.size()) return;
        Frame& top = stack.back();
        if (t_[i_] == ',') {
          ++i_;
          skipSpace();
          if (top.object) {
            if (!member(top.keys, path, at, duplicate)) return;
          } else {
            path.push_back(std::to_string(++top.index));
            at = i_;
            duplicate = false;
          }
          closed = false;
        } else if (t_[i_] == (top.object ? '}' : ']')) {
          ++i_;
          stack.pop_back();
        } else {
          return;
        }
      }
    }
  }

 private:
  // At a member's key: reads it and the colon; the value follows.
  bool member(std::set<std::string>& keys, std::vector<std::string>& path, std::size_t& at, bool& duplicate) {
    at = i_;
    std::string key;
    if (i_ >= t_.size() || t_[i_] != '"' || !skipString(&key)) return false;
    skipSpace();
    if (i_ >= t_.size() || t_[i_] != ':') return false;
    ++i_;
    skipSpace();
    duplicate = !keys.insert(key).second;
    path.push_back(std::move(key));
    return true;
  }
  // At a '"': moves past the string; `out`, when given, gets it unescaped.
  bool skipString(std::string* out) {
    const std::size_t start = i_++;
    while (i_ < t_.size()) {
      if (t_[i_] == '\\') {
        i_ += 2;
      } else if (t_[i_] == '"') {
        ++i_;
        if (out != nullptr) {
          const json token = parseJsonOrDiscarded(t_.substr(start, i_ - start));
          if (!token.is_string()) return false;
          *out = token.get<std::string>();
        }
        return true;
      } else {
        ++i_;
      }
    }
    return false;
  }
  void skipSpace() {
    while (i_ < t_.size() && isSpace(t_[i_])) ++i_;
  }

  std::string_view t_;
  std::size_t i_ = 0;
};

}  // namespace

TextPosition positionOf(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  TextPosition p;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {  // not a UTF-8 continuation byte
      ++p.column;
    }
  }
  return p;
}

std::optional<std::size_t> jsonSyntaxErrorOffset(std::string_view text) {
  SyntaxProbe probe;
  json::sax_parse(text.begin(), text.end(), &probe, json::input_format_t::json, /*strict=*/true,
                  /*ignore_comments=*/false);
  if (probe.offset) return std::min(*probe.offset, text.size());
  return std::nullopt;
}

std::optional<std::size_t> jsonStructureFaultOffset(std::string_view text, std::size_t maxDepth) {
  std::optional<std::size_t> found;
  Walker(text).walk(
      [&](const std::vector<std::string>&, std::size_t at, bool duplicate) {
        if (duplicate) found = at;
        return duplicate;
      },
      [&](std::size_t depth, std::size_t at) {
        if (depth > maxDepth) found = at;
        return depth > maxDepth;
      });
  return found;
}

std::size_t jsonPointerOffset(std::string_view text, std::string_view pointer) {
  const auto wanted = pointerTokens(pointer);
  std::size_t best = 0, bestLength = 0;
  bool any = false;
  Walker(text).walk(
      [&](const std::vector<std::string>& path, std::size_t at, bool) {
        if (path.size() > wanted.size() || (any && path.size() <= bestLength)) return false;
        if (!std::equal(path.begin(), path.end(), wanted.begin())) return false;
        best = at;
        bestLength = path.size();
        any = true;
        return path.size() == wanted.size();
      },
      [](std::size_t, std::size_t) { return false; });
  return best;
}

PolicyTextCheck checkPolicyText(std::string_view text) {
  PolicyTextCheck out;
  auto doc = parseJson(text);
  if (!doc) {
    const Error& e = doc.error();
    std::optional<std::size_t> at =
        e.code == ErrorCode::BadJson ? jsonSyntaxErrorOffset(text) : jsonStructureFaultOffset(text, kMaxJsonDepth);
    out.fault = PolicyTextFault{positionOf(text, at.value_or(0)), e.code, e.message};
    return out;
  }
  std::string pointer;
  auto policy = Policy::parse(text, &pointer);
  if (!policy) {
    out.fault = PolicyTextFault{positionOf(text, jsonPointerOffset(text, pointer)), policy.error().code,
                                policy.error().message};
    return out;
  }
  out.rules = policy->rules().size();
  out.document = std::move(*doc);
  return out;
}

}  // namespace sealgate::appliance
