"""End-to-end tests of sealgated over mTLS: a real SoftHSM2 token (dev-init), the
real daemon, and Python's ssl/http.client as the client."""
import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SEALGATE, SEALGATED, Instance, encodings  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

REF_RE = re.compile(r"^rr1:v1:[a-z2-7]{26}$")
CANARY_SEGMENT = "CanaryPathQ7x9"
DEADLINE_MS = 1500


def make_cert(directory, name, spiffe, issuer_cert=None, issuer_key=None, days=1, not_before_days=0):
    """Issues a client certificate (self-signed CA when no issuer is given)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    if issuer_cert is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue CA")])
        issuer_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                       .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
                       .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                       .sign(ca_key, hashes.SHA256()))
        issuer_key = ca_key
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=not_before_days) - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def read_pin(directory):
    with open(os.path.join(directory, "hsm.pin")) as f:
        return f.read().strip()


class DaemonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(limits={"request_deadline_ms": DEADLINE_MS, "keepalive_timeout_ms": 1000,
                                  "max_body_bytes": 4096, "worker_threads": 4, "max_connections": 8})
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def canonicalize(self, uri, client="acme-payments"):
        return self.sg.request("POST", "/v1/uris/canonicalize", client=client, body={"uri": uri})

    def assertError(self, result, status, code):
        got_status, body, headers, raw = result
        self.assertEqual(got_status, status, raw)
        self.assertEqual(body["error"]["code"], code, raw)
        self.assertTrue(body["error"]["message"])
        self.assertEqual(body["error"]["correlation_id"], headers["X-Correlation-Id"])

    # ---- the happy path --------------------------------------------------------------

    def test_canonicalize_acme_uri(self):
        status, body, headers, _ = self.canonicalize("SECRET://ACME/KV/payments/%73tripe?version=3#api_key")
        self.assertEqual(status, 200)
        self.assertEqual(body["canonical"], "secret://acme/kv/payments/stripe?version=3#api_key")
        self.assertEqual(body["arn"], "arn:sealgate:secrets:v1:acme:kv/payments/stripe:version=3:field=api_key")
        self.assertRegex(body["resource_ref"], REF_RE)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["Cache-Control"], "no-store")
        # Same canonical form, same ref; a different field, a different ref.
        again = self.canonicalize("secret://acme/kv/payments/stripe?version=3#api_key")[1]
        other = self.canonicalize("secret://acme/kv/payments/stripe?version=3#username")[1]
        self.assertEqual(again["resource_ref"], body["resource_ref"])
        self.assertNotEqual(other["resource_ref"], body["resource_ref"])

    def test_foreign_tenant_is_refused(self):
        result = self.canonicalize("secret://globex/kv/" + CANARY_SEGMENT)
        self.assertError(result, 403, "URI_TENANT_MISMATCH")
        self.assertNotIn(CANARY_SEGMENT, result[3].decode())
        # And the other way round.
        self.assertError(self.canonicalize("secret://acme/kv/x", client="globex-billing"), 403, "URI_TENANT_MISMATCH")
        self.assertEqual(self.canonicalize("secret://globex/kv/x", client="globex-billing")[0], 200)

    def test_every_uri_rejection_class(self):
        cases = {
            "secret://acme/kv/" + "a/" * 600 + "b": "URI_TOO_LONG",
            "secret://acme/kv/a b": "URI_CHARSET",
            "secret://acme/kv/caf\u00e9": "URI_CHARSET",
            "https://acme/kv/a": "URI_SCHEME",
            "secret://user@acme/kv/a": "URI_AUTHORITY",
            "secret://acme:443/kv/a": "URI_AUTHORITY",
            "secret://-acme/kv/a": "URI_TENANT",
            "secret://sealgate-admin/kv/a": "URI_TENANT",
            "secret://acme/_kv/a": "URI_MOUNT",
            "secret://acme/kv": "URI_PATH",
            "secret://acme/kv/a!b": "URI_PATH",
            "secret://acme/kv/a//b": "URI_EMPTY_SEGMENT",
            "secret://acme/kv/a/": "URI_EMPTY_SEGMENT",
            "secret://acme/kv/a%2Fb": "URI_ENCODING",
            "secret://acme/kv/a%zz": "URI_ENCODING",
            "secret://acme/kv/../b": "URI_TRAVERSAL",
            "secret://acme/kv/%2e%2e/b": "URI_TRAVERSAL",
            "secret://acme/kv/a?v=1": "URI_QUERY",
            "secret://acme/kv/a?version=1&version=2": "URI_QUERY",
            "secret://acme/kv/a?version=007": "URI_VERSION",
            "secret://acme/kv/a?version=2147483648": "URI_VERSION",
            "secret://acme/kv/a#": "URI_FIELD",
            "secret://acme/kv/a#f/g": "URI_FIELD",
        }
        for uri, code in cases.items():
            with self.subTest(uri=uri[:60]):
                result = self.canonicalize(uri)
                self.assertError(result, 400, code)

    # ---- bad requests -------------------------------------------------------------------

    def test_malformed_json_unknown_fields_and_types(self):
        post = lambda raw: self.sg.request("POST", "/v1/uris/canonicalize", raw_body=raw,  # noqa: E731
                                           headers={"Content-Type": "application/json"})
        self.assertError(post(b'{"uri": "secret://acme/kv/a"'), 400, "BAD_JSON")
        self.assertError(post(b'["secret://acme/kv/a"]'), 400, "BAD_JSON")
        self.assertError(post(b"\xff\xfe"), 400, "BAD_JSON")
        self.assertError(post(b""), 400, "BAD_JSON")
        self.assertError(post(b'{"uri": "secret://acme/kv/a", "extra": 1}'), 400, "UNKNOWN_FIELD")
        self.assertError(post(b'{"uri": 5}'), 400, "INVALID_REQUEST")
        self.assertError(post(b"{}"), 400, "INVALID_REQUEST")

    def test_content_type_is_enforced(self):
        body = b'{"uri": "secret://acme/kv/a"}'
        self.assertError(self.sg.request("POST", "/v1/uris/canonicalize", raw_body=body,
                                         headers={"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE")
        self.assertError(self.sg.request("POST", "/v1/uris/canonicalize", raw_body=body), 415,
                         "UNSUPPORTED_MEDIA_TYPE")
        ok = self.sg.request("POST", "/v1/uris/canonicalize", raw_body=body,
                             headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(ok[0], 200)

    def test_oversized_bodies(self):
        big = json.dumps({"uri": "secret://acme/kv/" + "a" * 5000}).encode()
        self.assertError(self.sg.request("POST", "/v1/uris/canonicalize", raw_body=big,
                                         headers={"Content-Type": "application/json"}), 413, "BODY_TOO_LARGE")

        def chunks():
            for _ in range(10):
                yield b"x" * 1000
        conn_result = self.sg.request("POST", "/v1/uris/canonicalize", raw_body=chunks(),
                                      headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        self.assertError(conn_result, 413, "BODY_TOO_LARGE")

    def test_unknown_paths_and_wrong_methods(self):
        self.assertError(self.sg.request("GET", "/v1/nope"), 404, "NOT_FOUND")
        self.assertError(self.sg.request("GET", "/admin/v1/status"), 404, "NOT_FOUND")
        result = self.sg.request("GET", "/v1/uris/canonicalize")
        self.assertError(result, 405, "METHOD_NOT_ALLOWED")
        self.assertEqual(result[2]["Allow"], "POST")
        self.assertError(self.sg.request("DELETE", "/healthz"), 405, "METHOD_NOT_ALLOWED")

    # ---- authentication ------------------------------------------------------------------

    def expect_handshake_refused(self, ctx):
        before = self.sg.read_log()
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.sg.request("GET", "/healthz", ctx=ctx)
        time.sleep(0.2)
        after = self.sg.read_log()
        # The log is append-only. A request answered before this probe may log just after
        # it; only a line for a request nobody got an answer to means the probe got in.
        new_lines = [json.loads(line) for line in after[len(before):].splitlines() if line.strip()]
        unanswered = [e for e in new_lines if e.get("event") == "http_request"
                      and e.get("correlation_id") not in self.sg.answered_correlation_ids]
        self.assertEqual(unanswered, [], "a handler was reached")
        self.assertTrue(any(e.get("event") == "connection_rejected" for e in new_lines))

    def test_verified_client_closing_without_request_is_not_a_rejection(self):
        before = self.sg.read_log().count('"connection_rejected"')
        self.sg.tls_socket().close()
        self.assertEqual(self.sg.request("GET", "/healthz")[0], 200)
        time.sleep(0.2)
        self.assertEqual(self.sg.read_log().count('"connection_rejected"'), before)

    def test_no_client_certificate_fails_the_handshake(self):
        self.expect_handshake_refused(self.sg.tls_context())

    def test_certificate_from_another_ca_fails_the_handshake(self):
        cert, key = make_cert(self.sg.dir, "rogue", "spiffe://acme/payments")
        self.expect_handshake_refused(self.sg.tls_context(cert=cert, key=key))

    def test_expired_and_not_yet_valid_certificates_fail(self):
        with open(os.path.join(self.sg.dir, "pki/ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(self.sg.dir, "pki/ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        cert, key = make_cert(self.sg.dir, "expired", "spiffe://acme/payments", ca, ca_key, days=-1, not_before_days=-3)
        self.expect_handshake_refused(self.sg.tls_context(cert=cert, key=key))
        cert, key = make_cert(self.sg.dir, "future", "spiffe://acme/payments", ca, ca_key, days=5, not_before_days=2)
        self.expect_handshake_refused(self.sg.tls_context(cert=cert, key=key))
        # The same CA with a valid window is accepted: the refusals above are about validity.
        cert, key = make_cert(self.sg.dir, "valid", "spiffe://acme/payments", ca, ca_key)
        self.assertEqual(self.sg.request("GET", "/healthz", ctx=self.sg.tls_context(cert=cert, key=key))[0], 200)

    def test_certificate_without_spiffe_identity_is_refused(self):
        with open(os.path.join(self.sg.dir, "pki/ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(self.sg.dir, "pki/ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        cert, key = make_cert(self.sg.dir, "badid", "spiffe://acme/payments/extra", ca, ca_key)
        result = self.sg.request("POST", "/v1/uris/canonicalize", body={"uri": "secret://acme/kv/a"},
                                 ctx=self.sg.tls_context(cert=cert, key=key))
        self.assertError(result, 403, "IDENTITY_INVALID")

    def test_listener_identity_rules(self):
        self.assertError(self.sg.request("POST", "/v1/uris/canonicalize", client="admin",
                                         body={"uri": "secret://acme/kv/a"}), 403, "WRONG_LISTENER")
        self.assertError(self.sg.request("GET", "/admin/v1/status", listener="admin"), 403, "WRONG_LISTENER")
        self.assertError(self.sg.request("GET", "/admin/v1/status", client="approver-1", listener="admin"), 403,
                         "FORBIDDEN")
        self.assertEqual(self.sg.request("GET", "/admin/v1/status", client="auditor", listener="admin")[0], 200)
        # Probes answer any verified client on either listener.
        self.assertEqual(self.sg.request("GET", "/healthz", client="admin")[0], 200)
        self.assertEqual(self.sg.request("GET", "/healthz", listener="admin")[0], 200)

    # ---- probes, status, openapi -----------------------------------------------------------

    def test_health_and_readiness(self):
        status, body, _, _ = self.sg.request("GET", "/healthz")
        self.assertEqual((status, body), (200, {"status": "ok"}))
        status, body, _, _ = self.sg.request("GET", "/readyz")
        self.assertEqual(status, 200)
        self.assertEqual(body["checks"]["hsm"]["status"], "ok")

    def test_admin_status_shows_keys_by_label_never_values(self):
        status, body, _, raw = self.sg.request("GET", "/admin/v1/status", client="admin", listener="admin")
        self.assertEqual(status, 200)
        self.assertEqual(body["hsm"]["token"]["label"], "sealgate-dev")
        self.assertTrue(body["hsm"]["token"]["logged_in"])
        labels = {k["label"]: k for k in body["hsm"]["keys"]}
        self.assertEqual(set(labels), {"sealgate-ref-hmac-v1", "sealgate-grant-es256-v1", "sealgate-audit-es256-v1",
                                       "sealgate-tls", "sealgate-kek"})
        for k in labels.values():
            self.assertFalse(k["attributes"]["EXTRACTABLE"])
            self.assertTrue(k["attributes"]["SENSITIVE"])
            self.assertRegex(k["fingerprint"], r"^(sha256:[0-9a-f]{64}|kcv:[0-9a-f]{16})$")
        self.assertEqual(body["hsm"]["ref_key_version"], 1)
        pin = read_pin(self.sg.dir)
        for form in encodings(pin):
            self.assertNotIn(form, raw.decode())

    def test_openapi_document_lists_the_served_paths(self):
        status, body, _, _ = self.sg.request("GET", "/v1/openapi.json")
        self.assertEqual(status, 200)
        self.assertEqual(body["openapi"][:2], "3.")
        for path in ["/healthz", "/readyz", "/v1/uris/canonicalize", "/admin/v1/status", "/v1/openapi.json",
                     "/v1/execute", "/metrics"]:
            self.assertIn(path, body["paths"])

    def test_keys_list_cli(self):
        out = subprocess.run([SEALGATE, "keys", "list", "--config", self.sg.config, "--json"], check=True,
                             capture_output=True, text=True).stdout
        keys = {k["label"]: k for k in json.loads(out)}
        self.assertEqual(len(keys), 5)
        self.assertEqual(keys["sealgate-kek"]["type"], "aes-256")
        self.assertFalse(keys["sealgate-tls"]["attributes"]["EXTRACTABLE"])
        text = subprocess.run([SEALGATE, "keys", "list", "--config", self.sg.config], check=True,
                              capture_output=True, text=True).stdout
        self.assertIn("sealgate-ref-hmac-v1", text)
        self.assertIn("kcv:", text)

    # ---- slow clients, connection cap ----------------------------------------------------

    def test_slow_header_client_is_cut_off_at_the_deadline(self):
        s = self.sg.tls_socket()
        start = time.time()
        closed_at = None
        try:
            for ch in b"POST /v1/uris/canonicalize HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100:
                s.sendall(bytes([ch]))
                time.sleep(0.1)
                if time.time() - start > DEADLINE_MS / 1000 * 4:
                    break
            else:
                pass
            s.settimeout(5)
            data = s.recv(100)
            if data == b"":
                closed_at = time.time()
        except (ssl.SSLError, ConnectionError, OSError):
            closed_at = time.time()
        finally:
            s.close()
        self.assertIsNotNone(closed_at, "the server kept a trickling connection open")
        self.assertLess(closed_at - start, DEADLINE_MS / 1000 + 3.5)

    def test_slow_body_gets_408(self):
        s = self.sg.tls_socket()
        try:
            s.sendall(b"POST /v1/uris/canonicalize HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n")
            start = time.time()
            response = b""
            s.settimeout(0.3)
            while time.time() - start < DEADLINE_MS / 1000 + 4:
                try:
                    s.sendall(b" ")
                except (ssl.SSLError, ConnectionError, OSError):
                    break
                try:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    response += chunk
                    if b"\r\n\r\n" in response and b"}" in response:
                        break
                except (socket.timeout, ssl.SSLWantReadError):
                    pass
            self.assertIn(b" 408 ", response.split(b"\r\n")[0])
            self.assertIn(b"REQUEST_TIMEOUT", response)
            self.assertLess(time.time() - start, DEADLINE_MS / 1000 + 1.5)
        finally:
            s.close()

    def test_connection_cap_refuses_extra_connections_and_recovers(self):
        # 4 workers + 4 queued = 8: hold 12 silent TCP connections (no TLS hello).
        idle = [socket.create_connection(("127.0.0.1", self.sg.pep_port)) for _ in range(12)]
        try:
            time.sleep(0.5)
            refused = 0
            for s in idle:
                s.settimeout(0.05)
                try:
                    if s.recv(1) == b"":
                        refused += 1
                except socket.timeout:
                    pass
                except ConnectionError:
                    refused += 1
            self.assertGreaterEqual(refused, 4, "connections beyond the cap were not refused")
            # The held connections are cut at the deadline; service resumes.
            start = time.time()
            status = None
            while time.time() - start < DEADLINE_MS / 1000 * 3 + 5 and status != 200:
                try:
                    status = self.sg.request("GET", "/healthz")[0]
                except (ssl.SSLError, ConnectionError, OSError):
                    time.sleep(0.2)
            self.assertEqual(status, 200)
        finally:
            for s in idle:
                s.close()

    def test_concurrent_requests_all_succeed(self):
        # Fewer clients than workers: each request opens a new connection, and a
        # closed one may still hold its worker briefly, so a count near the cap
        # would (rightly) see refusals under load.
        results = []

        def worker(i):
            for j in range(20):
                results.append(self.canonicalize(f"secret://acme/kv/app/s{i}x{j}")[0])
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 60)

    # ---- no plaintext in logs ----------------------------------------------------------------

    def test_logs_are_json_with_correlation_ids_and_no_uris_or_pins(self):
        status, body, headers, _ = self.canonicalize("secret://acme/kv/" + CANARY_SEGMENT + "#api_key")
        self.assertEqual(status, 200)
        self.assertError(self.canonicalize("secret://globex/kv/" + CANARY_SEGMENT), 403, "URI_TENANT_MISMATCH")
        time.sleep(0.2)
        lines = self.sg.log_lines()
        self.assertTrue(all("unparsed" not in line for line in lines), [l for l in lines if "unparsed" in l][:3])
        ids = {line.get("correlation_id") for line in lines}
        self.assertIn(headers["X-Correlation-Id"], ids)
        text = self.sg.read_log()
        pin = read_pin(self.sg.dir)
        for canary in [CANARY_SEGMENT, "secret://acme/kv/" + CANARY_SEGMENT, pin]:
            for form in encodings(canary):
                self.assertNotIn(form, text, f"log leaks {canary!r} as {form!r}")


class LifecycleTest(unittest.TestCase):
    """Start-up failures, readiness when a key disappears, clean shutdown."""

    def setUp(self):
        self.sg = Instance()

    def tearDown(self):
        self.sg.cleanup()

    def test_bad_config_and_wrong_pin_fail_closed(self):
        bad = os.path.join(self.sg.dir, "bad.conf")
        with open(bad, "w") as f:
            f.write('{"pep": {"listen": "127.0.0.1:0", "typo": 1}}')
        r = subprocess.run([SEALGATED, "--config", bad], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("CONFIG_INVALID", r.stderr)
        self.assertIn("pep.typo", r.stderr)

        with open(os.path.join(self.sg.dir, "hsm.pin"), "w") as f:
            f.write("wrong-pin\n")
        r = subprocess.run([SEALGATED, "--config", self.sg.config], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("HSM_PIN", r.stdout + r.stderr)
        self.assertNotIn("wrong-pin", r.stdout + r.stderr)

        r = subprocess.run([SEALGATED, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--config", r.stdout)

    def test_readyz_fails_when_a_key_disappears_and_sigterm_stops_cleanly(self):
        self.sg.start()
        self.assertEqual(self.sg.request("GET", "/readyz")[0], 200)
        pin = read_pin(self.sg.dir)
        env = dict(os.environ, SOFTHSM2_CONF=os.path.join(self.sg.dir, "softhsm2.conf"))
        subprocess.run(["pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label", "sealgate-dev",
                        "--login", "--pin", pin, "--delete-object", "--type", "secrkey", "--label", "sealgate-kek"],
                       check=True, capture_output=True, env=env)
        status, body, _, _ = self.sg.request("GET", "/readyz")
        self.assertEqual(status, 503)
        self.assertEqual(body["status"], "not_ready")
        self.assertEqual(body["checks"]["hsm"]["code"], "HSM_KEY_MISSING")
        self.assertIn("sealgate-kek", body["checks"]["hsm"]["missing"])
        # The operator's `sealgate status` says the same, and exits 1.
        out = self.status_cli("auditor")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(": NOT READY", out.stdout)
        self.assertRegex(out.stdout, r"HSM +DOWN HSM_KEY_MISSING")
        # Liveness is unaffected.
        self.assertEqual(self.sg.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.sg.stop(), 0)
        events = [line.get("event") for line in self.sg.log_lines()]
        self.assertIn("stopping", events)
        self.assertEqual(events[-1], "stopped")

    def status_cli(self, client, *extra):
        cert, key = self.sg.client(client)
        return subprocess.run([SEALGATE, "status", "--admin", f"https://localhost:{self.sg.admin_port}",
                               "--ca", os.path.join(self.sg.dir, "pki/ca.pem"), "--cert", cert, "--key", key, *extra],
                              capture_output=True, text=True, timeout=60)

    def test_status_cli(self):
        self.sg.start()
        out = self.status_cli("admin")
        self.assertEqual(out.returncode, 0, out.stderr)
        first, *lines = out.stdout.splitlines()
        self.assertEqual(first, "sealgate-e2e: ready")
        self.assertRegex(out.stdout, r"HSM +ok +token sealgate-dev, 5 keys")
        self.assertRegex(out.stdout, r"audit log +ok +\d+ entries")
        self.assertRegex(out.stdout, r"PDP +ok +embedded, \d+ calls, 0 failed")
        out = self.status_cli("auditor", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        answer = json.loads(out.stdout)
        self.assertTrue(answer["ready"])
        self.assertEqual(answer["readiness"]["status"], "ready")
        self.assertEqual(len(answer["status"]["hsm"]["keys"]), 5)
        # A service's certificate is refused on the admin listener: exit 2, the API's code.
        out = self.status_cli("acme-payments")
        self.assertEqual(out.returncode, 2)
        self.assertIn("WRONG_LISTENER", out.stderr)
        self.assertEqual(out.stdout, "")

    def test_dev_init_refuses_to_overwrite_without_force(self):
        r = subprocess.run([SEALGATE, "dev-init", "--dir", self.sg.dir], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--force", r.stderr)
        for name in ["acme-payments", "globex-billing", "admin", "auditor", "approver-1", "approver-2", "approver-3"]:
            self.assertTrue(os.path.exists(os.path.join(self.sg.dir, f"pki/clients/{name}.pem")))
        self.assertEqual(os.stat(os.path.join(self.sg.dir, "hsm.pin")).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.join(self.sg.dir, "pki/ca.key")).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    unittest.main(verbosity=2)
