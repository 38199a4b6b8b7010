// decodeHostKeyPin (ssh_connector.h) on its own: a pure function that the policy
// parser uses too, so that the policy fuzz target can compile it in without libssh.
#include <algorithm>
#include <string_view>

#include "appliance/connectors/ssh_connector.h"

namespace sealgate::connectors {

namespace {
constexpr std::string_view kPinPrefix = "SHA256:";
constexpr std::size_t kSha256Size = 32;
}  // namespace

std::optional<Bytes> decodeHostKeyPin(const std::string& pin) {
  if (pin.size() != kPinPrefix.size() + 43 || pin.compare(0, kPinPrefix.size(), kPinPrefix) != 0) return std::nullopt;
  std::string b64 = pin.substr(kPinPrefix.size());
  // Only the standard alphabet: map it onto base64url for the shared decoder.
  if (b64.find_first_of("-_=") != std::string::npos) return std::nullopt;
  std::replace(b64.begin(), b64.end(), '+', '-');
  std::replace(b64.begin(), b64.end(), '/', '_');
  auto bytes = decodeBase64UrlNoPad(b64);
  if (!bytes || bytes->size() != kSha256Size) return std::nullopt;
  return bytes;
}

}  // namespace sealgate::connectors
