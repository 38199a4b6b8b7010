"""A real, throwaway OpenSSH sshd for the e2e tests, like tests/support/sshd.h: its
own sshd_config and ed25519 host key in a temp dir, on a free loopback port in
15000-31999, stopped by PID in stop().

Password login needs a real system user with a password, so start() creates
`sealgate-ssh-test` (home /, /bin/sh) when missing and sets a fresh random
password with chpasswd. That needs root: start() raises otherwise (never skip).
The password is machine-wide, so every harness (C++ and Python) holds an
exclusive flock on /tmp/sealgate-ssh-test.lock from start() to stop().

    with Sshd() as sshd:
        sshd.port, sshd.host_key_sha256, Sshd.USER, sshd.password,
        sshd.client_key (OpenSSH ed25519), sshd.client_key_pem (PEM ECDSA),
        sshd.encrypted_client_key + sshd.passphrase, sshd.log()
"""
import fcntl
import os
import socket
import subprocess
import tempfile

from peer_process import PeerServer, random_token, start_until_ready
from postgres import free_port

SSHD = "/usr/sbin/sshd"
LOCK_FILE = "/tmp/sealgate-ssh-test.lock"
def _can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Sshd(PeerServer):
    USER = "sealgate-ssh-test"

    def __init__(self):
        super().__init__()
        self.port = None
        self.host_key_sha256 = None
        self.password = None
        self.passphrase = None
        self.client_key = self.client_key_pem = self.encrypted_client_key = None
        self._lock = None

    def _ensure_user(self):
        if subprocess.run(["id", "-u", self.USER], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-M", "-d", "/", "-s", "/bin/sh", self.USER], check=True, capture_output=True)
        elif subprocess.run(["getent", "passwd", self.USER], capture_output=True,
                            text=True).stdout.split(":")[5] != "/":
            # Home "/": sshd then prints no "Could not chdir" into the command's stderr.
            subprocess.run(["usermod", "-d", "/", self.USER], check=True, capture_output=True)
        subprocess.run(["chpasswd"], input=f"{self.USER}:{self.password}\n", text=True, check=True,
                       capture_output=True)

    def _keygen(self, name, key_type, passphrase="", fmt=None):
        path = os.path.join(self.dir, name)
        subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", "sealgate-test", "-f", path]
                       + (["-m", fmt] if fmt else []), check=True, capture_output=True, stdin=subprocess.DEVNULL)
        return path

    def _start(self):
        if os.geteuid() != 0:
            raise RuntimeError("the sshd harness must run as root: it creates the system user "
                               f"{self.USER} and sets its password")
        self._lock = open(LOCK_FILE, "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.dir = tempfile.mkdtemp(prefix="sealgate-sshd-")
        os.chmod(self.dir, 0o755)  # sshd reads authorized_keys as the user
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
        self.password = random_token(24)
        self.passphrase = random_token(16)
        self._ensure_user()
        host_key = self._keygen("host_key", "ed25519")
        keys = [self._keygen("client_ed25519", "ed25519"), self._keygen("client_ecdsa_pem", "ecdsa", fmt="PEM"),
                self._keygen("client_encrypted", "ed25519", self.passphrase)]
        self.client_key, self.client_key_pem, self.encrypted_client_key = (open(k).read() for k in keys)
        with open(os.path.join(self.dir, "authorized_keys"), "w") as f:
            f.write("".join(open(k + ".pub").read() for k in keys))
        out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", host_key + ".pub"], check=True,
                             capture_output=True, text=True).stdout
        self.host_key_sha256 = out.split()[1]  # "256 SHA256:... comment (ED25519)"
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write(f"ListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {self.dir}/sshd.pid\n"
                    f"AuthorizedKeysFile {self.dir}/authorized_keys\nAllowUsers {self.USER}\nUsePAM no\n"
                    "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                    "PermitRootLogin no\nStrictModes no\nLogLevel VERBOSE\n")
        subprocess.run([SSHD, "-t", "-f", config], check=True, capture_output=True)

        def argv():
            self.port = free_port()
            return [SSHD, "-D", "-e", "-f", config, "-p", str(self.port)]

        self._proc = start_until_ready(argv, os.path.join(self.dir, "sshd.log"), lambda: _can_connect(self.port))

    def log(self):
        try:
            return open(os.path.join(self.dir, "sshd.log")).read()
        except (OSError, TypeError):
            return ""

    def stop(self):
        super().stop()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
