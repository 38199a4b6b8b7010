"""Issue 12, item 10: the DPoP htu followed the Host header.

Before the fix, with pep.public_url unset, a proof for https://evil.example/...
was accepted when sent with "Host: evil.example": the server built the URL it
checked htu against from the request itself. Now htu comes from configuration
only (pep.public_url; in development mode the listen address), a Host that does
not name the listener gets 421 MISDIRECTED_REQUEST, and production refuses to
start without pep.public_url.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dpop_client import DpopKey  # noqa: E402
from harness import SEALGATED, Instance  # noqa: E402

ITEMS = {"requests": [{"uri": "secret://acme/kv/app/db#password", "action": "use"}]}
PUBLIC_URL = "https://sealgate.test"


def authorize(sg, host, proof):
    conn = http.client.HTTPSConnection("127.0.0.1", sg.pep_port, context=sg.tls_context("acme-payments"), timeout=15)
    try:
        conn.request("POST", "/v1/authorize", body=json.dumps(ITEMS),
                     headers={"Host": host, "Content-Type": "application/json", "DPoP": proof})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, json.loads(body) if body else None
    finally:
        conn.close()


class DevelopmentInstanceTest(unittest.TestCase):
    """No public_url (development mode): htu is https://127.0.0.1:<pep port>."""

    @classmethod
    def setUpClass(cls):
        cls.sg = Instance()
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def assertCode(self, result, status, code):
        self.assertEqual(result[0], status, result[1])
        self.assertEqual(result[1]["error"]["code"], code)

    def test_the_reported_attack_is_refused(self):
        key = DpopKey()
        result = authorize(self.sg, "evil.example", key.proof("POST", "https://evil.example/v1/authorize"))
        self.assertCode(result, 421, "MISDIRECTED_REQUEST")

    def test_htu_does_not_follow_a_valid_host_either(self):
        port = self.sg.pep_port
        key = DpopKey()
        # The Host names this server (a certificate name), yet a proof for the
        # URL that Host spells is not the configured URL.
        self.assertCode(authorize(self.sg, f"localhost:{port}", key.proof("POST", f"https://localhost:{port}/v1/authorize")),
                        401, "DPOP_INVALID")
        self.assertCode(authorize(self.sg, f"localhost:{port}", key.proof("POST", "https://evil.example/v1/authorize")),
                        401, "DPOP_INVALID")
        status, body = authorize(self.sg, f"localhost:{port}", key.proof("POST", f"https://127.0.0.1:{port}/v1/authorize"))
        self.assertEqual(status, 200, body)
        self.assertIn("grant", body)

    def test_host_must_name_this_listener(self):
        port = self.sg.pep_port
        key = DpopKey()
        proof = key.proof("POST", f"https://127.0.0.1:{port}/v1/authorize")
        for host in ["evil.example", f"evil.example:{port}", f"127.0.0.2:{port}", f"localhost:{port + 1}",
                     "localhost.evil.example"]:
            with self.subTest(host=host):
                self.assertCode(authorize(self.sg, host, proof), 421, "MISDIRECTED_REQUEST")


class ProductionInstanceTest(unittest.TestCase):
    """pep.public_url set: htu is that URL; Host may name it or a certificate name."""

    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(public_url=PUBLIC_URL)
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def test_htu_is_the_public_url(self):
        port = self.sg.pep_port
        key = DpopKey()
        for host in ["sealgate.test", f"127.0.0.1:{port}", f"localhost:{port}"]:
            with self.subTest(host=host):
                status, body = authorize(self.sg, host, key.proof("POST", PUBLIC_URL + "/v1/authorize"))
                self.assertEqual(status, 200, body)
        status, body = authorize(self.sg, f"127.0.0.1:{port}", key.proof("POST", f"https://127.0.0.1:{port}/v1/authorize"))
        self.assertEqual((status, body["error"]["code"]), (401, "DPOP_INVALID"))
        for host in ["evil.example", "sealgate.test:444"]:
            status, body = authorize(self.sg, host, key.proof("POST", PUBLIC_URL + "/v1/authorize"))
            self.assertEqual((status, body["error"]["code"]), (421, "MISDIRECTED_REQUEST"))


class StartupTest(unittest.TestCase):
    def setUp(self):
        self.sg = Instance()

    def tearDown(self):
        self.sg.cleanup()

    def test_production_refuses_to_start_without_public_url(self):
        with open(self.sg.config) as f:
            conf = json.load(f)
        conf["mode"] = "production"
        conf["pep"].pop("public_url", None)
        bad = os.path.join(self.sg.dir, "no-public-url.conf")
        with open(bad, "w") as f:
            json.dump(conf, f)
        r = subprocess.run([SEALGATED, "--config", bad], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("CONFIG_INVALID", r.stderr)
        self.assertIn("pep.public_url is required", r.stderr)

    def test_dev_init_writes_public_url_and_its_config_starts(self):
        with open(os.path.join(self.sg.dir, "sealgated.conf")) as f:
            text = f.read()
        self.assertIn('"public_url": "https://localhost:8443"', text)
        self.assertNotIn('"mode"', text)  # a production-mode config that starts as written
        log_path = os.path.join(self.sg.dir, "devinit-run.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([SEALGATED, "--config", os.path.join(self.sg.dir, "sealgated.conf"),
                                     "--pep-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            port = None
            deadline = time.time() + 30
            while time.time() < deadline and port is None:
                with open(log_path) as f:
                    m = re.search(r'"pep_port":(\d+)', f.read())
                if m:
                    port = int(m.group(1))
                elif proc.poll() is not None:
                    self.fail("sealgated exited: " + open(log_path).read())
                else:
                    time.sleep(0.05)
            self.assertIsNotNone(port)
            self.sg.pep_port = port
            key = DpopKey()
            status, body = authorize(self.sg, f"localhost:{port}", key.proof("POST", "https://localhost:8443/v1/authorize"))
            self.assertEqual(status, 200, body)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    unittest.main()
