"""Attacks on grants and the audit log's history, replayed against the daemon
(the hardening issue, items 2, 3, 6 and 7):

- a grant exhausted or revoked before `exp` is used again in the clock leeway
  after it (its state must outlive every instant it verifies);
- a grant for one action (`inspect`) is used to execute or consume (`use`);
- a child grant is used after its parent was revoked;
- trailing audit entries are cut (with their checkpoints, or with
  checkpoints.jsonl deleted) while the daemon is down: it must refuse to start
  (AUDIT_LOG_ROLLBACK) rather than sign the shorter history."""
import json
import os
import time
import unittest

from harness import Instance
from test_daemon import make_cert
from cryptography import x509
from cryptography.hazmat.primitives import serialization

SHORT_URI = "secret://acme/kv/short/db#password"
INSPECT_URI = "secret://acme/kv/inspect/db#password"
TREE_URI = "secret://acme/kv/tree/db#password"

POLICY = {
    "version": 1,
    "rules": [
        {"id": "short-lived", "effect": "allow", "subjects": ["spiffe://acme/payments"],
         "resources": ["secret://acme/kv/short/*"], "actions": ["use"],
         "obligations": {"ttl_seconds": 2, "max_uses": 2}},
        {"id": "inspect-only", "effect": "allow", "subjects": ["spiffe://acme/payments"],
         "resources": ["secret://acme/kv/inspect/*"], "actions": ["inspect"]},
        {"id": "tree", "effect": "allow", "subjects": ["spiffe://acme/payments"],
         "resources": ["secret://acme/kv/tree/*"], "actions": ["use", "inspect"],
         "obligations": {"ttl_seconds": 300, "max_uses": 6}},
    ],
    "egress": {"acme": {"rest": {"hosts": ["127.0.0.1"]}}},
}


def start_instance():
    sg = Instance()
    with open(os.path.join(sg.dir, "policy.json"), "w") as f:
        json.dump(POLICY, f)
    with open(os.path.join(sg.dir, "pki/ca.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(sg.dir, "pki/ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    make_cert(os.path.join(sg.dir, "pki/clients"), "acme-worker", "spiffe://acme/worker", ca, ca_key)
    sg.start()
    return sg


class GrantAbuse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = start_instance()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def post(self, path, body, client="acme-payments"):
        return self.sg.request("POST", path, client=client, body=body)

    def authorize(self, uri, action="use"):
        status, body, _, raw = self.post("/v1/authorize", {"requests": [{"uri": uri, "action": action}]})
        self.assertEqual(status, 200, raw)
        return body

    def consume(self, grant, client="acme-payments"):
        return self.post("/v1/grants/consume", {"grant": grant}, client=client)

    def assertError(self, result, status, code):
        self.assertEqual(result[0], status, result[3])
        self.assertEqual(result[1]["error"]["code"], code, result[3])

    def wait_past(self, unix_seconds):
        time.sleep(max(0.0, unix_seconds - time.time()))

    def test_spent_and_revoked_grants_stay_so_in_the_leeway_after_exp(self):
        spent = self.authorize(SHORT_URI)
        revoked = self.authorize(SHORT_URI)
        reserved = self.authorize(SHORT_URI)
        self.assertEqual([self.consume(spent["grant"])[0] for _ in range(2)], [200, 200])
        self.assertError(self.consume(spent["grant"]), 403, "GRANT_EXHAUSTED")
        status, _, _, raw = self.sg.request("DELETE", "/admin/v1/grants/" + revoked["grant_id"], client="admin",
                                            listener="admin")
        self.assertEqual(status, 200, raw)
        # A delegation reserves both of the parent's uses.
        status, _, _, raw = self.post("/v1/grants/delegate", {"grant": reserved["grant"], "to": "spiffe://acme/worker",
                                                              "max_uses": 2})
        self.assertEqual(status, 200, raw)
        exp = json.loads(__import__("base64").urlsafe_b64decode(spent["grant"].split(".")[1] + "==="))["exp"]
        # Past exp (the state prunes whatever expired once a second) but inside the
        # 5 s leeway in which the grants still verify.
        self.wait_past(exp + 2.2)
        self.post("/v1/authorize", {"requests": [{"uri": TREE_URI, "action": "use"}]})  # any state change prunes
        self.assertError(self.consume(spent["grant"]), 403, "GRANT_EXHAUSTED")
        self.assertError(self.consume(revoked["grant"]), 403, "GRANT_REVOKED")
        self.assertError(self.consume(reserved["grant"]), 403, "GRANT_EXHAUSTED")
        self.assertError(self.post("/v1/grants/delegate", {"grant": reserved["grant"], "to": "spiffe://acme/worker"}),
                         403, "SCOPE_WIDENED")
        # And after the leeway they are expired, never fresh.
        self.wait_past(exp + 6.2)
        for g in (spent, revoked, reserved):
            self.assertError(self.consume(g["grant"]), 401, "GRANT_EXPIRED")

    def test_a_grant_for_another_action_is_no_grant_to_use(self):
        # The policy denies `use` on this resource...
        denied = self.authorize(INSPECT_URI, "use")
        self.assertEqual(denied["results"][0]["decision"], "deny")
        self.assertNotIn("grant", denied)
        # ...so a grant obtained for `inspect` must not be spent by consume or execute.
        inspect = self.authorize(INSPECT_URI, "inspect")
        self.assertEqual(inspect["results"][0]["decision"], "allow")
        self.assertError(self.consume(inspect["grant"]), 403, "ACTION_NOT_GRANTED")
        execute = {"grant": inspect["grant"], "slots": {"pw": INSPECT_URI},
                   "action": {"connector": "rest", "method": "GET", "url": "https://127.0.0.1:9/x",
                              "headers": {"Authorization": "Bearer {{slot:pw}}"}}}
        self.assertError(self.post("/v1/execute", execute), 403, "ACTION_NOT_GRANTED")
        # Nothing was spent, and delegation cannot add the action either.
        self.assertError(self.post("/v1/grants/delegate", {"grant": inspect["grant"], "to": "spiffe://acme/worker",
                                                           "actions": ["use"]}), 403, "SCOPE_WIDENED")
        listed = self.sg.request("GET", "/admin/v1/grants", client="admin", listener="admin")[1]["grants"]
        self.assertNotIn(inspect["grant_id"], [g["grant_id"] for g in listed])

    def test_delegation_narrows_actions(self):
        both = self.post("/v1/authorize", {"requests": [{"uri": TREE_URI, "action": "use"},
                                                        {"uri": TREE_URI, "action": "inspect"}]})[1]
        status, child, _, raw = self.post("/v1/grants/delegate", {"grant": both["grant"], "to": "spiffe://acme/worker",
                                                                  "actions": ["inspect"]})
        self.assertEqual(status, 200, raw)
        self.assertError(self.consume(child["grant"], client="acme-worker"), 403, "ACTION_NOT_GRANTED")
        status, child, _, raw = self.post("/v1/grants/delegate", {"grant": both["grant"], "to": "spiffe://acme/worker"})
        self.assertEqual(status, 200, raw)
        self.assertEqual(self.consume(child["grant"], client="acme-worker")[0], 200)

    def test_revoking_a_parent_revokes_every_descendant(self):
        root = self.authorize(TREE_URI)
        status, child, _, raw = self.post("/v1/grants/delegate", {"grant": root["grant"], "to": "spiffe://acme/payments",
                                                                  "max_uses": 3})
        self.assertEqual(status, 200, raw)
        status, grandchild, _, raw = self.post("/v1/grants/delegate", {"grant": child["grant"],
                                                                       "to": "spiffe://acme/worker", "max_uses": 1})
        self.assertEqual(status, 200, raw)
        self.assertEqual(self.consume(child["grant"])[0], 200)
        status, _, _, raw = self.sg.request("DELETE", "/admin/v1/grants/" + root["grant_id"], client="admin",
                                            listener="admin")
        self.assertEqual(status, 200, raw)
        self.assertError(self.consume(child["grant"]), 403, "GRANT_REVOKED")
        self.assertError(self.consume(grandchild["grant"], client="acme-worker"), 403, "GRANT_REVOKED")
        self.assertError(self.post("/v1/grants/delegate", {"grant": child["grant"], "to": "spiffe://acme/worker"}),
                         403, "GRANT_REVOKED")


class AuditTruncation(unittest.TestCase):
    """Cutting the log's tail while the daemon is down."""

    def setUp(self):
        self.sg = start_instance()
        self.audit = os.path.join(self.sg.dir, "audit")
        # Audited decisions and state changes (each spend anchors the audit head).
        for _ in range(3):
            grant = self.sg.request("POST", "/v1/authorize", body={"requests": [{"uri": TREE_URI, "action": "use"}]})[1]
            self.assertEqual(self.sg.request("POST", "/v1/grants/consume", body={"grant": grant["grant"]})[0], 200)
        self.assertEqual(self.sg.stop(), 0)
        self.entries = self.read("entries.jsonl")
        self.checkpoints = self.read("checkpoints.jsonl")
        self.assertGreaterEqual(len(self.entries), 6)

    def tearDown(self):
        self.sg.cleanup()

    def read(self, name):
        with open(os.path.join(self.audit, name)) as f:
            return f.read().splitlines(keepends=True)

    def write(self, name, lines):
        with open(os.path.join(self.audit, name), "w") as f:
            f.writelines(lines)

    def assertRefusesToStart(self, code):
        with self.assertRaises(RuntimeError) as refused:
            self.sg.start()
        self.assertIn(code, str(refused.exception))

    def test_trailing_entries_cut_with_their_checkpoints(self):
        keep = len(self.entries) - 2
        self.write("entries.jsonl", self.entries[:keep])
        self.write("checkpoints.jsonl", [c for c in self.checkpoints if json.loads(c)["size"] <= keep])
        self.assertRefusesToStart("AUDIT_LOG_ROLLBACK")
        # The untouched history opens again (the refusal changed nothing).
        self.write("entries.jsonl", self.entries)
        self.write("checkpoints.jsonl", self.checkpoints)
        self.sg.start()
        self.assertEqual(self.sg.request("GET", "/readyz")[0], 200)

    def test_trailing_entries_cut_and_checkpoints_deleted(self):
        self.write("entries.jsonl", self.entries[:-1])
        os.remove(os.path.join(self.audit, "checkpoints.jsonl"))
        self.assertRefusesToStart("AUDIT_LOG_ROLLBACK")

    def test_a_rewritten_history_of_the_same_length(self):
        forged = [json.dumps(dict(json.loads(e), outcome="forged"), separators=(",", ":")) + "\n"
                  for e in self.entries]
        self.write("entries.jsonl", forged)
        os.remove(os.path.join(self.audit, "checkpoints.jsonl"))
        self.assertRefusesToStart("AUDIT_LOG_ROLLBACK")


if __name__ == "__main__":
    unittest.main()
