// libFuzzer target for the listeners' HTTP/1.1 parsing (appliance/server/http_parse.cc):
// the head scanner, the request head parser and the chunked body decoder. The
// first input byte picks how the body is split across feeds; the rest is the
// request. Accepted heads must satisfy the framing rules; the decoder must give
// the same answer however its input is split. Violations trap.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "appliance/server/http_parse.h"

namespace {

using namespace sealgate::appliance::http;

void check(bool cond) {
  if (!cond) __builtin_trap();
}

struct Decoded {
  ChunkedDecoder::Status status;
  std::string out;
  std::size_t consumed;
  int errorStatus;
};

Decoded decodeInPieces(std::string_view in, std::size_t step, std::size_t max) {
  ChunkedDecoder d(max);
  Decoded r{ChunkedDecoder::Status::NeedMore, {}, 0, 0};
  while (r.consumed < in.size()) {
    std::size_t used = 0;
    const auto piece = in.substr(r.consumed, step);
    r.status = d.feed(piece, r.out, used);
    check(used <= piece.size());
    r.consumed += used;
    if (r.status != ChunkedDecoder::Status::NeedMore) break;
    check(used == piece.size());  // NeedMore only after taking everything
  }
  if (r.status == ChunkedDecoder::Status::Error) {
    r.errorStatus = d.error().status();
    check(d.error().status() == 400 || d.error().status() == 413);
    check(!d.error().message.empty());
  }
  check(r.out.size() <= max);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = 1 + data[0] % 16;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  const HeadScan scan = scanHead(input);
  if (scan.state == HeadScan::Complete) check(scan.end >= 4 && scan.end <= input.size());
  if (scan.state == HeadScan::Invalid) check(scan.error.status() == 400 || scan.error.status() == 431);

  RequestHead head;
  const std::string_view candidate = scan.state == HeadScan::Complete ? input.substr(0, scan.end) : input;
  const auto error = parseRequestHead(candidate, head);
  if (error) {
    check(error->status() >= 400 && error->status() < 600 && !error->message.empty());
  } else {
    check(scan.state == HeadScan::Complete);
    check(!head.method.empty() && !head.target.empty() && head.target.front() == '/');
    check(head.minorVersion == 0 || head.minorVersion == 1);
    check(head.minorVersion == 0 || head.host.has_value());
    const auto cl = head.all("content-length");
    const auto te = head.all("transfer-encoding");
    check(cl.size() <= 1 && te.size() <= 1 && !(cl.size() == 1 && te.size() == 1));
    check((head.body == RequestHead::Body::Chunked) == (te.size() == 1));
    check((head.body == RequestHead::Body::Length) == (cl.size() == 1));
    check(head.all("host").size() <= 1);
    for (const auto& f : head.fields) {
      check(!f.name.empty());
      for (char c : f.name) check(c != ':' && c != ' ' && c != '\t' && !(c >= 'A' && c <= 'Z'));
      for (char c : f.value) check(c != '\r' && c != '\n' && c != '\0');
    }
    check(!(head.minorVersion == 0 && head.keepAlive));
  }

  // The bytes after the head, as a chunked body: split any way, same answer.
  const std::string_view body = scan.state == HeadScan::Complete ? input.substr(scan.end) : input;
  const Decoded whole = decodeInPieces(body, body.size() + 1, 4096);
  const Decoded pieces = decodeInPieces(body, step, 4096);
  check(whole.status == pieces.status);
  if (whole.status != ChunkedDecoder::Status::Error) {
    check(whole.out == pieces.out);
    check(whole.consumed == pieces.consumed);
  } else {
    check(whole.errorStatus == pieces.errorStatus);
  }
  return 0;
}
