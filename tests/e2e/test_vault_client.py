"""The OpenBao/Vault KV v2 client provider (providers/vault_client.h), driven through
tests/e2e/vault_probe: against sealgate's own Vault-compatible endpoint (real daemon,
mTLS, CA pinned) and against a CONTRACT STUB reproducing Vault's documented
responses (contract_stub_vault.py: token and AppRole auth, namespace header,
retries, 404-with-metadata), since no Vault or OpenBao server can run here."""
import datetime
import ipaddress
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, Instance, TestPeer, issue_peer_cert  # noqa: E402
from contract_stub_vault import StubVault  # noqa: E402
from test_remote_pdp import issue  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

PROBE = os.path.join(BUILD, "tests/e2e/vault_probe")


def probe(*args):
    r = subprocess.run([PROBE, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


class VaultClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance()
        cls.sg.start()
        pki = os.path.join(cls.sg.dir, "pki")
        with open(os.path.join(pki, "ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(pki, "ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        cert, key = issue(pki, "stub-vault", ca, ca_key, [x509.DNSName("localhost"),
                                                          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], True)
        cls.stub = StubVault(cert, key)
        cls.token = os.path.join(cls.sg.dir, "vault.token")
        with open(cls.token, "w") as f:
            f.write("static-token\n")
        cls.secret_id = os.path.join(cls.sg.dir, "secret.id")
        with open(cls.secret_id, "w") as f:
            f.write("secret-id-1\n")
        # a CA that did not issue the servers' certificates: pinning must refuse them
        other = os.path.join(cls.sg.dir, "other-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", other + ".key", "-out", other, "-subj", "/CN=other", "-days", "1"], check=True,
                       capture_output=True)
        cls.other_ca = other

    @classmethod
    def tearDownClass(cls):
        cls.stub.stop()
        cls.sg.cleanup()

    def stub_args(self, *extra, auth=None):
        auth = auth or ["--token-file", self.token]
        return ["--address", f"https://127.0.0.1:{self.stub.port}", "--ca", self.sg.ca, "--namespace", "team-a",
                "--mount", "acme/kv=secret", "--backoff-ms", "10", *auth, *extra]

    # ---- against sealgate's own endpoint -------------------------------------------------

    def test_against_sealgates_own_endpoint(self):
        r = self.sg.request("POST", "/v1/kv/data/vc/db", client="admin", listener="admin",
                            body={"data": {"password": "own-v1"}})
        self.assertEqual(r[0], 200, r[3])
        self.sg.request("POST", "/v1/kv/data/vc/db", client="admin", listener="admin",
                        body={"data": {"password": "own-v2"}})
        cert, key = self.sg.client("admin")
        base = ["--address", f"https://127.0.0.1:{self.sg.admin_port}", "--ca", self.sg.ca, "--cert", cert,
                "--key", key, "--token-file", self.token, "--namespace", "acme", "--mount", "acme/vault=kv"]
        out = probe(*base, "--uri", "secret://acme/vault/vc/db#password")
        self.assertEqual(out, {"ok": True, "value": "own-v2", "kv_version": 2, "requests": 1})
        self.assertEqual(probe(*base, "--uri", "secret://acme/vault/vc/db?version=1#password")["value"], "own-v1")
        # soft delete and destroy: sealgate's 404-with-metadata, read as Vault's
        self.sg.request("POST", "/v1/kv/delete/vc/db", client="admin", listener="admin", body={"versions": [2]})
        self.sg.request("POST", "/v1/kv/destroy/vc/db", client="admin", listener="admin", body={"versions": [1]})
        self.assertEqual(probe(*base, "--uri", "secret://acme/vault/vc/db#password")["code"], "VERSION_DELETED")
        self.assertEqual(probe(*base, "--uri", "secret://acme/vault/vc/db?version=1#password")["code"],
                         "VERSION_DESTROYED")
        self.assertEqual(probe(*base, "--uri", "secret://acme/vault/vc/none#password")["code"], "NOT_FOUND")
        # CA pinning: a bundle that did not issue the server's certificate is refused
        pinned = list(base)
        pinned[pinned.index("--ca") + 1] = self.other_ca
        self.assertEqual(probe(*pinned, "--attempts", "1", "--uri", "secret://acme/vault/vc/db#password")["code"],
                         "PROVIDER_UNAVAILABLE")
        # without a client certificate sealgate's listener refuses the handshake
        nocert = [a for a in base if a not in ("--cert", cert, "--key", key)]
        self.assertEqual(probe(*nocert, "--attempts", "1", "--uri", "secret://acme/vault/vc/db#password")["code"],
                         "PROVIDER_UNAVAILABLE")

    # ---- the daemon configured with a vault section ------------------------------------

    def test_daemon_routes_a_vault_mount_to_the_client(self):
        """sealgated with `vault` in its config: secret://acme/vault/... is fetched from the
        stub (token auth, namespace, pinned CA) when /v1/execute uses it."""
        sg = Instance(extra={"vault": {"address": f"https://127.0.0.1:{self.stub.port}", "ca_file": self.sg.ca,
                                       "token_file": self.token, "namespace": "team-a",
                                       "mounts": {"acme/vault": "secret"}, "backoff_ms": 10}})
        peer = None
        try:
            # the stub's certificate comes from the first instance's CA: trust that for Vault
            with open(os.path.join(sg.dir, "policy.json"), "w") as f:
                json.dump({"version": 1, "rules": [{"id": "v", "effect": "allow", "subjects": ["spiffe://acme/payments"],
                                                    "resources": ["secret://acme/vault/**"], "actions": ["use"]}],
                           "egress": {"acme": {"rest": {"hosts": ["127.0.0.1"]}}}}, f)
            peer = TestPeer(*issue_peer_cert(sg.dir))
            sg.start()
            ready = sg.request("GET", "/readyz")
            self.assertEqual(ready[1]["checks"]["providers"]["vault"]["status"], "ok", ready[3])
            uri = "secret://acme/vault/app/db#password"
            r = sg.request("POST", "/v1/authorize", body={"requests": [{"uri": uri, "action": "use"}]})
            self.assertEqual(r[0], 200, r[3])
            seen = len(self.stub.requests)
            r = sg.request("POST", "/v1/execute", body={
                "grant": r[1]["grant"], "slots": {"pw": uri},
                "action": {"connector": "rest", "method": "GET", "url": f"https://127.0.0.1:{peer.port}/echo",
                           "headers": {"X-Password": "{{slot:pw}}"}}})
            self.assertEqual(r[0], 200, r[3])
            echoed = json.loads(r[1]["result"]["body"])
            self.assertEqual(echoed["headers"]["X-Password"], "[REDACTED]")  # the stub's value reached the peer
            self.assertNotIn(b"stub-value-v4", r[3])
            method, path, headers = self.stub.requests[seen]
            self.assertEqual((method, path), ("GET", "/v1/secret/data/app/db"))
            self.assertEqual(headers.get("X-Vault-Namespace"), "team-a")
            with open(os.path.join(sg.dir, "audit/entries.jsonl")) as f:
                events = [json.loads(line) for line in f if '"execute"' in line]
            self.assertEqual(events[-1]["slots"][0]["kv_version"], 4)
        finally:
            if peer:
                peer.stop()
            sg.cleanup()

    def test_daemon_refuses_a_half_configured_vault(self):
        sg = Instance(extra={"vault": {"address": f"https://127.0.0.1:{self.stub.port}", "ca_file": self.sg.ca,
                                       "token_file": self.token}})
        try:
            with self.assertRaises(RuntimeError) as e:
                sg.start()
            self.assertIn("vault needs both an address and its mounts", str(e.exception))
        finally:
            sg.cleanup()

    # ---- against the contract stub -------------------------------------------------------

    def test_stub_token_auth_namespace_and_versions(self):
        out = probe(*self.stub_args("--uri", "secret://acme/kv/app/db#password"))
        self.assertEqual(out, {"ok": True, "value": "stub-value-v4", "kv_version": 4, "requests": 1})
        method, path, headers = self.stub.requests[-1]
        self.assertEqual((method, path), ("GET", "/v1/secret/data/app/db"))
        self.assertEqual(headers.get("X-Vault-Namespace"), "team-a")
        self.assertEqual(headers.get("X-Vault-Token"), "static-token")
        self.assertEqual(probe(*self.stub_args("--uri", "secret://acme/kv/app/db?version=1#password"))["value"],
                         "stub-v1")
        self.assertEqual(probe(*self.stub_args("--uri", "secret://acme/kv/app/db?version=2#password"))["code"],
                         "VERSION_DELETED")
        self.assertEqual(probe(*self.stub_args("--uri", "secret://acme/kv/app/db?version=3#password"))["code"],
                         "VERSION_DESTROYED")
        self.assertEqual(probe(*self.stub_args("--uri", "secret://acme/kv/app/db?version=9#password"))["code"],
                         "NOT_FOUND")
        self.assertEqual(probe(*self.stub_args("--uri", "secret://acme/kv/app/db?version=1#nofield"))["code"],
                         "NOT_FOUND")
        self.assertEqual(probe(*self.stub_args("--uri", "secret://acme/other/app/db#password"))["code"], "NOT_FOUND")
        # another namespace sees nothing
        args = self.stub_args("--uri", "secret://acme/kv/app/db#password")
        args[args.index("--namespace") + 1] = "team-b"
        self.assertEqual(probe(*args)["code"], "NOT_FOUND")

    def test_stub_approle_login_and_relogin(self):
        approle = ["--role-id", "role-1", "--secret-id-file", self.secret_id]
        out = probe(*self.stub_args("--uri", "secret://acme/kv/app/db#password", auth=approle))
        self.assertEqual(out["value"], "stub-value-v4")
        self.assertEqual(out["requests"], 2)  # login, read
        self.assertEqual(self.stub.requests[-2][1], "/v1/auth/approle/login")
        self.assertTrue(self.stub.requests[-1][2]["X-Vault-Token"].startswith("hvs."))
        # a token refused mid-way (expired): the client logs in again, once, and reads
        self.stub.stale_once = True
        out = probe(*self.stub_args("--uri", "secret://acme/kv/app/db#password", auth=approle))
        self.assertEqual(out["value"], "stub-value-v4")
        self.assertEqual(out["requests"], 4)  # login, read (403), login, read
        # a wrong secret_id: the login fails, nothing is read
        bad = os.path.join(self.sg.dir, "bad.id")
        with open(bad, "w") as f:
            f.write("nope\n")
        out = probe(*self.stub_args("--uri", "secret://acme/kv/app/db#password",
                                    auth=["--role-id", "role-1", "--secret-id-file", bad]))
        self.assertEqual(out["code"], "PROVIDER_UNAVAILABLE")
        # a static token that has gone stale: 403 is unavailable (fail closed), not "not found"
        self.stub.expire_tokens()
        try:
            self.assertEqual(probe(*self.stub_args("--uri", "secret://acme/kv/app/db#password"))["code"],
                             "PROVIDER_UNAVAILABLE")
        finally:
            self.stub.tokens = {"static-token"}

    def test_stub_retries_with_backoff_then_fails_closed(self):
        self.stub.fail_next = 2
        out = probe(*self.stub_args("--attempts", "3", "--uri", "secret://acme/kv/app/db#password"))
        self.assertEqual(out["value"], "stub-value-v4")
        self.assertEqual(out["requests"], 3)
        self.stub.fail_next = 5
        out = probe(*self.stub_args("--attempts", "3", "--uri", "secret://acme/kv/app/db#password"))
        self.assertEqual(out, {"ok": False, "code": "PROVIDER_UNAVAILABLE", "requests": 3})
        self.stub.fail_next = 0

    def test_bad_settings_are_refused(self):
        for args in (["--address", "http://127.0.0.1:1", "--ca", self.sg.ca, "--token-file", self.token],
                     ["--address", f"https://127.0.0.1:{self.stub.port}", "--token-file", self.token],
                     ["--address", f"https://127.0.0.1:{self.stub.port}", "--ca", self.sg.ca],
                     ["--address", f"https://127.0.0.1:{self.stub.port}", "--ca", self.sg.ca, "--token-file",
                      self.token, "--role-id", "r", "--secret-id-file", self.secret_id]):
            out = probe(*args, "--mount", "acme/kv=secret", "--uri", "secret://acme/kv/app/db#password")
            self.assertEqual(out["code"], "CONFIG_INVALID", args)

    def test_a_server_that_is_down_is_unavailable(self):
        args = self.stub_args("--attempts", "2", "--uri", "secret://acme/kv/app/db#password")
        from postgres import free_port
        args[args.index("--address") + 1] = f"https://127.0.0.1:{free_port()}"
        self.assertEqual(probe(*args), {"ok": False, "code": "PROVIDER_UNAVAILABLE", "requests": 2})


if __name__ == "__main__":
    unittest.main()
