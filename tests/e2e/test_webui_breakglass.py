"""The break-glass page of the admin web UI (docs/WEBUI.md) with real approvers:
a sealgated with a `breakglass` section (quorum 2), two approvers enrolled
through `sealgate approver add|enroll` on software TPMs manufactured with EK
certificates (test_breakglass_cli.py's VendorCa and ApproverTpm), and Debian's
Chromium driven by playwright-core (webui/tests/breakglass_e2e.mjs).

In the browser an admin asks for a window and an approver sees it read-only;
the browser cannot make the TPM quote, so the node script hands over the
`sealgate approve … ID` command the page showed, and this test runs exactly that
command (its placeholders filled in) with two approvers' TPMs. The browser then
sees the window open and the admin ends it with a reason. Afterwards the server's
request view and audit log must tell the same story."""
import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

from cryptography.hazmat.primitives import serialization

sys.path.insert(0, os.path.dirname(__file__))
from harness import SEALGATE, Instance, encodings  # noqa: E402
from test_breakglass_cli import ApproverTpm, Base, VendorCa  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
NODE_MODULES = os.path.join(ROOT, "tests/e2e/node/node_modules")
CHROMIUM = "/usr/bin/chromium"
APPROVERS = ("approver-1", "approver-2")
ADMIN_ID = "spiffe://sealgate-admin/admin/admin"
# What the admin types in the form: prefixes and actions out of order, which the
# server sorts (the page must show the request as the approvers sign it).
ASK = {"tenant": "acme", "uri_prefixes": ["secret://acme/kv/payments", "secret://acme/kv/app"],
       "actions": ["use", "read"], "mode": "override", "reason": "PDP denies payments after a bad push (INC-5150)",
       "duration_seconds": 600}
END_REASON = "the PDP fix is deployed, the override is no longer needed (INC-5150)"
MODE_WORDS = {"override": "override: covered items pass even when the PDP denies them"}  # as the page words it
COMMAND = re.compile(r"^sealgate approve --admin (?P<origin>https://127\.0\.0\.1:\d+) --ca ca\.pem --cert YOU\.pem "
                     r"--key YOU\.key --tpm TCTI (?P<id>[0-9a-f]{32})$")
HAND_OFF_SECONDS = 240


def key_material(pem_path):
    """The forms a client's private key could leak in: its PEM body, the first
    line of it, its DER and its private scalar."""
    with open(pem_path, "rb") as f:
        pem = f.read()
    key = serialization.load_pem_private_key(pem, None)
    body = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    scalar = f"{key.private_numbers().private_value:064x}"
    return set().union(encodings("".join(body)), encodings(body[0]), {der.hex()}, encodings(scalar))


class BreakGlassPageTest(Base):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half-way: no swtpm or temp dir is left behind.
        cls.work = tempfile.mkdtemp(prefix="sealgate-bg-ui-")
        cls.addClassCleanup(shutil.rmtree, cls.work, ignore_errors=True)
        vendor = VendorCa(os.path.join(cls.work, "vendor-ca"))
        cls.tpms = {}
        for name in APPROVERS:
            cls.tpms[name] = ApproverTpm(vendor.manufacture(os.path.join(cls.work, name)))
            cls.addClassCleanup(cls.tpms[name].stop)
        cls.sg = Instance(extra={"breakglass": {"ek_ca_file": vendor.bundle(), "quorum": 2}})
        cls.addClassCleanup(cls.sg.cleanup)
        cls.sg.start()
        cls.origin = f"https://127.0.0.1:{cls.sg.admin_port}"

    def enrol_approvers(self):
        for name in APPROVERS:
            out = self.cli("approver", "add", *self.tls("admin"), name)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            out = self.cli("approver", "enroll", *self.tls(name), "--tpm", self.tpms[name].tcti)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        approvers = self.approvers()
        self.assertEqual({n: a["state"] for n, a in approvers.items()}, {n: "enrolled" for n in APPROVERS})
        return approvers

    def run_shown_command(self, command, request_id, name):
        """Runs the command the page showed, after checking its form: `ca.pem`,
        `YOU.pem`, `YOU.key` and `TCTI` filled in with this approver's files and
        TPM, and --yes (no terminal to confirm on)."""
        m = COMMAND.match(command)
        self.assertIsNotNone(m, command)
        self.assertEqual((m["origin"], m["id"]), (self.origin, request_id))
        cert, key = self.sg.client(name)
        fill = {"ca.pem": self.sg.ca, "YOU.pem": cert, "YOU.key": key, "TCTI": self.tpms[name].tcti}
        argv = shlex.split(command)
        self.assertEqual(argv[:2], ["sealgate", "approve"])
        return self.cli(*[fill.get(a, a) for a in argv[1:-1]], "--yes", argv[-1])

    def audit_events(self):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            return [json.loads(line) for line in f]

    def test_in_chromium(self):
        self.assertTrue(os.path.exists(CHROMIUM), "Debian's chromium is not installed (scripts/install-deps.sh)")
        self.assertTrue(os.path.isdir(os.path.join(NODE_MODULES, "playwright-core")), "run npm ci in tests/e2e/node")
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        self.assertGreaterEqual(int(node.lstrip("v").split(".")[0]), 20,
                                f"playwright-core needs Node.js 20 or later, this is {node} (docs/DEVELOPMENT.md)")
        enrolled = self.enrol_approvers()

        shots = os.environ.get("SEALGATE_UI_SCREENSHOTS") or tempfile.mkdtemp(prefix="sealgate-ui-shots-")
        os.makedirs(shots, exist_ok=True)
        secrets = set()
        for name in ("admin", "auditor", *APPROVERS):
            secrets |= key_material(self.sg.client(name)[1])
        for pin in ("hsm.pin", "hsm-so.pin"):
            with open(os.path.join(self.sg.dir, pin)) as f:
                secrets |= encodings(f.read().strip())
        cfg = {
            "origin": self.origin, "chromium": CHROMIUM, "node_modules": NODE_MODULES, "screenshots": shots,
            "certs": {role: dict(zip(("cert", "key"), self.sg.client(name)))
                      for role, name in (("admin", "admin"), ("auditor", "auditor"), ("approver", APPROVERS[0]))},
            "approver_name": APPROVERS[0], "approvers": sorted(APPROVERS), "quorum": 2,
            "ask": ASK, "mode_words": MODE_WORDS, "end_reason": END_REASON,
            "canary_forms": sorted(secrets),
        }
        stderr = open(os.path.join(self.work, "node.stderr"), "w+")
        node = subprocess.Popen(["node", os.path.join(ROOT, "webui/tests/breakglass_e2e.mjs")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env={**os.environ, "SEALGATE_UI_TEST": json.dumps(cfg)})
        lines = queue.Queue()

        def read_stdout():
            for line in node.stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read_stdout, daemon=True)
        reader.start()

        def next_line():
            try:
                line = lines.get(timeout=HAND_OFF_SECONDS)
            except queue.Empty:
                line = None
            if line is None:
                node.kill()
                node.wait()
                stderr.seek(0)
                self.fail(f"the browser run stopped (exit {node.returncode}): {stderr.read()}")
            return json.loads(line)

        try:
            shown = next_line()["approve"]
            rid = shown["id"]
            # The request the page listed is the server's, with the digest the page showed.
            self.assertEqual(self.view(rid)["digest"], shown["digest"])
            outs = {}
            for name in APPROVERS:
                out = self.run_shown_command(shown["command"], rid, name)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                outs[name] = out.stdout
            # What each approver's CLI showed, recomputed and signed is what the page showed.
            for name, out in outs.items():
                self.assertIn(shown["digest"], out)
                self.assertIn(ASK["reason"], out)
            self.assertIn("this approval opened the window", outs[APPROVERS[-1]])
            self.assertEqual(self.view(rid)["state"], "open")
            node.stdin.write(json.dumps({"approved": [{"name": n, "ak_fingerprint": enrolled[n]["ak_fingerprint"]}
                                                      for n in APPROVERS]}) + "\n")
            node.stdin.close()
            result = next_line()
            self.assertEqual(node.wait(timeout=60), 0)
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
            reader.join(timeout=10)
            for pipe in (node.stdin, node.stdout, stderr):
                pipe.close()
            if not os.environ.get("SEALGATE_UI_SCREENSHOTS"):
                shutil.rmtree(shots, ignore_errors=True)
        self.assertEqual(len(result["passed"]), 13, result)
        self.assertEqual((result["id"], result["digest"]), (rid, shown["digest"]))

        # The window the admin ended in the page is ended on the server, by the admin.
        view = self.view(rid)
        self.assertEqual((view["state"], view["ended_by"]), ("ended", ADMIN_ID))
        self.assertEqual(view["uri_prefixes"], sorted(ASK["uri_prefixes"]))
        self.assertEqual(view["actions"], sorted(ASK["actions"]))
        self.assertEqual(self.admin("GET", "/admin/v1/status")[1]["breakglass"]["open_windows"], 0)
        # The audit log: the request (the only one: the refused attempts made none), both
        # approvals, the opening, and the closing with the reason typed in the browser.
        events = [e for e in self.audit_events() if e["type"].startswith("breakglass_")
                  and e["type"] != "breakglass_approver"]
        self.assertEqual([(e["type"], e.get("request_id")) for e in events],
                         [("breakglass_request", rid), ("breakglass_approval", rid), ("breakglass_approval", rid),
                          ("breakglass_opened", rid), ("breakglass_closed", rid)])
        request, first, second, opened, closed = events
        self.assertEqual((request["reason"], request["mode"], request["actor"]["spiffe_id"]),
                         (ASK["reason"], ASK["mode"], ADMIN_ID))
        self.assertEqual([(e["outcome"], e["actor"]["spiffe_id"]) for e in (first, second)],
                         [("approved", f"spiffe://sealgate-admin/approver/{n}") for n in APPROVERS])
        self.assertEqual([e["ak_fingerprint"] for e in (first, second)],
                         [enrolled[n]["ak_fingerprint"] for n in APPROVERS])
        self.assertEqual(opened["approvers"], list(APPROVERS))
        for e in (request, first, opened, closed):
            self.assertEqual(e["digest"], shown["digest"])
        self.assertEqual((closed.get("close_reason"), closed["ended_by"], closed["actor"]["role"],
                          closed["actor"]["spiffe_id"]), (END_REASON, ADMIN_ID, "admin", ADMIN_ID))


if __name__ == "__main__":
    unittest.main()
