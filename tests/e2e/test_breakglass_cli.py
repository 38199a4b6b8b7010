"""Break-glass through the approver CLI (issue 14, "Approver tooling"): a real
sealgated with a `breakglass` section, approvers' software TPMs manufactured
with EK certificates by a local TPM vendor CA (swtpm_setup + swtpm_localca),
and the real `sealgate approver add|enroll` and `sealgate approve` commands.

ApproverCliTest (one instance, steps in order): enrolment through the CLI (an
EK of another vendor is EK_UNTRUSTED), approvals (self-approval, a second
approval by the same approver, an approver with a TPM other than the enrolled
one are refused; no confirmation, no signature), a kill -9 between the two
approvals and while the window is open, the audit events and their offline
verification, and a server whose request view does not hash to its digest.

DevInitCeremonyTest: `sealgate dev-init --tpm swtpm` enrols approver-1..3 at
dev-init time; its own sealgated.conf runs, and two of them approve with the
TPMs scripts/dev-approver-tpm.sh starts."""
import datetime
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SEALGATE, Instance, issue_peer_cert  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
APPROVER_TPM_SCRIPT = os.path.join(ROOT, "scripts/dev-approver-tpm.sh")
ASK = {"tenant": "acme", "uri_prefixes": ["secret://acme/kv/app"], "actions": ["use"], "mode": "pdp_outage",
       "reason": "PDP outage drill, INC-4711", "duration_seconds": 600}


class VendorCa:
    """A TPM vendor CA in its own folder (never the machine-wide
    /var/lib/swtpm-localca): manufactures TPM states with RSA and ECC EKs and
    EK certificates (docs/DEVELOPMENT.md, "swtpm with EK certificates")."""

    def __init__(self, folder):
        self.dir = folder
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "localca.conf"), "w") as f:
            f.write(f"statedir = {folder}\nsigningkey = {folder}/signkey.pem\nissuercert = {folder}/issuercert.pem\n"
                    f"certserial = {folder}/certserial\n")
        with open(os.path.join(folder, "setup.conf"), "w") as f:
            f.write(f"create_certs_tool= /usr/bin/swtpm_localca\ncreate_certs_tool_config = {folder}/localca.conf\n"
                    "create_certs_tool_options = /etc/swtpm-localca.options\nactive_pcr_banks = sha256\n")

    def manufacture(self, state):
        os.makedirs(state, exist_ok=True)
        subprocess.run(["swtpm_setup", "--tpm2", "--config", os.path.join(self.dir, "setup.conf"), "--tpm-state", state,
                        "--create-ek-cert", "--lock-nvram", "--overwrite"], check=True, capture_output=True)
        return state

    def bundle(self):
        path = os.path.join(self.dir, "bundle.pem")
        with open(path, "w") as out:
            for name in ("issuercert.pem", "swtpm-localca-rootca-cert.pem"):
                with open(os.path.join(self.dir, name)) as f:
                    out.write(f.read())
        return path


class ApproverTpm:
    """swtpm on a manufactured state, on a unix socket; stopped by PID."""

    def __init__(self, state):
        self.sock = os.path.join(state, "swtpm.sock")
        self.tcti = f"swtpm:path={self.sock}"
        for p in (self.sock, self.sock + ".ctrl"):
            if os.path.exists(p):
                os.unlink(p)
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--server", f"type=unixio,path={self.sock}", "--ctrl",
             f"type=unixio,path={self.sock}.ctrl", "--tpmstate", f"dir={state}", "--flags", "startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.sock)
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("swtpm exited at start")
                time.sleep(0.005)
        raise RuntimeError("swtpm did not become ready")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def issue_client_cert(instance_dir, name, spiffe_id):
    """A client certificate for `spiffe_id` from the instance's dev CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    with open(os.path.join(instance_dir, "pki/ca.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(instance_dir, "pki/ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))
    cert_path = os.path.join(instance_dir, f"pki/clients/{name}.pem")
    key_path = os.path.join(instance_dir, f"pki/clients/{name}.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(key_path, 0o600)


class Base(unittest.TestCase):
    sg = None

    def cli(self, *args, stdin=subprocess.DEVNULL):
        return subprocess.run([SEALGATE, *args], capture_output=True, text=True, timeout=120, stdin=stdin)

    def tls(self, client, port=None):
        cert, key = self.sg.client(client)
        return ["--admin", f"https://127.0.0.1:{port or self.sg.admin_port}", "--cert", cert, "--key", key, "--ca",
                self.sg.ca]

    def approve(self, client, tpm, request_id, *more, port=None):
        return self.cli("approve", *self.tls(client, port), "--tpm", tpm.tcti if hasattr(tpm, "tcti") else tpm,
                        *more, request_id)

    def approve_on_terminal(self, client, tpm, request_id, answer):
        """`sealgate approve` without --yes, its stdin a pseudo-terminal that types `answer`."""
        master, slave = os.openpty()
        try:
            os.write(master, answer.encode())
            return self.cli("approve", *self.tls(client), "--tpm", tpm.tcti, request_id, stdin=slave)
        finally:
            os.close(master)
            os.close(slave)

    def admin(self, method, path, body=None, client="admin"):
        status, parsed, _, raw = self.sg.request(method, path, client=client, body=body, listener="admin")
        return status, parsed, raw

    def create_request(self, client="admin"):
        status, body, raw = self.admin("POST", "/admin/v1/breakglass/requests", ASK, client=client)
        self.assertEqual(status, 201, raw)
        return body["id"]

    def view(self, request_id):
        status, body, raw = self.admin("GET", f"/admin/v1/breakglass/requests/{request_id}")
        self.assertEqual(status, 200, raw)
        return body

    def approvers(self):
        status, body, raw = self.admin("GET", "/admin/v1/breakglass/approvers")
        self.assertEqual(status, 200, raw)
        return {a["name"]: a for a in body["approvers"]}

    def assertRefused(self, out, code, status=1):
        self.assertEqual(out.returncode, status, out.stdout + out.stderr)
        self.assertIn(code, out.stderr, out.stdout + out.stderr)

    def audit_bundle(self, work):
        status, body, raw = self.admin("GET", "/admin/v1/audit/public-key", client="auditor")
        self.assertEqual(status, 200, raw)
        key = os.path.join(work, "audit-key.pem")
        with open(key, "w") as f:
            f.write(body["pem"])
        status, _, _, raw = self.sg.request("GET", "/admin/v1/audit/export", client="auditor", listener="admin")
        self.assertEqual(status, 200, raw[:300])
        path = os.path.join(work, f"bundle-{time.time_ns()}.json")
        with open(path, "wb") as f:
            f.write(raw)
        verified = self.cli("audit", "verify", "--quiet", "--key", key, path)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        self.assertIn("OK:", verified.stdout)
        return [json.loads(e) for e in json.loads(raw)["entries"]]


class ApproverCliTest(Base):
    """The steps share one appliance and run in order (unittest sorts them by name)."""

    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half-way: no swtpm or temp dir is left behind.
        cls.work = tempfile.mkdtemp(prefix="sealgate-bg-cli-")
        cls.addClassCleanup(shutil.rmtree, cls.work, ignore_errors=True)
        vendor = VendorCa(os.path.join(cls.work, "vendor-ca"))
        rogue = VendorCa(os.path.join(cls.work, "other-vendor-ca"))

        def tpm(ca, name):
            started = ApproverTpm(ca.manufacture(os.path.join(cls.work, name)))
            cls.addClassCleanup(started.stop)
            return started

        cls.tpm1, cls.tpm2, cls.tpm3 = tpm(vendor, "tpm-1"), tpm(vendor, "tpm-2"), tpm(vendor, "tpm-3")
        cls.rogue = tpm(rogue, "tpm-rogue")
        # dev-init --tpm none: no approvers, no breakglass section in its own config.
        cls.sg = Instance(extra={"breakglass": {"ek_ca_file": vendor.bundle(), "quorum": 2}})
        cls.addClassCleanup(cls.sg.cleanup)
        cls.sg.start()
        cls.state = {}

    def test_00_dev_init_without_tpm_has_no_break_glass(self):
        self.assertFalse(os.path.exists(os.path.join(self.sg.dir, "approvers")))
        with open(os.path.join(self.sg.dir, "sealgated.conf")) as f:
            self.assertNotIn('"breakglass"', f.read())

    def test_01_enrolment_through_the_cli(self):
        for name in ("approver-1", "approver-2"):
            out = self.cli("approver", "add", *self.tls("admin"), name)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("pending enrolment", out.stdout)
        self.assertEqual({n: a["state"] for n, a in self.approvers().items()},
                         {"approver-1": "pending", "approver-2": "pending"})
        # Only an admin opens enrolments; a bad name never reaches the server.
        self.assertRefused(self.cli("approver", "add", *self.tls("approver-1"), "approver-9"), "FORBIDDEN")
        self.assertRefused(self.cli("approver", "add", *self.tls("admin"), "Approver/../x"), "INVALID_REQUEST", 2)

        # A TPM whose EK certificate another vendor signed.
        out = self.cli("approver", "enroll", *self.tls("approver-2"), "--tpm", self.rogue.tcti)
        self.assertRefused(out, "EK_UNTRUSTED")
        self.assertEqual(self.approvers()["approver-2"]["state"], "pending")
        # An approver enrols only its own name.
        out = self.cli("approver", "enroll", *self.tls("approver-2"), "--tpm", self.tpm2.tcti, "--name", "approver-1")
        self.assertRefused(out, "FORBIDDEN")
        # Not with the admin's certificate either.
        self.assertRefused(self.cli("approver", "enroll", *self.tls("admin"), "--tpm", self.tpm1.tcti), "FORBIDDEN", 2)

        out = self.cli("approver", "enroll", *self.tls("approver-1"), "--tpm", self.tpm1.tcti)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        fingerprint = next(line.split()[-1] for line in out.stdout.splitlines() if "AK fingerprint" in line)
        self.assertRegex(fingerprint, "^[0-9a-f]{64}$")
        self.assertIn("(created)", out.stdout)
        a1 = self.approvers()["approver-1"]
        self.assertEqual((a1["state"], a1["ak_fingerprint"]), ("enrolled", fingerprint))
        self.assertRefused(self.cli("approver", "enroll", *self.tls("approver-1"), "--tpm", self.tpm1.tcti),
                           "APPROVER_EXISTS")
        # One TPM, one approver: approver-1's TPM cannot enrol approver-2.
        self.assertRefused(self.cli("approver", "enroll", *self.tls("approver-2"), "--tpm", self.tpm1.tcti),
                           "APPROVER_DEVICE_IN_USE")

        out = self.cli("approver", "enroll", *self.tls("approver-2"), "--tpm", self.tpm2.tcti)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(self.approvers()["approver-2"]["state"], "enrolled")
        # The quorum is enrolled: an admin alone enrols no more.
        self.assertRefused(self.cli("approver", "add", *self.tls("admin"), "approver-3"), "ENROLMENT_NEEDS_QUORUM")
        listed = self.cli("approver", "list", *self.tls("auditor"))
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn(fingerprint, listed.stdout)
        self.assertIn("quorum: 2", listed.stdout)

    def test_02_approvals_crash_and_restart(self):
        rid = self.create_request()
        self.state["request"] = rid

        # No terminal and no --yes: nothing is signed, nothing is posted.
        out = self.approve("approver-1", self.tpm1, rid)
        self.assertRefused(out, "no terminal to confirm on")
        self.assertIn(ASK["reason"], out.stdout)  # shown before asking
        self.assertEqual(self.view(rid)["approvals"], [])

        # On a terminal it asks: anything but "yes" signs nothing.
        out = self.approve_on_terminal("approver-1", self.tpm1, rid, "y\n")
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("Type 'yes' to approve", out.stdout)
        self.assertIn("not approved: nothing was signed", out.stdout)
        self.assertEqual(self.view(rid)["approvals"], [])

        out = self.approve_on_terminal("approver-1", self.tpm1, rid, "yes\n")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        for shown in ("spiffe://sealgate-admin/admin/admin", "acme", "secret://acme/kv/app", "use", "pdp_outage",
                      ASK["reason"], "600 s", self.view(rid)["digest"]):
            self.assertIn(shown, out.stdout)
        self.assertIn("1 approval(s), 1 more needed", out.stdout)

        # The same approver again; another approver with a TPM that is not the enrolled one.
        self.assertRefused(self.approve("approver-1", self.tpm1, rid, "--yes"), "APPROVAL_DUPLICATE")
        out = self.approve("approver-2", self.rogue, rid, "--yes")
        self.assertRefused(out, "QUOTE_SIGNATURE_INVALID")
        self.assertIn("is not the one enrolled for approver-2", out.stderr)
        view = self.view(rid)
        self.assertEqual([a["approver"] for a in view["approvals"]], ["approver-1"])

        # kill -9 between the two approvals: exactly one approval survives.
        self.sg.kill()
        self.sg.start()
        view = self.view(rid)
        self.assertEqual(view["state"], "pending")
        self.assertEqual([a["approver"] for a in view["approvals"]], ["approver-1"])

        out = self.approve("approver-2", self.tpm2, rid, "--yes")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("this approval opened the window", out.stdout)
        view = self.view(rid)
        self.assertEqual(view["state"], "open")
        self.assertEqual(sorted(a["approver"] for a in view["approvals"]), ["approver-1", "approver-2"])

        # A restart while the window is open keeps it open.
        self.sg.kill()
        self.sg.start()
        self.assertEqual(self.view(rid)["state"], "open")
        status, body, raw = self.admin("GET", "/admin/v1/status")
        self.assertEqual(body["breakglass"]["open_windows"], 1, raw)
        # An open request takes no approvals: the CLI says so without signing.
        self.assertRefused(self.approve("approver-1", self.tpm1, rid, "--yes"), "BREAKGLASS_REQUEST_CLOSED")

    def test_03_audit_records_the_request_approvals_and_opening(self):
        rid = self.state["request"]
        events = [e for e in self.audit_bundle(self.work) if e.get("request_id") == rid]
        types = [e["type"] for e in events]
        self.assertEqual(types.count("breakglass_request"), 1, types)
        self.assertEqual(types.count("breakglass_opened"), 1, types)
        approvals = [e for e in events if e["type"] == "breakglass_approval"]
        self.assertEqual(sorted(e["actor"]["spiffe_id"] for e in approvals if e["outcome"] == "approved"),
                         ["spiffe://sealgate-admin/approver/approver-1", "spiffe://sealgate-admin/approver/approver-2"])
        self.assertEqual(sorted(e["reason"] for e in approvals if e["outcome"] == "refused"),
                         ["APPROVAL_DUPLICATE", "QUOTE_SIGNATURE_INVALID"])
        opened = next(e for e in events if e["type"] == "breakglass_opened")
        self.assertEqual(opened["digest"], self.view(rid)["digest"])

    def test_04_close_early(self):
        rid = self.state["request"]
        status, body, raw = self.admin("DELETE", f"/admin/v1/breakglass/active/{rid}")
        self.assertEqual(status, 200, raw)
        view = self.view(rid)
        self.assertEqual(view["state"], "ended")
        self.assertEqual(view["ended_by"], "spiffe://sealgate-admin/admin/admin")

    def test_05_self_approval_is_refused(self):
        # admin/approver-1 and approver/approver-1 are one person (breakglass.persons unset).
        issue_client_cert(self.sg.dir, "admin-approver-1", "spiffe://sealgate-admin/admin/approver-1")
        rid = self.create_request(client="admin-approver-1")
        self.assertRefused(self.approve("approver-1", self.tpm1, rid, "--yes"), "APPROVAL_SELF")
        self.assertEqual(self.view(rid)["approvals"], [])
        # The other approver may.
        out = self.approve("approver-2", self.tpm2, rid, "--yes")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_06_unusable_input_is_refused_before_the_server(self):
        rid = self.create_request()
        for bad in ("../approvers", "ABCDEF0123456789ABCDEF0123456789", rid + "0", ""):
            self.assertRefused(self.approve("approver-1", self.tpm1, bad, "--yes"), "INVALID_REQUEST", 2)
        self.assertRefused(self.approve("admin", self.tpm1, rid, "--yes"), "approver's certificate", 2)
        self.assertRefused(self.approve("approver-1", self.tpm1, rid, "--yes", "--ak-handle", "0x81000"),
                           "TPM_BAD_INPUT", 2)
        self.assertRefused(self.approve("approver-1", self.tpm1, "f" * 32, "--yes"), "BREAKGLASS_REQUEST_UNKNOWN")
        # The CA that must vouch for the server is not the dev CA: nothing is sent.
        cert, key = self.sg.client("approver-1")
        out = self.cli("approve", "--admin", f"https://127.0.0.1:{self.sg.admin_port}", "--cert", cert, "--key", key,
                       "--ca", os.path.join(self.work, "vendor-ca/bundle.pem"), "--tpm", self.tpm1.tcti, "--yes", rid)
        self.assertRefused(out, "ADMIN_CLIENT")
        self.assertEqual(self.view(rid)["approvals"], [])

    def test_07_a_view_that_does_not_hash_to_its_digest_is_not_signed(self):
        """A server (here a stand-in on the dev CA) that shows one request and gives the digest of another."""
        rid = self.create_request()
        real = self.view(rid)
        approvers = self.admin("GET", "/admin/v1/breakglass/approvers")[1]
        posted = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                if self.path == f"/admin/v1/breakglass/requests/{rid}":
                    self._send(200, dict(real, reason="routine maintenance"))
                else:
                    self._send(200, approvers)

            def do_POST(self):  # noqa: N802
                posted.append(self.path)
                self._send(500, {"error": {"code": "INTERNAL", "message": "x"}})

            def log_message(self, *args):
                pass

        cert, key = issue_peer_cert(self.sg.dir, "fake-admin")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            out = self.approve("approver-1", self.tpm1, rid, "--yes", port=server.server_address[1])
        finally:
            server.shutdown()
            server.server_close()
        self.assertRefused(out, "REQUEST_DIGEST_MISMATCH")
        self.assertNotIn("routine maintenance", out.stdout)  # refused before it is shown as approvable
        self.assertEqual(posted, [])
        self.assertEqual(self.view(rid)["approvals"], [])

    def test_08_a_third_approver_through_a_quorum_approved_enrol_approver_request(self):
        # After bootstrap, enrolling is itself a break-glass request, approved with the CLI.
        self.assertRefused(self.cli("approver", "add", *self.tls("admin"), "approver-3"), "ENROLMENT_NEEDS_QUORUM")
        status, body, raw = self.admin("POST", "/admin/v1/breakglass/requests",
                                       {"mode": "enrol_approver", "approver": "approver-3",
                                        "reason": "approver-3 joins the rota", "duration_seconds": 600})
        self.assertEqual(status, 201, raw)
        rid = body["id"]
        for name, tpm in (("approver-1", self.tpm1), ("approver-2", self.tpm2)):
            out = self.approve(name, tpm, rid, "--yes")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("enrol_approver", out.stdout)
            self.assertIn("approver-3", out.stdout)
        self.assertEqual(self.view(rid)["state"], "open")
        out = self.cli("approver", "add", *self.tls("admin"), "approver-3")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        out = self.cli("approver", "enroll", *self.tls("approver-3"), "--tpm", self.tpm3.tcti)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(self.approvers()["approver-3"]["state"], "enrolled")
        # The change used its window up.
        self.assertEqual(self.view(rid)["state"], "ended")


class DevInitCeremonyTest(Base):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="sealgate-bg-devinit-")
        cls.addClassCleanup(shutil.rmtree, cls.work, ignore_errors=True)
        cls.started = []
        cls.sg = Instance(tpm=True)  # dev-init --tpm swtpm
        cls.addClassCleanup(cls.sg.cleanup)
        cls.addClassCleanup(cls.stop_approver_tpms)
        # Run the instance's own sealgated.conf (dev-init's breakglass section), on free ports.
        cls.sg.config = os.path.join(cls.sg.dir, "sealgated.conf")
        cls.sg.start(["--pep-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])

    @classmethod
    def stop_approver_tpms(cls):
        for name in cls.started:
            subprocess.run(["bash", APPROVER_TPM_SCRIPT, cls.sg.dir, name, "stop"], capture_output=True)

    def script(self, name, action):
        return subprocess.run(["bash", APPROVER_TPM_SCRIPT, self.sg.dir, name, action], capture_output=True, text=True,
                              timeout=60)

    def test_dev_init_enrols_three_approvers_that_can_approve(self):
        d = self.sg.dir
        with open(os.path.join(d, "sealgated.conf")) as f:
            conf = f.read()
        self.assertIn('"breakglass": { "ek_ca_file": "approvers/ca/bundle.pem", "quorum": 2 }', conf)
        self.assertEqual(os.stat(os.path.join(d, "approvers")).st_mode & 0o777, 0o700)
        approvers = self.approvers()
        self.assertEqual(sorted(approvers), ["approver-1", "approver-2", "approver-3"])
        for a in approvers.values():
            self.assertEqual(a["state"], "enrolled", a)
            self.assertEqual(a["created_by"], "sealgate-dev-init")
            self.assertEqual(a["pcrs"], [0, 1, 2, 3, 7, 16])
        self.assertEqual(len({a["ak_fingerprint"] for a in approvers.values()}), 3)

        # replacing the instance while an approver TPM runs is refused (it would orphan it).
        tcti = {}
        for name in ("approver-1", "approver-3"):
            out = self.script(name, "start")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.started.append(name)
            tcti[name] = out.stdout.strip()
            self.assertEqual(tcti[name], f"swtpm:path={d}/approvers/{name}/swtpm.sock")
        self.assertEqual(self.script("approver-1", "status").returncode, 0)
        self.assertEqual(self.script("approver-2", "status").returncode, 1)
        out = self.cli("dev-init", "--dir", d, "--force", "--tpm", "swtpm")
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("still runs", out.stderr)
        self.assertTrue(os.path.exists(os.path.join(d, "approvers/approver-2/tpm2-00.permall")))

        rid = self.create_request()
        for i, name in enumerate(("approver-1", "approver-3")):
            out = self.approve(name, tcti[name], rid, "--yes")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn(approvers[name]["ak_fingerprint"], out.stdout)
        self.assertEqual(self.view(rid)["state"], "open")
        opened = [e for e in self.audit_bundle(self.work) if e.get("request_id") == rid]
        self.assertIn("breakglass_opened", [e["type"] for e in opened])
        # approver-2's TPM is not running: its approval cannot be made.
        out = self.approve("approver-2", f"swtpm:path={d}/approvers/approver-2/swtpm.sock", self.create_request(),
                           "--yes")
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)

        for name in ("approver-1", "approver-3"):
            with open(os.path.join(d, "approvers", name, "swtpm.pid")) as f:
                pid = int(f.read())
            self.assertEqual(self.script(name, "stop").returncode, 0)
            self.assertEqual(self.script(name, "status").returncode, 1)
            with self.assertRaises(ProcessLookupError):
                os.kill(pid, 0)  # the swtpm is gone, not only its pid file


if __name__ == "__main__":
    unittest.main()
