"""The admin web UI (docs/WEBUI.md) end to end: a real sealgated, and Debian's
Chromium driven by playwright-core (webui/tests/ui_e2e.mjs) with the dev
instance's client certificates. This file sets the scene (grants, a canary
secret in the KV store, a page on another origin), runs the browser, and checks
on the server what the browser did and could not do. Without a browser, it also
checks the CSRF rule itself on the raw API."""
import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SEALGATE, Instance, encodings  # noqa: E402
from postgres import Postgres  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
NODE_MODULES = os.path.join(ROOT, "tests/e2e/node/node_modules")
CHROMIUM = "/usr/bin/chromium"
CANARY = "sg-canary-webui-7c41e0d9b2"
REASON = "the grant leaked into a CI log (ticket OPS-1234)"
LEASE_REASON = "the ops credentials were shared in a chat (INC-7)"
KEYS_REASON = "yearly key rotation (CHG-2026-12)"
POLICY = {"rule_id": "ui-test-rule", "uri_prefix": "secret://acme/kv/ui-test",
          "reason": "let payments read the ui-test secrets (change CHG-42)"}
# The KV page's secrets (namespace acme, mount kv): the canary's, and one with
# three versions (each holding the canary too) that the admin deletes, undeletes
# and destroys versions of.
KV = {"namespace": "acme", "mount": "kv", "secret": "app/db", "rotating": "app/rotating", "owner": "payments-team",
      "delete_reason": "version 2 was pushed by mistake (INC-77)",
      "undelete_reason": "version 2 was right after all (INC-77)",
      "destroy_reason": "version 1 held a leaked key (SEC-9)"}

ATTACK_PAGE = """<!doctype html><html><head><title>attack</title></head><body><script>
window.outcome = {sent: false};
(async () => {
  const target = "%(target)s";
  // A "simple" cross-origin request: no preflight, the browser sends the client
  // certificate. The Vault-compatible KV route reads a JSON body under any content type.
  await fetch(target + "/v1/kv/data/csrf/planted", {method: "POST", mode: "no-cors", credentials: "include",
    body: JSON.stringify({data: {v: "written-by-another-origin"}})});
  await fetch(target + "/admin/v1/grants/%(grant)s", {method: "DELETE", mode: "cors", credentials: "include"})
    .catch(() => null);  // not simple: the preflight (OPTIONS) fails, the browser sends nothing
  window.outcome.sent = true;
  document.title = "done";
})().catch((e) => { window.outcome.error = String(e); document.title = "done"; });
</script></body></html>"""


class AttackerSite:
    """A page on another origin (plain HTTP, another port of 127.0.0.1)."""

    def __init__(self, page):
        body = page.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/attack.html"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class WebUiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A real PostgreSQL, so that the leases page has leases to renew and revoke.
        cls.pg = Postgres().start()
        db = {"tenant": "acme", "mount": "db", "connection": {"host": cls.pg.dir, "port": cls.pg.port,
                                                              "user": "postgres", "dbname": "postgres"},
              "roles": {role: {"default_ttl": "1h", "max_ttl": "2h"} for role in ("readonly", "ops")}}
        cls.sg = Instance(extra={"databases": [db]})
        with open(os.path.join(cls.sg.dir, "policy.json")) as f:  # admins may take credentials of acme/db
            text = f.read()
        with open(os.path.join(cls.sg.dir, "policy.json"), "w") as f:
            f.write(text.replace('"secret://globex/kv/**"]', '"secret://globex/kv/**", "secret://acme/db/*"]'))
        cls.sg.start()
        cls.origin = f"https://127.0.0.1:{cls.sg.admin_port}"

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()
        cls.pg.stop()

    def admin(self, method, path, body=None, headers=None, client="admin"):
        return self.sg.request(method, path, client=client, body=body, headers=headers, listener="admin")

    def used_grant(self):
        status, body, _, raw = self.sg.request("POST", "/v1/authorize", body={
            "requests": [{"uri": "secret://acme/kv/app/db#password", "action": "use"}]})
        self.assertEqual(status, 200, raw)
        grant = body["grant"]
        self.assertEqual(self.sg.request("POST", "/v1/grants/consume", body={"grant": grant})[0], 200)
        return grant, json.loads(base64.urlsafe_b64decode(grant.split(".")[1] + "=="))["jti"]

    def allowed_so_far(self):
        """The allowed authorize decisions /metrics has counted."""
        _, _, _, raw = self.admin("GET", "/metrics")
        m = re.search(rb'^sealgate_authorize_decisions_total\{decision="allow"\} (\d+)$', raw, re.M)
        return int(m.group(1)) if m else 0

    # ---- the CSRF rule on the raw API ---------------------------------------------------------
    def test_csrf_rule(self):
        own = {"Origin": self.origin}
        cases = [
            ({"Origin": "https://evil.example"}, 403),
            ({"Origin": f"https://127.0.0.1:{self.sg.admin_port + 1}"}, 403),  # another port is another origin
            ({"Origin": f"http://127.0.0.1:{self.sg.admin_port}"}, 403),
            ({"Origin": "null"}, 403),
            ({"Sec-Fetch-Site": "same-site"}, 403),
            ({"Sec-Fetch-Site": "cross-site"}, 403),
            ({**own, "Sec-Fetch-Site": "cross-site"}, 403),
            (own, 200),
            ({**own, "Sec-Fetch-Site": "same-origin", "X-Sealgate-UI": "1"}, 200),
            ({}, 200),  # the CLI, curl, Vault clients
        ]
        for i, (headers, want) in enumerate(cases):
            status, body, _, raw = self.admin("POST", f"/v1/kv/data/csrf/case{i}", body={"data": {"v": "x"}},
                                              headers=headers)
            self.assertEqual(status, want, (headers, raw))
            if want == 403:
                self.assertEqual(body["errors"], ["a state-changing call from another origin is refused"]
                                 if "Origin" in headers and headers["Origin"] != self.origin
                                 else ["a state-changing call from another site is refused"])
                # Nothing was written.
                self.assertEqual(self.admin("GET", f"/v1/kv/metadata/csrf/case{i}")[0], 404)
        # The JSON routes answer in API.md's shape; reads are not refused (the browser keeps them from the page).
        status, body, _, raw = self.admin("PUT", "/admin/v1/leases/revoke", body={"lease_id": "x"},
                                          headers={"Origin": "https://evil.example"})
        self.assertEqual((status, body["error"]["code"]), (403, "CSRF_REJECTED"), raw)
        status, _, _, raw = self.admin("GET", "/admin/v1/status", headers={"Origin": "https://evil.example"})
        self.assertEqual(status, 200, raw)
        # The PEP listener serves services, not browsers: no such rule there.
        status, _, _, raw = self.sg.request("POST", "/v1/uris/canonicalize", headers={"Origin": "https://x.example"},
                                            body={"uri": "secret://acme/kv/app/db"})
        self.assertEqual(status, 200, raw)

    def test_grant_list_is_paged_by_the_server(self):
        ids = sorted(self.used_grant()[1] for _ in range(3))
        listed = sorted(g["grant_id"] for g in self.admin("GET", "/admin/v1/grants?limit=1000")[1]["grants"])
        self.assertTrue(set(ids) <= set(listed))
        pages, after = [], ""
        while True:
            status, body, _, raw = self.admin("GET", f"/admin/v1/grants?limit=2{'&after=' + after if after else ''}",
                                              client="auditor")
            self.assertEqual(status, 200, raw)
            self.assertEqual(body["total"], len(listed))
            self.assertLessEqual(len(body["grants"]), 2)
            pages.append([g["grant_id"] for g in body["grants"]])
            if "next_after" not in body:
                break
            self.assertEqual(body["next_after"], pages[-1][-1])
            after = body["next_after"]
        self.assertEqual([i for p in pages for i in p], listed)  # every grant once, in id order
        bound = {g["grant_id"]: g["binding"] for g in self.admin("GET", "/admin/v1/grants?limit=1000")[1]["grants"]}
        self.assertEqual({bound[i] for i in ids}, {"mtls"})  # used with the service's certificate
        status, body, _, _ = self.admin("GET", f"/admin/v1/grants?q={ids[0][3:12]}")
        self.assertEqual([g["grant_id"] for g in body["grants"]], [ids[0]])
        self.assertEqual(body["total"], 1)
        for bad in ("limit=0", "limit=1001", "limit=1x", "offset=2", "q=a&q=b", "after=%01"):
            for path in ("/admin/v1/grants", "/admin/v1/leases"):
                status, body, _, raw = self.admin("GET", f"{path}?{bad}")
                self.assertEqual((status, body["error"]["code"]), (400, "INVALID_REQUEST"), (path, bad, raw))
        status, body, _, _ = self.admin("GET", "/admin/v1/leases?limit=5")
        self.assertEqual((status, body), (200, {"leases": [], "total": 0}))

    def test_request_metrics_name_routes_never_paths(self):
        self.assertEqual(self.admin("DELETE", "/admin/v1/grants/probe-id-4f1c", client="auditor")[0], 403)
        self.assertEqual(self.admin("GET", "/admin/v1/no-such-page-9b2e")[0], 404)
        self.assertEqual(self.admin("GET", "/admin/v1/status")[0], 200)
        _, _, _, raw = self.admin("GET", "/metrics")
        text = raw.decode()
        self.assertRegex(text, r'sealgate_http_requests_total\{listener="admin",route="DELETE /admin/v1/grants/\{id\}",'
                               r'status="403"\} [1-9]')
        self.assertRegex(text, r'sealgate_http_errors_total\{listener="admin",code="FORBIDDEN"\} [1-9]')
        self.assertRegex(text, r'sealgate_http_requests_total\{listener="admin",route="unmatched",status="404"\} [1-9]')
        self.assertRegex(text, r'sealgate_http_request_duration_seconds_count\{listener="admin",'
                               r'route="GET /admin/v1/status"\} [1-9]')
        for probe in ("probe-id-4f1c", "no-such-page-9b2e", "spiffe://", "sealgate-admin"):
            self.assertNotIn(probe, text)

    def test_pages_need_an_admin_side_certificate(self):
        status, body, headers, raw = self.admin("GET", "/ui/", client="auditor")
        self.assertEqual(status, 200)
        self.assertIn(b"<!doctype html>", raw)
        self.assertIn("frame-ancestors 'none'", headers["Content-Security-Policy"])
        self.assertEqual(self.admin("GET", "/ui/nope.js")[0], 404)
        status, _, headers, _ = self.admin("GET", "/ui")
        self.assertEqual((status, headers["Location"]), (308, "/ui/"))
        # A service certificate is refused on the admin listener, pages included.
        status, body, _, _ = self.sg.request("GET", "/ui/", listener="admin")
        self.assertEqual((status, body["error"]["code"]), (403, "WRONG_LISTENER"))
        status, body, _, _ = self.admin("GET", "/admin/v1/whoami", client="auditor")
        self.assertEqual(body, {"spiffe_id": "spiffe://sealgate-admin/auditor/auditor", "role": "auditor",
                                "name": "auditor"})

    def test_dev_init_makes_a_pkcs12_file_for_each_admin_side_browser(self):
        clients = os.path.join(self.sg.dir, "pki/clients")
        for name in ("admin", "auditor"):
            p12 = os.path.join(clients, f"{name}.p12")
            for path in (p12, p12 + ".pass"):
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, path)
            out = subprocess.run(["openssl", "pkcs12", "-in", p12, "-passin", f"file:{p12}.pass", "-nokeys",
                                  "-clcerts"], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(os.path.join(clients, f"{name}.pem")) as f:
                self.assertIn(f.read().strip(), out.stdout)
            wrong = subprocess.run(["openssl", "pkcs12", "-in", p12, "-passin", "pass:wrong", "-nokeys"],
                                   capture_output=True, text=True)
            self.assertNotEqual(wrong.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(clients, "acme-payments.p12")))  # services use no browser

    # ---- in the browser -----------------------------------------------------------------------
    def test_in_chromium(self):
        self.assertTrue(os.path.exists(CHROMIUM), "Debian's chromium is not installed (scripts/install-deps.sh)")
        self.assertTrue(os.path.isdir(os.path.join(NODE_MODULES, "playwright-core")), "run npm ci in tests/e2e/node")
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        self.assertGreaterEqual(int(node.lstrip("v").split(".")[0]), 20,
                                f"playwright-core needs Node.js 20 or later, this is {node} (docs/DEVELOPMENT.md)")
        status, _, _, raw = self.admin("POST", "/v1/kv/data/app/db", body={"data": {"password": CANARY}})
        self.assertEqual(status, 200, raw)
        leases, users = {}, {}  # lease id -> its password (which must appear nowhere in the browser), its user
        for role in ("readonly", "readonly", "ops", "ops"):
            status, body, _, raw = self.admin("GET", f"/v1/db/creds/{role}")
            self.assertEqual(status, 200, raw)
            leases[body["lease_id"]] = body["data"]["password"]
            users[body["lease_id"]] = body["data"]["username"]
        readonly = sorted(i for i in leases if "/readonly/" in i)
        for n in range(3):
            status, _, _, raw = self.admin("POST", "/v1/kv/data/app/rotating",
                                           body={"data": {"password": CANARY, "n": str(n)}})
            self.assertEqual(status, 200, raw)
        status, _, _, raw = self.admin("POST", "/v1/kv/metadata/app/rotating",
                                       body={"custom_metadata": {"owner": KV["owner"]}})
        self.assertEqual(status, 204, raw)
        grant, grant_id = self.used_grant()
        _, other_id = self.used_grant()
        attacker = AttackerSite(ATTACK_PAGE % {"target": self.origin, "grant": other_id})
        shots = os.environ.get("SEALGATE_UI_SCREENSHOTS") or tempfile.mkdtemp(prefix="sealgate-ui-shots-")
        os.makedirs(shots, exist_ok=True)
        downloads = os.path.join(self.sg.dir, "downloads")  # where the browser saves the audit export
        os.makedirs(downloads)
        cfg = {
            "origin": self.origin, "chromium": CHROMIUM, "node_modules": NODE_MODULES, "screenshots": shots,
            "certs": {role: dict(zip(("cert", "key"), self.sg.client(name)))
                      for role, name in (("admin", "admin"), ("auditor", "auditor"), ("service", "acme-payments"))},
            "pep_port": self.sg.pep_port, "authorized_before": self.allowed_so_far(),
            "grant_id": grant_id, "other_grant_id": other_id, "revoke_reason": REASON,
            "attacker_url": attacker.url, "policy": POLICY, "kv": KV, "downloads": downloads,
            "canary_forms": sorted(set().union(encodings(CANARY), *(encodings(p) for p in leases.values()))),
            "leases": {"renew": readonly[0], "revoke": readonly[1], "prefix": "acme/db/creds/ops",
                       "reason": LEASE_REASON},
            "key_labels": ["sealgate-audit-es256-v1", "sealgate-grant-es256-v1", "sealgate-kek",
                           "sealgate-ref-hmac-v1", "sealgate-tls"],
            "keys": {"reason": KEYS_REASON},
        }
        try:
            out = subprocess.run(["node", os.path.join(ROOT, "webui/tests/ui_e2e.mjs")], capture_output=True,
                                 text=True, timeout=300, env={**os.environ, "SEALGATE_UI_TEST": json.dumps(cfg)})
        finally:
            attacker.stop()
            if not os.environ.get("SEALGATE_UI_SCREENSHOTS"):
                shutil.rmtree(shots, ignore_errors=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(len(result["passed"]), 24, out.stdout)

        # The revocation the admin made in the page is real, audited with its reason.
        status, body, _, raw = self.sg.request("POST", "/v1/grants/consume", body={"grant": grant})
        self.assertEqual((status, body["error"]["code"]), (403, "GRANT_REVOKED"), raw)
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            revokes = [e for e in map(json.loads, f) if e["type"] == "grant_revoke"]
        self.assertEqual([(e["grant_id"], e["reason"], e["actor"]["role"]) for e in revokes],
                         [(grant_id, REASON, "admin")])
        # The rotations the admin made in the page are real and audited with the reason; the
        # refused retirement changed nothing; the grant revoked above (signed by v1) still verifies.
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            key_changes = [e for e in map(json.loads, f) if e["type"] in ("key_rotated", "key_retired")]
        self.assertEqual([(e["type"], e["label"], e["reason"], e["actor"]["role"]) for e in key_changes],
                         [("key_rotated", "sealgate-grant-es256-v2", KEYS_REASON, "admin"),
                          ("key_rotated", "sealgate-tls-v2", KEYS_REASON, "admin")])
        versions = {k["label"]: k for k in self.admin("GET", "/admin/v1/keys")[1]["keys"]}
        self.assertTrue(versions["sealgate-grant-es256-v2"]["active"])
        self.assertFalse(versions["sealgate-grant-es256-v1"]["retired"])
        # The policy the admin saved in the page is the one in force, on disk, audited with its reason.
        policy = self.admin("GET", "/admin/v1/policy")[1]
        self.assertIn(POLICY["rule_id"], [r["id"] for r in policy["rules"]])
        with open(os.path.join(self.sg.dir, "policy.json")) as f:
            self.assertEqual(json.load(f), policy)
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            updates = [e for e in map(json.loads, f) if e["type"] == "policy_update"]
        self.assertEqual([(e["reason"], e["actor"]["role"]) for e in updates], [(POLICY["reason"], "admin")])
        # The leases the admin revoked in the page are gone from PostgreSQL; the renewed one is there.
        looked_up = {i: self.admin("PUT", "/v1/sys/leases/lookup", body={"lease_id": i})[0] for i in leases}
        self.assertEqual(looked_up, {i: 200 if i == readonly[0] else 404 for i in leases})
        in_postgres = {i: self.pg.psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{u}'") for i, u in users.items()}
        self.assertEqual(in_postgres, {i: "1" if i == readonly[0] else "0" for i in leases})
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            changes = [e for e in map(json.loads, f) if e["type"] in ("lease_renew", "lease_revoke",
                                                                       "lease_revoke_prefix")]
        self.assertEqual(sorted((e["type"], e.get("lease_id", e.get("prefix")), e.get("reason")) for e in changes),
                         sorted([("lease_renew", readonly[0], None), ("lease_revoke", readonly[1], LEASE_REASON),
                                 ("lease_revoke_prefix", "acme/db/creds/ops", LEASE_REASON)]))
        # The KV changes the admin made in the page are real, each audited with its reason and the
        # admin as its actor; the auditor's refused delete changed nothing and logged nothing.
        meta = self.admin("GET", "/v1/kv/metadata/app/rotating", headers={"X-Vault-Namespace": "acme"})[1]["data"]
        self.assertEqual({n: (v["deletion_time"] != "", v["destroyed"]) for n, v in meta["versions"].items()},
                         {"1": (False, True), "2": (False, False), "3": (False, False)})
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            kv_changes = [e for e in map(json.loads, f) if e["type"] in ("kv_delete", "kv_undelete", "kv_destroy")]
        self.assertEqual([(e["type"], e["versions"], e["reason"], e["actor"]["role"], e["by"]) for e in kv_changes],
                         [("kv_delete", [2], KV["delete_reason"], "admin", "spiffe://sealgate-admin/admin/admin"),
                          ("kv_undelete", [2], KV["undelete_reason"], "admin", "spiffe://sealgate-admin/admin/admin"),
                          ("kv_destroy", [1], KV["destroy_reason"], "admin", "spiffe://sealgate-admin/admin/admin")])
        self.assertEqual(len({e["resource_ref"] for e in kv_changes}), 1)  # the one secret, by its resource_ref
        # The export the browser downloaded verifies offline against the pinned key.
        key = os.path.join(self.sg.dir, "AUDIT_KEY.pem")
        with open(key, "w") as f:
            f.write(self.admin("GET", "/admin/v1/audit/public-key", client="auditor")[1]["pem"])
        bundle = result["export_file"]
        self.assertEqual(os.path.dirname(bundle), downloads)
        verified = subprocess.run([SEALGATE, "audit", "verify", "--quiet", "--key", key, bundle], capture_output=True,
                                  text=True)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        # The page on another origin changed nothing: its KV write was refused, and the other
        # grant (the auditor's refused target, the attack's DELETE) still works.
        self.assertEqual(self.admin("GET", "/v1/kv/metadata/csrf/planted")[0], 404)
        refused = [e for e in self.sg.log_lines()
                   if e.get("code") == "CSRF_REJECTED" and e.get("route") == "/v1/**"]
        self.assertTrue(refused, "the cross-origin KV write reached the server and was refused")
        grants = {g["grant_id"]: g for g in self.admin("GET", "/admin/v1/grants")[1]["grants"]}
        self.assertFalse(grants[other_id]["revoked"])
        self.assertTrue(grants[grant_id]["revoked"])


if __name__ == "__main__":
    unittest.main()
