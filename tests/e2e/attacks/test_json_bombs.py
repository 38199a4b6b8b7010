"""Attack replay: JSON bodies built to break the parser's callers (issue 12, items 1
and 18).

1. A 64 KB /v1/execute body with arrays nested 32,000 deep in a connector field
   overflowed the stack of the slot walker and killed sealgated for every tenant.
   Every body now goes through one parser that refuses nesting deeper than 32 with
   400 JSON_TOO_DEEP before the document is built; the daemon stays up.
2. Duplicate keys: a reader that keeps the first value and one that keeps the last
   disagree about what was asked or signed. Bodies, DPoP proofs (JWS header and
   payload) and policy updates with a repeated key are refused (JSON_DUPLICATE_KEY,
   or DPOP_INVALID for a proof)."""
import hashlib
import json
import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import Instance  # noqa: E402
from dpop_client import DpopKey, b64u  # noqa: E402

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402

MAX_DEPTH = 32  # docs/API.md


def nested(depth, inner=""):
    return "[" * depth + inner + "]" * depth


def sign_raw(key, header_text, payload_text):
    """A compact JWS over exactly these bytes (json.dumps cannot repeat a key)."""
    signing_input = b64u(header_text.encode()) + "." + b64u(payload_text.encode())
    r, s = decode_dss_signature(key.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class JsonBombTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance()
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def url(self, path):
        return f"https://127.0.0.1:{self.sg.pep_port}{path}"

    def post_raw(self, path, text, listener="pep", client=None, method="POST", content_type="application/json"):
        client = client or ("acme-payments" if listener == "pep" else "admin")
        return self.sg.request(method, path, client=client, listener=listener, raw_body=text.encode(),
                               headers={"Content-Type": content_type})

    def assertRefused(self, result, status, code, vault=False):
        self.assertEqual(result[0], status, result[3][:300])
        if vault:
            self.assertIsInstance(result[1].get("errors"), list, result[3][:300])
            self.assertEqual(result[2].get("X-Sealgate-Error"), code, result[2])
        else:
            self.assertEqual(result[1]["error"]["code"], code, result[3][:300])

    def assertAlive(self):
        self.assertIsNone(self.sg.proc.poll(), "sealgated died")
        status, body, _, _ = self.sg.request("GET", "/healthz")
        self.assertEqual((status, body), (200, {"status": "ok"}))

    def grant(self):
        status, body, _, raw = self.sg.request("POST", "/v1/authorize", body={
            "requests": [{"uri": "secret://acme/kv/app/db#password", "action": "use"}]})
        self.assertEqual(status, 200, raw)
        self.assertIn("grant", body, raw)
        return body["grant"]

    # ---- item 1: depth ------------------------------------------------------------------

    def test_the_reported_execute_bomb_is_refused_and_the_daemon_lives(self):
        grant = self.grant()
        for field in ('"connector":"postgres","host":"127.0.0.1","dbname":"d","user":"u","query":"SELECT 1","port":',
                      '"connector":"rest","method":"POST","url":"https://127.0.0.1/x","json":'):
            body = ('{"grant":"' + grant + '","slots":{"s":"secret://acme/kv/app/db#password"},"action":{' + field +
                    nested(32000) + "}}")
            self.assertLess(len(body), 65536)  # under limits.max_body_bytes: it reaches the parser
            self.assertRefused(self.post_raw("/v1/execute", body), 400, "JSON_TOO_DEEP")
            self.assertAlive()
        # The grant was not spent by the refused bodies.
        status, body, _, raw = self.sg.request("POST", "/v1/grants/consume", body={"grant": grant})
        self.assertEqual(status, 200, raw)

    def test_every_body_taking_endpoint_refuses_the_bomb(self):
        bomb = nested(32000)
        pep = {
            "/v1/authorize": '{"requests":[{"uri":"secret://acme/kv/a","action":"use","context":{"x":' + bomb + "}}]}",
            "/v1/grants/consume": '{"grant":' + bomb + "}",
            "/v1/grants/delegate": '{"grant":"g","to":"spiffe://acme/x","resources":' + bomb + "}",
            "/v1/uris/canonicalize": '{"uri":' + bomb + "}",
            "/v1/execute": '{"grant":"g","slots":' + bomb + "}",
        }
        for path, text in pep.items():
            with self.subTest(path=path):
                self.assertRefused(self.post_raw(path, text), 400, "JSON_TOO_DEEP")
                self.assertAlive()
        admin = [
            ("PUT", "/admin/v1/policy", '{"version":1,"rules":' + bomb + "}"),
            ("POST", "/admin/v1/policy/test", '{"subject":"spiffe://acme/a","uri":"x","action":"use","context":' +
             bomb + "}"),
        ]
        for method, path, text in admin:
            with self.subTest(path=path):
                self.assertRefused(self.post_raw(path, text, listener="admin", method=method), 400, "JSON_TOO_DEEP")
                self.assertAlive()
        vault = [
            ("POST", "/v1/kv/data/app/bomb", '{"data":{"v":' + bomb + "}}", "application/json"),
            ("PUT", "/v1/kv/data/app/bomb", '{"data":' + bomb + "}", "text/plain"),  # Vault ignores the type
            ("POST", "/v1/kv/metadata/app/bomb", '{"custom_metadata":' + bomb + "}", "application/json"),
            ("PUT", "/v1/sys/leases/lookup", '{"lease_id":' + bomb + "}", "application/json"),
        ]
        for method, path, text, ctype in vault:
            with self.subTest(path=path, content_type=ctype):
                self.assertRefused(self.post_raw(path, text, listener="admin", method=method, content_type=ctype), 400,
                                   "JSON_TOO_DEEP", vault=True)
                self.assertAlive()
        # Nothing was written.
        status, _, headers, _ = self.sg.request("GET", "/v1/kv/data/app/bomb", client="admin", listener="admin")
        self.assertEqual(status, 404)

    def test_every_operation_the_document_says_parses_a_body_refuses_the_bomb(self):
        """docs/openapi.json lists JSON_TOO_DEEP on each operation that reads a body:
        the served document and the server agree, operation by operation."""
        status, doc, _, _ = self.sg.request("GET", "/v1/openapi.json")
        self.assertEqual(status, 200)
        pep = {"/v1/uris/canonicalize", "/v1/authorize", "/v1/grants/consume", "/v1/grants/delegate", "/v1/execute"}
        params = {"{mount}": "kv", "{path}": "app/bomb2", "{role}": "readonly", "{prefix}": "kv/x", "{id}": "x"}
        checked = 0
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method not in ("get", "put", "post", "patch", "delete"):
                    continue
                if "JSON_TOO_DEEP" not in op["responses"].get("400", {}).get("description", ""):
                    continue
                concrete = path
                for k, v in params.items():
                    concrete = concrete.replace(k, v)
                vault = "X-Sealgate-Error" in op["responses"]["400"].get("headers", {})
                ctype = "application/merge-patch+json" if method == "patch" else "application/json"
                with self.subTest(op=op["operationId"]):
                    result = self.post_raw(concrete, '{"x":' + nested(32000) + "}", method=method.upper(),
                                           listener="pep" if path in pep else "admin", content_type=ctype)
                    self.assertRefused(result, 400, "JSON_TOO_DEEP", vault=vault)
                    checked += 1
        self.assertGreaterEqual(checked, 37)  # 10 JSON endpoints, 27 Vault-compatible operations
        self.assertAlive()

    def test_the_limit_is_exactly_32(self):
        # body(1) > requests(2) > item(3) > context(4) > 28 arrays = 32 levels
        def body(arrays):
            return ('{"requests":[{"uri":"secret://acme/kv/app/db#password","action":"use","context":{"x":' +
                    nested(arrays) + "}}]}")
        status, _, _, raw = self.post_raw("/v1/authorize", body(MAX_DEPTH - 4))
        self.assertEqual(status, 200, raw)
        result = self.post_raw("/v1/authorize", body(MAX_DEPTH - 3))
        self.assertRefused(result, 400, "JSON_TOO_DEEP")
        self.assertIn("32", result[1]["error"]["message"])
        self.assertAlive()

    # ---- item 18: duplicate keys --------------------------------------------------------

    def test_a_repeated_key_in_a_body_is_refused(self):
        result = self.post_raw("/v1/uris/canonicalize", '{"uri":"secret://acme/kv/a","uri":"secret://globex/kv/b"}')
        self.assertRefused(result, 400, "JSON_DUPLICATE_KEY")
        self.assertIn('"uri"', result[1]["error"]["message"])
        # Nested, in an authorize item: which action was decided?
        self.assertRefused(self.post_raw("/v1/authorize", '{"requests":[{"uri":"secret://acme/kv/app/db#password",'
                                                          '"action":"inspect","action":"use"}]}'),
                           400, "JSON_DUPLICATE_KEY")
        # The same key once escaped is the same key.
        self.assertRefused(self.post_raw("/v1/uris/canonicalize", '{"uri":"secret://acme/kv/a","\\u0075ri":"x"}'),
                           400, "JSON_DUPLICATE_KEY")
        status, body, _, raw = self.post_raw("/v1/uris/canonicalize", '{"uri":"secret://acme/kv/a"}')
        self.assertEqual(status, 200, raw)

    def test_a_repeated_key_in_a_kv_write_writes_nothing(self):
        path = "/v1/kv/data/app/dup"
        for ctype in ("application/json", "text/plain"):
            result = self.post_raw(path, '{"data":{"password":"first","password":"second"}}', listener="admin",
                                   content_type=ctype)
            self.assertRefused(result, 400, "JSON_DUPLICATE_KEY", vault=True)
            self.assertNotIn("first", result[3].decode())
            self.assertNotIn("second", result[3].decode())
        status, _, _, _ = self.sg.request("GET", path, client="admin", listener="admin")
        self.assertEqual(status, 404)

    def test_a_policy_update_with_a_repeated_rule_key_changes_nothing(self):
        status, before, _, raw = self.sg.request("GET", "/admin/v1/policy", client="admin", listener="admin")
        self.assertEqual(status, 200, raw)
        text = json.dumps(before)
        self.assertIn('"effect": "allow"', text)
        # First reader: deny; last reader: allow.
        doubled = text.replace('"effect": "allow"', '"effect": "deny", "effect": "allow"', 1)
        result = self.post_raw("/admin/v1/policy", doubled, listener="admin", method="PUT")
        self.assertRefused(result, 400, "JSON_DUPLICATE_KEY")
        self.assertIn('"effect"', result[1]["error"]["message"])
        status, after, _, _ = self.sg.request("GET", "/admin/v1/policy", client="admin", listener="admin")
        self.assertEqual(after, before)
        # The unmodified document is still accepted (the refusal is the repeated key).
        status, _, _, raw = self.post_raw("/admin/v1/policy", text, listener="admin", method="PUT")
        self.assertEqual(status, 200, raw)

    def test_a_dpop_proof_with_a_repeated_member_is_refused(self):
        key = DpopKey()
        url = self.url("/v1/authorize")
        jwk = json.dumps(key.jwk)
        items = {"requests": [{"uri": "secret://acme/kv/app/db#password", "action": "use"}]}

        def payload(htu_members):
            return ('{"jti":"' + str(uuid.uuid4()) + '","htm":"POST",' + htu_members + ',"iat":' +
                    str(int(time.time())) + "}")

        good_header = '{"typ":"dpop+jwt","alg":"ES256","jwk":' + jwk + "}"
        # Control: the same hand-built proof without a repeated member is accepted.
        proof = sign_raw(key, good_header, payload('"htu":"' + url + '"'))
        status, body, _, raw = self.sg.request("POST", "/v1/authorize", body=items, headers={"DPoP": proof})
        self.assertEqual(status, 200, raw)
        self.assertIn("grant", body)
        # A reader keeping the last member would see ES256 and the right htu.
        refused = {
            "two alg in the header": sign_raw(key, '{"typ":"dpop+jwt","alg":"none","jwk":' + jwk + ',"alg":"ES256"}',
                                              payload('"htu":"' + url + '"')),
            "two htu in the payload": sign_raw(key, good_header,
                                               payload('"htu":"https://evil.example/v1/authorize","htu":"' + url + '"')),
        }
        for why, proof in refused.items():
            with self.subTest(why=why):
                result = self.sg.request("POST", "/v1/authorize", body=items, headers={"DPoP": proof})
                self.assertRefused(result, 401, "DPOP_INVALID")
        self.assertAlive()


if __name__ == "__main__":
    unittest.main()
