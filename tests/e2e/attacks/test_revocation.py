"""Issue 12, item 17: certificate revocation on both listeners.

Before the fix there was no way to revoke a client certificate short of
replacing the CA. Now pep.crl_file and admin.crl_file hold CRLs of the client
CAs, reloaded when the file changes: a revoked certificate fails the TLS
handshake of its next connection, and a keep-alive connection made before the
revocation gets 401 CERTIFICATE_REVOKED at its next request.
"""
import datetime
import json
import os
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import SEALGATED, Instance  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

LISTENER = {"listen": "127.0.0.1:0", "ca_file": "pki/ca.pem", "cert_file": "pki/server.pem", "crl_file": "pki/crl.pem"}


def load_ca(directory):
    with open(os.path.join(directory, "pki/ca.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(directory, "pki/ca.key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    return ca, key


def serial_of(directory, client):
    with open(os.path.join(directory, f"pki/clients/{client}.pem"), "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).serial_number


def write_crl(path, issuer_name, key, serials, next_update_days=1):
    """A CRL revoking `serials`, written atomically (a new file replaces the old)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer_name)
               .last_update(now - datetime.timedelta(days=max(0, -next_update_days) + 1))
               .next_update(now + datetime.timedelta(days=next_update_days)))
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
    crl = builder.sign(key, hashes.SHA256())
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, path)


class RevocationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(extra={"pep": dict(LISTENER), "admin": dict(LISTENER)})
        cls.ca, cls.ca_key = load_ca(cls.sg.dir)
        cls.crl = os.path.join(cls.sg.dir, "pki/crl.pem")
        write_crl(cls.crl, cls.ca.subject, cls.ca_key, [])
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def revoke(self, *clients):
        write_crl(self.crl, self.ca.subject, self.ca_key, [serial_of(self.sg.dir, c) for c in clients])

    def assertRefused(self, client, listener="pep", path="/healthz"):
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.sg.request("GET", path, client=client, listener=listener)

    def test_revoked_after_start_is_refused_at_the_next_connection(self):
        self.revoke()
        self.assertEqual(self.sg.request("GET", "/healthz", client="acme-payments")[0], 200)
        self.revoke("acme-payments")
        self.assertRefused("acme-payments")
        self.assertEqual(self.sg.request("GET", "/healthz", client="globex-billing")[0], 200)
        time.sleep(0.2)
        rejected = [line for line in self.sg.log_lines() if line.get("event") == "connection_rejected"]
        self.assertTrue(any("revoked" in line.get("reason", "") for line in rejected), rejected[-3:])
        # Lifting the revocation is picked up the same way.
        self.revoke()
        self.assertEqual(self.sg.request("GET", "/healthz", client="acme-payments")[0], 200)

    def test_a_keep_alive_connection_made_before_the_revocation_gets_401(self):
        self.revoke()
        s = self.sg.tls_socket("acme-payments")
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            first = s.recv(65536)
            self.assertTrue(first.startswith(b"HTTP/1.1 200 OK"), first)
            # A reload that revokes someone else leaves this connection working.
            self.revoke("globex-billing")
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            second = s.recv(65536)
            self.assertTrue(second.startswith(b"HTTP/1.1 200 OK"), second)
            self.revoke("acme-payments")
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            s.settimeout(5)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 401 Unauthorized"), data)
        body = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(body["error"]["code"], "CERTIFICATE_REVOKED")
        self.revoke()

    def test_the_admin_listener_checks_its_crl_too(self):
        self.revoke()
        self.assertEqual(self.sg.request("GET", "/admin/v1/status", client="admin", listener="admin")[0], 200)
        self.revoke("admin")
        self.assertRefused("admin", listener="admin", path="/admin/v1/status")
        self.assertEqual(self.sg.request("GET", "/admin/v1/status", client="auditor", listener="admin")[0], 200)
        self.revoke()

    def test_a_crl_that_does_not_load_keeps_the_previous_one(self):
        self.revoke("acme-payments")
        self.assertRefused("acme-payments")
        # Garbage, then a CRL from another CA: neither replaces the CRLs in force.
        with open(self.crl + ".tmp", "wb") as f:
            f.write(b"-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n")
        os.replace(self.crl + ".tmp", self.crl)
        self.assertRefused("acme-payments")
        self.assertEqual(self.sg.request("GET", "/healthz", client="globex-billing")[0], 200)
        rogue_key = ec.generate_private_key(ec.SECP256R1())
        write_crl(self.crl, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue CA")]), rogue_key, [])
        self.assertRefused("acme-payments")
        # Same name as the dev CA, wrong key: the signature decides.
        write_crl(self.crl, self.ca.subject, rogue_key, [])
        self.assertRefused("acme-payments")
        time.sleep(0.2)
        failures = [line for line in self.sg.log_lines() if line.get("event") == "crl_reload_failed"]
        self.assertGreaterEqual(len(failures), 3)
        self.revoke()
        self.assertEqual(self.sg.request("GET", "/healthz", client="acme-payments")[0], 200)


class StartupTest(unittest.TestCase):
    def setUp(self):
        self.sg = Instance(extra={"pep": dict(LISTENER)})
        self.crl = os.path.join(self.sg.dir, "pki/crl.pem")

    def tearDown(self):
        self.sg.cleanup()

    def start_fails(self, needle):
        r = subprocess.run([SEALGATED, "--config", self.sg.config], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(needle, r.stdout + r.stderr)

    def test_a_bad_crl_file_refuses_to_start(self):
        self.start_fails("CRL_INVALID")  # missing
        rogue_key = ec.generate_private_key(ec.SECP256R1())
        write_crl(self.crl, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue CA")]), rogue_key, [])
        self.start_fails("CRL_INVALID")  # not from the CA
        ca, key = load_ca(self.sg.dir)
        write_crl(self.crl, ca.subject, key, [], next_update_days=-1)
        self.start_fails("nextUpdate")  # expired


if __name__ == "__main__":
    unittest.main()
