"""Break-glass windows in /v1/authorize (issue 14): a real sealgated with an
external PDP (the AuthZEN contract stub of contract_stub_pdp.py: allow `use`
under secret://acme/kv/app/, deny the rest), two approvers enrolled through the
CLI on software TPMs, and windows opened by their `sealgate approve`.

The steps share one appliance and run in order:
  1. override: with the PDP up, a window lets an item the PDP denies through,
     only inside its scope; closing it early refuses its grant from then on.
  2. pdp_outage: with the PDP stopped, nothing is granted without a window;
     inside one, covered items are granted (grant claim `bg`, exp no later than
     the window's end), uncovered ones are denied PDP_UNAVAILABLE; the grant
     is spent while the window is open and refused once it ended.
  3. the audit export tells it all and verifies offline."""
import ipaddress
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance  # noqa: E402
from contract_stub_pdp import StubPdp  # noqa: E402
from dpop_client import decode_claims  # noqa: E402
from test_breakglass_cli import ApproverTpm, Base, VendorCa  # noqa: E402
from test_remote_pdp import issue  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

IN_SCOPE = "secret://acme/kv/app/db#password"
UNASKED = "secret://acme/kv/nowhere/x"  # never sent to the PDP while it was up


class BreakGlassAuthorizeTest(Base):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="sealgate-bg-authz-")
        vendor = VendorCa(os.path.join(cls.work, "vendor-ca"))
        cls.tpms = {name: ApproverTpm(vendor.manufacture(os.path.join(cls.work, name)))
                    for name in ("approver-1", "approver-2")}
        cls.sg = Instance(extra={"breakglass": {"ek_ca_file": vendor.bundle(), "quorum": 2}})
        pki = os.path.join(cls.sg.dir, "pki")
        with open(os.path.join(pki, "ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(pki, "ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        server = issue(pki, "stub-pdp", ca, ca_key, [x509.DNSName("localhost"),
                                                      x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], True)
        issue(pki, "pdp-client", ca, ca_key, [x509.UniformResourceIdentifier("spiffe://sealgate-admin/admin/pep")],
              False)
        cls.stub = StubPdp("authzen", server[0], server[1], os.path.join(pki, "ca.pem"))
        with open(cls.sg.config) as f:
            conf = json.load(f)
        conf["pdp"] = {"type": "authzen", "url": f"https://127.0.0.1:{cls.stub.port}", "ca_file": "pki/ca.pem",
                       "cert_file": "pki/pdp-client.pem", "key_file": "pki/pdp-client.key", "timeout_ms": 500}
        with open(cls.sg.config, "w") as f:
            json.dump(conf, f)
        cls.sg.start()
        cls.stub_running = True

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()
        if cls.stub_running:
            cls.stub.stop()
        for tpm in cls.tpms.values():
            tpm.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    # ---- helpers ------------------------------------------------------------------------------
    def authorize(self, *uris):
        return self.sg.request("POST", "/v1/authorize",
                               body={"requests": [{"uri": u, "action": "use"} for u in uris]})

    def consume(self, grant):
        return self.sg.request("POST", "/v1/grants/consume", body={"grant": grant})

    def open_window(self, ask):
        status, body, raw = self.admin("POST", "/admin/v1/breakglass/requests", ask)
        self.assertEqual(status, 201, raw)
        rid = body["id"]
        for name, tpm in self.tpms.items():
            out = self.approve(name, tpm, rid, "--yes")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        view = self.view(rid)
        self.assertEqual(view["state"], "open")
        return rid, view

    def ask(self, mode, prefix):
        return {"tenant": "acme", "uri_prefixes": [prefix], "actions": ["use"], "mode": mode,
                "reason": f"{mode} drill", "duration_seconds": 600}

    # ---- steps --------------------------------------------------------------------------------
    def test_00_enrol_two_approvers(self):
        for name, tpm in self.tpms.items():
            out = self.cli("approver", "add", *self.tls("admin"), name)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            out = self.cli("approver", "enroll", *self.tls(name), "--tpm", tpm.tcti)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_01_override_passes_a_deny_only_in_scope(self):
        denied = "secret://acme/kv/other/x"
        status, body, _, raw = self.authorize(denied)
        self.assertEqual(status, 200, raw)
        self.assertEqual(body["results"][0]["reason"], "AUTHZEN_SAYS_NO")
        # A pdp_outage window never passes a deny.
        outage, _ = self.open_window(self.ask("pdp_outage", "secret://acme/kv/other"))
        status, body, _, raw = self.authorize(denied)
        self.assertEqual((status, body["results"][0]["decision"]), (200, "deny"), raw)
        self.assertEqual(self.admin("DELETE", f"/admin/v1/breakglass/active/{outage}")[0], 200)

        rid, view = self.open_window(self.ask("override", "secret://acme/kv/other"))
        status, body, _, raw = self.authorize(denied, "secret://acme/kv/elsewhere/y")
        self.assertEqual(status, 200, raw)
        self.assertEqual([r["decision"] for r in body["results"]], ["allow", "deny"], raw)
        self.assertEqual(body["results"][0]["obligations"], {"breakglass": rid})
        self.assertEqual(body["results"][1]["reason"], "AUTHZEN_SAYS_NO")
        claims = decode_claims(body["grant"])
        self.assertEqual(claims["bg"], rid)
        self.assertLessEqual(claims["exp"], view["ends_at"])
        grant = body["grant"]
        self.assertEqual(self.consume(grant)[0], 200)
        # Closed early: the grant issued in it is refused, the deny stands again.
        status, _, raw = self.admin("DELETE", f"/admin/v1/breakglass/active/{rid}")
        self.assertEqual(status, 200, raw)
        status, body, _, raw = self.consume(grant)
        self.assertEqual((status, body["error"]["code"]), (403, "BREAKGLASS_WINDOW_CLOSED"), raw)
        status, body, _, raw = self.authorize(denied)
        self.assertEqual((status, body["results"][0]["decision"]), (200, "deny"), raw)

    def test_02_pdp_outage_window(self):
        self.stub.stop()
        type(self).stub_running = False
        status, body, _, raw = self.authorize(IN_SCOPE)
        self.assertEqual((status, body["error"]["code"]), (503, "PDP_UNAVAILABLE"), raw)

        rid, view = self.open_window(self.ask("pdp_outage", "secret://acme/kv/app"))
        status, body, _, raw = self.authorize(IN_SCOPE, UNASKED, "secret://acme/kv/appendix/z")
        self.assertEqual(status, 200, raw)
        self.assertEqual([r["decision"] for r in body["results"]], ["allow", "deny", "deny"], raw)
        self.assertEqual({r.get("reason") for r in body["results"][1:]}, {"PDP_UNAVAILABLE"})  # whole segments only
        claims = decode_claims(body["grant"])
        self.assertEqual(claims["bg"], rid)
        self.assertLessEqual(claims["exp"], view["ends_at"])
        grant = body["grant"]
        # Nothing covered: the outage answer is unchanged (a URI never asked before: the denies the PDP
        # gave while it was up stay in the negative cache for a while, and would answer instead).
        status, body, _, raw = self.authorize(UNASKED)
        self.assertEqual((status, body["error"]["code"]), (503, "PDP_UNAVAILABLE"), raw)
        # Another tenant's service is never covered by acme's window.
        status, body, _, raw = self.sg.request("POST", "/v1/authorize", client="globex-billing",
                                               body={"requests": [{"uri": "secret://globex/kv/app/x", "action": "use"}]})
        self.assertEqual(status, 503, raw)

        status, body, _, raw = self.consume(grant)
        self.assertEqual(status, 200, raw)
        status, body, raw = self.admin("GET", "/admin/v1/status")
        self.assertEqual(body["breakglass"]["open_windows"], 1, raw)
        _, _, _, metrics = self.sg.request("GET", "/metrics", client="auditor", listener="admin")
        self.assertIn(b"sealgate_breakglass_open_windows 1", metrics)

        # A restart keeps the window and its grants; closing it ends both.
        self.sg.kill()
        self.sg.start()
        self.assertEqual(self.consume(grant)[0], 200)
        status, _, raw = self.admin("DELETE", f"/admin/v1/breakglass/active/{rid}")
        self.assertEqual(status, 200, raw)
        status, body, _, raw = self.consume(grant)
        self.assertEqual((status, body["error"]["code"]), (403, "BREAKGLASS_WINDOW_CLOSED"), raw)
        status, body, _, raw = self.authorize(IN_SCOPE)
        self.assertEqual((status, body["error"]["code"]), (503, "PDP_UNAVAILABLE"), raw)
        type(self).outage = rid

    def test_03_the_audit_export_tells_the_story(self):
        rid = type(self).outage
        entries = self.audit_bundle(self.work)
        story = [e for e in entries if e.get("request_id") == rid or e.get("breakglass") == rid]
        types = [e["type"] for e in story]
        for expected in ("breakglass_request", "breakglass_approval", "breakglass_opened", "authorize", "consume",
                         "breakglass_closed"):
            self.assertIn(expected, types)
        self.assertLess(types.index("breakglass_opened"), types.index("authorize"))
        self.assertLess(types.index("authorize"), types.index("breakglass_closed"))
        authorize = next(e for e in story if e["type"] == "authorize")
        self.assertEqual(authorize["breakglass"], rid)
        self.assertNotIn(IN_SCOPE, json.dumps(entries))  # refs, never the URIs the services asked for


if __name__ == "__main__":
    unittest.main()
