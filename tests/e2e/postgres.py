"""A real, throwaway PostgreSQL 15 for the e2e tests (docs/DEVELOPMENT.md, "PostgreSQL"): initdb in a
temp dir, started on a free loopback port in 15000-31999 with a unix socket dir,
scram-sha-256 over TCP, stopped (immediate) and removed in stop()."""
import os
import random
import shutil
import socket
import subprocess
import tempfile

PGBIN = "/usr/lib/postgresql/15/bin"


def free_port():
    for _ in range(100):
        p = random.randint(15000, 31999)
        with socket.socket() as s:  # no SO_REUSEADDR: any socket on the port makes bind fail
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port")


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sealgate-pg-")
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self.port = None

    def _run(self, args, **kw):
        cmd = (["runuser", "-u", "postgres", "--"] if self.as_root else []) + args
        return subprocess.run(cmd, cwd="/tmp", **kw)

    def start(self):
        self._run([f"{PGBIN}/initdb", "-D", f"{self.dir}/data", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                   "--auth-local=trust", "--auth-host=scram-sha-256"], check=True, capture_output=True)
        for _ in range(3):
            self.port = free_port()
            r = self._run([f"{PGBIN}/pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "-t", "30",
                           "start", "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"],
                          capture_output=True)
            if r.returncode == 0:
                return self
        raise RuntimeError("PostgreSQL did not start: " + open(f"{self.dir}/log").read())

    def stop(self):
        if self.port:
            self._run([f"{PGBIN}/pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "-w", "stop"],
                      capture_output=True)
            self.port = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql):
        r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                           check=True)
        return r.stdout.strip()

    def session(self, user, password, sql="SELECT pg_sleep(120)"):
        """A live login session as `user` over TCP (scram), kept open by a long query."""
        env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
        return subprocess.Popen(["psql", "-X", "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", "postgres",
                                 "-v", "ON_ERROR_STOP=1", "-c", sql], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
