"""The sealed state through the daemon (issue 4): a tampered, rolled-back,
missing or TPM-less state fails closed with stable codes, is never silently
re-initialised, and re-initialising is an explicit, audited admin call."""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SEALGATE, Instance  # noqa: E402
from dpop_client import DpopKey  # noqa: E402

ITEM = [{"uri": "secret://acme/kv/app/db#password", "action": "use"}]


class Base(unittest.TestCase):
    def authorize(self, dpop_key=None):
        headers = {}
        if dpop_key:
            headers["DPoP"] = dpop_key.proof("POST", f"https://127.0.0.1:{self.sg.pep_port}/v1/authorize")
        return self.sg.request("POST", "/v1/authorize", body={"requests": ITEM}, headers=headers)

    def consume(self, grant):
        return self.sg.request("POST", "/v1/grants/consume", body={"grant": grant})

    def admin(self, method, path, body=None, client="admin"):
        return self.sg.request(method, path, client=client, body=body, listener="admin")

    def state_status(self):
        status, body, _, raw = self.admin("GET", "/admin/v1/status")
        self.assertEqual(status, 200, raw)
        return body

    def assertClosedWith(self, code):
        """Every state-dependent request answers 503 with `code`; readiness fails."""
        status, body, _, raw = self.admin("GET", "/readyz")
        self.assertEqual(status, 503, raw)
        self.assertEqual(body["checks"]["state"]["code"], code, raw)
        st = self.state_status()["state"]
        self.assertEqual(st["status"], "closed", st)
        self.assertEqual(st["code"], code, st)
        # An mTLS grant can still be minted (no state needed), but never used.
        status, body, _, raw = self.authorize()
        self.assertEqual(status, 200, raw)
        status, body, _, raw = self.consume(body["grant"])
        self.assertEqual(status, 503, raw)
        self.assertEqual(body["error"]["code"], code, raw)
        # A DPoP proof's jti cannot be recorded either.
        status, body, _, raw = self.authorize(DpopKey())
        self.assertEqual(status, 503, raw)
        self.assertEqual(body["error"]["code"], code, raw)

    def audit_events(self):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]


class WithoutTpmTest(Base):
    def setUp(self):
        self.sg = Instance()
        self.sg.start()

    def tearDown(self):
        self.sg.cleanup()

    def test_status_says_rollback_protection_is_off(self):
        body = self.state_status()
        self.assertEqual(body["state"]["rollback_protection"], "off")
        self.assertEqual(body["state"]["anchor"], "none")
        self.assertEqual(body["tpm"], {"configured": False})
        self.assertEqual(body["state"]["status"], "ok")

    def test_missing_state_is_never_recreated(self):
        self.sg.stop()
        shutil.rmtree(os.path.join(self.sg.dir, "state"))
        self.sg.start()
        self.assertClosedWith("STATE_MISSING")
        self.assertFalse(os.path.exists(os.path.join(self.sg.dir, "state")), "the daemon created state by itself")
        # First set-up is explicit, and refuses to overwrite.
        self.sg.stop()
        init = [SEALGATE, "state", "init", "--config", self.sg.config]
        done = subprocess.run(init, capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("rollback protection: off", done.stdout)
        again = subprocess.run(init, capture_output=True, text=True)
        self.assertEqual(again.returncode, 1)
        self.assertIn("STATE_EXISTS", again.stderr)
        self.sg.start()
        self.assertEqual(self.state_status()["state"]["status"], "ok")


class WithTpmTest(Base):
    def setUp(self):
        self.sg = Instance(tpm=True)
        self.sg.start()

    def tearDown(self):
        self.sg.cleanup()

    def journal(self):
        return os.path.join(self.sg.dir, "state/journal")

    def test_status_shows_the_tpm_anchor(self):
        body = self.state_status()
        self.assertEqual(body["state"]["rollback_protection"], "tpm-nv-counter")
        self.assertEqual(body["state"]["anchor"], "tpm-nv:0x01500020")
        self.assertTrue(body["tpm"]["reachable"])
        status, ready, _, raw = self.admin("GET", "/readyz")
        self.assertEqual(status, 200, raw)

    def test_state_survives_a_restart(self):
        status, body, _, raw = self.authorize()
        grant = body["grant"]
        self.assertEqual(self.consume(grant)[1]["remaining_uses"], 4)
        self.sg.stop()
        self.sg.start()
        self.assertEqual(self.consume(grant)[1]["remaining_uses"], 3)

    def test_a_journal_in_another_format_is_refused_by_name_and_left_untouched(self):
        """A downgrade: the journal was written in a format this version does not read."""
        status, body, _, raw = self.authorize()
        self.assertEqual(self.consume(body["grant"])[0], 200)
        self.sg.stop()
        with open(self.journal(), "rb") as f:
            original = f.read()
        self.assertEqual(original[:8], b"SGSTATE1")
        with open(self.journal(), "r+b") as f:
            f.write(b"SGSTATE2")
        self.sg.start()
        self.assertClosedWith("STATE_FORMAT_UNSUPPORTED")
        self.sg.stop()
        with open(self.journal(), "rb") as f:
            self.assertEqual(f.read()[8:], original[8:], "a refused journal must not be changed")
        # The version that reads it (here: the same bytes, format 1 again) opens it as it was.
        with open(self.journal(), "r+b") as f:
            f.write(b"SGSTATE1")
        self.sg.start()
        status, ready, _, raw = self.admin("GET", "/readyz")
        self.assertEqual(status, 200, raw)

    def test_tampered_journal_fails_closed_then_audited_reinitialisation(self):
        status, body, _, raw = self.authorize()
        old_grant = body["grant"]
        self.assertEqual(self.consume(old_grant)[0], 200)
        self.sg.stop()
        with open(self.journal(), "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0x04
            f.seek(0)
            f.write(data)
        self.sg.start()
        self.assertClosedWith("STATE_TAMPERED")

        # Not silently: an auditor cannot, a sloppy request cannot, only an explicit admin call can.
        status, body, _, raw = self.admin("POST", "/admin/v1/state/reinitialize",
                                          {"confirm": "REINITIALIZE", "reason": "x"}, client="auditor")
        self.assertEqual(status, 403, raw)
        for bad in ({"confirm": "yes", "reason": "tampered"}, {"confirm": "REINITIALIZE", "reason": ""},
                    {"confirm": "REINITIALIZE"}, {"confirm": "REINITIALIZE", "reason": "x", "force": True}):
            status, body, _, raw = self.admin("POST", "/admin/v1/state/reinitialize", bad)
            self.assertEqual(status, 400, raw)
        self.assertClosedWith("STATE_TAMPERED")

        status, body, _, raw = self.admin("POST", "/admin/v1/state/reinitialize",
                                          {"confirm": "REINITIALIZE", "reason": "journal failed authentication"})
        self.assertEqual(status, 200, raw)
        moved = body["previous_state"]
        self.assertTrue(os.path.isdir(moved), "the tampered state must be kept for forensics")
        self.assertTrue(os.path.exists(os.path.join(moved, "journal")))
        events = [e for e in self.audit_events() if e.get("type") == "state_reinitialize"]
        self.assertEqual([e["outcome"] for e in events], ["requested", "reinitialized"])
        self.assertEqual(events[0]["previous_code"], "STATE_TAMPERED")
        self.assertEqual(events[0]["by"], "spiffe://sealgate-admin/admin/admin")

        status, ready, _, raw = self.admin("GET", "/readyz")
        self.assertEqual(status, 200, raw)
        # The new state knows nothing of older grants' uses: they are refused.
        status, body, _, raw = self.consume(old_grant)
        self.assertEqual(status, 401, raw)
        self.assertEqual(body["error"]["code"], "GRANT_PREDATES_STATE")
        status, body, _, raw = self.authorize()
        self.assertEqual(self.consume(body["grant"])[1]["remaining_uses"], 4)

    def test_restoring_an_old_copy_is_a_rollback(self):
        status, body, _, raw = self.authorize()
        grant = body["grant"]
        self.assertEqual(self.consume(grant)[0], 200)
        self.sg.stop()
        copy = os.path.join(self.sg.dir, "state-copy")
        shutil.copytree(os.path.join(self.sg.dir, "state"), copy)
        self.sg.start()  # a restart is a checkpoint: the TPM counter moves on
        self.assertEqual(self.consume(grant)[1]["remaining_uses"], 3)
        self.sg.stop()
        shutil.rmtree(os.path.join(self.sg.dir, "state"))
        shutil.copytree(copy, os.path.join(self.sg.dir, "state"))
        self.sg.start()
        self.assertClosedWith("STATE_ROLLBACK")

    def test_absent_tpm_fails_closed(self):
        self.sg.stop()
        self.sg.stop_tpm()
        self.sg.uses_tpm = False  # start the daemon without starting the TPM
        self.sg.start()
        self.assertClosedWith("TPM_UNAVAILABLE")
        self.assertFalse(self.state_status()["tpm"]["reachable"])


if __name__ == "__main__":
    unittest.main()
