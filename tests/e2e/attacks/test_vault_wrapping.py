"""Vault response wrapping, replayed: a Vault client that sends X-Vault-Wrap-TTL
expects a single-use wrapping token, never the value. sealgate ignored the header
and answered with the plaintext. It does not implement wrapping, so every
Vault-compatible path (KV v2 data, metadata, writes, database creds, sys/leases)
now refuses such a request, 400 WRAPPING_UNSUPPORTED in Vault's error shape,
before anything is read, written or audited."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import Instance  # noqa: E402

CANARY = "WrapCanary-7d1e0c55aa"


class VaultWrappingAttack(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance()
        cls.sg.start()
        r = cls.admin("POST", "/v1/kv/data/app/db", body={"data": {"password": CANARY}})
        assert r[0] == 200, r[3]

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    @classmethod
    def admin(cls, method, path, body=None, headers=None):
        return cls.sg.request(method, path, client="admin", listener="admin", body=body, headers=headers)

    def audit_types(self):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            return [json.loads(line).get("type") for line in f if line.strip()]

    def test_every_vault_path_refuses_a_wrapped_answer(self):
        before = self.audit_types()
        for method, path, body in [
                ("GET", "/v1/kv/data/app/db", None),
                ("GET", "/v1/kv/data/app/db?version=1", None),
                ("POST", "/v1/kv/data/app/db", {"data": {"password": "replaced"}}),
                ("PATCH", "/v1/kv/data/app/db", {"data": {"password": "patched"}}),
                ("GET", "/v1/kv/metadata/app/db", None),
                ("LIST", "/v1/kv/metadata/app/", None),
                ("POST", "/v1/kv/destroy/app/db", {"versions": [1]}),
                ("GET", "/v1/kv/config", None),
                ("GET", "/v1/db/creds/readonly", None),
                ("PUT", "/v1/sys/leases/lookup", {"lease_id": "acme/db/creds/readonly/x"}),
                ("PUT", "/v1/sys/leases/revoke-prefix/acme/db/creds/", None)]:
            headers = {"X-Vault-Wrap-TTL": "120s"}
            if method == "PATCH":
                headers["Content-Type"] = "application/merge-patch+json"
            r = self.admin(method, path, body=body, headers=headers)
            self.assertEqual(r[0], 400, (method, path, r[3]))
            self.assertEqual(r[2].get("X-Sealgate-Error"), "WRAPPING_UNSUPPORTED", (method, path))
            self.assertIsInstance(r[1].get("errors"), list, r[3])
            self.assertNotIn(CANARY.encode(), r[3])
        # nothing was read, written or audited
        self.assertEqual(self.audit_types(), before)
        r = self.admin("GET", "/v1/kv/data/app/db")
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["data"]["data"], {"password": CANARY})
        self.assertEqual(r[1]["data"]["metadata"]["version"], 1)

    def test_the_service_listener_knows_no_wrapping_either(self):
        r = self.sg.request("GET", "/v1/kv/data/app/db", headers={"X-Vault-Wrap-TTL": "60s"})
        self.assertNotEqual(r[0], 200)
        self.assertNotIn(CANARY.encode(), r[3])


if __name__ == "__main__":
    unittest.main()
