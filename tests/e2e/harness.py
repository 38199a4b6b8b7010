"""Test harness: a dev instance of sealgate (real SoftHSM2 token, dev PKI) and a
running sealgated on loopback ports it picks itself (port 0), stopped by PID."""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

BUILD = os.environ.get("SEALGATE_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build/default"))
SEALGATE = os.path.join(BUILD, "appliance/sealgate")
SEALGATED = os.path.join(BUILD, "appliance/sealgated")


class Instance:
    """`sealgate dev-init` in a temp dir plus a config with test-sized limits."""

    def __init__(self, limits=None, grants=None, tpm=False, state=None, public_url=None, audit=None, extra=None):
        """tpm=True: dev-init --tpm swtpm, and a software TPM that start() launches
        (the TPM seals the data key and its NV counter anchors the state).
        extra: more top-level config sections (e.g. "databases")."""
        self.dir = tempfile.mkdtemp(prefix="sealgate-e2e-")
        self.answered_correlation_ids = set()
        self.tpm_dir = os.path.join(self.dir, "tpm")
        self.swtpm = None
        self.uses_tpm = tpm
        subprocess.run([SEALGATE, "dev-init", "--dir", self.dir, *(["--tpm", "swtpm"] if tpm else [])], check=True,
                       capture_output=True)
        self.ca = os.path.join(self.dir, "pki/ca.pem")
        self.config = os.path.join(self.dir, "e2e.conf")
        conf = {
            "name": "sealgate-e2e",
            "pep": {"listen": "127.0.0.1:0", "ca_file": "pki/ca.pem", "cert_file": "pki/server.pem"},
            "admin": {"listen": "127.0.0.1:0", "ca_file": "pki/ca.pem", "cert_file": "pki/server.pem"},
            "hsm": {"token_label": "sealgate-dev", "pin_file": "hsm.pin", "softhsm2_conf": "softhsm2.conf"},
            "limits": limits or {},
            "grants": grants or {},
            "audit": audit or {},
            "policy_file": "policy.json",
            "data_dir": ".",
            "log": {"level": "info"},
            "state": {"rollback_protection": "tpm" if tpm else "none", **(state or {})},
            "kv": {"default_namespace": "acme", "mounts": {"acme": ["kv"], "globex": ["kv"]}},
            "connectors": {"ca_file": "pki/ca.pem"},
            **(extra or {}),
        }
        if public_url:
            conf["pep"]["public_url"] = public_url
        elif "mode" not in conf:
            # No public URL for a listener on a port picked at start: a development
            # instance, whose DPoP htu is https://127.0.0.1:<pep port> (CONFIG.md).
            conf["mode"] = "development"
        if tpm:
            conf["tpm"] = {"tcti": f"swtpm:path={self.tpm_dir}/swtpm.sock", "pcrs": [7]}
        with open(self.config, "w") as f:
            json.dump(conf, f)
        self.proc = None
        self.log_path = os.path.join(self.dir, "sealgated.log")

    def client(self, name):
        return (os.path.join(self.dir, f"pki/clients/{name}.pem"), os.path.join(self.dir, f"pki/clients/{name}.key"))

    def start_tpm(self):
        """The software TPM, on a unix socket in DIR/tpm (docs/DEVELOPMENT.md, "swtpm")."""
        sock = os.path.join(self.tpm_dir, "swtpm.sock")
        for p in (sock, sock + ".ctrl"):
            if os.path.exists(p):
                os.unlink(p)
        self.swtpm = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--server", f"type=unixio,path={sock}", "--ctrl",
             f"type=unixio,path={sock}.ctrl", "--tpmstate", f"dir={self.tpm_dir}", "--flags", "startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            if os.path.exists(sock):
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(sock)
                    return
                except OSError:
                    pass
            if self.swtpm.poll() is not None:
                raise RuntimeError("swtpm exited at start")
            time.sleep(0.005)
        raise RuntimeError("swtpm did not become ready")

    def stop_tpm(self):
        if self.swtpm and self.swtpm.poll() is None:
            self.swtpm.terminate()
            try:
                self.swtpm.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.swtpm.kill()
                self.swtpm.wait()
        self.swtpm = None

    def kill(self):
        """SIGKILL sealgated: a crash at an arbitrary instant."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.log.close()

    def start(self, extra_args=(), env=None):
        if self.uses_tpm and self.swtpm is None:
            self.start_tpm()
        self.log = open(self.log_path, "ab")
        start_offset = self.log.tell()  # a restart appends: look only at this run's lines
        self.proc = subprocess.Popen([SEALGATED, "--config", self.config, *extra_args], stdout=self.log,
                                     stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.read_log()[start_offset:]
            m = re.search(r'"admin_port":(\d+).*"pep_port":(\d+)', text)
            if m:
                self.admin_port, self.pep_port = int(m.group(1)), int(m.group(2))
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"sealgated exited with {self.proc.returncode}: {text}")
            time.sleep(0.02)
        raise RuntimeError("sealgated did not start in time: " + self.read_log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop()
        self.stop_tpm()
        shutil.rmtree(self.dir, ignore_errors=True)

    def read_log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def log_lines(self):
        out = []
        for line in self.read_log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"unparsed": line})
        return out

    def tls_context(self, client=None, cert=None, key=None):
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca)
        if client:
            cert, key = self.client(client)
        if cert:
            ctx.load_cert_chain(cert, key)
        return ctx

    def admin_list(self, path, field, client="admin"):
        """Every item of a paged admin list (API.md, "List pages"), page by page."""
        items, after = [], ""
        while True:
            query = f"limit=1000&after={urllib.parse.quote(after, safe='')}" if after else "limit=1000"
            status, body, _, raw = self.request("GET", f"{path}?{query}", client=client, listener="admin")
            if status != 200:
                raise AssertionError(f"{path}: {status} {raw[:200]}")
            items += body[field]
            if "next_after" not in body:
                return items
            after = body["next_after"]

    def request(self, method, path, client="acme-payments", body=None, headers=None, listener="pep", ctx=None,
                raw_body=None):
        port = self.pep_port if listener == "pep" else self.admin_port
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx or self.tls_context(client), timeout=15)
        hdrs = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        try:
            chunked = hdrs.get("Transfer-Encoding") == "chunked"
            if chunked:
                del hdrs["Transfer-Encoding"]
            conn.request(method, path, body=data, headers=hdrs, encode_chunked=chunked)
            resp = conn.getresponse()
            payload = resp.read()
            # Log lines of answered requests can land after the answer; tests that
            # assert "no handler ran" tell those apart by this id.
            self.answered_correlation_ids.add(resp.getheader("X-Correlation-Id"))
            try:
                parsed = json.loads(payload) if payload else None
            except ValueError:
                parsed = None
            return resp.status, parsed, dict(resp.getheaders()), payload
        finally:
            conn.close()

    def tls_socket(self, client="acme-payments", port=None):
        raw = socket.create_connection(("127.0.0.1", port or self.pep_port), timeout=10)
        return self.tls_context(client).wrap_socket(raw, server_hostname="localhost")


def issue_peer_cert(instance_dir, name="peer"):
    """A server certificate for 127.0.0.1 and localhost from the instance's dev CA
    (pki/ca.key), for loopback peers the connectors talk to. Returns (cert, key)."""
    import datetime
    import ipaddress
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
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))
    cert_path = os.path.join(instance_dir, f"pki/{name}.pem")
    key_path = os.path.join(instance_dir, f"pki/{name}.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


class TestPeer:
    """sealgate-test-peer (tests/support/https_peer.h): a real HTTPS server on a
    free loopback port with /echo, /ok, /bytes?n=, /status?code=, /hang."""

    def __init__(self, cert, key, threads=16):
        binary = os.path.join(BUILD, "tests/support/sealgate-test-peer")
        self.proc = subprocess.Popen([binary, "--cert", cert, "--key", key, "--threads", str(threads)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"port (\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("sealgate-test-peer did not start: " + line + self.proc.stdout.read())
        self.port = int(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def encodings(value: str):
    """A canary in every form a leak could take: raw, base64 (std and url), hex,
    url-encoded and JSON-escaped."""
    b = value.encode()
    return {
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        value,
        base64.b64encode(b).decode().rstrip("="),
        base64.urlsafe_b64encode(b).decode().rstrip("="),
        b.hex(),
        b.hex().upper(),
        urllib.parse.quote(value, safe=""),
    }
