"""End-to-end tests of grants: batch authorize, DPoP- and mTLS-bound consume, over
the real daemon with the dev instance's embedded policy (API.md, last section)."""
import base64
import hashlib
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance, encodings  # noqa: E402
from dpop_client import DpopKey, b64u, decode_claims  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

CANARY = "CanaryGrantPath7"


def cert_thumbprint(path):
    with open(path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return b64u(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())


class GrantTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance()
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def url(self, path):
        return f"https://127.0.0.1:{self.sg.pep_port}{path}"

    def authorize(self, items, client="acme-payments", dpop=None):
        headers = {"DPoP": dpop} if dpop else {}
        return self.sg.request("POST", "/v1/authorize", client=client, body={"requests": items}, headers=headers)

    def consume(self, grant, client="acme-payments", dpop=None):
        headers = {"DPoP": dpop} if dpop else {}
        return self.sg.request("POST", "/v1/grants/consume", client=client, body={"grant": grant}, headers=headers)

    def assertError(self, result, status, code):
        self.assertEqual(result[0], status, result[3])
        self.assertEqual(result[1]["error"]["code"], code, result[3])

    def test_jwks_verifies_grants_independently(self):
        status, jwks, _, _ = self.sg.request("GET", "/.well-known/jwks.json")
        self.assertEqual(status, 200)
        grant = self.authorize([{"uri": "secret://acme/kv/app/db#password", "action": "use"}])[1]["grant"]
        header = json.loads(base64.urlsafe_b64decode(grant.split(".")[0] + "=="))
        self.assertEqual(header["alg"], "ES256")
        key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        self.assertNotIn("d", key)
        pub = ec.EllipticCurvePublicNumbers(int.from_bytes(base64.urlsafe_b64decode(key["x"] + "=="), "big"),
                                            int.from_bytes(base64.urlsafe_b64decode(key["y"] + "=="), "big"),
                                            ec.SECP256R1()).public_key()
        signing_input, sig = grant.rsplit(".", 1)
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        pub.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # raises if invalid

    def test_batch_authorize_denies_items_individually(self):
        status, body, _, _ = self.authorize([
            {"uri": "secret://acme/kv/app/db#password", "action": "use"},
            {"uri": "secret://ACME/kv/app/api?version=2#key", "action": "use", "context": {"ticket": "T-1"}},
            {"uri": "secret://acme/kv/other/" + CANARY, "action": "use"},
            {"uri": "secret://acme/kv/app/../x", "action": "use"},
            {"uri": "secret://globex/kv/billing", "action": "use"},
            {"uri": "secret://acme/kv/app/db#password", "action": "delete"},
        ])
        self.assertEqual(status, 200)
        results = body["results"]
        self.assertEqual([r["decision"] for r in results], ["allow", "allow", "deny", "deny", "deny", "deny"])
        self.assertEqual(results[3]["reason"], "URI_TRAVERSAL")
        self.assertEqual(results[4]["reason"], "URI_TENANT_MISMATCH")
        self.assertTrue(results[2]["reason"])
        self.assertNotIn(CANARY, json.dumps(body))
        claims = decode_claims(body["grant"])
        self.assertEqual(sorted(claims["res"]), sorted([results[0]["resource_ref"], results[1]["resource_ref"]]))
        self.assertEqual(claims["sub"], "spiffe://acme/payments")
        self.assertEqual(claims["iss"], claims["aud"])
        self.assertEqual(claims["max_uses"], 5)
        self.assertEqual(body["max_uses"], 5)
        self.assertEqual(claims["exp"] - claims["iat"], 300)
        self.assertEqual(claims["decision_id"], body["decision_id"])
        self.assertEqual(claims["cnf"], {"x5t#S256": cert_thumbprint(self.sg.client("acme-payments")[0])})

    def test_nothing_allowed_means_no_grant(self):
        status, body, _, _ = self.authorize([{"uri": "secret://acme/db/role", "action": "use"}])
        self.assertEqual(status, 200)
        self.assertNotIn("grant", body)
        self.assertEqual(body["results"][0]["decision"], "deny")

    def test_malformed_batches_fail_whole_request(self):
        self.assertError(self.authorize([]), 400, "INVALID_REQUEST")
        self.assertError(self.authorize([{"uri": "secret://acme/kv/app/a", "action": "use"}] * 129), 400,
                         "INVALID_REQUEST")
        self.assertError(self.authorize([{"uri": "secret://acme/kv/app/a"}]), 400, "INVALID_REQUEST")
        self.assertError(self.authorize([{"uri": "secret://acme/kv/app/a", "action": "use", "x": 1}]), 400,
                         "UNKNOWN_FIELD")
        self.assertError(self.authorize(["secret://acme/kv/app/a"]), 400, "INVALID_REQUEST")
        self.assertError(self.authorize([{"uri": 5, "action": "use"}]), 400, "INVALID_REQUEST")

    def test_mtls_bound_grant_exactly_max_uses_then_exhausted(self):
        grant = self.authorize([{"uri": "secret://acme/kv/app/db#password", "action": "use"}])[1]["grant"]
        remaining = [self.consume(grant)[1]["remaining_uses"] for _ in range(5)]
        self.assertEqual(remaining, [4, 3, 2, 1, 0])
        self.assertError(self.consume(grant), 403, "GRANT_EXHAUSTED")

    def test_grant_over_another_certificate_is_refused(self):
        grant = self.authorize([{"uri": "secret://acme/kv/app/db#password", "action": "use"}])[1]["grant"]
        self.assertError(self.consume(grant, client="globex-billing"), 401, "BINDING_MISMATCH")
        # Refusals change no state: all five uses remain.
        self.assertEqual(self.consume(grant)[1]["remaining_uses"], 4)

    def test_tampered_and_foreign_tokens_are_invalid(self):
        grant = self.authorize([{"uri": "secret://acme/kv/app/db#password", "action": "use"}])[1]["grant"]
        h, p, s = grant.split(".")
        claims = decode_claims(grant)
        claims["max_uses"] = 1000
        forged = h + "." + b64u(json.dumps(claims).encode()) + "." + s
        self.assertError(self.consume(forged), 401, "GRANT_INVALID")
        self.assertError(self.consume("not.a.jws"), 401, "GRANT_INVALID")
        self.assertError(self.consume(DpopKey().sign_jws({"alg": "ES256", "typ": "sealgate-grant+jwt", "kid": "x"},
                                                         claims)), 401, "GRANT_INVALID")
        self.assertError(self.consume(h + "." + p + "."), 401, "GRANT_INVALID")

    def test_dpop_bound_grant_full_flow_and_every_refusal(self):
        key = DpopKey()
        status, body, _, _ = self.authorize([{"uri": "secret://acme/kv/app/db#password", "action": "use"}],
                                            dpop=key.proof("POST", self.url("/v1/authorize")))
        self.assertEqual(status, 200, body)
        grant = body["grant"]
        self.assertEqual(decode_claims(grant)["cnf"], {"jkt": key.thumbprint()})
        consume_url = self.url("/v1/grants/consume")

        # Refusals first: none of them spends a use.
        result = self.consume(grant)
        self.assertError(result, 401, "DPOP_INVALID")
        self.assertIn('error="invalid_dpop_proof"', result[2]["WWW-Authenticate"])
        self.assertError(self.consume(grant, dpop=key.proof("POST", self.url("/v1/authorize"), token=grant)), 401,
                         "DPOP_INVALID")  # another URL
        self.assertError(self.consume(grant, dpop=key.proof("GET", consume_url, token=grant)), 401,
                         "DPOP_INVALID")  # another method
        self.assertError(self.consume(grant, dpop=key.proof("POST", consume_url)), 401, "DPOP_INVALID")  # no ath
        self.assertError(self.consume(grant, dpop=key.proof("POST", consume_url, token=grant + "x")), 401,
                         "DPOP_INVALID")  # ath of another token
        self.assertError(self.consume(grant, dpop=key.proof("POST", consume_url, token=grant,
                                                            iat=int(time.time()) - 3600)), 401, "DPOP_INVALID")
        self.assertError(self.consume(grant, dpop=DpopKey().proof("POST", consume_url, token=grant)), 401,
                         "BINDING_MISMATCH")  # a proof by another key
        self.assertError(self.consume(grant, dpop=key.proof("POST", consume_url, token=grant, header={"alg": "none"})),
                         401, "DPOP_INVALID")
        self.assertError(self.consume(grant, client="globex-billing",
                                      dpop=key.proof("POST", consume_url, token=grant)), 401, "BINDING_MISMATCH")

        proof = key.proof("POST", consume_url, token=grant)
        self.assertEqual(self.consume(grant, dpop=proof)[1]["remaining_uses"], 4)
        replay = self.consume(grant, dpop=proof)
        self.assertError(replay, 401, "DPOP_REPLAY")
        self.assertIn("WWW-Authenticate", replay[2])
        for expected in [3, 2, 1, 0]:
            self.assertEqual(self.consume(grant, dpop=key.proof("POST", consume_url, token=grant))[1]["remaining_uses"],
                             expected)
        self.assertError(self.consume(grant, dpop=key.proof("POST", consume_url, token=grant)), 403, "GRANT_EXHAUSTED")
        # The admin list says how it was bound.
        grant_id = decode_claims(grant)["jti"]
        listed = self.sg.request("GET", f"/admin/v1/grants?q={grant_id}", client="admin", listener="admin")[1]["grants"]
        self.assertEqual([(g["grant_id"], g["binding"], g["remaining_uses"]) for g in listed], [(grant_id, "dpop", 0)])

    def test_bad_dpop_on_authorize_is_refused(self):
        result = self.authorize([{"uri": "secret://acme/kv/app/db", "action": "use"}],
                                dpop=DpopKey().proof("POST", self.url("/v1/other")))
        self.assertError(result, 401, "DPOP_INVALID")
        self.assertIn("WWW-Authenticate", result[2])

    def test_racing_consumers_get_exactly_max_uses(self):
        grant = self.authorize([{"uri": "secret://acme/kv/app/db#password", "action": "use"}])[1]["grant"]
        statuses = []
        lock = threading.Lock()

        def worker():
            for _ in range(3):
                s = self.consume(grant)[0]
                with lock:
                    statuses.append(s)
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(statuses.count(200), 5)
        self.assertEqual(statuses.count(403), 7)

    def test_audit_log_records_decisions_without_uris(self):
        self.authorize([{"uri": "secret://acme/kv/app/" + CANARY, "action": "use"}])
        path = os.path.join(self.sg.dir, "audit/entries.jsonl")
        with open(path) as f:
            events = [json.loads(line) for line in f]
        types = {e["type"] for e in events}
        self.assertIn("authorize", types)
        text = open(path).read()
        for form in encodings(CANARY) | encodings("secret://acme/kv/app/" + CANARY):
            self.assertNotIn(form, text)
        log = self.sg.read_log()
        for form in encodings(CANARY):
            self.assertNotIn(form, log)


class AdminTest(unittest.TestCase):
    """Policy management and grant revocation on the admin listener."""

    def setUp(self):
        self.sg = Instance()
        self.sg.start()

    def tearDown(self):
        self.sg.cleanup()

    def admin(self, method, path, body=None, client="admin"):
        return self.sg.request(method, path, client=client, body=body, listener="admin")

    def test_policy_read_dry_run_and_update(self):
        status, policy, _, _ = self.admin("GET", "/admin/v1/policy", client="auditor")
        self.assertEqual(status, 200)
        self.assertEqual([r["id"] for r in policy["rules"]], ["acme-payments-app", "globex-billing-kv", "admin-reveal-kv"])

        test = lambda uri, subject="spiffe://acme/payments": self.admin(  # noqa: E731
            "POST", "/admin/v1/policy/test", {"subject": subject, "uri": uri, "action": "use"})[1]
        allowed = test("secret://acme/kv/app/db#password")
        self.assertEqual((allowed["decision"], allowed["obligations"]["max_uses"]), ("allow", 5))
        self.assertEqual(test("secret://acme/kv/other/x")["reason"], "POLICY_NO_MATCH")
        self.assertEqual(test("secret://globex/kv/x")["reason"], "URI_TENANT_MISMATCH")
        self.assertEqual(self.admin("POST", "/admin/v1/policy/test",
                                    {"subject": "spiffe://acme/payments", "uri": "bad", "action": "use"})[0], 400)

        # Only admins change the policy; invalid policies change nothing.
        self.assertEqual(self.admin("PUT", "/admin/v1/policy", policy, client="auditor")[1]["error"]["code"], "FORBIDDEN")
        self.assertEqual(self.admin("PUT", "/admin/v1/policy", policy, client="acme-payments")[1]["error"]["code"],
                         "WRONG_LISTENER")
        bad = dict(policy, rules=[{"id": "x", "effect": "allow"}])
        self.assertEqual(self.admin("PUT", "/admin/v1/policy", bad)[1]["error"]["code"], "POLICY_INVALID")
        self.assertEqual(test("secret://acme/kv/app/db")["decision"], "allow")

        # A deny now sits in the negative cache; a policy update must flush it.
        other = {"requests": [{"uri": "secret://acme/kv/other/x", "action": "use"}]}
        self.assertEqual(self.sg.request("POST", "/v1/authorize", body=other)[1]["results"][0]["decision"], "deny")
        policy["rules"].append({"id": "other", "effect": "allow", "subjects": ["spiffe://acme/payments"],
                                "resources": ["secret://acme/kv/other/*"], "actions": ["use"]})
        policy["rules"].append({"id": "freeze-db", "effect": "deny", "subjects": ["spiffe://acme/*"],
                                "resources": ["secret://acme/kv/app/db"], "actions": ["*"], "reason": "DB_FROZEN"})
        status, body, _, _ = self.admin("PUT", "/admin/v1/policy", policy)
        self.assertEqual((status, body["rules"]), (200, 5))  # the three dev rules and two more
        self.assertEqual(self.sg.request("POST", "/v1/authorize", body=other)[1]["results"][0]["decision"], "allow")
        result = self.sg.request("POST", "/v1/authorize", body={"requests": [
            {"uri": "secret://acme/kv/app/db#password", "action": "use"},
            {"uri": "secret://acme/kv/app/api", "action": "use"}]})[1]["results"]
        self.assertEqual([(r["decision"], r.get("reason")) for r in result], [("deny", "DB_FROZEN"), ("allow", None)])
        with open(os.path.join(self.sg.dir, "policy.json")) as f:
            self.assertIn("DB_FROZEN", f.read())  # persisted for the next start
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            self.assertIn("policy_update", [json.loads(line)["type"] for line in f])

    def test_revoked_grant_cannot_be_used(self):
        grant = self.sg.request("POST", "/v1/authorize", body={"requests": [
            {"uri": "secret://acme/kv/app/db", "action": "use"}]})[1]["grant"]
        grant_id = decode_claims(grant)["jti"]
        consume = lambda: self.sg.request("POST", "/v1/grants/consume", body={"grant": grant})  # noqa: E731
        self.assertEqual(consume()[1]["remaining_uses"], 4)
        listed = {g["grant_id"]: g for g in self.admin("GET", "/admin/v1/grants", client="auditor")[1]["grants"]}
        self.assertEqual((listed[grant_id]["remaining_uses"], listed[grant_id]["binding"]), (4, "mtls"))
        self.assertEqual(self.admin("DELETE", f"/admin/v1/grants/{grant_id}", client="auditor")[1]["error"]["code"],
                         "FORBIDDEN")
        self.assertEqual(self.admin("DELETE", f"/admin/v1/grants/{grant_id}")[0], 200)
        status, body, _, _ = consume()
        self.assertEqual((status, body["error"]["code"]), (403, "GRANT_REVOKED"))
        self.assertEqual(self.admin("DELETE", "/admin/v1/grants/a.b")[0], 404)
        self.assertTrue(self.admin("GET", "/admin/v1/grants")[1]["grants"][0]["revoked"])


class DelegationTest(unittest.TestCase):
    """RFC 8693 delegation with the guardrails: depth cap and scope monotonicity."""

    @classmethod
    def setUpClass(cls):
        from test_daemon import make_cert
        cls.sg = Instance()
        cls.sg.start()
        with open(os.path.join(cls.sg.dir, "pki/ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(cls.sg.dir, "pki/ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        clients = os.path.join(cls.sg.dir, "pki/clients")
        for name in ["worker", "worker2", "worker3", "worker4"]:
            make_cert(clients, "acme-" + name, "spiffe://acme/" + name, ca, ca_key)

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def post(self, path, body, client="acme-payments", dpop=None):
        return self.sg.request("POST", path, client=client, body=body, headers={"DPoP": dpop} if dpop else {})

    def parent(self):
        return self.post("/v1/authorize", {"requests": [{"uri": "secret://acme/kv/app/db", "action": "use"},
                                                        {"uri": "secret://acme/kv/app/api", "action": "use"}]})[1]

    def assertError(self, result, status, code):
        self.assertEqual(result[0], status, result[3])
        self.assertEqual(result[1]["error"]["code"], code, result[3])

    def test_delegated_grant_is_used_by_its_holder_only_and_reserves_uses(self):
        parent = self.parent()
        status, body, _, _ = self.post("/v1/grants/delegate",
                                       {"grant": parent["grant"], "to": "spiffe://acme/worker", "max_uses": 2})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["parent_remaining_uses"], 3)
        child = body["grant"]
        claims = decode_claims(child)
        self.assertEqual(claims["sub"], "spiffe://acme/payments")
        self.assertEqual(claims["act"], {"sub": "spiffe://acme/worker"})
        self.assertLessEqual(claims["exp"], decode_claims(parent["grant"])["exp"])
        self.assertError(self.post("/v1/grants/consume", {"grant": child}), 401, "BINDING_MISMATCH")
        uses = [self.post("/v1/grants/consume", {"grant": child}, client="acme-worker")[1]["remaining_uses"]
                for _ in range(2)]
        self.assertEqual(uses, [1, 0])
        self.assertError(self.post("/v1/grants/consume", {"grant": child}, client="acme-worker"), 403, "GRANT_EXHAUSTED")
        # The parent keeps only what was not delegated.
        self.assertEqual(self.post("/v1/grants/consume", {"grant": parent["grant"]})[1]["remaining_uses"], 2)

    def test_widening_is_refused(self):
        parent = self.parent()
        base = {"grant": parent["grant"], "to": "spiffe://acme/worker"}
        self.assertError(self.post("/v1/grants/delegate", dict(base, max_uses=6)), 403, "SCOPE_WIDENED")
        self.assertError(self.post("/v1/grants/delegate", dict(base, resources=["rr1:v1:" + "a" * 26])), 403,
                         "SCOPE_WIDENED")
        self.assertError(self.post("/v1/grants/delegate", dict(base, ttl_seconds=100000)), 403, "SCOPE_WIDENED")
        self.assertError(self.post("/v1/grants/delegate", dict(base, to="spiffe://globex/billing")), 403,
                         "SCOPE_WIDENED")
        ok = self.post("/v1/grants/delegate", dict(base, max_uses=4))
        self.assertEqual(ok[0], 200)
        # Only one use remains on the parent: two more cannot be delegated.
        self.assertError(self.post("/v1/grants/delegate", dict(base, max_uses=2)), 403, "SCOPE_WIDENED")
        # A narrower resource list is fine.
        ref = parent["results"][0]["resource_ref"]
        narrow = self.post("/v1/grants/delegate", dict(base, resources=[ref]))
        self.assertEqual(decode_claims(narrow[1]["grant"])["res"], [ref])
        # Only the holder may delegate.
        self.assertError(self.post("/v1/grants/delegate", base, client="acme-worker"), 401, "BINDING_MISMATCH")

    def test_depth_cap(self):
        grant = self.parent()["grant"]
        holder = "acme-payments"
        for hop, name in enumerate(["worker", "worker2", "worker3"], start=1):
            status, body, _, _ = self.post("/v1/grants/delegate", {"grant": grant, "to": "spiffe://acme/" + name},
                                           client=holder)
            self.assertEqual(status, 200, body)
            grant, holder = body["grant"], "acme-" + name
            act, depth = decode_claims(grant)["act"], 0
            while act:
                depth, act = depth + 1, act.get("act")
            self.assertEqual(depth, hop)
        self.assertError(self.post("/v1/grants/delegate", {"grant": grant, "to": "spiffe://acme/worker4"},
                                   client=holder), 403, "DELEGATION_DEPTH")

    def test_child_bound_to_the_holders_dpop_key(self):
        parent = self.parent()
        key = DpopKey()
        status, body, _, _ = self.post("/v1/grants/delegate", {"grant": parent["grant"], "to": "spiffe://acme/worker",
                                                                "jkt": key.thumbprint()})
        self.assertEqual(status, 200, body)
        child = body["grant"]
        url = f"https://127.0.0.1:{self.sg.pep_port}/v1/grants/consume"
        self.assertError(self.post("/v1/grants/consume", {"grant": child}, client="acme-worker"), 401, "DPOP_INVALID")
        self.assertError(self.post("/v1/grants/consume", {"grant": child}, client="acme-worker",
                                   dpop=DpopKey().proof("POST", url, token=child)), 401, "BINDING_MISMATCH")
        ok = self.post("/v1/grants/consume", {"grant": child}, client="acme-worker",
                       dpop=key.proof("POST", url, token=child))
        self.assertEqual(ok[1]["remaining_uses"], 0)


class NonceTest(unittest.TestCase):
    def test_server_nonce_required(self):
        sg = Instance(grants={"dpop_nonce_required": True})
        try:
            sg.start()
            key = DpopKey()
            url = f"https://127.0.0.1:{sg.pep_port}/v1/authorize"
            body = {"requests": [{"uri": "secret://acme/kv/app/db", "action": "use"}]}
            status, err, headers, _ = sg.request("POST", "/v1/authorize", body=body,
                                                 headers={"DPoP": key.proof("POST", url)})
            self.assertEqual((status, err["error"]["code"]), (401, "DPOP_NONCE_REQUIRED"))
            self.assertIn('error="use_dpop_nonce"', headers["WWW-Authenticate"])
            nonce = headers["DPoP-Nonce"]
            stale = sg.request("POST", "/v1/authorize", body=body,
                               headers={"DPoP": key.proof("POST", url, extra={"nonce": "stale"})})
            self.assertEqual(stale[1]["error"]["code"], "DPOP_NONCE_REQUIRED")
            status, ok, _, raw = sg.request("POST", "/v1/authorize", body=body,
                                            headers={"DPoP": key.proof("POST", url, extra={"nonce": nonce})})
            self.assertEqual(status, 200, raw)
            self.assertEqual(decode_claims(ok["grant"])["cnf"], {"jkt": key.thumbprint()})
        finally:
            sg.cleanup()


class RotationTest(unittest.TestCase):
    def test_old_kids_keep_verifying_after_a_grant_key_rotation(self):
        import subprocess
        sg = Instance()
        try:
            sg.start()
            old = sg.request("POST", "/v1/authorize", body={"requests": [
                {"uri": "secret://acme/kv/app/db", "action": "use"}]})[1]["grant"]
            self.assertEqual(sg.stop(), 0)
            with open(os.path.join(sg.dir, "hsm.pin")) as f:
                pin = f.read().strip()
            env = dict(os.environ, SOFTHSM2_CONF=os.path.join(sg.dir, "softhsm2.conf"))
            subprocess.run(["pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label",
                            "sealgate-dev", "--login", "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1",
                            "--usage-sign", "--label", "sealgate-grant-es256-v2", "--id", "02"],
                           check=True, capture_output=True, env=env)
            sg.start()
            kids = [k["kid"] for k in sg.request("GET", "/.well-known/jwks.json")[1]["keys"]]
            self.assertEqual(len(kids), 2)
            header = lambda t: json.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))  # noqa: E731
            new = sg.request("POST", "/v1/authorize", body={"requests": [
                {"uri": "secret://acme/kv/app/db", "action": "use"}]})[1]["grant"]
            self.assertNotEqual(header(new)["kid"], header(old)["kid"])
            self.assertIn(header(old)["kid"], kids)
            for grant in (old, new):
                status, body, _, raw = sg.request("POST", "/v1/grants/consume", body={"grant": grant})
                self.assertEqual(status, 200, raw)
        finally:
            sg.cleanup()


class ExpiryTest(unittest.TestCase):
    def test_expired_grant(self):
        sg = Instance(grants={"max_ttl_seconds": 1})
        try:
            sg.start()
            body = sg.request("POST", "/v1/authorize", body={"requests": [
                {"uri": "secret://acme/kv/app/db", "action": "use"}]})[1]
            grant = body["grant"]
            self.assertEqual(decode_claims(grant)["exp"] - decode_claims(grant)["iat"], 1)
            time.sleep(7)  # past exp plus the 5 s clock-skew leeway
            status, err, _, _ = sg.request("POST", "/v1/grants/consume", body={"grant": grant})
            self.assertEqual((status, err["error"]["code"]), (401, "GRANT_EXPIRED"))
        finally:
            sg.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
