"""Attacks on the connectors of POST /v1/execute by a tenant service holding a
valid grant: steering where a credential goes or what comes back.

ssh host keys: the pin used to come from the caller, so a caller could send the
credential to any server it names (its own) by pinning that server's key. Now
the tenant's policy pins the keys (egress.<tenant>.ssh.host_keys):
  - a caller that supplies its own pin is refused before the attempt
    (INVALID_ACTION): nothing is spent, nothing audited, sshd sees no connection;
  - a host the policy pins no key for is refused the same way
    (403 HOST_KEY_NOT_PINNED);
  - when the policy's pin does not match the server's key, the host-key check
    fails (502 PEER_HOST_KEY_MISMATCH) before any credential is sent.

Login names: a slot in postgres or ssh `user` came back transformed through
`SELECT reverse(current_user)`; only a #username slot may go there now."""
import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import Instance  # noqa: E402
from sshd import Sshd  # noqa: E402

WRONG_PIN = "SHA256:" + base64.b64encode(b"\x01" * 32).decode().rstrip("=")


class SshHostKeyPinAttack(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sshd = Sshd().start()
        cls.sg = Instance()
        policy = {
            "version": 1,
            "rules": [{"id": "acme-payments-app", "effect": "allow", "subjects": ["spiffe://acme/payments"],
                       "resources": ["secret://acme/kv/app/*"], "actions": ["use"],
                       "obligations": {"ttl_seconds": 300, "max_uses": 5}}],
            "egress": {"acme": {"ssh": {
                "hosts": ["127.0.0.1", "localhost"], "commands": ["echo hello"],
                # The policy pins a key the server does not have; localhost has no pin at all.
                "host_keys": {"127.0.0.1:%d" % cls.sshd.port: [WRONG_PIN]}}}},
        }
        with open(os.path.join(cls.sg.dir, "policy.json"), "w") as f:
            json.dump(policy, f)
        cls.sg.start()
        r = cls.sg.request("POST", "/v1/kv/data/app/ssh", client="admin", listener="admin",
                           body={"data": {"password": cls.sshd.password}})
        assert r[0] == 200, r[3]

    @classmethod
    def tearDownClass(cls):
        try:
            for place in (cls.sg.log_path, os.path.join(cls.sg.dir, "audit/entries.jsonl")):
                with open(place, "rb") as f:
                    assert cls.sshd.password.encode() not in f.read(), place
        finally:
            cls.sg.cleanup()
            cls.sshd.stop()

    def grant(self):
        r = self.sg.request("POST", "/v1/authorize",
                            body={"requests": [{"uri": "secret://acme/kv/app/ssh#password", "action": "use"}]})
        self.assertEqual(r[0], 200, r[3])
        return r[1]["grant"], r[1]["grant_id"]

    def execute(self, grant, action):
        return self.sg.request("POST", "/v1/execute", body={
            "grant": grant, "slots": {"pw": "secret://acme/kv/app/ssh#password"}, "action": action})

    def action(self, **changes):
        a = {"connector": "ssh", "host": "127.0.0.1", "port": self.sshd.port, "user": Sshd.USER,
             "password": "{{slot:pw}}", "command": "echo hello"}
        a.update(changes)
        return a

    def remaining(self, grant_id):
        r = self.sg.request("GET", "/admin/v1/grants", client="admin", listener="admin")
        self.assertEqual(r[0], 200, r[3])
        entries = r[1]["grants"] if isinstance(r[1], dict) else r[1]
        for g in entries:
            if g["grant_id"] == grant_id:
                return g["remaining_uses"]
        return 5  # never used

    def execute_events(self, grant_id):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            events = [json.loads(line) for line in f if line.strip()]
        return [e for e in events if e.get("type") == "execute" and e.get("grant_id") == grant_id]

    def assertError(self, r, status, code):
        self.assertEqual(r[0], status, r[3])
        self.assertEqual(r[1]["error"]["code"], code, r[3])
        self.assertNotIn(self.sshd.password.encode(), r[3])

    def test_a_caller_that_supplies_its_own_pin_is_refused_and_nothing_is_spent(self):
        grant, grant_id = self.grant()
        connections = self.sshd.log().count("Connection from")
        # The attacker pins the real server's key to override the policy's pin,
        # or the key of a server of its own; either way it is not the caller's call.
        for pin in (self.sshd.host_key_sha256, WRONG_PIN):
            r = self.execute(grant, self.action(host_key_sha256=pin))
            self.assertError(r, 400, "INVALID_ACTION")
            self.assertIn("egress policy", r[1]["error"]["message"])
        # ... also to a destination the policy pins nothing for
        self.assertError(self.execute(grant, self.action(host="localhost", host_key_sha256=self.sshd.host_key_sha256)),
                         400, "INVALID_ACTION")
        self.assertEqual(self.remaining(grant_id), 5)
        self.assertEqual(self.execute_events(grant_id), [])
        self.assertEqual(self.sshd.log().count("Connection from"), connections, self.sshd.log())

    def test_a_host_without_a_policy_pin_is_never_contacted(self):
        grant, grant_id = self.grant()
        connections = self.sshd.log().count("Connection from")
        self.assertError(self.execute(grant, self.action(host="localhost")), 403, "HOST_KEY_NOT_PINNED")
        self.assertEqual(self.remaining(grant_id), 5)
        self.assertEqual(self.sshd.log().count("Connection from"), connections, self.sshd.log())

    def test_a_policy_pin_that_does_not_match_fails_the_host_key_check(self):
        grant, grant_id = self.grant()
        r = self.execute(grant, self.action())
        self.assertError(r, 502, "PEER_HOST_KEY_MISMATCH")
        self.assertIn("X-Sealgate-Audit-Id", r[2])
        # the attempt is spent and audited, and no credential reached the server
        self.assertEqual(self.remaining(grant_id), 4)
        self.assertEqual([e["outcome"] for e in self.execute_events(grant_id)], ["PEER_HOST_KEY_MISMATCH"])
        self.assertIn("Connection from", self.sshd.log())
        self.assertNotIn("password for", self.sshd.log())
        self.assertNotIn("Accepted", self.sshd.log())

    def test_a_login_name_only_from_a_username_slot(self):
        grant, grant_id = self.grant()
        r = self.execute(grant, self.action(user="{{slot:pw}}"))
        self.assertError(r, 400, "PLACEHOLDER_FORBIDDEN")
        self.assertEqual(self.remaining(grant_id), 5)


if __name__ == "__main__":
    unittest.main()
