// Strict HTTP/1.1 request parsing (RFC 9112) for the listeners: the request head,
// its framing (Content-Length or chunked, never both, never ambiguous), the Host
// field, and the chunked body decoder. Pure functions over bytes: no sockets, so
// they are unit-tested and fuzzed (tests/fuzz/http_request_fuzz.cc).
//
// Anything RFC 9112 lets a server refuse and that could make two parsers read
// one byte stream differently is refused: obs-fold, bare CR or LF, whitespace
// before a colon, a repeated or non-numeric Content-Length, Content-Length with
// Transfer-Encoding, a transfer coding other than exactly "chunked", malformed
// chunk lines, and repeated header fields (other than a few list-valued ones).
// Rules and error codes: docs/API.md, "HTTP/1.1 framing".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error_code.h"

namespace sealgate::appliance::http {

inline constexpr std::size_t kMaxHeadBytes = 16 * 1024;  // request line + header section
inline constexpr std::size_t kMaxHeaderFields = 100;
inline constexpr std::size_t kMaxChunkLineBytes = 1024;  // a chunk-size line, extensions included
inline constexpr std::size_t kMaxTrailerBytes = 4096;

// A refusal: a stable code (docs/API.md; its status is the table's) and a message
// that never echoes request bytes.
struct ParseError {
  ErrorCode code = ErrorCode::HttpMalformed;
  std::string message;
  int status() const { return httpStatus(code); }
};

// Stable codes.
inline constexpr ErrorCode kMalformed = ErrorCode::HttpMalformed;
inline constexpr ErrorCode kFraming = ErrorCode::HttpFraming;
inline constexpr ErrorCode kHostInvalid = ErrorCode::HostInvalid;
inline constexpr ErrorCode kHeadersTooLarge = ErrorCode::HeadersTooLarge;
inline constexpr ErrorCode kVersionNotSupported = ErrorCode::HttpVersionNotSupported;
inline constexpr ErrorCode kExpectationFailed = ErrorCode::ExpectationFailed;
inline constexpr ErrorCode kBodyTooLarge = ErrorCode::BodyTooLarge;

// Where a request head ends in `buf` (which starts at a request boundary).
// Complete: `end` is the offset just past the blank line. Invalid as soon as the
// bytes cannot become a valid head (a bare CR or LF, too large), so a client
// cannot make the server wait for a terminator that will never be accepted.
struct HeadScan {
  enum State { Incomplete, Complete, Invalid } state = Incomplete;
  std::size_t end = 0;
  ParseError error{};
};
HeadScan scanHead(std::string_view buf, std::size_t maxBytes = kMaxHeadBytes);

struct HostPort {
  std::string host;  // lowercased; IPv6 without brackets, in canonical text form
  std::optional<std::uint16_t> port;
  bool isIp = false;
};
// uri-host [":" port] (RFC 9110 §7.2), restricted to DNS names, IPv4 and IPv6
// literals: no percent-encoding, no sub-delims, no empty port, no IPvFuture.
std::optional<HostPort> parseHost(std::string_view value);

struct HeaderField {
  std::string name;   // lowercased
  std::string value;  // without leading and trailing whitespace
};

struct RequestHead {
  std::string method;
  std::string target;               // origin-form: "/path[?query]"
  int minorVersion = 1;             // HTTP/1.<minor>, 0 or 1
  std::vector<HeaderField> fields;  // in order; a list-valued field may appear more than once
  enum class Body { None, Length, Chunked } body = Body::None;
  std::uint64_t contentLength = 0;  // for Body::Length; saturates at UINT64_MAX
  bool expectContinue = false;
  bool keepAlive = true;
  std::optional<HostPort> host;  // absent only in HTTP/1.0 requests without Host

  // The value of a field (lowercase name), fields that may repeat joined with
  // ", " as RFC 9110 §5.3 combines them; nullopt when absent.
  std::optional<std::string> get(std::string_view lowerName) const;
  // Every value of a field, in order.
  std::vector<std::string> all(std::string_view lowerName) const;
};

// Parses a complete head (as delimited by scanHead, leading empty lines allowed).
// Returns the refusal, or nullopt with `out` filled.
std::optional<ParseError> parseRequestHead(std::string_view head, RequestHead& out);

// Decodes a chunked body (RFC 9112 §7.1) incrementally. Chunk sizes are 1*HEXDIG
// (at most 16 digits), extensions are bounded and free of control characters,
// every chunk ends in exactly CRLF, trailer fields follow the header field rules
// and are discarded.
class ChunkedDecoder {
 public:
  enum class Status { NeedMore, Done, Error };
  explicit ChunkedDecoder(std::size_t maxBody) : maxBody_(maxBody) {}
  // Consumes a prefix of `in` (its length in `consumed`), appending body data to
  // `out`. After Done, the rest of `in` belongs to the next request.
  Status feed(std::string_view in, std::string& out, std::size_t& consumed);
  const ParseError& error() const { return error_; }

 private:
  enum class State { SizeLine, Data, DataCr, DataLf, TrailerLine, Done, Failed };
  Status fail(ErrorCode code, std::string message);
  bool sizeLine(std::string_view line);
  State state_ = State::SizeLine;
  std::size_t maxBody_;
  std::uint64_t remaining_ = 0;  // of the current chunk
  std::uint64_t total_ = 0;
  std::size_t trailerBytes_ = 0;
  std::string line_;
  ParseError error_{};
};

// The reason phrase of a status code (RFC 9110 §15), "" for unknown codes.
const char* reasonPhrase(int status);

// The names a listener answers to: the public URL's host and the server
// certificate's DNS and IP names ("*.example.com" matches one label), with the
// ports a Host header may carry (none means the scheme's default).
class ServerNames {
 public:
  void addName(std::string_view name);  // a DNS name, wildcard, or IP literal
  void addPort(std::uint16_t port) { ports_.push_back(port); }
  bool matches(const HostPort& host) const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::vector<std::uint16_t> ports_;
};

}  // namespace sealgate::appliance::http
