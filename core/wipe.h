// Wiping plaintext that has to pass through ordinary memory (a request body
// parsed into JSON, a response about to be sent, a std::string handed to a
// library). Secrets at rest in the process live in Secret (core/secret.h); these
// are for the copies that cannot, and the scope guard wipes them on every way out
// of a scope: return, early return or exception.
#pragma once

#include <cstdint>
#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/secret.h"

namespace sealgate {

// Overwrites `s` with zeros over its whole capacity (bytes a shorter value left
// behind included). Its length becomes its capacity: wipe last.
void wipeString(std::string& s);

// Overwrites, in place, every string (over its capacity), number and boolean in
// `j` with zeros. Iterative: no nesting depth can exhaust the stack. Object keys
// stay (they are field names; nlohmann keeps them immutable).
void wipeJson(nlohmann::json& j);

// Wipes its target when the scope ends, however it ends. The target must outlive
// the guard (declare the guard after it).
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& s) : string_(&s) {}
  explicit WipeOnExit(nlohmann::json& j) : json_(&j) {}
  ~WipeOnExit();
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string* string_ = nullptr;
  nlohmann::json* json_ = nullptr;
};

// An allocator that wipes what it frees. Growing containers free their old
// buffers with (partial) copies of what they held: with this one, zeros.
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() noexcept = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept {
    secureWipe(p, n * sizeof(T));
    ::operator delete(p);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

// JSON whose every allocation (strings, keys, nodes, the parser's token buffer)
// is wiped when freed: for parsing plaintext (parseJsonWiping).
using WipingString = std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;
using WipingJson = nlohmann::basic_json<std::map, std::vector, WipingString, bool, std::int64_t, std::uint64_t, double,
                                        WipingAllocator>;

// Parses `text` without leaving partial copies in freed memory: nlohmann's own
// parse grows its token buffer and strings, freeing the old buffers unwiped. The
// result's strings are allocated at their final size (wipe it with wipeJson when
// done). Malformed input: a discarded value.
nlohmann::json parseJsonWiping(std::span<const std::uint8_t> text);

// Serialises `j` compactly without growing a buffer (counted first, then written
// once at its exact size): json::dump() appends, and every reallocation frees a
// partial copy unwiped. Wipe the result when done.
std::string dumpJsonExact(const nlohmann::json& j);

// The same, straight into protected memory: no std::string copy at all.
Result<Secret> dumpJsonToSecret(const nlohmann::json& j);

}  // namespace sealgate
