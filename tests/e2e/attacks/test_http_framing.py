"""Issue 12, item 9: HTTP/1.1 framing, replayed over raw TLS sockets.

Before the fix, two different Content-Length headers were accepted (first wins)
and the connection kept open, so bytes inside the body were served as a second,
smuggled request. Every framing ambiguity now gets 400 with a JSON error and the
connection closes; garbage request lines get the same JSON error shape; reason
phrases match the status; Expect: 100-continue with an oversized body gets 413
at once; a stalled body gets 408 like a trickled one.
"""
import json
import os
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import Instance  # noqa: E402

DEADLINE_MS = 1500
MAX_BODY = 4096
CANON = b'{"uri": "secret://acme/kv/a"}'


def parse_responses(data: bytes):
    """Splits what the server sent into (status, reason, headers, body) tuples."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"incomplete response head: {data[:200]!r}")
        lines = head.split(b"\r\n")
        version, status, reason = lines[0].split(b" ", 2)
        assert version == b"HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.decode().lower()] = value.strip().decode()
        length = int(headers.get("content-length", "0"))
        body, data = rest[:length], rest[length:]
        out.append((int(status), reason.decode(), headers, body))
    return out


class FramingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(limits={"request_deadline_ms": DEADLINE_MS, "keepalive_timeout_ms": 1000,
                                  "max_body_bytes": MAX_BODY})
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def exchange(self, raw: bytes, timeout=DEADLINE_MS / 1000 + 5):
        """Sends raw bytes on a fresh mTLS connection; returns everything the server
        sent until it closed, and whether it closed within the timeout."""
        s = self.sg.tls_socket()
        s.settimeout(timeout)
        data = b""
        closed = False
        try:
            s.sendall(raw)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except socket.timeout:
            pass
        except (ssl.SSLError, ConnectionError):
            closed = True
        finally:
            s.close()
        return data, closed

    def assertRefusedAndClosed(self, raw: bytes, status: int, code: str):
        data, closed = self.exchange(raw)
        responses = parse_responses(data)
        self.assertEqual(len(responses), 1, f"expected exactly one response, got {data!r}")
        got_status, reason, headers, body = responses[0]
        self.assertEqual(got_status, status, data)
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], code, data)
        self.assertTrue(err["message"])
        self.assertEqual(err["correlation_id"], headers["x-correlation-id"])
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(headers.get("connection"), "close")
        self.assertTrue(closed, "the connection stayed open after a framing error")
        return responses[0]

    def post(self, headers: str, body: bytes = b"", path="/v1/uris/canonicalize") -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" + headers +
                "\r\n").encode() + body

    # ---- the reported smuggling and its relatives ---------------------------------------

    def test_two_content_lengths_do_not_smuggle_a_second_request(self):
        smuggled = b"GET /v1/nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
        raw = self.post(f"Content-Length: {len(CANON)}\r\nContent-Length: {len(CANON) + len(smuggled)}\r\n",
                        CANON + smuggled)
        self.assertRefusedAndClosed(raw, 400, "HTTP_FRAMING")
        # The other order, and identical repeats, are refused the same way.
        raw = self.post(f"Content-Length: {len(CANON) + len(smuggled)}\r\nContent-Length: {len(CANON)}\r\n",
                        CANON + smuggled)
        self.assertRefusedAndClosed(raw, 400, "HTTP_FRAMING")
        raw = self.post(f"Content-Length: {len(CANON)}\r\nContent-Length: {len(CANON)}\r\n", CANON)
        self.assertRefusedAndClosed(raw, 400, "HTTP_FRAMING")

    def test_content_length_must_be_plain_digits(self):
        for value in ["+29", "-1", "29, 29", "0x1d", "29 29", "1e3", "29;"]:
            with self.subTest(value=value):
                self.assertRefusedAndClosed(self.post(f"Content-Length: {value}\r\n", CANON), 400, "HTTP_FRAMING")

    def test_content_length_with_transfer_encoding(self):
        chunked = f"{len(CANON):x}\r\n".encode() + CANON + b"\r\n0\r\n\r\n"
        for headers in [f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked\r\n",
                        f"Transfer-Encoding: chunked\r\nContent-Length: {len(CANON)}\r\n"]:
            with self.subTest(headers=headers):
                self.assertRefusedAndClosed(self.post(headers, chunked), 400, "HTTP_FRAMING")

    def test_transfer_encoding_other_than_exactly_chunked(self):
        chunked = f"{len(CANON):x}\r\n".encode() + CANON + b"\r\n0\r\n\r\n"
        for te in ["gzip, chunked", "chunked, chunked", "identity", "xchunked", "chunked, identity"]:
            with self.subTest(te=te):
                self.assertRefusedAndClosed(self.post(f"Transfer-Encoding: {te}\r\n", chunked), 400, "HTTP_FRAMING")
        self.assertRefusedAndClosed(
            self.post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked), 400, "HTTP_FRAMING")

    def test_bad_chunk_sizes(self):
        for size_line in [b"-1d", b"0x1d", b" 1d", b"1d ", b"+1d", b"1dz", b"1d;\x01", b"00000000000000001d"]:
            with self.subTest(size_line=size_line):
                body = size_line + b"\r\n" + CANON + b"\r\n0\r\n\r\n"
                self.assertRefusedAndClosed(self.post("Transfer-Encoding: chunked\r\n", body), 400, "HTTP_FRAMING")
        # Data longer than its chunk size (the extra bytes would be a request).
        body = b"5\r\n" + CANON + b"\r\n0\r\n\r\n"
        self.assertRefusedAndClosed(self.post("Transfer-Encoding: chunked\r\n", body), 400, "HTTP_FRAMING")
        # A size over the limit is refused from the size line alone.
        self.assertRefusedAndClosed(self.post("Transfer-Encoding: chunked\r\n", b"ffffffff\r\n"), 413, "BODY_TOO_LARGE")

    def test_a_valid_chunked_body_is_served(self):
        body = b"5\r\n" + CANON[:5] + b"\r\n" + f"{len(CANON) - 5:x};ext=1\r\n".encode() + CANON[5:] + \
            b"\r\n0\r\nX-Trailer: t\r\n\r\n"
        data, _ = self.exchange(self.post("Transfer-Encoding: chunked\r\nConnection: close\r\n", body))
        (status, reason, _, payload), = parse_responses(data)
        self.assertEqual((status, reason), (200, "OK"), data)
        self.assertEqual(json.loads(payload)["canonical"], "secret://acme/kv/a")

    def test_obs_fold_and_header_syntax(self):
        self.assertRefusedAndClosed(self.post(f"Content-Length: {len(CANON)}\r\nX-A: 1\r\n folded\r\n", CANON),
                                    400, "HTTP_MALFORMED")
        self.assertRefusedAndClosed(self.post(f"Content-Length : {len(CANON)}\r\n", CANON), 400, "HTTP_MALFORMED")
        self.assertRefusedAndClosed(
            b"POST /v1/uris/canonicalize HTTP/1.1\nHost: localhost\nContent-Length: 29\n\n" + CANON, 400,
            "HTTP_MALFORMED")
        # A repeated single-valued header is not resolved by "first wins" any more.
        self.assertRefusedAndClosed(
            self.post(f"Content-Length: {len(CANON)}\r\nContent-Type: text/plain\r\n", CANON), 400, "HTTP_MALFORMED")

    def test_http11_needs_exactly_one_valid_host(self):
        body = CANON
        base = f"POST /v1/uris/canonicalize HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.assertRefusedAndClosed((base + "\r\n").encode() + body, 400, "HOST_INVALID")
        self.assertRefusedAndClosed((base + "Host: localhost\r\nHost: localhost\r\n\r\n").encode() + body, 400,
                                    "HOST_INVALID")
        self.assertRefusedAndClosed((base + "Host: local host\r\n\r\n").encode() + body, 400, "HOST_INVALID")

    def test_garbage_request_lines_get_the_json_error_shape(self):
        for line in [b"GARBAGE", b"GET /healthz", b"GET  /healthz HTTP/1.1", b"GET http://evil.example/healthz HTTP/1.1",
                     b"\x16\x03\x01 hello", b"GET /a b HTTP/1.1"]:
            with self.subTest(line=line):
                self.assertRefusedAndClosed(line + b"\r\nHost: localhost\r\n\r\n", 400, "HTTP_MALFORMED")
        status, reason, _, _ = self.assertRefusedAndClosed(b"GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n", 505,
                                                           "HTTP_VERSION_NOT_SUPPORTED")
        self.assertEqual(reason, "HTTP Version Not Supported")

    def test_reason_phrases_match_the_status(self):
        raw = (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
               b"GET /v1/nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
               b"DELETE /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
               b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data, closed = self.exchange(raw)
        got = [(status, reason) for status, reason, _, _ in parse_responses(data)]
        # Pipelined requests are answered in order on one connection.
        self.assertEqual(got, [(200, "OK"), (404, "Not Found"), (405, "Method Not Allowed"), (200, "OK")])
        self.assertTrue(closed)

    def test_an_unread_body_is_never_taken_for_a_request(self):
        smuggled = b"GET /v1/nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
        raw = f"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(smuggled)}\r\n\r\n".encode() + smuggled
        data, closed = self.exchange(raw)
        responses = parse_responses(data)
        self.assertEqual([r[0] for r in responses], [200], data)
        self.assertTrue(closed)

    def test_expect_100_continue_with_an_oversized_body_gets_413_at_once(self):
        # Before: "100 Continue", then the connection dropped about half the time.
        for _ in range(10):
            s = self.sg.tls_socket()
            s.settimeout(5)
            try:
                s.sendall(self.post(f"Content-Length: {MAX_BODY * 100}\r\nExpect: 100-continue\r\n"))
                data = b""
                while True:
                    try:
                        chunk = s.recv(65536)
                    except (ssl.SSLError, ConnectionError):
                        break
                    if not chunk:
                        break
                    data += chunk
            finally:
                s.close()
            self.assertNotIn(b"100 Continue", data)
            (status, reason, headers, body), = parse_responses(data)
            self.assertEqual((status, reason), (413, "Content Too Large"))
            self.assertEqual(json.loads(body)["error"]["code"], "BODY_TOO_LARGE")
            self.assertEqual(headers.get("connection"), "close")

    def test_expect_100_continue_within_the_limit(self):
        s = self.sg.tls_socket()
        s.settimeout(5)
        try:
            s.sendall(self.post(f"Content-Length: {len(CANON)}\r\nExpect: 100-continue\r\nConnection: close\r\n"))
            interim = s.recv(65536)
            self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(CANON)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        finally:
            s.close()
        (status, _, _, body), = parse_responses(data)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["canonical"], "secret://acme/kv/a")
        # Any other expectation is refused.
        self.assertRefusedAndClosed(self.post(f"Content-Length: {len(CANON)}\r\nExpect: 200-ok\r\n", CANON), 417,
                                    "EXPECTATION_FAILED")

    def test_a_stalled_body_gets_408(self):
        start = time.time()
        data, closed = self.exchange(self.post("Content-Length: 100\r\n", b"{"))
        (status, reason, _, body), = parse_responses(data)
        self.assertEqual((status, reason), (408, "Request Timeout"))
        self.assertEqual(json.loads(body)["error"]["code"], "REQUEST_TIMEOUT")
        self.assertTrue(closed)
        self.assertLess(time.time() - start, DEADLINE_MS / 1000 + 3)

    def test_a_stalled_chunked_body_gets_408(self):
        data, closed = self.exchange(self.post("Transfer-Encoding: chunked\r\n", b"64\r\n{"))
        (status, _, _, body), = parse_responses(data)
        self.assertEqual(status, 408)
        self.assertEqual(json.loads(body)["error"]["code"], "REQUEST_TIMEOUT")
        self.assertTrue(closed)

    def test_keep_alive_still_works_after_all_this(self):
        raw = (self.post(f"Content-Length: {len(CANON)}\r\n", CANON) +
               self.post(f"Content-Length: {len(CANON)}\r\nConnection: close\r\n", CANON))
        data, closed = self.exchange(raw)
        self.assertEqual([r[0] for r in parse_responses(data)], [200, 200])
        self.assertTrue(closed)


if __name__ == "__main__":
    unittest.main()
