"""Attack replay (issue 12, items 4, 5 and 15): the egress guard as an oracle.

The guard used to be process-wide: while tenant acme's secret was live (its
execute in flight), every response, log line and audit event of every tenant was
scrubbed against it. Tenant globex, with no right to acme's secret, learned
whether a guess equalled it by watching for [REDACTED] in its own echo peer's
answer, in /v1/uris/canonicalize output and in an UNKNOWN_FIELD message; and a
value that occurs in other tenants' audit events (a common word, or globex's own
SPIFFE ID) made their audit appends fail (503 AUDIT_UNAVAILABLE).

Replayed here against a dev instance: acme's execute hangs on the peer's /hang
(its value live for the connector timeout) while globex probes. Also: values too
short or too common are refused at fetch time (422 SECRET_UNUSABLE, audited); a
slot without #field keeps each field of its document out of outputs, even
through a peer that answers one field re-serialised; and execute results carry
no header describing the peer's raw body (Content-Length, ETag, digests)."""
import json
import os
import secrets
import sys
import threading
import time
import unittest

from harness import Instance, TestPeer, issue_peer_cert

# acme's live secret, and globex's guesses at it. URI-path safe, so it can sit in
# a secret URI too.
ACME_SECRET = "AcmeLive-" + secrets.token_hex(12)
ACME_DOC_PASSWORD = "DocPw-" + secrets.token_hex(10)
ACME_DOC_USER = "svc-user-" + secrets.token_hex(4)
GLOBEX_SECRET = "GlobexOwn-" + secrets.token_hex(12)
GLOBEX_SPIFFE = "spiffe://globex/billing"
CONNECTOR_TIMEOUT_MS = 6000


def policy():
    use = {"ttl_seconds": 300, "max_uses": 10}
    return {
        "version": 1,
        "rules": [
            {"id": "acme-use", "effect": "allow", "subjects": ["spiffe://acme/payments"],
             "resources": ["secret://acme/kv/app/*"], "actions": ["use"], "obligations": use},
            {"id": "globex-use", "effect": "allow", "subjects": [GLOBEX_SPIFFE],
             "resources": ["secret://globex/kv/app/*"], "actions": ["use"], "obligations": use},
        ],
        "egress": {
            "acme": {"rest": {"hosts": ["127.0.0.1"]}},
            "globex": {"rest": {"hosts": ["127.0.0.1"]}},
        },
    }


class EgressOracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(extra={"connectors": {"ca_file": "pki/ca.pem", "timeout_ms": CONNECTOR_TIMEOUT_MS,
                                                "max_response_bytes": 65536}})
        with open(os.path.join(cls.sg.dir, "policy.json"), "w") as f:
            json.dump(policy(), f)
        cert, key = issue_peer_cert(cls.sg.dir)
        cls.peer = TestPeer(cert, key)
        cls.sg.start()
        for tenant, path, data in [
                ("acme", "app/live", {"token": ACME_SECRET}),
                ("acme", "app/spiffe", {"token": GLOBEX_SPIFFE}),  # a value found in globex's audit events
                ("acme", "app/word", {"v": "allow"}),
                ("acme", "app/vocab", {"v": "remaining_uses"}),
                ("acme", "app/run", {"v": "aaaaaaaaaaaaaaaa"}),
                ("acme", "app/big", {"v": "x" * 4000 + secrets.token_hex(2200)}),
                ("acme", "app/doc", {"username": ACME_DOC_USER, "password": ACME_DOC_PASSWORD}),
                ("acme", "app/weakdoc", {"username": "app", "password": ACME_DOC_PASSWORD}),
                ("globex", "app/api", {"token": GLOBEX_SECRET})]:
            r = cls.sg.request("POST", f"/v1/kv/data/{path}", client="admin", listener="admin", body={"data": data},
                               headers={"X-Vault-Namespace": tenant})
            assert r[0] == 200, r[3]

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()
        cls.peer.stop()

    # ---- helpers ----
    def client_of(self, tenant):
        return "acme-payments" if tenant == "acme" else "globex-billing"

    def grant(self, tenant, uri):
        r = self.sg.request("POST", "/v1/authorize", client=self.client_of(tenant),
                            body={"requests": [{"uri": uri, "action": "use"}]})
        self.assertEqual(r[0], 200, r[3])
        self.assertIn("grant", r[1], r[3])
        return r[1]["grant"]

    def execute(self, tenant, uri, action, slot="s"):
        grant = self.grant(tenant, uri)
        return self.sg.request("POST", "/v1/execute", client=self.client_of(tenant),
                               body={"grant": grant, "slots": {slot: uri}, "action": action})

    def url(self, path):
        return f"https://127.0.0.1:{self.peer.port}{path}"

    def peer_requests(self):
        import http.client
        import ssl
        ctx = ssl.create_default_context(cafile=self.sg.ca)
        conn = http.client.HTTPSConnection("127.0.0.1", self.peer.port, context=ctx, timeout=5)
        try:
            conn.request("GET", "/requests")
            return json.loads(conn.getresponse().read())["requests"]
        finally:
            conn.close()

    def audit_events(self):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def while_live(self, uri, probe):
        """Runs acme's execute of `uri` against /hang (its value live until the
        connector timeout) and calls probe() once the peer holds the request."""
        before = self.peer_requests()
        outcome = {}

        def hang():
            outcome["r"] = self.execute("acme", uri, {"connector": "rest", "method": "GET", "url": self.url("/hang"),
                                                      "headers": {"Authorization": "Bearer {{slot:s}}"}})
        t = threading.Thread(target=hang)
        t.start()
        deadline = time.time() + 5
        while self.peer_requests() == before and time.time() < deadline:
            time.sleep(0.02)
        self.assertGreater(self.peer_requests(), before, "acme's execute never reached the peer")
        try:
            probe()
            self.assertTrue(t.is_alive(), "acme's execute ended before the probes did: its value was not live")
        finally:
            t.join()
        self.assertEqual(outcome["r"][0], 504, outcome["r"][3])  # PEER_TIMEOUT, after the probes
        return outcome["r"]

    # ---- item 4: no cross-tenant oracle ----
    def test_another_tenant_cannot_test_guesses_against_a_live_value(self):
        seen = {}

        def probe():
            # 1. globex's own execute: its echo peer reflects a guess next to globex's own secret.
            r = self.execute("globex", "secret://globex/kv/app/api#token",
                             {"connector": "rest", "method": "POST", "url": self.url("/echo"),
                              "headers": {"X-Own": "{{slot:s}}", "X-Guess": ACME_SECRET},
                              "body": "guess=" + ACME_SECRET})
            seen["echo"] = r
            # 2. canonicalize: the guess inside a URI of globex's own namespace.
            seen["canon"] = self.sg.request("POST", "/v1/uris/canonicalize", client="globex-billing",
                                            body={"uri": "secret://globex/kv/" + ACME_SECRET})
            # 3. UNKNOWN_FIELD: the guess as an unknown field name.
            seen["unknown"] = self.sg.request("POST", "/v1/uris/canonicalize", client="globex-billing",
                                              body={"uri": "secret://globex/kv/x", ACME_SECRET: 1})

        acme = self.while_live("secret://acme/kv/app/live#token", probe)
        self.assertNotIn(ACME_SECRET.encode(), acme[3])

        status, body, _, raw = seen["echo"]
        self.assertEqual(status, 200, raw)
        echoed = json.loads(body["result"]["body"])
        self.assertEqual(echoed["headers"]["X-Guess"], ACME_SECRET)  # not [REDACTED]: no oracle
        self.assertEqual(echoed["body"], "guess=" + ACME_SECRET)
        self.assertEqual(echoed["headers"]["X-Own"], "[REDACTED]")  # globex's own value still scrubbed
        self.assertNotIn(GLOBEX_SECRET.encode(), raw)

        status, body, _, raw = seen["canon"]
        self.assertEqual(status, 200, raw)
        self.assertIn(ACME_SECRET, body["canonical"])
        self.assertNotIn(b"[REDACTED]", raw)

        status, body, _, raw = seen["unknown"]
        self.assertEqual(status, 400, raw)
        self.assertEqual(body["error"]["code"], "UNKNOWN_FIELD", raw)
        self.assertIn(ACME_SECRET, body["error"]["message"])
        self.assertNotIn(b"[REDACTED]", raw)

    def test_a_live_value_in_other_tenants_audit_events_does_not_deny_them(self):
        # acme's secret is globex's SPIFFE ID, which is in every globex audit event.
        seen = {}

        def probe():
            seen["exec"] = self.execute("globex", "secret://globex/kv/app/api#token",
                                        {"connector": "rest", "method": "GET", "url": self.url("/ok"),
                                         "headers": {"Authorization": "Bearer {{slot:s}}"}})

        n = len(self.audit_events())
        self.while_live("secret://acme/kv/app/spiffe#token", probe)
        status, body, _, raw = seen["exec"]
        self.assertEqual(status, 200, raw)  # was 503 AUDIT_UNAVAILABLE (authorize or execute)
        mine = [e for e in self.audit_events()[n:] if e.get("tenant") == "globex"]
        self.assertEqual({e["type"] for e in mine}, {"authorize", "execute"}, mine)

    # ---- item 4: values too short or too common are refused before they are live ----
    def test_short_common_and_low_entropy_values_are_refused_at_fetch_time(self):
        for path, reason in [("app/word", "too_short"), ("app/vocab", "too_common"), ("app/run", "low_entropy"),
                             ("app/big", "too_large")]:
            n = len(self.audit_events())
            r = self.execute("acme", f"secret://acme/kv/app/{path.split('/')[1]}#v",
                             {"connector": "rest", "method": "GET", "url": self.url("/ok"),
                              "headers": {"Authorization": "Bearer {{slot:s}}"}})
            self.assertEqual(r[0], 422, r[3])
            self.assertEqual(r[1]["error"]["code"], "SECRET_UNUSABLE", r[3])
            # the refusal is audited (never blocked by its own value) ...
            events = [e for e in self.audit_events()[n:] if e.get("type") == "execute"]
            self.assertEqual(len(events), 1, events)
            self.assertEqual(events[0]["outcome"], "SECRET_UNUSABLE")
            self.assertEqual(events[0]["unusable"], reason)
            # ... and another tenant's appends keep working.
            g = self.execute("globex", "secret://globex/kv/app/api#token",
                             {"connector": "rest", "method": "GET", "url": self.url("/ok"),
                              "headers": {"Authorization": "Bearer {{slot:s}}"}})
            self.assertEqual(g[0], 200, g[3])

    # ---- item 5: a slot without #field keeps each field out of outputs ----
    def test_a_field_less_slot_keeps_every_field_out_of_a_reserialising_peer(self):
        for field, value in [("password", ACME_DOC_PASSWORD), ("username", ACME_DOC_USER)]:
            r = self.execute("acme", "secret://acme/kv/app/doc",
                             {"connector": "rest", "method": "POST", "url": self.url(f"/field?name={field}"),
                              "body": "{{slot:s}}"})
            self.assertEqual(r[0], 200, r[3])
            self.assertEqual(r[1]["result"]["status"], 200, r[3])
            self.assertEqual(r[1]["result"]["body"], "[REDACTED]", r[3])  # was the field in clear
            self.assertNotIn(value.encode(), r[3])
        # A document with a field too short to keep out of outputs is refused whole.
        r = self.execute("acme", "secret://acme/kv/app/weakdoc",
                         {"connector": "rest", "method": "POST", "url": self.url("/field?name=username"),
                          "body": "{{slot:s}}"})
        self.assertEqual(r[0], 422, r[3])
        self.assertEqual(r[1]["error"]["code"], "SECRET_UNUSABLE", r[3])

    # ---- item 15: no header describing the peer's raw body ----
    def test_results_carry_no_length_or_digest_of_the_raw_body(self):
        r = self.execute("acme", "secret://acme/kv/app/live#token",
                         {"connector": "rest", "method": "GET", "url": self.url("/echo-described"),
                          "headers": {"Authorization": "Bearer {{slot:s}}"}})
        self.assertEqual(r[0], 200, r[3])
        headers = {k.lower(): v for k, v in r[1]["result"]["headers"].items()}
        for name in ["content-length", "etag", "content-md5", "digest", "content-digest", "repr-digest",
                     "content-range"]:
            self.assertNotIn(name, headers, r[3])
        self.assertEqual(headers["x-peer-note"], "kept")
        self.assertIn("[REDACTED]", r[1]["result"]["body"])
        self.assertNotIn(ACME_SECRET.encode(), r[3])


if __name__ == "__main__":
    unittest.main()
