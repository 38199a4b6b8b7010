"""Monitoring (docs/MONITORING.md): what a real sealgated serves on GET /metrics
passes `promtool check metrics` (Debian's prometheus package), moves with the
traffic, and names no identity, path or value; the alert rules pass `promtool
check rules` and their unit tests (`promtool test rules`); and every series the
rules and the Grafana dashboard query is one the daemon serves."""
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
MONITORING = os.path.join(ROOT, "image/monitoring")
# Families served only when their part is configured (this instance has neither),
# or once what they count has happened (an HSM operation that failed).
CONDITIONAL = {"sealgate_breakglass_open_windows", "sealgate_audit_kafka_delivered_total",
               "sealgate_audit_kafka_healthy", "sealgate_execute_total", "sealgate_hsm_operation_errors_total"}


def families(text):
    """{family name: [sample lines]} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            out[m.group(1)] = []
        elif line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            out.setdefault(base if base in out else name, []).append(line)
    return out


def value(text, series):
    m = re.search(r"^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


class MonitoringTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance()
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def scrape(self):
        status, _, headers, raw = self.sg.request("GET", "/metrics", client="auditor", listener="admin")
        self.assertEqual(status, 200, raw)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        return raw.decode()

    def test_metrics_pass_promtool_and_move_with_the_traffic(self):
        before = self.scrape()
        grants = []
        for uri in ("secret://acme/kv/app/db#password", "secret://acme/kv/root/x"):
            status, body, _, _ = self.sg.request("POST", "/v1/authorize", body={"requests": [
                {"uri": uri, "action": "use"}]})
            self.assertEqual(status, 200)
            grants += [body["grant"]] if body.get("grant") else []
        self.assertEqual(len(grants), 1)  # the allowed one, signed in the HSM
        # Spending a use is a sealed-state change: one group commit at least.
        self.assertEqual(self.sg.request("POST", "/v1/grants/consume", body={"grant": grants[0]})[0], 200)
        self.assertEqual(self.sg.request("POST", "/v1/grants/consume", body={"grant": "x.y.z"})[0], 401)
        # The denied URI again: its deny is in the negative cache (a hit, no PDP call).
        self.assertEqual(self.sg.request("POST", "/v1/authorize", body={"requests": [
            {"uri": "secret://acme/kv/root/x", "action": "use"}]})[0], 200)
        # A TLS client without a certificate fails the handshake.
        bare = ssl.create_default_context(cafile=self.sg.ca)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            with socket.create_connection(("127.0.0.1", self.sg.pep_port), timeout=5) as raw:
                with bare.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    if not tls.recv(1):
                        raise ConnectionError("closed")
        self.assertEqual(self.sg.request("POST", "/v1/authorize", raw_body=b"{",
                                         headers={"Content-Type": "application/json"})[0], 400)
        text = self.scrape()
        checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        for series, grew_by in (('sealgate_authorize_decisions_total{decision="allow"}', 1),
                                ('sealgate_authorize_decisions_total{decision="deny"}', 2),
                                ('sealgate_http_errors_total{listener="pep",code="BAD_JSON"}', 1),
                                ("sealgate_pdp_calls_total", 2)):
            self.assertEqual((value(text, series) or 0) - (value(before, series) or 0), grew_by, series)
        for series, grew_by in (('sealgate_grant_presentations_total{operation="consume",outcome="ok"}', 1),
                                ('sealgate_decision_cache_requests_total{result="hit"}', 1),
                                ('sealgate_decision_cache_requests_total{result="miss"}', 2),
                                ('sealgate_pdp_call_duration_seconds_count{outcome="ok"}', 2),
                                ('sealgate_tls_handshake_failures_total{listener="pep",reason="no_client_certificate"}',
                                 1)):
            self.assertEqual((value(text, series) or 0) - (value(before, series) or 0), grew_by, series)
        refused = [line for line in text.splitlines()
                   if line.startswith('sealgate_grant_presentations_total{operation="consume",outcome="')
                   and 'outcome="ok"' not in line]
        self.assertEqual(len(refused), 1, refused)  # the malformed grant, under its error code
        for what in ("log_line", "response", "audit_event", "connector_output"):
            self.assertEqual(value(text, f'sealgate_egress_blocked_total{{what="{what}"}}'), 0, what)
        self.assertGreater(value(text, "sealgate_audit_entries"), value(before, "sealgate_audit_entries"))
        # The hot paths' own latencies: the grant's signature, the state commit, the audit batches.
        for series, at_least in (('sealgate_hsm_operation_duration_seconds_count{operation="sign"}', 1),
                                 ("sealgate_state_commit_duration_seconds_count", 1),
                                 ("sealgate_state_committed_changes_total", 1),
                                 ("sealgate_audit_append_duration_seconds_count", 1),
                                 ("sealgate_audit_appended_entries_total", 3)):
            self.assertGreaterEqual((value(text, series) or 0) - (value(before, series) or 0), at_least, series)
        self.assertGreater(value(text, "sealgate_audit_append_duration_seconds_sum"), 0)
        self.assertIsNone(value(text, 'sealgate_hsm_operation_errors_total{operation="sign"}'))
        for component in ("hsm", "audit", "state"):
            self.assertEqual(value(text, f'sealgate_ready{{component="{component}"}}'), 1, component)
        self.assertGreater(value(text, 'sealgate_connections_total{listener="pep",outcome="accepted"}'), 0)
        self.assertGreaterEqual(value(text, 'sealgate_state_entries{kind="jtis"}'), 0)
        self.assertGreaterEqual(value(text, "sealgate_audit_checkpoint_age_seconds"), 0)
        # Labels are vocabularies: no identity, URI or path appears.
        for leak in ("spiffe://", "secret://", "acme", "/kv/"):
            self.assertNotIn(leak, text)

    def test_alert_rules_pass_promtool_and_their_unit_tests(self):
        rules = os.path.join(MONITORING, "sealgate-alerts.yml")
        for args in (["check", "rules", rules], ["test", "rules", os.path.join(MONITORING, "sealgate-alerts.test.yml")]):
            out = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=MONITORING)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_rules_and_dashboard_query_only_served_families(self):
        self.sg.request("POST", "/v1/authorize", body={"requests": [
            {"uri": "secret://acme/kv/app/db#password", "action": "use"}]})
        served = set(families(self.scrape()))
        with open(os.path.join(MONITORING, "sealgate-alerts.yml")) as f:
            rules = f.read()
        with open(os.path.join(MONITORING, "sealgate-dashboard.json")) as f:
            dashboard = json.load(f)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 10)
        with open(os.path.join(ROOT, "docs/API.md")) as f:
            documented = set(re.findall(r"`(sealgate_[a-z_]+)`", f.read()))
        queried = set()
        for text in [rules, *exprs]:
            queried |= {re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"\bsealgate_[a-z_]+", text)}
        queried -= {"sealgate"}  # the rule group's name
        self.assertTrue(queried)
        self.assertEqual(sorted(queried - served - CONDITIONAL), [], "queried but not served")
        self.assertEqual(sorted(queried - documented), [], "queried but not in API.md's Metrics table")
        self.assertEqual(sorted(served - documented), [], "served but not in API.md's Metrics table")


if __name__ == "__main__":
    unittest.main()
