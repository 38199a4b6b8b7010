"""Issue 12, item 11: TLS handshakes must not hold request workers.

Before the fix, 20 idle unauthenticated TCP connections made an authenticated
/healthz take 5.2 s: each held a worker thread while its handshake waited. Now a
separate accept/handshake stage drives handshakes without workers, closes those
not done within limits.handshake_timeout_ms, and caps connections per peer
address (limits.max_connections_per_peer). The attackers below connect from
other loopback addresses (127.0.0.2-4) than the authenticated client (127.0.0.1).
"""
import os
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import Instance  # noqa: E402

HANDSHAKE_MS = 4000
PER_PEER = 24
WORKERS = 4


def is_open(s: socket.socket) -> bool:
    """True while the server has neither closed nor reset the connection."""
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def wait_closed(s: socket.socket, timeout: float) -> bool:
    s.settimeout(timeout)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


class StarvationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(limits={"handshake_timeout_ms": HANDSHAKE_MS, "worker_threads": WORKERS,
                                  "max_connections": 128, "max_connections_per_peer": PER_PEER})
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def connect_from(self, source: str) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.sg.pep_port), timeout=10, source_address=(source, 0))

    def test_idle_and_slowloris_handshakes_do_not_starve_authenticated_requests(self):
        idle = [self.connect_from("127.0.0.2") for _ in range(20)]  # TCP only, no ClientHello
        slow = [self.connect_from("127.0.0.3") for _ in range(20)]  # a ClientHello, one byte at a time
        stop = threading.Event()

        def trickle():
            for s in slow:
                try:
                    s.sendall(b"\x16\x03\x01\x02\x00")  # a TLS record header announcing 512 bytes
                except OSError:
                    pass
            while not stop.wait(0.2):
                for s in slow:
                    try:
                        s.sendall(b"\x01")
                    except OSError:
                        pass
        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        try:
            time.sleep(0.3)  # every attacker connection is accepted and waiting
            opened = time.time()
            # More authenticated requests than workers, each on a new connection.
            for _ in range(WORKERS + 1):
                status = self.sg.request("GET", "/healthz")[0]
                self.assertEqual(status, 200)
            answered = time.time() - opened
            # They were answered while every attacker connection was still open,
            # i.e. before the handshake timeout freed anything.
            self.assertTrue(all(is_open(s) for s in idle), f"answered after {answered:.1f}s")
            self.assertTrue(all(is_open(s) for s in slow), f"answered after {answered:.1f}s")
            # And the attackers are cut off after the handshake timeout, trickling or not.
            for s in idle + slow:
                self.assertTrue(wait_closed(s, HANDSHAKE_MS / 1000 + 5), "a handshake outlived its timeout")
        finally:
            stop.set()
            trickler.join()
            for s in idle + slow:
                s.close()
        time.sleep(0.2)
        timed_out = [line for line in self.sg.log_lines() if line.get("event") == "connection_rejected" and
                     "handshake_timeout_ms" in line.get("reason", "")]
        self.assertGreaterEqual(len(timed_out), 40)
        self.assertEqual({line["peer"] for line in timed_out} & {"127.0.0.2", "127.0.0.3"},
                         {"127.0.0.2", "127.0.0.3"})

    def test_connections_beyond_the_per_peer_cap_are_refused(self):
        held = [self.connect_from("127.0.0.4") for _ in range(PER_PEER + 6)]
        try:
            time.sleep(0.5)
            refused = [s for s in held if not is_open(s)]
            self.assertEqual(len(refused), 6, "connections beyond max_connections_per_peer were not refused")
            # Another address is not affected by that peer's cap.
            self.assertEqual(self.sg.request("GET", "/healthz")[0], 200)
        finally:
            for s in held:
                s.close()
        # Once that peer's connections close, it may connect again.
        time.sleep(0.3)
        ctx = self.sg.tls_context("acme-payments")
        raw = self.connect_from("127.0.0.4")
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            self.assertTrue(tls.recv(4096).startswith(b"HTTP/1.1 200 OK"))

    def test_a_handshake_that_completes_in_time_is_served(self):
        # A client that pauses before its ClientHello, within the timeout, is fine.
        raw = self.connect_from("127.0.0.5")
        time.sleep(HANDSHAKE_MS / 1000 / 4)
        with self.sg.tls_context("acme-payments").wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            self.assertTrue(tls.recv(4096).startswith(b"HTTP/1.1 200 OK"))


if __name__ == "__main__":
    unittest.main()
