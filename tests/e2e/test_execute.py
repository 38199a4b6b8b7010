"""End-to-end tests of POST /v1/execute through the daemon, each connector against
its real peer on loopback: the rest connector against sealgate-test-peer (HTTPS
with a dev-CA certificate; /echo sends back everything it received, secrets
included, so the egress guard has something to scrub), postgres with a KV
password and with dynamic credentials on a throwaway PostgreSQL 15, ldap against
slapd, ssh against sshd with its own host keys and config, and hmac and sign.

Refusals before the attempt (slot outside the grant, placeholder in a forbidden
position, destination or command outside the allow-list) spend nothing; failures
after it (oversized answer, hanging peer) spend the use and are audited.

The canary scan: canary secrets with characters that every encoding changes are
used through every connector; no response, log line, audit event, metric or admin
answer carries one in any encoding."""
import base64
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance, TestPeer, encodings, issue_peer_cert  # noqa: E402
from postgres import Postgres  # noqa: E402

from slapd import Slapd  # noqa: E402
from sshd import Sshd  # noqa: E402

CANARY_REST = 'ExecCanary/Rest+"q&z=9~'
CANARY_PG = "ExecCanaryPg&Pw=7/+x"
CANARY_HMAC = "ExecCanaryHmacKey#55"
# slapd's service password and sshd's user password are random per run (their
# harnesses set them); they join the canaries once the peers are up.
ALL_CANARIES = [CANARY_REST, CANARY_PG, CANARY_HMAC]


def policy(ssh_commands, ssh_host_keys):
    return {
        "version": 1,
        "rules": [
            {"id": "acme-payments-app", "effect": "allow", "subjects": ["spiffe://acme/payments"],
             "resources": ["secret://acme/kv/app/*", "secret://acme/db/*"], "actions": ["use"],
             "obligations": {"ttl_seconds": 300, "max_uses": 5}},
            # keys: only these secrets may key hmac and sign (and nothing else may use them)
            {"id": "acme-payments-keys", "effect": "allow", "subjects": ["spiffe://acme/payments"],
             "resources": ["secret://acme/kv/app/mac", "secret://acme/kv/app/signer"], "actions": ["use"],
             "obligations": {"connectors": ["hmac", "sign"]}},
            {"id": "admin-reveal-kv", "effect": "allow", "subjects": ["spiffe://sealgate-admin/admin/*"],
             "resources": ["secret://acme/kv/**"], "actions": ["reveal"]},
        ],
        "egress": {
            "acme": {"rest": {"hosts": ["127.0.0.1", "localhost"]},
                     "postgres": {"hosts": ["127.0.0.1"], "plaintext": True},  # the test servers have no TLS
                     "ldap": {"hosts": ["127.0.0.1"], "plaintext": True},
                     # the host key is pinned here, by the policy, never by the caller
                     "ssh": {"hosts": ["127.0.0.1", "localhost"], "commands": ssh_commands,
                             "host_keys": ssh_host_keys}},
        },
    }


class ExecuteTest(unittest.TestCase):
    responses = []  # every byte sealgate answered, for the canary scan

    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres().start()
        cls.pg.psql("CREATE ROLE app LOGIN PASSWORD '" + CANARY_PG.replace("'", "''") + "'")
        cls.pg.psql("CREATE TABLE items (id int, name text)")
        cls.pg.psql("INSERT INTO items VALUES (1, 'one'), (2, 'two'); GRANT SELECT ON items TO app")
        cls.slapd = Slapd().start()
        cls.sshd = Sshd().start()
        ALL_CANARIES.extend([cls.slapd.service_password, cls.sshd.password])
        roles = {"reader": {"creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "GRANT SELECT ON items TO \"{{name}}\";"], "default_ttl": "1h", "max_ttl": "2h"}}
        db = {"tenant": "acme", "mount": "db", "roles": roles,
              "connection": {"host": cls.pg.dir, "port": cls.pg.port, "user": "postgres", "dbname": "postgres"}}
        cls.sg = Instance(extra={"databases": [db],
                                 "connectors": {"ca_file": "pki/ca.pem", "timeout_ms": 1500,
                                                "max_response_bytes": 65536}})
        with open(os.path.join(cls.sg.dir, "policy.json"), "w") as f:
            json.dump(cls.policy(), f)
        cert, key = issue_peer_cert(cls.sg.dir)
        cls.peer = TestPeer(cert, key)
        cls.sg.start()
        signer = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                                check=True, capture_output=True, text=True).stdout
        cls.signer_pem = signer
        ALL_CANARIES.append(signer.strip())  # the signing key: its PEM body, in every encoding
        ALL_CANARIES.append("".join(signer.strip().splitlines()[1:-1]))
        for path, data in [("app/api", {"token": CANARY_REST}), ("app/pg", {"password": CANARY_PG}),
                           ("app/mac", {"key": CANARY_HMAC}), ("app/ldap", {"password": cls.slapd.service_password}),
                           ("app/ssh", {"password": cls.sshd.password}), ("app/signer", {"pem": signer}),
                           ("app/short", {"v": "abc"})]:
            r = cls.sg.request("POST", f"/v1/kv/data/{path}", client="admin", listener="admin", body={"data": data})
            assert r[0] == 200, r[3]

    @classmethod
    def policy(cls, ssh_pin=None):
        return policy(["echo hello", "sleep 30", "head -c 200000 /dev/zero"],
                      {"127.0.0.1:%d" % cls.sshd.port: [ssh_pin or cls.sshd.host_key_sha256]})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.scan_everything()
        finally:
            cls.sg.cleanup()
            cls.peer.stop()
            cls.pg.stop()
            cls.slapd.stop()
            cls.sshd.stop()

    # ---- helpers ----
    def call(self, method, path, body=None, client="acme-payments", listener="pep", headers=None):
        r = self.sg.request(method, path, client=client, body=body, listener=listener, headers=headers)
        ExecuteTest.responses.append(r[3] + json.dumps(r[2]).encode())
        return r

    def grant(self, *uris):
        r = self.call("POST", "/v1/authorize", {"requests": [{"uri": u, "action": "use"} for u in uris]})
        self.assertEqual(r[0], 200, r[3])
        self.assertIn("grant", r[1], r[3])
        return r[1]["grant"], r[1]["grant_id"]

    def execute(self, grant, slots, action):
        return self.call("POST", "/v1/execute", {"grant": grant, "slots": slots, "action": action})

    def remaining(self, grant_id):
        r = self.call("GET", "/admin/v1/grants", client="admin", listener="admin")
        self.assertEqual(r[0], 200, r[3])
        entries = r[1]["grants"] if isinstance(r[1], dict) else r[1]
        for g in entries:
            if g["grant_id"] == grant_id:
                return g["remaining_uses"]
        return 5  # never used: all of max_uses remain

    def audit_events(self, type_="execute"):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            events = [json.loads(line) for line in f if line.strip()]
        return [e for e in events if e.get("type") == type_]

    def assertError(self, r, status, code):
        self.assertEqual(r[0], status, r[3])
        self.assertEqual(r[1]["error"]["code"], code, r[3])

    def url(self, path):
        return f"https://127.0.0.1:{self.peer.port}{path}"

    def rest(self, path, headers=None, method="GET"):
        action = {"connector": "rest", "method": method, "url": self.url(path)}
        if headers:
            action["headers"] = headers
        return action

    def pg_action(self, user, password, query, params=None):
        return {"connector": "postgres", "host": "127.0.0.1", "port": self.pg.port, "dbname": "postgres",
                "user": user, "password": password, "sslmode": "disable", "query": query, "params": params or []}

    # ---- rest ----
    def test_rest_uses_the_secret_and_the_echo_comes_back_scrubbed(self):
        grant, grant_id = self.grant("secret://acme/kv/app/api#token")
        r = self.execute(grant, {"tok": "secret://acme/kv/app/api#token"},
                         {"connector": "rest", "method": "POST", "url": self.url("/echo?k={{slot:tok}}"),
                          "headers": {"Authorization": "Bearer {{slot:tok}}"},
                          "json": {"credential": "{{slot:tok}}"}})
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["status"], "ok")
        result = r[1]["result"]
        self.assertEqual(result["status"], 200)
        echoed = json.loads(result["body"])
        # The peer received the secret (header, query, JSON body) and echoed it; what came back is scrubbed.
        self.assertEqual(echoed["headers"]["Authorization"], "Bearer [REDACTED]")
        self.assertEqual(echoed["query"], "k=[REDACTED]")
        self.assertIn("[REDACTED]", echoed["body"])
        self.assertEqual(r[1]["remaining_uses"], 4)
        event = [e for e in self.audit_events() if e.get("grant_id") == grant_id][-1]
        self.assertEqual(event["outcome"], "ok")
        self.assertEqual(event["connector"], "rest")
        self.assertEqual(event["destination"], f"127.0.0.1:{self.peer.port}")
        self.assertEqual(event["slots"][0]["kv_version"], 1)
        self.assertTrue(event["slots"][0]["resource_ref"].startswith("rr1:"))
        self.assertGreaterEqual(event["redactions"], 3)
        self.assertEqual(str(event["audit_index"]), r[1]["audit_id"])

    def test_refusals_before_the_attempt_spend_nothing(self):
        grant, grant_id = self.grant("secret://acme/kv/app/api#token")
        tok = {"tok": "secret://acme/kv/app/api#token"}
        before = self.peer_requests()
        # a slot URI outside the grant (another field of the same secret, another secret)
        self.assertError(self.execute(grant, {"tok": "secret://acme/kv/app/api#other"},
                                      self.rest("/echo", {"X": "{{slot:tok}}"})), 403, "SLOT_NOT_COVERED")
        self.assertError(self.execute(grant, {"tok": "secret://acme/kv/app/pg#password"},
                                      self.rest("/echo", {"X": "{{slot:tok}}"})), 403, "SLOT_NOT_COVERED")
        # another tenant's URI, a bad URI
        self.assertError(self.execute(grant, {"tok": "secret://globex/kv/app/api#token"},
                                      self.rest("/echo", {"X": "{{slot:tok}}"})), 403, "URI_TENANT_MISMATCH")
        r = self.execute(grant, {"tok": "secret://acme/kv/../x"}, self.rest("/echo", {"X": "{{slot:tok}}"}))
        self.assertEqual(r[0], 400, r[3])
        self.assertTrue(r[1]["error"]["code"].startswith("URI_"), r[3])
        # placeholders in forbidden positions
        self.assertError(self.execute(grant, tok, {"connector": "rest", "method": "GET",
                                                   "url": "https://{{slot:tok}}/x"}), 400, "PLACEHOLDER_FORBIDDEN")
        self.assertError(self.execute(grant, tok, self.rest("/{{slot:tok}}")), 400, "PLACEHOLDER_FORBIDDEN")
        # destinations outside the allow-list
        self.assertError(self.execute(grant, tok, {"connector": "rest", "method": "GET",
                                                   "url": "https://127.0.0.2:%d/echo?k={{slot:tok}}" % self.peer.port}),
                         403, "DESTINATION_FORBIDDEN")
        self.assertError(self.execute(grant, tok, {"connector": "rest", "method": "GET",
                                                   "url": "https://example.com/?k={{slot:tok}}"}),
                         403, "DESTINATION_FORBIDDEN")
        # an ssh command outside the allow-list
        self.assertError(self.execute(grant, tok, self.ssh_action("rm -rf /", password="{{slot:tok}}")),
                         403, "COMMAND_FORBIDDEN")
        # a login name from a slot that is not a #username slot (the peer could say it back transformed)
        self.assertError(self.execute(grant, tok, dict(self.ssh_action("echo hello", password="{{slot:tok}}"),
                                                       user="{{slot:tok}}")), 400, "PLACEHOLDER_FORBIDDEN")
        # malformed requests
        self.assertError(self.execute(grant, tok, {"connector": "ftp"}), 400, "CONNECTOR_UNKNOWN")
        self.assertError(self.execute(grant, tok, self.rest("/echo", {"X": "{{slot:nope}}"})), 400, "SLOT_UNKNOWN")
        self.assertError(self.execute(grant, tok, self.rest("/echo")), 400, "SLOT_UNUSED")
        self.assertError(self.call("POST", "/v1/execute", {"grant": grant, "slots": tok, "action": {}, "x": 1}),
                         400, "UNKNOWN_FIELD")
        self.assertError(self.execute(grant + "x", tok, self.rest("/echo", {"X": "{{slot:tok}}"})), 401,
                         "GRANT_INVALID")
        # another identity presenting the grant
        r = self.call("POST", "/v1/execute", {"grant": grant, "slots": tok, "action": self.rest("/echo", {"X": "{{slot:tok}}"})},
                      client="globex-billing")
        self.assertEqual(r[0], 401, r[3])
        # nothing was spent and the peer saw nothing
        self.assertEqual(self.remaining(grant_id), 5)
        self.assertEqual(self.peer_requests(), before)
        self.assertFalse([e for e in self.audit_events() if e.get("grant_id") == grant_id])
        # ... but the refusals are logged and counted
        codes = {l.get("code") for l in self.sg.log_lines() if l.get("event") == "execute_refused"}
        self.assertTrue({"SLOT_NOT_COVERED", "PLACEHOLDER_FORBIDDEN", "DESTINATION_FORBIDDEN",
                         "COMMAND_FORBIDDEN"} <= codes, codes)
        metrics = self.call("GET", "/metrics", client="auditor", listener="admin")
        self.assertEqual(metrics[0], 200)
        self.assertIn(b'sealgate_execute_refused_total{connector="rest",code="DESTINATION_FORBIDDEN"} 2', metrics[3])

    def peer_requests(self):
        """The peer's own count of requests it served (its /requests route, asked directly)."""
        import http.client
        import ssl
        ctx = ssl.create_default_context(cafile=self.sg.ca)
        conn = http.client.HTTPSConnection("127.0.0.1", self.peer.port, context=ctx, timeout=10)
        conn.request("GET", "/requests")
        body = json.loads(conn.getresponse().read())
        conn.close()
        return body["requests"]

    def test_failures_after_the_attempt_spend_the_use_and_are_audited(self):
        grant, grant_id = self.grant("secret://acme/kv/app/api#token")
        tok = {"tok": "secret://acme/kv/app/api#token"}
        big = self.execute(grant, tok, self.rest("/bytes?n=200000", {"X": "{{slot:tok}}"}))
        self.assertError(big, 502, "PEER_RESPONSE_TOO_LARGE")
        self.assertNotIn(b"xxxxxxxx", big[3])
        self.assertIn("X-Sealgate-Audit-Id", big[2])
        hang = self.execute(grant, tok, self.rest("/hang", {"X": "{{slot:tok}}"}))
        self.assertError(hang, 504, "PEER_TIMEOUT")
        self.assertEqual(self.remaining(grant_id), 3)
        outcomes = [e["outcome"] for e in self.audit_events() if e.get("grant_id") == grant_id]
        self.assertEqual(outcomes, ["PEER_RESPONSE_TOO_LARGE", "PEER_TIMEOUT"])
        # an exhausted grant is refused before anything runs, and that is audited too
        for _ in range(3):
            self.assertEqual(self.execute(grant, tok, self.rest("/ok", {"X": "{{slot:tok}}"}))[0], 200)
        self.assertError(self.execute(grant, tok, self.rest("/ok", {"X": "{{slot:tok}}"})), 403, "GRANT_EXHAUSTED")

    def test_a_secret_too_short_to_scrub_is_refused(self):
        grant, _ = self.grant("secret://acme/kv/app/short#v")
        r = self.execute(grant, {"v": "secret://acme/kv/app/short#v"}, self.rest("/echo", {"X": "{{slot:v}}"}))
        self.assertError(r, 422, "SECRET_UNUSABLE")

    def test_a_missing_secret_spends_the_use_and_says_not_found(self):
        grant, grant_id = self.grant("secret://acme/kv/app/none#token")
        r = self.execute(grant, {"t": "secret://acme/kv/app/none#token"}, self.rest("/echo", {"X": "{{slot:t}}"}))
        self.assertError(r, 404, "NOT_FOUND")
        self.assertEqual(self.remaining(grant_id), 4)

    # ---- postgres ----
    def test_postgres_with_a_kv_password(self):
        grant, _ = self.grant("secret://acme/kv/app/pg#password")
        r = self.execute(grant, {"pw": "secret://acme/kv/app/pg#password"},
                         self.pg_action("app", "{{slot:pw}}", "SELECT id, name FROM items WHERE id = $1", ["2"]))
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["result"]["rows"], [["2", "two"]])
        # a slot in a query parameter is refused before the attempt: the SQL could return it transformed
        self.assertError(self.execute(grant, {"pw": "secret://acme/kv/app/pg#password"},
                                      self.pg_action("app", "{{slot:pw}}", "SELECT reverse($1)", ["{{slot:pw}}"])),
                         400, "PLACEHOLDER_FORBIDDEN")
        # ... and so is a slot in the user, unless it is a #username slot: SELECT reverse(current_user)
        self.assertError(self.execute(grant, {"pw": "secret://acme/kv/app/pg#password"},
                                      self.pg_action("{{slot:pw}}", "{{slot:pw}}", "SELECT reverse(current_user)")),
                         400, "PLACEHOLDER_FORBIDDEN")

    def test_postgres_with_dynamic_credentials_shares_one_lease(self):
        user_uri, pass_uri = "secret://acme/db/reader#username", "secret://acme/db/reader#password"
        grant, grant_id = self.grant(user_uri, pass_uri)
        r = self.execute(grant, {"u": user_uri, "p": pass_uri},
                         self.pg_action("{{slot:u}}", "{{slot:p}}", "SELECT count(*), current_user FROM items"))
        self.assertEqual(r[0], 200, r[3])
        # the dynamic user name is a slot value too: the database says it back, the guard scrubs it
        self.assertEqual(r[1]["result"]["rows"], [["2", "[REDACTED]"]])
        event = [e for e in self.audit_events() if e.get("grant_id") == grant_id][-1]
        leases = {s.get("lease_id") for s in event["slots"]}
        self.assertEqual(len(leases), 1, event)  # username and password of one lease
        self.assertTrue(next(iter(leases)).startswith("acme/db/creds/reader/"))

    def test_postgres_wrong_password_is_an_auth_failure(self):
        grant, _ = self.grant("secret://acme/kv/app/api#token")
        r = self.execute(grant, {"pw": "secret://acme/kv/app/api#token"},
                         self.pg_action("app", "{{slot:pw}}", "SELECT 1"))
        self.assertError(r, 502, "PEER_AUTH_FAILED")

    # ---- ldap ----
    def test_ldap_bind_with_a_slot_password_then_search(self):
        grant, _ = self.grant("secret://acme/kv/app/ldap#password")
        r = self.execute(grant, {"pw": "secret://acme/kv/app/ldap#password"}, self.ldap_action("{{slot:pw}}"))
        self.assertEqual(r[0], 200, r[3])
        self.assertGreaterEqual(r[1]["result"]["count"], 1, r[3])
        self.assertError(self.execute(grant, {"pw": "secret://acme/kv/app/ldap#password"},
                                      dict(self.ldap_action("{{slot:pw}}"),
                                           search={"base": Slapd.BASE_DN, "scope": "sub",
                                                   "filter": "(uid={{slot:pw}})"})),
                         400, "PLACEHOLDER_FORBIDDEN")
        wrong, _ = self.grant("secret://acme/kv/app/api#token")
        self.assertError(self.execute(wrong, {"pw": "secret://acme/kv/app/api#token"},
                                      self.ldap_action("{{slot:pw}}")), 502, "PEER_AUTH_FAILED")

    def ldap_action(self, password):
        return {"connector": "ldap", "url": f"ldap://127.0.0.1:{self.slapd.port}", "bind_dn": Slapd.SERVICE_DN,
                "password": password, "search": {"base": Slapd.BASE_DN, "scope": "sub", "filter": "(objectClass=inetOrgPerson)",
                                                 "attributes": ["cn", "mail"]}}

    # ---- ssh ----
    def ssh_action(self, command, password):
        return {"connector": "ssh", "host": "127.0.0.1", "port": self.sshd.port,
                "user": Sshd.USER, "password": password, "command": command}

    def test_ssh_runs_an_allowed_command_with_a_slot_password(self):
        grant, _ = self.grant("secret://acme/kv/app/ssh#password")
        slots = {"pw": "secret://acme/kv/app/ssh#password"}
        r = self.execute(grant, slots, self.ssh_action("echo hello", "{{slot:pw}}"))
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["result"]["exit_status"], 0)
        self.assertEqual(r[1]["result"]["stdout"], "hello\n")
        self.assertError(self.execute(grant, slots, self.ssh_action("head -c 200000 /dev/zero", "{{slot:pw}}")),
                         502, "PEER_RESPONSE_TOO_LARGE")
        self.assertError(self.execute(grant, slots, self.ssh_action("sleep 30", "{{slot:pw}}")), 504, "PEER_TIMEOUT")
        # the policy pins another key for this host: the server fails the check, no credential is sent
        wrong_pin = "SHA256:" + base64.b64encode(b"\0" * 32).decode().rstrip("=")
        self.put_policy(self.policy(wrong_pin))
        try:
            self.assertError(self.execute(grant, slots, self.ssh_action("echo hello", "{{slot:pw}}")),
                             502, "PEER_HOST_KEY_MISMATCH")
        finally:
            self.put_policy(self.policy())
        # a host the policy allows but pins no key for is never contacted
        unpinned = dict(self.ssh_action("echo hello", "{{slot:pw}}"), host="localhost")
        self.assertError(self.execute(grant, slots, unpinned), 403, "HOST_KEY_NOT_PINNED")
        # a pin from the caller is refused, even the right one
        own_pin = dict(self.ssh_action("echo hello", "{{slot:pw}}"), host_key_sha256=self.sshd.host_key_sha256)
        self.assertError(self.execute(grant, slots, own_pin), 400, "INVALID_ACTION")

    def put_policy(self, document):
        r = self.call("PUT", "/admin/v1/policy", document, client="admin", listener="admin")
        self.assertEqual(r[0], 200, r[3])

    # ---- hmac and sign ----
    def test_hmac_and_sign_use_a_secret_as_the_key(self):
        import hashlib
        import hmac
        grant, _ = self.grant("secret://acme/kv/app/mac#key", "secret://acme/kv/app/signer#pem")
        r = self.execute(grant, {"k": "secret://acme/kv/app/mac#key"},
                         {"connector": "hmac", "key": "{{slot:k}}", "algorithm": "HS256", "message": "order-42",
                          "output": "hex"})
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(r[1]["result"]["mac"], hmac.new(CANARY_HMAC.encode(), b"order-42", hashlib.sha256).hexdigest())
        r = self.execute(grant, {"k": "secret://acme/kv/app/signer#pem"},
                         {"connector": "sign", "key": "{{slot:k}}", "algorithm": "ES256", "message": "order-42"})
        self.assertEqual(r[0], 200, r[3])
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        pub = serialization.load_pem_public_key(r[1]["result"]["public_key_pem"].encode())
        sig = base64.urlsafe_b64decode(r[1]["result"]["signature"] + "==")
        pub.verify(sig, b"order-42", ec.ECDSA(hashes.SHA256()))  # raises if invalid
        self.assertNotIn(b"PRIVATE KEY", r[3])
        # a secret the policy does not name as a key (a password, an API token) keys nothing:
        # a MAC of it would let the caller test guesses offline
        token_grant, token_id = self.grant("secret://acme/kv/app/api#token")
        self.assertError(self.execute(token_grant, {"k": "secret://acme/kv/app/api#token"},
                                      {"connector": "hmac", "key": "{{slot:k}}", "algorithm": "HS256",
                                       "message": "guess"}), 403, "CONNECTOR_NOT_ALLOWED")
        self.assertEqual(self.remaining(token_id), 5)
        # and a key is used only by the connectors listed for it
        self.assertError(self.execute(grant, {"k": "secret://acme/kv/app/mac#key"},
                                      self.rest("/echo", {"X": "{{slot:k}}"})), 403, "CONNECTOR_NOT_ALLOWED")

    # ---- the canary scan ----
    @classmethod
    def scan_everything(cls):
        outputs = {"responses": b"\n".join(cls.responses)}
        for path in ("/metrics", "/admin/v1/status", "/admin/v1/grants", "/admin/v1/leases", "/readyz"):
            r = cls.sg.request("GET", path, client="admin", listener="admin")
            outputs["admin " + path] = r[3]
        cls.sg.stop()
        with open(cls.sg.log_path, "rb") as f:
            outputs["log"] = f.read()
        for name in ("entries.jsonl", "checkpoints.jsonl"):
            with open(os.path.join(cls.sg.dir, "audit", name), "rb") as f:
                outputs["audit " + name] = f.read()
        leaks = []
        for canary in ALL_CANARIES:
            for form in encodings(canary):
                for where, data in outputs.items():
                    if form.encode() in data:
                        leaks.append((canary, form, where))
        if leaks:
            raise AssertionError(f"canary leaked: {leaks}")
        # the scan can fail: the canaries really went out to the peers
        assert any(b"[REDACTED]" in r for r in cls.responses), "no scrubbed output seen: the scan proves nothing"


class CanaryScanWorks(unittest.TestCase):
    def test_encodings_cover_what_the_guard_covers(self):
        forms = encodings(CANARY_REST)
        self.assertIn('ExecCanary/Rest+\\"q&z=9~', forms)  # JSON-escaped
        self.assertIn("ExecCanary%2FRest%2B%22q%26z%3D9~", forms)  # url-encoded
        self.assertIn(base64.b64encode(CANARY_REST.encode()).decode().rstrip("="), forms)


if __name__ == "__main__":
    unittest.main()
