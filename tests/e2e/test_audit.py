"""End-to-end tests of the signed audit log (issue 7): export and offline verify,
tamper detection naming the entry, independent checkpoint verification, roles,
audit-before-response with AUDIT_UNAVAILABLE, and a kill -9 crash during appends."""
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance, SEALGATE  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

ITEM = {"uri": "secret://acme/kv/app/db#password", "action": "use"}
CANARY_PATH = "CanaryAuditPath9"


def slurp(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def verify(key, bundle):
    return subprocess.run([SEALGATE, "audit", "verify", "--key", key, bundle], capture_output=True, text=True)


class AuditTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(audit={"checkpoint_every": 5, "checkpoint_interval_ms": 60000})
        cls.sg.start()
        cls.work = tempfile.mkdtemp(prefix="sealgate-audit-e2e-")
        # The auditor pins the key first.
        status, body, _, _ = cls.sg.request("GET", "/admin/v1/audit/public-key", client="auditor", listener="admin")
        assert status == 200, body
        cls.pubkey = body
        cls.key = os.path.join(cls.work, "AUDIT_KEY.pem")
        with open(cls.key, "w") as f:
            f.write(body["pem"])

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def authorize(self, items=None):
        return self.sg.request("POST", "/v1/authorize", body={"requests": items or [ITEM]})

    def export(self, client="auditor"):
        status, _, _, raw = self.sg.request("GET", "/admin/v1/audit/export", client=client, listener="admin")
        self.assertEqual(status, 200, raw[:300])
        path = os.path.join(self.work, f"bundle-{time.time_ns()}.json")
        with open(path, "wb") as f:
            f.write(raw)
        return path, json.loads(raw)

    def test_export_verifies_offline_and_has_every_decision(self):
        ids = [self.authorize()[1]["decision_id"] for _ in range(7)]
        denied = self.authorize([{"uri": "secret://acme/kv/other/" + CANARY_PATH, "action": "use"}])[1]
        path, bundle = self.export()
        out = verify(self.key, path)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("OK:", out.stdout)
        events = [json.loads(e) for e in bundle["entries"]]
        logged = {e.get("decision_id") for e in events}
        for d in ids + [denied["decision_id"]]:
            self.assertIn(d, logged)
        ev = next(e for e in events if e.get("decision_id") == denied["decision_id"])
        # The schema: ids, actor, tenant, action, refs, decision, outcome; no URI, no value.
        for field in ["schema_version", "event_id", "time", "audit_index", "correlation_id", "actor", "tenant", "action",
                      "resource_refs", "decision", "outcome"]:
            self.assertIn(field, ev)
        self.assertEqual(ev["actor"]["spiffe_id"], "spiffe://acme/payments")
        self.assertTrue(ev["actor"]["cert_thumbprint"])
        self.assertEqual(ev["decision"], "deny")
        raw = slurp(path)
        self.assertNotIn(CANARY_PATH, raw)
        self.assertNotIn("secret://", raw)

    def test_checkpoint_verifies_independently_as_c2sp_type_0x02(self):
        self.authorize()
        status, body, _, _ = self.sg.request("GET", "/admin/v1/audit/checkpoint", client="auditor", listener="admin")
        self.assertEqual(status, 200)
        note = body["checkpoint"]
        text, sigs = note.split("\n\n", 1)
        text += "\n"
        origin, size, root = text.splitlines()[:3]
        self.assertEqual(origin, "sealgate-e2e")
        self.assertEqual(int(size), body["tree_size"])
        self.assertEqual(len(base64.b64decode(root)), 32)
        line = sigs.splitlines()[0]
        self.assertTrue(line.startswith("\u2014 sealgate-e2e "), line)
        raw = base64.b64decode(line.split(" ")[2])
        pub = serialization.load_pem_public_key(slurp(self.key, "rb"))
        spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(raw[:4], hashlib.sha256(spki).digest()[:4])  # key ID = SHA-256(SPKI)[:4]
        self.assertEqual(raw[:4].hex(), self.pubkey["key_id"])
        pub.verify(raw[4:], text.encode(), ec.ECDSA(hashes.SHA256()))  # DER ECDSA over the note text

    def test_proof_endpoints(self):
        for _ in range(3):
            self.authorize()
        _, cp, _, _ = self.sg.request("GET", "/admin/v1/audit/checkpoint", client="auditor", listener="admin")
        n = cp["tree_size"]
        status, body, _, _ = self.sg.request("GET", f"/admin/v1/audit/proofs/inclusion?index=1&tree_size={n}",
                                             client="auditor", listener="admin")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["index"], 1)
        self.assertTrue(body["proof"])
        status, body, _, _ = self.sg.request("GET", f"/admin/v1/audit/proofs/consistency?first=2&second={n}",
                                             client="auditor", listener="admin")
        self.assertEqual(status, 200, body)
        self.assertTrue(body["proof"])
        for bad in ["index=x&tree_size=1", f"index={n}&tree_size={n}", "index=01&tree_size=5", ""]:
            status, body, _, _ = self.sg.request("GET", "/admin/v1/audit/proofs/inclusion?" + bad, client="auditor",
                                                 listener="admin")
            self.assertEqual(status, 400, bad)
        status, _, _, _ = self.sg.request("GET", f"/admin/v1/audit/proofs/consistency?first={n + 5}&second={n}",
                                          client="auditor", listener="admin")
        self.assertEqual(status, 400)

    def test_tampered_bundle_names_the_first_bad_entry(self):
        for _ in range(6):
            self.authorize()
        path, bundle = self.export()
        for index in [0, 3, len(bundle["entries"]) - 1]:
            b = json.loads(json.dumps(bundle))
            e = b["entries"][index]
            pos = e.index('"audit_index"') + 2  # flip one byte inside the entry
            b["entries"][index] = e[:pos] + chr(ord(e[pos]) ^ 1) + e[pos + 1:]
            bad = path + f".bad{index}"
            with open(bad, "w") as f:
                json.dump(b, f)
            out = verify(self.key, bad)
            self.assertEqual(out.returncode, 1, out.stdout)
            self.assertIn(f"first bad entry: {index}", out.stdout)
        # A truncated file, another key, a corrupt signature: clear verdicts.
        raw = slurp(path, "rb")
        with open(path + ".trunc", "wb") as f:
            f.write(raw[: len(raw) // 2])
        out = verify(self.key, path + ".trunc")
        self.assertEqual(out.returncode, 1)
        self.assertIn("BUNDLE_CORRUPT", out.stdout)
        other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        with open(path + ".otherkey.pem", "wb") as f:
            f.write(other)
        out = verify(path + ".otherkey.pem", path)
        self.assertEqual(out.returncode, 1)
        self.assertIn("NOTE_UNSIGNED", out.stdout)
        out = verify(path + ".missing.pem", path)
        self.assertEqual(out.returncode, 2)

    def test_auditor_cannot_change_anything_and_admin_cannot_rewrite_the_log(self):
        for method in ["POST", "PUT", "DELETE"]:
            for client in ["auditor", "admin"]:
                for path in ["/admin/v1/audit/export", "/admin/v1/audit/checkpoint", "/admin/v1/audit/public-key"]:
                    status, _, _, _ = self.sg.request(method, path, client=client, listener="admin",
                                                      body={} if method != "DELETE" else None)
                    self.assertIn(status, (404, 405), f"{client} {method} {path}")
        status, body, _, _ = self.sg.request("PUT", "/admin/v1/policy", client="auditor", listener="admin",
                                             body={"version": 1, "rules": []})
        self.assertEqual(status, 403, body)
        status, _, _, _ = self.sg.request("DELETE", "/admin/v1/grants/x", client="auditor", listener="admin")
        self.assertEqual(status, 403)
        # Services cannot reach the audit endpoints at all.
        status, _, _, _ = self.sg.request("GET", "/admin/v1/audit/export", client="acme-payments", listener="admin")
        self.assertIn(status, (401, 403))

    def test_admin_changes_are_audited(self):
        status, body, _, _ = self.sg.request("DELETE", "/admin/v1/grants/some-grant", client="admin", listener="admin")
        self.assertEqual(status, 200, body)
        _, bundle = self.export()
        events = [json.loads(e) for e in bundle["entries"]]
        revoke = [e for e in events if e.get("type") == "grant_revoke" and e.get("grant_id") == "some-grant"]
        self.assertEqual(len(revoke), 1)
        self.assertEqual(revoke[0]["actor"]["spiffe_id"], "spiffe://sealgate-admin/admin/admin")


class AuditFailureTest(unittest.TestCase):
    def test_unwritable_log_fails_closed_at_start(self):
        # (A log that fails while running denies with AUDIT_UNAVAILABLE: see the
        # MerkleAuditLog unit tests, which make writes fail with a file-size limit.)
        sg = Instance()
        try:
            sg.start()
            self.assertEqual(sg.request("POST", "/v1/authorize", body={"requests": [ITEM]})[0], 200)
            self.assertEqual(sg.stop(), 0)
            entries = os.path.join(sg.dir, "audit/entries.jsonl")
            os.chmod(entries, 0o400)
            if os.geteuid() != 0:
                with self.assertRaises(RuntimeError) as ctx:
                    sg.start()
                self.assertIn("AUDIT_UNAVAILABLE", str(ctx.exception))
            os.chmod(entries, 0o600)
        finally:
            sg.cleanup()

    def test_full_disk_denies_with_audit_unavailable_and_loses_no_accepted_event(self):
        # A file-size limit inherited by sealgated makes its writes fail with EFBIG
        # once the entries file reaches it: a real "disk full" for the daemon.
        import resource
        sg = Instance()
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, hard))
            try:
                sg.start()
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            accepted, denied = [], None
            for _ in range(400):
                status, body, _, _ = sg.request("POST", "/v1/authorize", body={"requests": [ITEM]})
                if status == 200:
                    accepted.append(body["decision_id"])
                    continue
                denied = (status, body)
                break
            self.assertIsNotNone(denied, "the log never filled up")
            self.assertEqual(denied[0], 503)
            self.assertEqual(denied[1]["error"]["code"], "AUDIT_UNAVAILABLE")
            self.assertNotIn("grant", denied[1])
            self.assertGreater(len(accepted), 10)
            status, ready, _, _ = sg.request("GET", "/readyz")
            self.assertEqual(status, 503)
            self.assertEqual(ready["checks"]["audit"]["code"], "AUDIT_UNAVAILABLE")
            with open(os.path.join(sg.dir, "audit/entries.jsonl")) as f:
                logged = {json.loads(line)["decision_id"] for line in f}
            self.assertEqual([d for d in accepted if d not in logged], [])
        finally:
            sg.cleanup()

    def test_tampered_stored_log_refuses_to_start(self):
        sg = Instance(audit={"checkpoint_every": 2})
        try:
            sg.start()
            for _ in range(4):
                self.assertEqual(sg.request("POST", "/v1/authorize", body={"requests": [ITEM]})[0], 200)
            self.assertEqual(sg.stop(), 0)
            entries = os.path.join(sg.dir, "audit/entries.jsonl")
            data = bytearray(slurp(entries, "rb"))
            pos = data.index(b'"decision_id"') + 16
            data[pos] ^= 1
            with open(entries, "wb") as f:
                f.write(bytes(data))
            with self.assertRaises(RuntimeError) as ctx:
                sg.start()
            self.assertIn("AUDIT_LOG_CORRUPT", str(ctx.exception))
        finally:
            sg.cleanup()


class SamplingTest(unittest.TestCase):
    def test_allows_are_sampled_denials_never_and_the_next_event_counts_them(self):
        sg = Instance(audit={"sample_allow": 3})
        try:
            sg.start()
            allowed = [sg.request("POST", "/v1/authorize", body={"requests": [ITEM]})[1]["decision_id"] for _ in range(6)]
            denied = [sg.request("POST", "/v1/authorize", body={"requests": [
                {"uri": "secret://acme/kv/other/x", "action": "use"}]})[1]["decision_id"] for _ in range(3)]
            grant = sg.request("POST", "/v1/authorize", body={"requests": [ITEM]})[1]["grant"]
            self.assertEqual(sg.request("POST", "/v1/grants/consume", body={"grant": grant})[0], 200)
            with open(os.path.join(sg.dir, "audit/entries.jsonl")) as f:
                events = [json.loads(line) for line in f]
            logged = [e.get("decision_id") for e in events]
            for d in denied:
                self.assertIn(d, logged)  # never sampled
            kept = [d for d in allowed if d in logged]
            self.assertEqual(len(kept), 2)  # 1 in 3 of 6 all-allow decisions
            self.assertIn("consume", [e["type"] for e in events])  # consumes are never sampled
            authorizes = [e for e in events if e["type"] == "authorize"]
            # Every allow left out is counted by the next logged event.
            total_allows = 7
            kept_allows = len([e for e in authorizes if e["decision"] == "allow"])
            self.assertEqual(sum(e.get("sampled_out", 0) for e in events), total_allows - kept_allows)
        finally:
            sg.cleanup()


class CrashTest(unittest.TestCase):
    def test_kill_9_during_appends_loses_no_accepted_operation(self):
        sg = Instance(audit={"checkpoint_every": 7, "checkpoint_interval_ms": 50})
        try:
            sg.start()
            accepted = []
            lock = threading.Lock()
            stop = threading.Event()

            def client():
                while not stop.is_set():
                    try:
                        status, body, _, _ = sg.request("POST", "/v1/authorize", body={"requests": [ITEM]})
                    except Exception:
                        return  # the daemon died under us
                    if status == 200:
                        with lock:
                            accepted.append(body["decision_id"])

            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            deadline = time.time() + 30
            while time.time() < deadline:
                with lock:
                    if len(accepted) >= 40:
                        break
                time.sleep(0.05)
            sg.proc.send_signal(signal.SIGKILL)  # mid-append, no shutdown checkpoint
            sg.proc.wait()
            stop.set()
            for t in threads:
                t.join()
            sg.log.close()
            self.assertGreaterEqual(len(accepted), 40)
            sg.start()
            status, _, _, raw = sg.request("GET", "/admin/v1/audit/export", client="auditor", listener="admin")
            self.assertEqual(status, 200)
            bundle_path = os.path.join(sg.dir, "bundle.json")
            with open(bundle_path, "wb") as f:
                f.write(raw)
            _, key, _, _ = sg.request("GET", "/admin/v1/audit/public-key", client="auditor", listener="admin")
            key_path = os.path.join(sg.dir, "AUDIT_KEY.pem")
            with open(key_path, "w") as f:
                f.write(key["pem"])
            out = verify(key_path, bundle_path)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            logged = {json.loads(e).get("decision_id") for e in json.loads(raw)["entries"]}
            missing = [d for d in accepted if d not in logged]
            self.assertEqual(missing, [], "accepted operations missing from the log")
        finally:
            sg.cleanup()


if __name__ == "__main__":
    unittest.main()
