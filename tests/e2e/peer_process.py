"""Shared by sshd.py and slapd.py: a real server in the foreground, started on
fresh ports until it is ready (docs/DEVELOPMENT.md, "Ports and readiness": polled, no fixed sleeps, 2-3
attempts) and stopped by its PID."""
import secrets
import shutil
import string
import subprocess
import time

_ALPHABET = string.ascii_letters + string.digits


def random_token(n):
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def terminate(proc):
    """SIGTERM, SIGKILL after 5 s; waits for the process."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_until_ready(make_argv, log_path, ready, attempts=3, timeout=30):
    """Starts make_argv() (which picks fresh ports on each call) with its output in
    log_path, until ready() is true. A process that exits (e.g. its port was taken)
    is retried; a process that is not ready in `timeout` seconds is stopped."""
    with open(log_path, "ab") as log:  # the child keeps its own copy
        for _ in range(attempts):
            argv = make_argv()
            proc = subprocess.Popen(argv, stdout=log, stderr=log)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if ready():
                    return proc
                time.sleep(0.02)
            terminate(proc)
    raise RuntimeError(f"{argv[0]} did not start: " + open(log_path).read())


class PeerServer:
    """Base of the harnesses: start() runs the subclass's _start() and cleans up
    when it fails; stop() stops the process and removes self.dir; usable as a
    context manager."""

    def __init__(self):
        self.dir = None
        self._proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        raise NotImplementedError

    def stop(self):
        terminate(self._proc)
        self._proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
