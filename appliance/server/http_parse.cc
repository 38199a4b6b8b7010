#include "appliance/server/http_parse.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <limits>

namespace sealgate::appliance::http {
namespace {

ParseError err(ErrorCode code, std::string message) { return ParseError{code, std::move(message)}; }

// tchar (RFC 9110 §5.6.2).
bool isTchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return isTchar(static_cast<unsigned char>(c)); });
}

// field-vchar / SP / HTAB (RFC 9110 §5.5): no CTL, no DEL.
bool isFieldValueChar(unsigned char c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f); }

bool isHex(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

unsigned hexValue(unsigned char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The characters of an origin-form target (RFC 3986 pchar, "/" and "?"), with
// percent-encodings checked.
bool validOriginForm(std::string_view t) {
  if (t.empty() || t.front() != '/') return false;
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/?";
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto c = static_cast<unsigned char>(t[i]);
    if (c == '%') {
      if (i + 2 >= t.size() || !isHex(static_cast<unsigned char>(t[i + 1])) ||
          !isHex(static_cast<unsigned char>(t[i + 2]))) {
        return false;
      }
      i += 2;
      continue;
    }
    if (std::isalnum(c) != 0 && c < 0x80) continue;
    if (kAllowed.find(static_cast<char>(c)) == std::string_view::npos) return false;
  }
  return true;
}

// field-line = field-name ":" OWS field-value OWS, with the line's CRLF removed.
std::optional<ParseError> parseFieldLine(std::string_view line, HeaderField& out, ErrorCode code) {
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    return err(code, "obsolete line folding (a line starting with whitespace) is not accepted");
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return err(code, "a header line without a colon");
  const std::string_view name = line.substr(0, colon);
  if (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
    return err(code, "whitespace between a header field name and its colon");
  }
  if (!isToken(name)) return err(code, "a header field name that is not a token");
  const std::string_view value = trimOws(line.substr(colon + 1));
  if (!std::all_of(value.begin(), value.end(),
                   [](char c) { return isFieldValueChar(static_cast<unsigned char>(c)); })) {
    return err(code, "a control character in a header field value");
  }
  out.name = lower(name);
  out.value = std::string(value);
  return std::nullopt;
}

// Fields that RFC 9110 defines as lists, which clients may legitimately split
// over several lines; every other field must appear at most once.
bool mayRepeat(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kList{
      "accept",
      "accept-charset",
      "accept-encoding",
      "accept-language",
      "cache-control",
      "connection",
      "dpop",  // RFC 9449 wants exactly one: the DPoP check answers DPOP_INVALID for two
      "forwarded",
      "pragma",
      "te",
      "via",
      "x-forwarded-for"};
  return std::find(kList.begin(), kList.end(), name) != kList.end();
}

std::vector<std::string_view> splitList(std::string_view v) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto comma = v.find(',', start);
    out.push_back(trimOws(v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string> canonicalIp(std::string_view text) {
  const std::string s(text);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return std::string(inet_ntop(AF_INET, buf, out, sizeof out));
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return std::string(inet_ntop(AF_INET6, buf, out, sizeof out));
  return std::nullopt;
}

bool validDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      if (label == 0 || label > 63) return false;
      label = 0;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (!(std::isalnum(c) != 0 && c < 0x80) && c != '-') return false;
    ++label;
  }
  return true;
}

// A trailer field line: checked like a header field line, then discarded.
std::optional<ParseError> trailerFieldError(std::string_view line) {
  HeaderField ignored;
  return parseFieldLine(line, ignored, kFraming);
}

}  // namespace

// ---- head --------------------------------------------------------------------------------

HeadScan scanHead(std::string_view buf, std::size_t maxBytes) {
  HeadScan r;
  std::size_t pos = 0;
  // RFC 9112 §2.2: empty lines before the request line are ignored.
  while (pos + 1 < buf.size() && buf[pos] == '\r' && buf[pos + 1] == '\n') pos += 2;
  std::size_t lineStart = pos;
  for (std::size_t i = pos; i < buf.size(); ++i) {
    if (i >= maxBytes) break;
    if (buf[i] == '\n') {
      r.state = HeadScan::Invalid;
      r.error = err(kMalformed, "a line ends in a bare LF (RFC 9112 needs CRLF)");
      return r;
    }
    if (buf[i] != '\r') continue;
    if (i + 1 == buf.size()) return r;  // the LF may still come
    if (buf[i + 1] != '\n') {
      r.state = HeadScan::Invalid;
      r.error = err(kMalformed, "a bare CR in the request head");
      return r;
    }
    if (i == lineStart) {  // the blank line (never the first: leading ones were skipped)
      r.state = HeadScan::Complete;
      r.end = i + 2;
      return r;
    }
    lineStart = i + 2;
    ++i;
  }
  if (buf.size() >= maxBytes) {
    r.state = HeadScan::Invalid;
    r.error = err(kHeadersTooLarge, "the request head is over " + std::to_string(maxBytes) + " bytes");
  }
  return r;
}

std::optional<HostPort> parseHost(std::string_view value) {
  HostPort out;
  std::string_view rest;
  if (!value.empty() && value.front() == '[') {
    const auto close = value.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view inner = value.substr(1, close - 1);
    if (inner.find(':') == std::string_view::npos) return std::nullopt;  // IPv6 only, no IPvFuture
    const std::string s(inner);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, s.c_str(), buf) != 1) return std::nullopt;
    char text[INET6_ADDRSTRLEN];
    out.host = inet_ntop(AF_INET6, buf, text, sizeof text);
    out.isIp = true;
    rest = value.substr(close + 1);
  } else {
    const auto colon = value.find(':');
    std::string_view name = value.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : value.substr(colon);
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // an absolute DNS name
    if (!validDnsName(name)) return std::nullopt;
    if (auto ip = canonicalIp(name)) {
      out.host = *ip;
      out.isIp = true;
    } else {
      out.host = lower(name);
    }
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
    unsigned port = 0;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return std::nullopt;
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

std::optional<std::string> RequestHead::get(std::string_view lowerName) const {
  std::optional<std::string> out;
  for (const auto& f : fields) {
    if (f.name != lowerName) continue;
    out = out ? *out + ", " + f.value : f.value;
  }
  return out;
}

std::vector<std::string> RequestHead::all(std::string_view lowerName) const {
  std::vector<std::string> out;
  for (const auto& f : fields) {
    if (f.name == lowerName) out.push_back(f.value);
  }
  return out;
}

namespace {

// The head's lines (request line first) without their CRLFs, after checking that
// `head` is one complete head within the size limit.
std::optional<ParseError> splitHeadLines(std::string_view head, std::vector<std::string_view>& lines) {
  const HeadScan scan = scanHead(head, std::max(head.size() + 1, kMaxHeadBytes));
  if (scan.state == HeadScan::Invalid) return scan.error;
  if (head.size() > kMaxHeadBytes) return err(kHeadersTooLarge, "the request head is too large");
  if (scan.state != HeadScan::Complete || scan.end != head.size()) {
    return err(kMalformed, "the request head is incomplete");
  }
  std::size_t pos = 0;
  while (head.compare(pos, 2, "\r\n") == 0) pos += 2;
  while (pos < head.size()) {
    const auto crlf = head.find("\r\n", pos);
    if (crlf == pos) break;  // the blank line that ends the head
    lines.push_back(head.substr(pos, crlf - pos));
    pos = crlf + 2;
  }
  if (lines.empty()) return err(kMalformed, "no request line");
  return std::nullopt;
}

// request-line = method SP request-target SP HTTP-version
std::optional<ParseError> parseRequestLine(std::string_view line, RequestHead& out) {
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return err(kMalformed, "the request line is not \"method SP target SP version\"");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method) || method.size() > 32) return err(kMalformed, "the method is not a token");
  if (version.size() != 8 || version.compare(0, 5, "HTTP/") != 0 ||
      !std::isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[7]))) {
    return err(kMalformed, "the request line does not end in an HTTP version");
  }
  if (version[5] != '1') return err(kVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served");
  out.minorVersion = version[7] == '0' ? 0 : 1;  // a later 1.x is handled as 1.1 (RFC 9110 §6.2)
  if (!validOriginForm(target)) {
    return err(kMalformed, "the request target must be an absolute path (origin-form) of URI characters");
  }
  out.method = std::string(method);
  out.target = std::string(target);
  return std::nullopt;
}

// A field that may appear only once, seen again.
ParseError repeatedField(const std::string& name) {
  if (name == "content-length") return err(kFraming, "more than one Content-Length header");
  if (name == "transfer-encoding") return err(kFraming, "more than one Transfer-Encoding header");
  if (name == "host") return err(kHostInvalid, "more than one Host header");
  return err(kMalformed, "the header " + name.substr(0, 64) + " appears more than once");
}

// The field lines (every line after the request line), in order.
std::optional<ParseError> parseFieldLines(const std::vector<std::string_view>& lines, RequestHead& out) {
  if (lines.size() - 1 > kMaxHeaderFields) {
    return err(kHeadersTooLarge, "more than " + std::to_string(kMaxHeaderFields) + " header fields");
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    HeaderField f;
    if (auto e = parseFieldLine(lines[i], f, kMalformed)) return e;
    if (!mayRepeat(f.name)) {
      for (const auto& seen : out.fields) {
        if (seen.name == f.name) return repeatedField(f.name);
      }
    }
    out.fields.push_back(std::move(f));
  }
  return std::nullopt;
}

// Host (RFC 9112 §3.2): exactly one in HTTP/1.1, valid wherever present.
std::optional<ParseError> checkHost(RequestHead& out) {
  if (auto host = out.get("host")) {
    out.host = parseHost(*host);
    if (!out.host) return err(kHostInvalid, "the Host header is not a valid host[:port]");
  } else if (out.minorVersion == 1) {
    return err(kHostInvalid, "an HTTP/1.1 request needs a Host header");
  }
  return std::nullopt;
}

// A Content-Length of decimal digits (checked by the caller), saturating at UINT64_MAX.
std::uint64_t decimalLength(std::string_view digits) {
  std::uint64_t n = 0;
  for (char c : digits) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    n = n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10 ? std::numeric_limits<std::uint64_t>::max()
                                                                     : n * 10 + digit;
  }
  return n;
}

// Framing (RFC 9112 §6): chunked or a Content-Length, never both, never ambiguous.
std::optional<ParseError> parseFraming(RequestHead& out) {
  const auto te = out.get("transfer-encoding");
  const auto cl = out.get("content-length");
  if (te) {
    if (out.minorVersion == 0) return err(kFraming, "Transfer-Encoding in an HTTP/1.0 request");
    if (cl) return err(kFraming, "both Content-Length and Transfer-Encoding");
    if (!iequals(*te, "chunked")) return err(kFraming, "the only transfer coding accepted is \"chunked\"");
    out.body = RequestHead::Body::Chunked;
  } else if (cl) {
    if (cl->empty() || !std::all_of(cl->begin(), cl->end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return err(kFraming, "Content-Length must be a single decimal number");
    }
    out.contentLength = decimalLength(*cl);
    out.body = RequestHead::Body::Length;
  }
  return std::nullopt;
}

// Expect (RFC 9110 §10.1.1): only 100-continue, and only in HTTP/1.1.
std::optional<ParseError> parseExpect(RequestHead& out) {
  if (auto expect = out.get("expect"); expect && out.minorVersion == 1) {
    if (!iequals(*expect, "100-continue")) return err(kExpectationFailed, "the only expectation met is 100-continue");
    out.expectContinue = true;
  }
  return std::nullopt;
}

// HTTP/1.1 keeps the connection unless Connection lists "close"; HTTP/1.0 never does.
void setKeepAlive(RequestHead& out) {
  out.keepAlive = out.minorVersion == 1;
  if (auto conn = out.get("connection")) {
    for (auto token : splitList(*conn)) {
      if (iequals(token, "close")) out.keepAlive = false;
    }
  }
}

}  // namespace

std::optional<ParseError> parseRequestHead(std::string_view head, RequestHead& out) {
  out = RequestHead{};
  std::vector<std::string_view> lines;
  if (auto e = splitHeadLines(head, lines)) return e;
  if (auto e = parseRequestLine(lines.front(), out)) return e;
  if (auto e = parseFieldLines(lines, out)) return e;
  if (auto e = checkHost(out)) return e;
  if (auto e = parseFraming(out)) return e;
  if (auto e = parseExpect(out)) return e;
  setKeepAlive(out);
  return std::nullopt;
}

// ---- chunked --------------------------------------------------------------------------------

ChunkedDecoder::Status ChunkedDecoder::fail(ErrorCode code, std::string message) {
  error_ = err(code, std::move(message));
  state_ = State::Failed;
  line_.clear();
  return Status::Error;
}

bool ChunkedDecoder::sizeLine(std::string_view line) {
  std::size_t digits = 0;
  std::uint64_t size = 0;
  while (digits < line.size() && isHex(static_cast<unsigned char>(line[digits]))) {
    if (digits == 16) {
      fail(kFraming, "a chunk size of more than 16 hex digits");
      return false;
    }
    size = size * 16 + hexValue(static_cast<unsigned char>(line[digits]));
    ++digits;
  }
  if (digits == 0) {
    fail(kFraming, "a chunk size line that does not start with a hex number");
    return false;
  }
  std::string_view ext = line.substr(digits);
  while (!ext.empty() && (ext.front() == ' ' || ext.front() == '\t')) ext.remove_prefix(1);  // BWS
  if (!ext.empty()) {
    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): ignored,
    // but it must start with ";" and hold no control characters.
    if (ext.front() != ';' || ext.size() < 2 ||
        !std::all_of(ext.begin(), ext.end(), [](char c) { return isFieldValueChar(static_cast<unsigned char>(c)); })) {
      fail(kFraming, "a malformed chunk size line");
      return false;
    }
  } else if (digits < line.size()) {
    fail(kFraming, "whitespace after a chunk size");
    return false;
  }
  if (size == 0) {
    state_ = State::TrailerLine;
    return true;
  }
  if (size > maxBody_ || total_ + size > maxBody_) {
    fail(kBodyTooLarge, "request bodies are limited to " + std::to_string(maxBody_) + " bytes");
    return false;
  }
  total_ += size;
  remaining_ = size;
  state_ = State::Data;
  return true;
}

ChunkedDecoder::Status ChunkedDecoder::feed(std::string_view in, std::string& out, std::size_t& consumed) {
  consumed = 0;
  while (consumed < in.size()) {
    switch (state_) {
      case State::Done:
        return Status::Done;
      case State::Failed:
        return Status::Error;
      case State::SizeLine:
      case State::TrailerLine: {
        const auto lf = in.find('\n', consumed);
        const std::size_t take = (lf == std::string_view::npos ? in.size() : lf + 1) - consumed;
        const bool trailer = state_ == State::TrailerLine;
        if (trailer ? trailerBytes_ + take > kMaxTrailerBytes : line_.size() + take > kMaxChunkLineBytes) {
          return fail(kFraming, trailer ? "the trailer section is too large" : "a chunk size line is too long");
        }
        line_.append(in.substr(consumed, take));
        consumed += take;
        if (trailer) trailerBytes_ += take;
        if (lf == std::string_view::npos) {
          // A CR can only be the start of the CRLF; anything after it is a bare CR.
          const auto cr = line_.find('\r');
          if (cr != std::string::npos && cr + 1 != line_.size()) return fail(kFraming, "a bare CR in the chunked body");
          return Status::NeedMore;
        }
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r') return fail(kFraming, "a bare LF in the chunked body");
        const std::string_view body(line_.data(), line_.size() - 2);
        if (body.find('\r') != std::string_view::npos) return fail(kFraming, "a bare CR in the chunked body");
        if (!trailer) {
          if (!sizeLine(body)) return Status::Error;
        } else if (body.empty()) {
          state_ = State::Done;
        } else if (auto e = trailerFieldError(body)) {
          error_ = *e;
          state_ = State::Failed;
          return Status::Error;
        }
        line_.clear();
        if (state_ == State::Done) return Status::Done;
        break;
      }
      case State::Data: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - consumed));
        out.append(in.substr(consumed, n));
        consumed += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (in[consumed] != '\r') return fail(kFraming, "chunk data longer than its size (no CRLF after it)");
        ++consumed;
        state_ = State::DataLf;
        break;
      case State::DataLf:
        if (in[consumed] != '\n') return fail(kFraming, "chunk data not followed by CRLF");
        ++consumed;
        state_ = State::SizeLine;
        break;
    }
  }
  if (state_ == State::Done) return Status::Done;
  if (state_ == State::Failed) return Status::Error;
  return Status::NeedMore;
}

// ---- misc -------------------------------------------------------------------------------------

const char* reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

void ServerNames::addName(std::string_view name) {
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  if (auto ip = canonicalIp(name)) {
    names_.push_back(*ip);
    return;
  }
  std::string n = lower(name);
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (!n.empty()) names_.push_back(std::move(n));
}

bool ServerNames::matches(const HostPort& host) const {
  if (host.port && std::find(ports_.begin(), ports_.end(), *host.port) == ports_.end()) return false;
  for (const auto& n : names_) {
    if (n == host.host) return true;
    // "*.example.com" covers exactly one more label, never an IP address.
    if (!host.isIp && n.size() > 2 && n.compare(0, 2, "*.") == 0 && host.host.size() > n.size() - 1) {
      const std::string_view suffix = std::string_view(n).substr(1);  // ".example.com"
      const std::string_view h = host.host;
      if (h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          h.substr(0, h.size() - suffix.size()).find('.') == std::string_view::npos) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace sealgate::appliance::http
