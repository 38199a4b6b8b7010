"""End-to-end test of the initial key ceremony on a production-like token
(docs/RUNBOOK.md, "Initial key ceremony"): the HSM administrator initialises a
SoftHSM2 token with softhsm2-util; `sealgate keys ceremony` creates every key
the appliance needs in it with sealgate's templates, writes the TLS key's
certificate request and records the ceremony as the audit log's first entry; the
CA's certificate, `sealgate state init` and sealgated follow, and the appliance
is ready. A second run creates nothing. The ceremony refuses to make a KEK when
sealed data exists, and nothing (no ceremony, no state init, no second daemon)
runs beside a daemon on the same data directory."""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SEALGATE, SEALGATED  # noqa: E402

SO_PIN, USER_PIN = "87654321", "12345678"


class KeyCeremonyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sealgate-ceremony-")
        self.daemons = []
        # The HSM administrator's part: a token, and the user PIN in a 0600 file.
        self.make_token("sealgate-prod")
        self.pin = self.path("hsm.pin")
        with open(os.open(self.pin, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(USER_PIN)
        # A CA and the operators' client certificates: a dev instance's PKI (its own token is not used).
        subprocess.run([SEALGATE, "dev-init", "--dir", self.path("ca")], check=True, capture_output=True)
        os.makedirs(self.path("data"), mode=0o700)
        self.config = self.write_config("sealgate-prod", "data")

    def tearDown(self):
        for d in self.daemons:
            if d.poll() is None:
                d.kill()
                d.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def make_token(self, label):
        os.makedirs(self.path("tokens"), exist_ok=True)
        conf = self.path("softhsm2.conf")
        with open(conf, "w") as f:
            f.write(f"directories.tokendir = {self.path('tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n")
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN,
                        "--pin", USER_PIN], check=True, capture_output=True, env={**os.environ, "SOFTHSM2_CONF": conf})

    def write_config(self, token, data_dir, name="sealgated.conf"):
        conf = {
            "name": "sealgate-prod",
            "pep": {"listen": "127.0.0.1:0", "ca_file": "ca/pki/ca.pem", "cert_file": "server.pem",
                    "public_url": "https://localhost:8443"},
            "admin": {"listen": "127.0.0.1:0", "ca_file": "ca/pki/ca.pem", "cert_file": "server.pem"},
            "hsm": {"token_label": token, "pin_file": "hsm.pin", "softhsm2_conf": "softhsm2.conf"},
            "policy_file": "ca/policy.json",
            "data_dir": data_dir,
            "kv": {"default_namespace": "acme", "mounts": {"acme": ["kv"]}},
            "state": {"rollback_protection": "none"},
        }
        path = self.path(name)
        with open(path, "w") as f:
            json.dump(conf, f)
        return path

    def sealgate(self, *args, config=None):
        return subprocess.run([SEALGATE, *args, "--config", config or self.config], capture_output=True, text=True)

    def ceremony(self, *extra, config=None):
        return self.sealgate("keys", "ceremony", *extra, config=config)

    def start(self, config=None):
        log = open(self.path("sealgated.log"), "ab")
        proc = subprocess.Popen([SEALGATED, "--config", config or self.config], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.daemons.append(proc)
        return proc

    def admin_port(self, proc):
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.path("sealgated.log")) as f:
                for line in f:
                    if '"admin_port"' in line:
                        return json.loads(line)["admin_port"]
            self.assertIsNone(proc.poll(), "sealgated exited")
            time.sleep(0.05)
        self.fail("sealgated did not start")

    def audit_entries(self):
        with open(self.path("data/audit/entries.jsonl")) as f:
            return [json.loads(line) for line in f]

    def test_a_fresh_token_becomes_a_ready_appliance(self):
        r = self.ceremony("--tls-csr-out", self.path("tls.csr"), "--tls-cn", "sealgate.example",
                          "--tls-san", "DNS:localhost,IP:127.0.0.1", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(sorted(report["created"]), ["sealgate-audit-es256-v1", "sealgate-grant-es256-v1",
                                                     "sealgate-kek", "sealgate-ref-hmac-v1", "sealgate-tls"])
        self.assertEqual(report["present"], [])
        # the keys as `keys list` shows them: sensitive, never extractable
        listed = json.loads(self.sealgate("keys", "list", "--json").stdout)
        self.assertEqual(len(listed), 5)
        for k in listed:
            self.assertTrue(k["attributes"]["SENSITIVE"], k)
            self.assertFalse(k["attributes"]["EXTRACTABLE"], k)
        # the request: signed by the HSM's TLS key, with the names asked for
        req = subprocess.run(["openssl", "req", "-in", self.path("tls.csr"), "-noout", "-verify", "-subject", "-text"],
                             capture_output=True, text=True)
        self.assertEqual(req.returncode, 0, req.stderr)
        self.assertIn("CN = sealgate.example", req.stdout)
        self.assertIn("DNS:localhost, IP Address:127.0.0.1", req.stdout)
        # the ceremony is the audit log's first entry, checkpointed by the new audit key
        [entry] = self.audit_entries()
        self.assertEqual((entry["type"], entry["audit_index"], entry["token"]), ("key_ceremony", 0, "sealgate-prod"))
        self.assertEqual(sorted(entry["created"]), sorted(report["created"]))
        self.assertTrue(entry["actor"]["spiffe_id"].startswith("local:"))

        again = self.ceremony("--json")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual((json.loads(again.stdout)["created"], len(json.loads(again.stdout)["present"])), ([], 5))
        self.assertEqual(len(self.audit_entries()), 1, "nothing created, nothing to record")

        # the CA issues the certificate; the state is initialised; the daemon is ready
        signed = subprocess.run(["openssl", "x509", "-req", "-in", "tls.csr", "-CA", "ca/pki/ca.pem", "-CAkey",
                                 "ca/pki/ca.key", "-CAcreateserial", "-days", "30", "-copy_extensions", "copy",
                                 "-out", "server.pem"], cwd=self.dir, capture_output=True, text=True)
        self.assertEqual(signed.returncode, 0, signed.stderr)
        init = self.sealgate("state", "init")
        self.assertEqual(init.returncode, 0, init.stderr)
        daemon = self.start()
        port = self.admin_port(daemon)
        ctx = ssl.create_default_context(cafile=self.path("ca/pki/ca.pem"))
        ctx.load_cert_chain(self.path("ca/pki/clients/admin.pem"), self.path("ca/pki/clients/admin.key"))
        conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        self.assertEqual((resp.status, body["status"]), (200, "ready"), body)
        self.assertEqual(body["checks"]["audit"]["entries"], 1)

        # one daemon per data directory; no ceremony or state init beside it
        second = self.start()
        self.assertEqual(second.wait(timeout=30), 1)
        with open(self.path("sealgated.log")) as f:
            self.assertIn("DATA_DIR_IN_USE", f.read())
        beside = self.ceremony()
        self.assertEqual(beside.returncode, 1)
        self.assertIn("sealgated is running", beside.stderr)
        self.assertEqual(self.sealgate("state", "init").returncode, 1)
        conn.request("GET", "/readyz")
        self.assertEqual(conn.getresponse().status, 200, "the running daemon is undisturbed")
        conn.close()

    def test_no_new_kek_over_sealed_data_and_bad_input_is_refused(self):
        # sealed state exists (from another token's KEK): a new KEK would orphan it
        os.makedirs(self.path("data/state"))
        with open(self.path("data/state/journal"), "wb") as f:
            f.write(b"sealed")
        r = self.ceremony()
        self.assertEqual(r.returncode, 1)
        self.assertIn("HSM_KEY_MISSING", r.stderr)
        self.assertIn("sealgate-kek", r.stderr)
        self.assertFalse(os.path.exists(self.path("data/audit/entries.jsonl")), "nothing was recorded")
        self.assertEqual(json.loads(self.sealgate("keys", "list", "--json").stdout), [], "no key was created")
        # a token that does not exist; a CSR without its name; a malformed SAN
        missing = self.write_config("no-such-token", "data2", name="missing.conf")
        r = self.ceremony(config=missing)
        self.assertEqual(r.returncode, 1)
        self.assertIn("HSM_TOKEN_NOT_FOUND", r.stderr)
        shutil.rmtree(self.path("data/state"))
        r = self.ceremony("--tls-csr-out", self.path("x.csr"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--tls-cn", r.stderr)
        r = self.ceremony("--tls-csr-out", self.path("x.csr"), "--tls-cn", "x", "--tls-san", "BOGUS:thing")
        self.assertEqual(r.returncode, 1)
        self.assertIn("TLS_CONFIG", r.stderr)
        self.assertFalse(os.path.exists(self.path("x.csr")))


if __name__ == "__main__":
    unittest.main()
