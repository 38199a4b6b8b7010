"""The policy page's API end to end (docs/POLICY.md, "History and validation"):
PUT with a reason, the version history (kept across a restart, in
policy.json.history/ beside the policy file), one version with its document,
and validation of an editor's text with line and column, on the real daemon."""
import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance  # noqa: E402


class PolicyHistoryTest(unittest.TestCase):
    def setUp(self):
        self.sg = Instance()
        self.sg.start()

    def tearDown(self):
        self.sg.cleanup()

    def admin(self, method, path, body=None, client="admin"):
        return self.sg.request(method, path, client=client, body=body, listener="admin")

    def put(self, policy, reason):
        return self.admin("PUT", "/admin/v1/policy?reason=" + urllib.parse.quote_plus(reason), policy)

    def test_history_across_a_restart_and_validation(self):
        status, policy, _, _ = self.admin("GET", "/admin/v1/policy")
        self.assertEqual(status, 200)
        status, body, _, _ = self.admin("GET", "/admin/v1/policy/history")
        self.assertEqual(status, 200)
        self.assertEqual([(v["version"], v["by"]) for v in body["versions"]], [(1, "startup")])
        startup_sha = body["versions"][0]["sha256"]

        # Two updates, each with its reason.
        policy["rules"].append({"id": "other", "effect": "allow", "subjects": ["spiffe://acme/payments"],
                                "resources": ["secret://acme/kv/other/*"], "actions": ["use"]})
        status, first, _, _ = self.put(policy, "OPS-1: let payments read other/*")
        self.assertEqual((status, first["version"], first["rules"]), (200, 2, 4))
        second_policy = dict(policy, rules=policy["rules"][:3])
        status, second, _, _ = self.put(second_policy, "OPS-2: roll back")
        self.assertEqual((status, second["version"]), (200, 3))
        self.assertEqual(self.put(policy, "x" * 501)[1]["error"]["code"], "INVALID_REQUEST")
        self.assertEqual(self.admin("PUT", "/admin/v1/policy?reason=x", policy, client="auditor")[1]["error"]["code"],
                         "FORBIDDEN")
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            updates = [e for e in map(json.loads, f) if e["type"] == "policy_update"]
        self.assertEqual([e.get("reason") for e in updates], ["OPS-1: let payments read other/*", "OPS-2: roll back"])

        def listing(query="", client="admin"):
            status, body, _, _ = self.admin("GET", "/admin/v1/policy/history" + query, client=client)
            self.assertEqual(status, 200, body)
            return body

        before = listing(client="auditor")
        self.assertEqual([v["version"] for v in before["versions"]], [3, 2, 1])
        self.assertEqual([v["reason"] for v in before["versions"]], ["OPS-2: roll back", "OPS-1: let payments read other/*", ""])
        self.assertEqual(before["versions"][0]["by"], "spiffe://sealgate-admin/admin/admin")
        self.assertEqual(before["versions"][0]["sha256"], second["sha256"])
        self.assertEqual(before["versions"][2]["sha256"], startup_sha)
        page = listing("?limit=2")
        self.assertEqual(([v["version"] for v in page["versions"]], page["next_before"]), ([3, 2], 2))
        page = listing("?limit=2&before=2")
        self.assertEqual([v["version"] for v in page["versions"]], [1])
        self.assertNotIn("next_before", page)
        for bad in ("?limit=0", "?limit=101", "?limit=x", "?before=0"):
            status, body, _, _ = self.admin("GET", "/admin/v1/policy/history" + bad)
            self.assertEqual((status, body["error"]["code"]), (400, "INVALID_REQUEST"), bad)

        status, v2, _, _ = self.admin("GET", "/admin/v1/policy/history/2", client="auditor")
        self.assertEqual(status, 200)
        self.assertEqual(v2["policy"], policy)
        self.assertEqual(v2["reason"], "OPS-1: let payments read other/*")
        for absent in ("4", "02", "x"):
            status, body, _, _ = self.admin("GET", "/admin/v1/policy/history/" + absent)
            self.assertEqual((status, body["error"]["code"]), (404, "NOT_FOUND"), absent)
        for path in ("/admin/v1/policy/history", "/admin/v1/policy/history/1"):
            self.assertEqual(self.admin("GET", path, client="approver-1")[1]["error"]["code"], "FORBIDDEN")
        self.assertEqual(self.admin("POST", "/admin/v1/policy/validate", {"text": "{}"},
                                    client="approver-1")[1]["error"]["code"], "FORBIDDEN")

        # A restart keeps the history: the policy it starts with is version 3, not a new one.
        self.assertEqual(sorted(os.listdir(os.path.join(self.sg.dir, "policy.json.history"))),
                         ["000001.json", "000002.json", "000003.json"])
        self.sg.stop()
        self.sg.start()
        self.assertEqual(listing(), before)
        status, v3, _, _ = self.admin("GET", "/admin/v1/policy/history/3")
        self.assertEqual((status, v3["policy"]), (200, second_policy))

        # Validation: a broken text, placed where it breaks; a semantic error on its rule's line.
        broken = '{\n  "version": 1,\n  "rules": [\n    {"id": "a",}\n  ]\n}\n'
        status, body, _, _ = self.admin("POST", "/admin/v1/policy/validate", {"text": broken}, client="auditor")
        self.assertEqual(status, 200)
        self.assertEqual(body["valid"], False)
        self.assertEqual((body["errors"][0]["code"], body["errors"][0]["line"]), ("BAD_JSON", 4))
        text = json.dumps(second_policy, indent=2)
        lines = text.split("\n")
        bad_line = next(i for i, line in enumerate(lines) if "secret://globex/kv/*" in line)
        lines[bad_line] = lines[bad_line].replace("secret://globex/kv/*", "secret://globex/kv/app*")
        status, body, _, _ = self.admin("POST", "/admin/v1/policy/validate", {"text": "\n".join(lines)})
        self.assertEqual(status, 200)
        error = body["errors"][0]
        self.assertEqual((error["code"], error["line"]), ("POLICY_INVALID", bad_line + 1), error)
        self.assertIn("policy.rules[1].resources", error["message"])
        status, body, _, _ = self.admin("POST", "/admin/v1/policy/validate", {"text": text})
        self.assertEqual(body, {"valid": True, "rules": 3, "sha256": second["sha256"]})
        status, body, _, _ = self.admin("POST", "/admin/v1/policy/validate", {"text": 7})
        self.assertEqual((status, body["error"]["code"]), (400, "INVALID_REQUEST"))
        # Validation changes nothing and is not audited.
        self.assertEqual(listing(), before)
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            self.assertEqual(len([e for e in map(json.loads, f) if e["type"] == "policy_update"]), 2)


if __name__ == "__main__":
    unittest.main()
