"""sealgated under a service manager (image/sealgated.service): the sd_notify
messages systemd reads on a Type=notify unit (READY=1 once it serves, WATCHDOG=1
at half of WatchdogSec, RELOADING=1 around a reload, STOPPING=1), received here on
a NOTIFY_SOCKET of the test's own, as systemd would; and SIGHUP, which reloads the
embedded policy from policy_file: audited and recorded when it parses, refused
with the old policy kept when it does not."""
import json
import os
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance  # noqa: E402

WATCHDOG_USEC = 400_000  # pings every 0.2 s


class NotifySocket:
    """An AF_UNIX datagram socket as systemd's notify socket: every message received."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sealgate-notify-")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []

    def wait_for(self, line, timeout=20):
        """Reads messages until one has `line` (a KEY=VALUE line); returns that message."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.messages.append(msg)
            if line in msg.split("\n"):
                return msg
        raise AssertionError(f"no {line} within {timeout}s; got {self.messages}")

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


class ServiceTest(unittest.TestCase):
    def setUp(self):
        self.notify = NotifySocket()
        self.sg = Instance()
        self.addCleanup(self.notify.close)
        self.addCleanup(self.sg.cleanup)

    def start(self, **env):
        self.sg.start(env={"NOTIFY_SOCKET": self.notify.path, **env})

    def policy(self):
        status, body, _, raw = self.sg.request("GET", "/admin/v1/policy", client="auditor", listener="admin")
        self.assertEqual(status, 200, raw)
        return body

    def audit_events(self, kind):
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            return [e for e in map(json.loads, f) if e["type"] == kind]

    def test_ready_once_serving_watchdog_pings_and_stopping(self):
        self.start(WATCHDOG_USEC=str(WATCHDOG_USEC))
        ready = self.notify.wait_for("READY=1")
        self.assertIn("STATUS=serving", ready.split("\n"))
        # READY comes once the listeners answer: a request right now is served.
        self.assertEqual(self.sg.request("GET", "/healthz")[0], 200)
        pings = 0
        start = time.time()
        while pings < 5:
            self.notify.wait_for("WATCHDOG=1", timeout=2)
            pings += 1
        self.assertLess(time.time() - start, 5 * WATCHDOG_USEC / 1e6 + 2)  # about every 0.2 s, not every 30 s
        self.sg.proc.send_signal(signal.SIGTERM)
        self.notify.wait_for("STOPPING=1")
        self.assertEqual(self.sg.proc.wait(timeout=20), 0)

    def test_without_a_watchdog_there_is_no_ping(self):
        self.start()
        self.notify.wait_for("READY=1")
        time.sleep(1)  # a window in which a ping would have come: none may
        try:
            while True:
                self.notify.messages.append(self.notify.sock.recv(4096).decode())
        except socket.timeout:
            pass
        self.assertFalse([m for m in self.notify.messages if "WATCHDOG=1" in m.split("\n")])

    def test_sighup_reloads_the_policy_and_a_broken_file_changes_nothing(self):
        self.start()
        self.notify.wait_for("READY=1")
        path = os.path.join(self.sg.dir, "policy.json")
        doc = self.policy()  # the file itself may carry comments
        doc["rules"].append({"id": "reloaded-rule", "effect": "deny", "subjects": ["spiffe://acme/payments"],
                             "resources": ["secret://acme/kv/app/*"], "actions": ["use"],
                             "reason": "RELOADED_BY_SIGHUP"})
        with open(path, "w") as f:
            json.dump(doc, f)
        self.sg.proc.send_signal(signal.SIGHUP)
        self.notify.wait_for("RELOADING=1")
        self.notify.wait_for("READY=1")
        self.assertIn("reloaded-rule", [r["id"] for r in self.policy()["rules"]])
        # In force at once (the decision cache was flushed): the new deny rule wins.
        status, body, _, raw = self.sg.request("POST", "/v1/authorize", body={"requests": [
            {"uri": "secret://acme/kv/app/db#password", "action": "use"}]})
        self.assertEqual(status, 200, raw)
        self.assertEqual((body["results"][0]["decision"], body["results"][0]["reason"]),
                         ("deny", "RELOADED_BY_SIGHUP"))
        reloads = self.audit_events("policy_reload")
        self.assertEqual([(e["signal"], e["outcome"], e["actor"]["spiffe_id"]) for e in reloads],
                         [("SIGHUP", "reloaded", "sealgated")])
        status, body, _, _ = self.sg.request("GET", "/admin/v1/policy/history?limit=1", client="auditor",
                                             listener="admin")
        self.assertEqual((body["versions"][0]["by"], body["versions"][0]["sha256"]), ("SIGHUP", reloads[0]["sha256"]))

        # A file that does not parse: logged, nothing changes, the daemon keeps serving.
        with open(path, "w") as f:
            f.write('{"version": 1, "rules": [')
        self.sg.proc.send_signal(signal.SIGHUP)
        self.notify.wait_for("RELOADING=1")
        self.notify.wait_for("READY=1")
        failures = [e for e in self.sg.log_lines() if e.get("event") == "policy_reload_failed"]
        self.assertEqual([e["code"] for e in failures], ["POLICY_INVALID"])
        self.assertIn("reloaded-rule", [r["id"] for r in self.policy()["rules"]])
        self.assertEqual(len(self.audit_events("policy_reload")), 1)
        self.assertIsNone(self.sg.proc.poll())


if __name__ == "__main__":
    unittest.main()
