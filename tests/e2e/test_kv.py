"""End-to-end tests of the embedded KV v2 store on the admin listener: the real,
unmodified npm node-vault client over mTLS through a full version lifecycle, the
access rules (admin + reveal, auditor read-only metadata, wrong listener), the
Vault error shape, bad input changing nothing, persistence over a restart, and a
canary that never appears in logs, audit events or the store's files."""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance, encodings  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
CANARY_V1 = "KvCanaryOne7f3e9a"
CANARY_V2 = "KvCanaryTwo0b44d1"
CANARY_CURL = "KvCanaryRaw5c2a81"


def ensure_node_modules():
    """node-vault at the version package-lock.json pins (scripts/test.sh installs it too)."""
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "node-vault")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True)


class KvTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_node_modules()
        cls.sg = Instance()
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def kv(self, method, path, client="admin", body=None, headers=None, raw_body=None):
        return self.sg.request(method, path, client=client, body=body, headers=headers, listener="admin",
                               raw_body=raw_body)

    def assertVaultError(self, result, status, code):
        self.assertEqual(result[0], status, result[3])
        self.assertIsInstance(result[1].get("errors"), list, result[3])
        self.assertEqual(result[2].get("X-Sealgate-Error"), code, result[2])

    def audit_events(self):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def test_node_vault_full_lifecycle(self):
        cert, key = self.sg.client("admin")
        env = dict(os.environ, VAULT_ADDR=f"https://127.0.0.1:{self.sg.admin_port}", SG_CA=self.sg.ca,
                   SG_CERT=cert, SG_KEY=key, SG_CANARY_V1=CANARY_V1, SG_CANARY_V2=CANARY_V2)
        run = subprocess.run(["node", os.path.join(NODE_DIR, "kv_lifecycle.js")], env=env, capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        summary = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertTrue(summary["ok"])
        # every reveal was audited, by resource_ref only
        reveals = [e for e in self.audit_events() if e.get("type") == "kv_reveal" and e.get("decision") == "allow"]
        self.assertGreaterEqual(len(reveals), 5)
        for e in reveals:
            self.assertTrue(e["resource_ref"].startswith("rr1:"))
            self.assertEqual(e["by"], "spiffe://sealgate-admin/admin/admin")
            self.assertIn("kv_version", e)
        self.assertIn(1, {e["kv_version"] for e in reveals})

    def test_write_read_over_curl_shapes_and_restart(self):
        r = self.kv("POST", "/v1/kv/data/app/curl", body={"data": {"token": CANARY_CURL}})
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["data"]["version"], 1)
        for k in ("request_id", "lease_id", "renewable", "lease_duration", "wrap_info", "warnings", "auth"):
            self.assertIn(k, r[1])
        # Vault tolerates a JSON body without a JSON content type
        r = self.kv("PUT", "/v1/kv/data/app/curl", raw_body=json.dumps({"data": {"token": CANARY_CURL + "2"}}).encode(),
                    headers={"Content-Type": "text/plain"})
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["data"]["version"], 2)
        # GET ?list=true is LIST
        r = self.kv("GET", "/v1/kv/metadata/app?list=true")
        self.assertEqual(r[0], 200, r[3])
        self.assertIn("curl", r[1]["data"]["keys"])
        self.sg.stop()
        self.sg.start()
        r = self.kv("GET", "/v1/kv/data/app/curl?version=1")
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["data"]["data"]["token"], CANARY_CURL)
        self.assertEqual(self.kv("GET", "/v1/kv/metadata/app/curl")[1]["data"]["current_version"], 2)

    def test_auditor_reads_metadata_but_never_values_or_writes(self):
        self.assertEqual(self.kv("POST", "/v1/kv/data/app/aud", body={"data": {"a": "b"}})[0], 200)
        r = self.kv("GET", "/v1/kv/metadata/app/aud", client="auditor")
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["data"]["current_version"], 1)
        self.assertVaultError(self.kv("GET", "/v1/kv/data/app/aud", client="auditor"), 403, "FORBIDDEN")
        self.assertVaultError(self.kv("POST", "/v1/kv/data/app/aud", client="auditor", body={"data": {"x": "y"}}),
                              403, "FORBIDDEN")
        self.assertVaultError(self.kv("DELETE", "/v1/kv/metadata/app/aud", client="auditor"), 403, "FORBIDDEN")
        self.assertVaultError(self.kv("POST", "/v1/kv/destroy/app/aud", client="auditor", body={"versions": [1]}),
                              403, "FORBIDDEN")
        self.assertVaultError(self.kv("POST", "/v1/kv/config", client="auditor", body={"max_versions": 3}), 403,
                              "FORBIDDEN")
        self.assertVaultError(self.kv("GET", "/v1/kv/metadata/app/aud", client="approver-1"), 403, "FORBIDDEN")
        self.assertEqual(self.kv("GET", "/v1/kv/metadata/app/aud")[1]["data"]["current_version"], 1)

    def test_service_certificates_get_wrong_listener(self):
        r = self.kv("GET", "/v1/kv/data/app/db", client="acme-payments")
        self.assertEqual(r[0], 403, r[3])
        self.assertEqual(r[2].get("X-Sealgate-Error"), "WRONG_LISTENER")
        # and the PEP listener has no KV API at all
        r = self.sg.request("GET", "/v1/kv/data/app/db", client="acme-payments")
        self.assertEqual(r[0], 404, r[3])

    def test_reveal_needs_the_policy_permission(self):
        self.assertEqual(self.kv("POST", "/v1/kv/data/app/rev", body={"data": {"a": "b"}})[0], 200)
        status, policy, _, _ = self.kv("GET", "/admin/v1/policy")
        self.assertEqual(status, 200)
        stripped = dict(policy, rules=[r for r in policy["rules"] if "reveal" not in r["actions"]])
        self.assertEqual(self.kv("PUT", "/admin/v1/policy", body=stripped)[0], 200)
        try:
            r = self.kv("GET", "/v1/kv/data/app/rev")
            self.assertVaultError(r, 403, "REVEAL_DENIED")
            self.assertNotIn("data", r[1])
            # metadata stays readable: it holds no values
            self.assertEqual(self.kv("GET", "/v1/kv/metadata/app/rev")[0], 200)
            denied = [e for e in self.audit_events() if e.get("type") == "kv_reveal" and e.get("decision") == "deny"]
            self.assertTrue(denied)
        finally:
            self.assertEqual(self.kv("PUT", "/admin/v1/policy", body=policy)[0], 200)
        self.assertEqual(self.kv("GET", "/v1/kv/data/app/rev")[0], 200)

    def test_bad_input_gets_a_vault_error_and_changes_nothing(self):
        self.assertEqual(self.kv("POST", "/v1/kv/data/app/bad", body={"data": {"a": "1"}})[0], 200)
        cases = [
            (self.kv("POST", "/v1/kv/data/app/bad", raw_body=b"{not json", headers={"Content-Type": "application/json"}),
             400, "BAD_JSON"),
            (self.kv("POST", "/v1/kv/data/app/bad", raw_body=b"[1]", headers={"Content-Type": "application/json"}),
             400, "BAD_JSON"),
            (self.kv("POST", "/v1/kv/data/app/bad", body={"data": "str"}), 400, "KV_INVALID"),
            (self.kv("POST", "/v1/kv/data/app/bad", body={}), 400, "KV_INVALID"),
            (self.kv("POST", "/v1/kv/data/app/bad", body={"data": {}, "bogus": 1}), 400, "UNKNOWN_FIELD"),
            (self.kv("POST", "/v1/kv/data/app/bad", body={"data": {}, "options": {"cas": "x"}}), 400, "KV_INVALID"),
            (self.kv("POST", "/v1/kv/data/app/bad", body={"data": {}, "options": {"cas": 7}}), 400, "KV_CAS_MISMATCH"),
            (self.kv("POST", "/v1/kv/destroy/app/bad", body={"versions": []}), 400, "KV_INVALID"),
            (self.kv("POST", "/v1/kv/undelete/app/bad", body={"versions": ["1"]}), 400, "KV_INVALID"),
            (self.kv("POST", "/v1/kv/metadata/app/bad", body={"custom_metadata": {"a": 1}}), 400, "KV_INVALID"),
            (self.kv("POST", "/v1/kv/metadata/app/bad", body={"delete_version_after": "soon"}), 400, "KV_INVALID"),
            (self.kv("GET", "/v1/kv/data/app/bad?version=-1"), 400, "KV_INVALID"),
            (self.kv("GET", "/v1/kv/data/app/../etc"), 400, "KV_INVALID"),
            (self.kv("GET", "/v1/kv/data/app//bad"), 400, "KV_INVALID"),
            (self.kv("GET", "/v1/kv/data/app/%2e%2e/x"), 400, "KV_INVALID"),
            (self.kv("GET", "/v1/kv/secrets/app/bad"), 404, "NOT_FOUND"),
            (self.kv("GET", "/v1/nomount/data/app/bad"), 404, "KV_NO_MOUNT"),
            (self.kv("GET", "/v1/kv/data/app/bad", headers={"X-Vault-Namespace": "initech"}), 404, "KV_NO_MOUNT"),
            (self.kv("GET", "/v1/kv/data/app/bad", headers={"X-Vault-Namespace": "sealgate-admin"}), 404,
             "KV_NO_MOUNT"),
            (self.kv("PATCH", "/v1/kv/data/app/bad", body={"data": {"a": "2"}}), 415, "UNSUPPORTED_MEDIA_TYPE"),
            (self.kv("POST", "/v1/kv/data/app/bad", raw_body=b'{"data":{"a":"' + b"x" * 70000 + b'"}}',
                     headers={"Content-Type": "application/json"}), 413, "BODY_TOO_LARGE"),
        ]
        for result, status, code in cases:
            with self.subTest(code=code, status=status):
                self.assertVaultError(result, status, code)
        meta = self.kv("GET", "/v1/kv/metadata/app/bad")[1]["data"]
        self.assertEqual(meta["current_version"], 1)
        self.assertIsNone(meta["custom_metadata"])
        self.assertEqual(meta["delete_version_after"], "0s")
        self.assertEqual(self.kv("GET", "/v1/kv/data/app/bad")[1]["data"]["data"], {"a": "1"})

    def test_response_wrapping_is_refused_never_answered_in_the_clear(self):
        """A client that asks for a wrapped answer (X-Vault-Wrap-TTL) must never get
        the value in the clear: sealgate does not wrap, so it refuses."""
        self.assertEqual(self.kv("POST", "/v1/kv/data/app/wrapped", body={"data": {"v": CANARY_CURL}})[0], 200)
        reveals_before = len([e for e in self.audit_events() if e.get("type") == "kv_reveal"])
        for ttl in ("60s", "300", "0", ""):
            r = self.kv("GET", "/v1/kv/data/app/wrapped", headers={"X-Vault-Wrap-TTL": ttl})
            self.assertVaultError(r, 400, "WRAPPING_UNSUPPORTED")
            self.assertNotIn(CANARY_CURL.encode(), r[3])
            self.assertIn("wrap", r[1]["errors"][0].lower())
        # nothing was read: no reveal audited
        self.assertEqual(len([e for e in self.audit_events() if e.get("type") == "kv_reveal"]), reveals_before)
        # a wrapped write is refused and writes nothing
        r = self.kv("POST", "/v1/kv/data/app/wrapped", body={"data": {"v": "other"}}, headers={"X-Vault-Wrap-TTL": "60s"})
        self.assertVaultError(r, 400, "WRAPPING_UNSUPPORTED")
        self.assertEqual(self.kv("GET", "/v1/kv/metadata/app/wrapped")[1]["data"]["current_version"], 1)
        # metadata and lists too (every Vault-compatible path)
        self.assertVaultError(self.kv("GET", "/v1/kv/metadata/app/wrapped", headers={"X-Vault-Wrap-TTL": "1m"}),
                              400, "WRAPPING_UNSUPPORTED")
        # there is no unwrap endpoint to go with it
        self.assertEqual(self.kv("POST", "/v1/sys/wrapping/unwrap", body={"token": "x"})[0], 404)
        # without the header the value reads as before
        r = self.kv("GET", "/v1/kv/data/app/wrapped")
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["data"]["data"]["v"], CANARY_CURL)

    def test_zz_canary_never_leaks(self):
        """Runs last (name order): scans everything the other tests produced."""
        self.assertEqual(self.kv("POST", "/v1/kv/data/app/canary", body={"data": {"v": CANARY_V1}})[0], 200)
        self.assertEqual(self.kv("GET", "/v1/kv/data/app/canary")[0], 200)
        places = [self.sg.log_path, os.path.join(self.sg.dir, "audit/entries.jsonl")]
        for root, _, files in os.walk(os.path.join(self.sg.dir, "kv")):
            places += [os.path.join(root, f) for f in files]
        self.assertGreater(len(places), 3)
        for canary in (CANARY_V1, CANARY_V2, CANARY_CURL):
            for form in encodings(canary):
                for place in places:
                    with open(place, "rb") as f:
                        self.assertNotIn(form.encode(), f.read(), f"{canary} ({form}) in {place}")
        # nor do KV paths reach the log or the audit trail
        for place in places[:2]:
            with open(place, "rb") as f:
                content = f.read()
            self.assertNotIn(b"app/canary", content, place)
            self.assertNotIn(b"node/db", content, place)


if __name__ == "__main__":
    unittest.main()
