#include "core/wipe.h"

#include <cstring>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace sealgate {

void wipeString(std::string& s) {
  // resize() fills the tail itself; the wipe then covers every byte the buffer
  // holds, within its defined size (no write past size()).
  s.resize(s.capacity());
  if (!s.empty()) secureWipe(s.data(), s.size());
}

void wipeJson(nlohmann::json& root) {
  std::vector<nlohmann::json*> todo{&root};
  while (!todo.empty()) {
    nlohmann::json* j = todo.back();
    todo.pop_back();
    switch (j->type()) {
      case nlohmann::json::value_t::string:
        wipeString(j->get_ref<std::string&>());
        break;
      case nlohmann::json::value_t::number_integer:
        secureWipe(&j->get_ref<nlohmann::json::number_integer_t&>(), sizeof(nlohmann::json::number_integer_t));
        break;
      case nlohmann::json::value_t::number_unsigned:
        secureWipe(&j->get_ref<nlohmann::json::number_unsigned_t&>(), sizeof(nlohmann::json::number_unsigned_t));
        break;
      case nlohmann::json::value_t::number_float:
        secureWipe(&j->get_ref<nlohmann::json::number_float_t&>(), sizeof(nlohmann::json::number_float_t));
        break;
      case nlohmann::json::value_t::boolean:
        j->get_ref<nlohmann::json::boolean_t&>() = false;
        break;
      case nlohmann::json::value_t::object:
      case nlohmann::json::value_t::array:
        for (auto& child : *j) todo.push_back(&child);
        break;
      default:
        break;  // null, binary (never parsed from text), discarded
    }
  }
}

namespace {

// nlohmann's serializer writes through an output adapter: one that counts, and
// one that writes into a buffer of the counted size.
class CountingOutput : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char) override { ++count; }
  void write_characters(const char*, std::size_t n) override { count += n; }
  std::size_t count = 0;
};

class FixedOutput : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  FixedOutput(char* out, std::size_t size) : out_(out), size_(size) {}
  void write_character(char c) override { write_characters(&c, 1); }
  void write_characters(const char* s, std::size_t n) override {
    if (n > size_ - used) throw std::length_error("the JSON grew between two serialisations");
    std::memcpy(out_ + used, s, n);
    used += n;
  }
  std::size_t used = 0;

 private:
  char* out_;
  std::size_t size_;
};

std::size_t serialisedSize(const nlohmann::json& j) {
  auto counter = std::make_shared<CountingOutput>();
  nlohmann::detail::serializer<nlohmann::json>(counter, ' ').dump(j, false, false, 0);
  return counter->count;
}

void serialiseInto(const nlohmann::json& j, char* out, std::size_t size) {
  auto writer = std::make_shared<FixedOutput>(out, size);
  nlohmann::detail::serializer<nlohmann::json>(writer, ' ').dump(j, false, false, 0);
  if (writer->used != size) throw std::length_error("the JSON shrank between two serialisations");
}

}  // namespace

std::string dumpJsonExact(const nlohmann::json& j) {
  std::string out(serialisedSize(j), '\0');
  serialiseInto(j, out.data(), out.size());
  return out;
}

Result<Secret> dumpJsonToSecret(const nlohmann::json& j) {
  auto secret = Secret::allocate(serialisedSize(j));
  if (!secret) return std::move(secret).takeError();
  auto bytes = secret->exposeSecretBytesMutable();
  serialiseInto(j, reinterpret_cast<char*>(bytes.data()), bytes.size());
  return secret;
}

nlohmann::json parseJsonWiping(std::span<const std::uint8_t> text) {
  WipingJson parsed = WipingJson::parse(text.begin(), text.end(), nullptr, false);
  if (parsed.is_discarded()) return nlohmann::json(nlohmann::json::value_t::discarded);
  // Copied over iteratively, each string at its final size.
  nlohmann::json out;
  std::vector<std::pair<const WipingJson*, nlohmann::json*>> todo{{&parsed, &out}};
  while (!todo.empty()) {
    auto [from, to] = todo.back();
    todo.pop_back();
    switch (from->type()) {
      case nlohmann::json::value_t::object:
        *to = nlohmann::json::object();
        for (auto it = from->begin(); it != from->end(); ++it) {
          nlohmann::json& slot = (*to)[std::string(it.key().data(), it.key().size())];
          todo.emplace_back(&*it, &slot);
        }
        break;
      case nlohmann::json::value_t::array:
        *to = nlohmann::json::array();
        to->get_ref<nlohmann::json::array_t&>().resize(from->size());  // sized once: no element moves
        for (std::size_t i = 0; i < from->size(); ++i) todo.emplace_back(&(*from)[i], &(*to)[i]);
        break;
      case nlohmann::json::value_t::string: {
        const auto& s = from->get_ref<const WipingString&>();
        *to = std::string(s.data(), s.size());
        break;
      }
      case nlohmann::json::value_t::number_integer:
        *to = from->get<std::int64_t>();
        break;
      case nlohmann::json::value_t::number_unsigned:
        *to = from->get<std::uint64_t>();
        break;
      case nlohmann::json::value_t::number_float:
        *to = from->get<double>();
        break;
      case nlohmann::json::value_t::boolean:
        *to = from->get<bool>();
        break;
      default:
        *to = nullptr;
        break;
    }
  }
  return out;  // `parsed` frees everything through WipingAllocator: wiped
}

WipeOnExit::~WipeOnExit() {
  if (string_ != nullptr) wipeString(*string_);
  if (json_ != nullptr) wipeJson(*json_);
}

}  // namespace sealgate
