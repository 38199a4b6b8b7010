// libFuzzer target: KV v2 request paths, queries and bodies (core/kv_request.cc).
// The first byte picks the parser; the rest is its input. Every parser must
// return a Result (never crash, hang or throw) for any input.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/json_parse.h"
#include "core/kv_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  using namespace sealgate::kv;
  switch (data[0] % 4) {
    case 0: {
      (void)parseTarget(input);
      (void)parseVersionQuery(input);
      (void)listQuery(input);
      return 0;
    }
    default:
      break;
  }
  // As the HTTP layer parses KV bodies: depth-capped, no repeated keys.
  auto parsed = sealgate::parseJson(input);
  if (!parsed) return 0;
  const nlohmann::json& body = *parsed;
  switch (data[0] % 4) {
    case 1: {
      auto w = parseDataWrite(body);
      if (w && !w->data.is_object()) __builtin_trap();  // data is always an object
      break;
    }
    case 2: {
      auto v = parseVersions(body, true);
      if (v && v->empty()) __builtin_trap();  // required: never an empty list
      break;
    }
    default: {
      (void)parseMetadataWrite(body, data[0] & 0x10);
      (void)parseConfigWrite(body);
      if (body.is_object() && body.contains("delete_version_after"))
        (void)parseGoDuration(body["delete_version_after"]);
      break;
    }
  }
  return 0;
}
