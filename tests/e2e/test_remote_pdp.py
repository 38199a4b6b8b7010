"""sealgated with an external PDP (OPA Data API, AuthZEN batch) over mTLS, against
a contract stub (contract_stub_pdp.py): decisions, obligations, and fail-closed
behaviour when the PDP is wrong, failing, late or gone."""
import datetime
import ipaddress
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance  # noqa: E402
from contract_stub_pdp import StubPdp  # noqa: E402
from dpop_client import decode_claims  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

TIMEOUT_MS = 500


def issue(directory, name, ca, ca_key, san, server):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                  else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    with open(paths[0], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(paths[1], 0o600)
    return paths


class RemotePdpBase:
    kind = None

    @classmethod
    def setUpClass(cls):
        probe = Instance()  # only for its CA: issue the stub's and sealgate's PDP certificates
        cls.sg = probe
        pki = os.path.join(probe.dir, "pki")
        with open(os.path.join(pki, "ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(pki, "ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        server = issue(pki, "stub-pdp", ca, ca_key, [x509.DNSName("localhost"),
                                                      x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], True)
        client = issue(pki, "pdp-client", ca, ca_key, [x509.UniformResourceIdentifier("spiffe://sealgate-admin/admin/pep")],
                       False)
        cls.stub = StubPdp(cls.kind, server[0], server[1], os.path.join(pki, "ca.pem"))
        path = "/v1/data/sealgate/authz" if cls.kind == "opa" else ""
        with open(probe.config) as f:
            conf = json.load(f)
        conf["pdp"] = {"type": cls.kind, "url": f"https://127.0.0.1:{cls.stub.port}{path}", "ca_file": "pki/ca.pem",
                       "cert_file": "pki/pdp-client.pem", "key_file": "pki/pdp-client.key", "timeout_ms": TIMEOUT_MS}
        with open(probe.config, "w") as f:
            json.dump(conf, f)
        probe.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()
        cls.stub.stop()

    def setUp(self):
        self.stub.mode = "normal"

    def authorize(self):
        return self.sg.request("POST", "/v1/authorize", body={"requests": [
            {"uri": "secret://acme/kv/app/db#password", "action": "use", "context": {"ticket": "T-9"}},
            {"uri": "secret://acme/kv/other/x", "action": "use"},
            {"uri": "secret://globex/kv/x", "action": "use"}]})

    def test_one_call_per_batch_and_decisions(self):
        before = len(self.stub.calls)
        status, body, _, raw = self.authorize()
        self.assertEqual(status, 200, raw)
        self.assertEqual(len(self.stub.calls), before + 1)
        self.assertEqual([r["decision"] for r in body["results"]], ["allow", "deny", "deny"])
        self.assertEqual(body["results"][2]["reason"], "URI_TENANT_MISMATCH")  # never sent to the PDP
        self.assertIn(body["results"][1]["reason"], ("OPA_SAYS_NO", "AUTHZEN_SAYS_NO"))
        claims = decode_claims(body["grant"])
        self.assertEqual((claims["max_uses"], claims["exp"] - claims["iat"]), (2, 120))
        path, sent = self.stub.calls[-1]
        if self.kind == "opa":
            self.assertEqual(path, "/v1/data/sealgate/authz")
            self.assertEqual(sent["input"]["subject"]["spiffe_id"], "spiffe://acme/payments")
            self.assertEqual([r["uri"] for r in sent["input"]["requests"]],
                             ["secret://acme/kv/app/db#password", "secret://acme/kv/other/x"])
            self.assertEqual(sent["input"]["requests"][0]["context"], {"ticket": "T-9"})
            with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
                last = [json.loads(line) for line in f][-1]
            self.assertEqual(last["decision_id"], body["decision_id"])
            self.assertEqual(last["results"][0]["pdp_decision_id"], "opa-3")  # OPA's id beside sealgate's
        else:
            self.assertEqual(path, "/access/v1/evaluations")
            self.assertEqual(sent["subject"]["id"], "spiffe://acme/payments")
            self.assertEqual(len(sent["evaluations"]), 2)
            self.assertEqual(sent["options"]["evaluations_semantic"], "execute_all")

    def test_wrong_shapes_deny(self):
        for mode in ("undefined", "badshape", "notjson"):
            self.stub.mode = mode
            status, body, _, raw = self.authorize()
            self.assertEqual(status, 200, raw)
            self.assertEqual([r["decision"] for r in body["results"]], ["deny"] * 3, mode)
            self.assertNotIn("grant", body)

    def pdp_status(self):
        status, body, _, raw = self.sg.request("GET", "/admin/v1/status", client="auditor", listener="admin")
        self.assertEqual(status, 200, raw)
        return body["pdp"]

    def test_failing_late_or_gone_pdp_fails_closed(self):
        for mode in ("error", "hang"):
            self.stub.mode = mode
            before = self.pdp_status()
            start = time.time()
            status, body, _, _ = self.authorize()
            self.assertEqual((status, body["error"]["code"]), (503, "PDP_UNAVAILABLE"), mode)
            self.assertLess(time.time() - start, TIMEOUT_MS / 1000 * 4 + 1, mode)
            self.assertNotIn("grant", body)
            # The status (the web UI's overview) names the failure and counts it.
            after = self.pdp_status()
            self.assertEqual((after["type"], after["last"]["ok"], after["last"]["code"]),
                             (self.kind, False, "PDP_UNAVAILABLE"), mode)
            self.assertEqual((after["calls"], after["failures"]), (before["calls"] + 1, before["failures"] + 1))
        self.stub.mode = "normal"
        # A URI of its own: the decision cache must not remember the other tests' URIs from here.
        status, _, _, raw = self.sg.request("POST", "/v1/authorize", body={"requests": [
            {"uri": "secret://acme/kv/app/status-probe#x", "action": "use"}]})
        self.assertEqual(status, 200, raw)
        last = self.pdp_status()["last"]
        self.assertTrue(last["ok"])
        self.assertNotIn("code", last)
        self.assertGreaterEqual(last["latency_ms"], 0)


class OpaTest(RemotePdpBase, unittest.TestCase):
    kind = "opa"


class AuthzenTest(RemotePdpBase, unittest.TestCase):
    kind = "authzen"

    def test_zz_stopped_pdp_fails_closed(self):
        self.stub.stop()
        status, body, _, _ = self.authorize()
        self.assertEqual((status, body["error"]["code"]), (503, "PDP_UNAVAILABLE"))
        self.__class__.stub = StubPdp.__new__(StubPdp)  # already stopped; tearDown must not stop twice
        self.__class__.stub.stop = lambda: None


if __name__ == "__main__":
    unittest.main(verbosity=2)
