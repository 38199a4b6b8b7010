"""End-to-end tests of key rotation (docs/RUNBOOK.md, "Key rotation") on the real
daemon and its SoftHSM2 token, driven through `sealgate keys ...` and the admin API.

A grant issued before a rotation of the ref-hmac and grant keys keeps working
(execute recomputes its refs under the version it names; the old grant key still
verifies); new grants name the new versions; the correlation call links one
secret's refs across versions; an old version cannot be retired while a grant
may depend on it, and once retired it refuses those grants (KEY_RETIRED), also
after a restart. The audit key's rotation leaves a log that verifies offline
with both public keys and not with either alone. Every change is audited; no
response, log line or audit entry carries the secret's URI or value."""
import base64
import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SEALGATE, Instance, encodings  # noqa: E402

CANARY = "RotationCanary/Key+q&z=5~"
SECRET_URI = "secret://acme/kv/app/mac#key"
GRANT_TTL = 4  # grants.max_ttl_seconds: an old version is retirable GRANT_TTL + 6 s after its rotation

POLICY = {
    "version": 1,
    "rules": [
        {"id": "acme-payments-mac", "effect": "allow", "subjects": ["spiffe://acme/payments"],
         "resources": ["secret://acme/kv/app/mac"], "actions": ["use"],
         "obligations": {"connectors": ["hmac"], "max_uses": 5}},
    ],
    "egress": {},
}


def jws_header(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def jws_claims(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


class KeyRotationTest(unittest.TestCase):
    responses = []  # every byte sealgate answered, for the canary scan

    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(grants={"max_ttl_seconds": GRANT_TTL})
        with open(os.path.join(cls.sg.dir, "policy.json"), "w") as f:
            json.dump(POLICY, f)
        cls.sg.start()
        r = cls.sg.request("POST", "/v1/kv/data/app/mac", client="admin", listener="admin",
                           body={"data": {"key": CANARY}})
        assert r[0] == 200, r[3]

    @classmethod
    def tearDownClass(cls):
        try:
            cls.scan_everything()
        finally:
            cls.sg.cleanup()

    @classmethod
    def scan_everything(cls):
        outputs = list(cls.responses)
        outputs.append(cls.sg.read_log().encode())
        with open(os.path.join(cls.sg.dir, "audit/entries.jsonl"), "rb") as f:
            outputs.append(f.read())
        for out in outputs:
            for form in encodings(CANARY):
                assert form.encode() not in out, f"the canary leaked ({form!r})"
            assert b"app/mac" not in out, "a secret URI leaked"

    # ---- helpers ----
    def call(self, method, path, body=None, client="acme-payments", listener="pep"):
        r = self.sg.request(method, path, client=client, body=body, listener=listener)
        KeyRotationTest.responses.append(r[3] + json.dumps(r[2]).encode())
        return r

    def admin(self, method, path, body=None, client="admin"):
        return self.call(method, path, body, client=client, listener="admin")

    def cli(self, *args, client="admin"):
        cert, key = self.sg.client(client)
        tls = ["--admin", f"https://localhost:{self.sg.admin_port}", "--cert", cert, "--key", key, "--ca", self.sg.ca]
        r = subprocess.run([SEALGATE, "keys", *args, *tls], capture_output=True, text=True)
        KeyRotationTest.responses.append((r.stdout + r.stderr).encode())
        return r

    def grant(self):
        r = self.call("POST", "/v1/authorize", {"requests": [{"uri": SECRET_URI, "action": "use"}]})
        self.assertEqual(r[0], 200, r[3])
        return r[1]["grant"]

    def execute(self, grant):
        return self.call("POST", "/v1/execute", {
            "grant": grant, "slots": {"k": SECRET_URI},
            "action": {"connector": "hmac", "key": "{{slot:k}}", "algorithm": "HS256", "message": "m",
                       "output": "hex"}})

    def assertError(self, r, status, code):
        self.assertEqual(r[0], status, r[3])
        self.assertEqual(r[1]["error"]["code"], code, r[3])

    def inventory(self):
        r = self.admin("GET", "/admin/v1/keys")
        self.assertEqual(r[0], 200, r[3])
        return {k["label"]: k for k in r[1]["keys"]}

    def audit_events(self, type_):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            return [e for e in map(json.loads, f) if e.get("type") == type_]

    # ---- tests (they run in name order and build on each other) ----
    def test_1_bad_requests_and_other_roles_change_nothing(self):
        before = self.inventory()
        self.assertEqual(sorted(before), ["sealgate-audit-es256-v1", "sealgate-grant-es256-v1", "sealgate-ref-hmac-v1",
                                          "sealgate-tls"])
        self.assertTrue(all(k["active"] and not k["retired"] for k in before.values()))
        self.assertError(self.admin("POST", "/admin/v1/keys/rotate", {"kind": "kek"}), 400, "INVALID_REQUEST")
        self.assertError(self.admin("POST", "/admin/v1/keys/rotate", {"kind": 1}), 400, "INVALID_REQUEST")
        self.assertError(self.admin("POST", "/admin/v1/keys/rotate", {}), 400, "INVALID_REQUEST")
        self.assertError(self.admin("POST", "/admin/v1/keys/rotate", {"kind": "grant", "now": True}), 400,
                         "UNKNOWN_FIELD")
        self.assertError(self.admin("POST", "/admin/v1/keys/rotate?reason=bell%07", {"kind": "grant"}), 400,
                         "INVALID_REQUEST")
        self.assertError(self.admin("POST", "/admin/v1/keys/retire", {"label": "sealgate-kek"}), 404, "KEY_UNKNOWN")
        self.assertError(self.admin("POST", "/admin/v1/keys/retire", {"label": "sealgate-grant-es256-v7"}), 404,
                         "KEY_UNKNOWN")
        self.assertError(self.admin("POST", "/admin/v1/keys/retire", {"label": "sealgate-grant-es256-v1"}), 409,
                         "KEY_ACTIVE")
        self.assertError(self.admin("POST", "/admin/v1/keys/correlate", {"uri": "secret://acme/kv/../x"}), 400,
                         "URI_TRAVERSAL")
        # auditors read and correlate; they do not rotate or retire; services reach none of it
        self.assertError(self.admin("POST", "/admin/v1/keys/rotate", {"kind": "grant"}, client="auditor"), 403,
                         "FORBIDDEN")
        self.assertError(self.admin("POST", "/admin/v1/keys/retire", {"label": "sealgate-grant-es256-v1"},
                                    client="auditor"), 403, "FORBIDDEN")
        self.assertEqual(self.admin("GET", "/admin/v1/keys", client="auditor")[0], 200)
        r = self.call("POST", "/admin/v1/keys/rotate", {"kind": "grant"}, client="acme-payments", listener="admin")
        self.assertEqual(r[0], 403, r[3])
        refused = self.cli("rotate", "--kind", "grant", client="auditor")
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("FORBIDDEN", refused.stderr)
        self.assertEqual(self.inventory(), before)
        self.assertEqual(self.audit_events("key_rotated"), [])

    def test_2_rotation_keeps_outstanding_grants_working_and_new_grants_use_the_new_versions(self):
        old = self.grant()
        old_ref = jws_claims(old)["res"][0]
        self.assertTrue(old_ref.startswith("rr1:v1:"), old_ref)
        self.assertEqual(self.execute(old)[0], 200)

        r = self.cli("rotate", "--kind", "ref-hmac", "--reason", "yearly rotation, CHG-12")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sealgate-ref-hmac-v2 is active", r.stdout)
        r = self.cli("rotate", "--kind", "grant", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"kind": "grant", "label": "sealgate-grant-es256-v2",
                                                "previous": "sealgate-grant-es256-v1"})

        new = self.grant()
        new_ref = jws_claims(new)["res"][0]
        self.assertTrue(new_ref.startswith("rr1:v2:"), new_ref)
        self.assertNotEqual(jws_header(new)["kid"], jws_header(old)["kid"])
        # the outstanding grant: its refs under v1, its signature by grant v1
        r = self.execute(old)
        self.assertEqual(r[0], 200, r[3])
        r2 = self.execute(new)
        self.assertEqual(r2[0], 200, r2[3])
        self.assertEqual(r[1]["result"]["mac"], r2[1]["result"]["mac"], "the same secret either way")
        jwks = self.call("GET", "/.well-known/jwks.json")[1]
        self.assertEqual(len(jwks["keys"]), 2)

        # one secret's refs across versions: the correlation call (audited, refs only)
        r = self.cli("correlate", SECRET_URI, "--json", client="auditor")
        self.assertEqual(r.returncode, 0, r.stderr)
        refs = {v["version"]: v for v in json.loads(r.stdout)["resource_refs"]}
        self.assertEqual(refs[1]["resource_ref"], old_ref)
        self.assertEqual(refs[2]["resource_ref"], new_ref)
        self.assertTrue(refs[2]["active"])
        [correlated] = self.audit_events("refs_correlated")
        self.assertEqual(correlated["resource_refs"], [old_ref, new_ref])

        rotated = self.audit_events("key_rotated")
        self.assertEqual([(e["key_kind"], e["label"], e["previous"]) for e in rotated],
                         [("ref-hmac", "sealgate-ref-hmac-v2", "sealgate-ref-hmac-v1"),
                          ("grant", "sealgate-grant-es256-v2", "sealgate-grant-es256-v1")])
        self.assertEqual(rotated[0]["reason"], "yearly rotation, CHG-12")
        self.assertEqual(rotated[0]["by"], "spiffe://sealgate-admin/admin/admin")
        KeyRotationTest.old_grant = old

    def test_3_an_old_version_is_retired_only_once_no_grant_can_need_it(self):
        r = self.cli("retire", "sealgate-grant-es256-v1")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("KEY_IN_USE", r.stderr)
        inventory = self.inventory()
        retirable_at = max(inventory["sealgate-grant-es256-v1"]["retirable_at"],
                           inventory["sealgate-ref-hmac-v1"]["retirable_at"])
        self.assertEqual(self.cli("versions").returncode, 0)
        time.sleep(max(0.0, retirable_at - time.time()) + 0.5)
        old = KeyRotationTest.old_grant
        # by the time a version is retirable, every grant it signed has expired
        self.assertError(self.execute(old), 401, "GRANT_EXPIRED")
        for label in ("sealgate-ref-hmac-v1", "sealgate-grant-es256-v1"):
            r = self.cli("retire", label, "--reason", "superseded")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("is retired", r.stdout)
        again = self.cli("retire", "sealgate-grant-es256-v1", "--json")
        self.assertEqual(json.loads(again.stdout)["already_retired"], True)
        self.assertEqual(len(self.audit_events("key_retired")), 2)
        # signed by the retired grant key: refused for that reason, before its expiry
        self.assertError(self.execute(old), 401, "KEY_RETIRED")
        self.assertError(self.call("POST", "/v1/grants/consume", {"grant": old}), 401, "KEY_RETIRED")
        self.assertEqual(len(self.call("GET", "/.well-known/jwks.json")[1]["keys"]), 1)
        # still in the HSM: retired, not destroyed
        inventory = self.inventory()
        self.assertTrue(inventory["sealgate-grant-es256-v1"]["retired"])
        self.assertFalse(inventory["sealgate-grant-es256-v1"]["active"])
        self.assertTrue(inventory["sealgate-grant-es256-v2"]["active"])
        # the correlation names the retired version without computing its ref
        refs = {v["version"]: v for v in self.admin("POST", "/admin/v1/keys/correlate", {"uri": SECRET_URI})[1][
            "resource_refs"]}
        self.assertTrue(refs[1]["retired"])
        self.assertNotIn("resource_ref", refs[1])

    def test_4_the_audit_key_rotates_at_a_checkpoint_both_keys_sign(self):
        v1_pem = self.admin("GET", "/admin/v1/audit/public-key")[1]["pem"]
        r = self.admin("POST", "/admin/v1/keys/rotate?reason=auditor%20request", {"kind": "audit"})
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["label"], "sealgate-audit-es256-v2")
        key = self.admin("GET", "/admin/v1/audit/public-key")[1]
        self.assertEqual(key["key_label"], "sealgate-audit-es256-v2")
        v2_pem = key["pem"]
        self.assertNotEqual(v1_pem, v2_pem)
        self.assertEqual(self.inventory()["sealgate-audit-es256-v1"]["public_key_pem"], v1_pem)
        self.assertEqual(self.execute(self.grant())[0], 200)  # entries after the rotation

        r = self.admin("GET", "/admin/v1/audit/export", client="auditor")
        self.assertEqual(r[0], 200)
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for name, content in (("bundle.json", r[3]), ("v1.pem", v1_pem.encode()), ("v2.pem", v2_pem.encode())):
                paths[name] = os.path.join(tmp, name)
                with open(paths[name], "wb") as f:
                    f.write(content)

            def verify(*keys):
                args = [a for k in keys for a in ("--key", paths[k])]
                return subprocess.run([SEALGATE, "audit", "verify", "--quiet", *args, paths["bundle.json"]],
                                      capture_output=True, text=True)
            both = verify("v2.pem", "v1.pem")
            self.assertEqual(both.returncode, 0, both.stdout + both.stderr)
            self.assertEqual(verify("v2.pem").returncode, 1, "the early checkpoints are v1's alone")
            self.assertEqual(verify("v1.pem").returncode, 1, "the later checkpoints are v2's alone")

    def test_5_a_restart_keeps_the_active_versions_and_the_retirements(self):
        before = self.inventory()
        self.sg.stop()
        self.sg.start()
        self.assertEqual(self.inventory(), before)
        self.assertError(self.execute(KeyRotationTest.old_grant), 401, "KEY_RETIRED")
        new = self.grant()
        self.assertTrue(jws_claims(new)["res"][0].startswith("rr1:v2:"))
        self.assertEqual(self.execute(new)[0], 200)
        status = self.admin("GET", "/admin/v1/status")[1]
        self.assertEqual(status["hsm"]["ref_key_version"], 2)

    # ---- the TLS key ----
    def served_certificate(self, listener="pep"):
        port = self.sg.pep_port if listener == "pep" else self.sg.admin_port
        with self.sg.tls_socket("acme-payments", port=port) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    def file_certificate(self, path):
        with open(os.path.join(self.sg.dir, path)) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        return hashlib.sha256(der).hexdigest()

    def edit_config(self, label, cert):
        with open(self.sg.config) as f:
            conf = json.load(f)
        conf["hsm"]["tls_key_label"] = label
        conf["pep"]["cert_file"] = conf["admin"]["cert_file"] = cert
        with open(self.sg.config, "w") as f:
            json.dump(conf, f)

    def sighup_and_wait(self, event):
        before = len(self.sg.log_lines())
        self.sg.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 15
        while time.time() < deadline:
            lines = self.sg.log_lines()[before:]
            for line in lines:
                if line.get("event") == event:
                    return line
            time.sleep(0.05)
        self.fail(f"no {event} after SIGHUP: {self.sg.log_lines()[before:]}")

    def test_6_the_tls_key_rotates_with_a_request_a_certificate_and_a_reload(self):
        old_cert = self.file_certificate("pki/server.pem")
        self.assertEqual(self.served_certificate(), old_cert)
        csr = os.path.join(self.sg.dir, "tls-v2.csr")
        r = self.cli("rotate", "--kind", "tls", "--csr-out", csr)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("created sealgate-tls-v2", r.stdout)
        text = subprocess.run(["openssl", "req", "-in", csr, "-noout", "-verify", "-text"], capture_output=True,
                              text=True)
        self.assertEqual(text.returncode, 0, text.stderr)  # self-signed by the new key: it is in the HSM
        self.assertIn("DNS:localhost", text.stdout)  # the names of the certificate in use
        # the CA (here the dev CA) issues the certificate
        signed = subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", "pki/ca.pem", "-CAkey", "pki/ca.key",
                                 "-CAcreateserial", "-days", "30", "-copy_extensions", "copy",
                                 "-out", "pki/server-v2.pem"], cwd=self.sg.dir, capture_output=True, text=True)
        self.assertEqual(signed.returncode, 0, signed.stderr)
        new_cert = self.file_certificate("pki/server-v2.pem")
        self.assertEqual(self.served_certificate(), old_cert, "nothing changes before the reload")

        # a config whose key and certificate do not match: refused, nothing changes
        self.edit_config("sealgate-tls-v2", "pki/server.pem")
        failed = self.sighup_and_wait("tls_reload_failed")
        self.assertEqual(failed["code"], "TLS_CONFIG")
        self.assertEqual(self.served_certificate(), old_cert)

        self.edit_config("sealgate-tls-v2", "pki/server-v2.pem")
        reloaded = self.sighup_and_wait("tls_reloaded")
        self.assertEqual(reloaded["label"], "sealgate-tls-v2")
        self.assertEqual(self.served_certificate("pep"), new_cert)
        self.assertEqual(self.served_certificate("admin"), new_cert)
        self.assertEqual(self.execute(self.grant())[0], 200)
        [event] = self.audit_events("tls_reload")
        self.assertEqual((event["label"], event["previous"]), ("sealgate-tls-v2", "sealgate-tls"))
        inventory = self.inventory()
        self.assertTrue(inventory["sealgate-tls-v2"]["active"])
        self.assertFalse(inventory["sealgate-tls"]["active"])
        self.assertEqual(self.admin("GET", "/readyz")[0], 200)

        self.assertError(self.admin("POST", "/admin/v1/keys/retire", {"label": "sealgate-tls-v2"}), 409, "KEY_ACTIVE")
        r = self.admin("POST", "/admin/v1/keys/retire", {"label": "sealgate-tls"})
        self.assertEqual(r[0], 200, r[3])
        # a retired key is never used again: not by a reload, not at a start
        self.edit_config("sealgate-tls", "pki/server.pem")
        failed = self.sighup_and_wait("tls_reload_failed")
        self.assertEqual(failed["code"], "KEY_RETIRED")
        self.assertEqual(self.served_certificate(), new_cert)
        self.sg.stop()
        with self.assertRaises(RuntimeError) as refused:
            self.sg.start()
        self.assertIn("KEY_RETIRED", str(refused.exception))
        self.edit_config("sealgate-tls-v2", "pki/server-v2.pem")
        self.sg.start()
        self.assertEqual(self.served_certificate(), new_cert)


if __name__ == "__main__":
    unittest.main()
