"""End-to-end tests of PostgreSQL dynamic credentials and their leases through the
daemon on a real throwaway PostgreSQL 15: creds carry lease ids, log in, renew
(capped by max_ttl), revoke terminates a live session, revoke-prefix, the
expiry reaper, leases surviving a restart without a double revoke, and fail-closed
behaviour when the database is down."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance, encodings  # noqa: E402
from postgres import Postgres  # noqa: E402


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class LeaseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres().start()
        roles = {
            "readonly": {
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                    "GRANT pg_read_all_data TO \"{{name}}\";"],
                "default_ttl": "1h", "max_ttl": "2h"},
            "short": {"default_ttl": 1, "max_ttl": 2},
        }
        db = {"tenant": "acme", "mount": "db", "roles": roles,
              "connection": {"host": cls.pg.dir, "port": cls.pg.port, "user": "postgres", "dbname": "postgres"}}
        cls.sg = Instance(extra={"databases": [db], "leases": {"reap_interval_ms": 200}})
        # admins may take credentials of the acme db mount (a reveal)
        with open(os.path.join(cls.sg.dir, "policy.json")) as f:
            text = f.read()
        text = text.replace('"resources": ["secret://acme/kv/**", "secret://globex/kv/**"]',
                            '"resources": ["secret://acme/kv/**", "secret://globex/kv/**", "secret://acme/db/*"]')
        with open(os.path.join(cls.sg.dir, "policy.json"), "w") as f:
            f.write(text)
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()
        cls.pg.stop()

    def admin(self, method, path, body=None, client="admin"):
        return self.sg.request(method, path, client=client, body=body, listener="admin")

    def creds(self, role="readonly"):
        r = self.admin("GET", f"/v1/db/creds/{role}")
        self.assertEqual(r[0], 200, r[3])
        return r[1]

    def role_exists(self, user):
        return self.pg.psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{user}'") == "1"

    def test_creds_login_renew_and_revoke_terminates_the_live_session(self):
        c = self.creds()
        self.assertTrue(c["lease_id"].startswith("acme/db/creds/readonly/"))
        self.assertEqual(c["lease_duration"], 3600)
        self.assertTrue(c["renewable"])
        user, password = c["data"]["username"], c["data"]["password"]
        session = self.pg.session(user, password)
        try:
            wait_for(lambda: self.pg.psql(
                f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{user}' AND state = 'active'") == "1",
                what="the credential's session")
            # lookup and renew (Vault's paths), capped by max_ttl
            r = self.admin("PUT", "/v1/sys/leases/lookup", {"lease_id": c["lease_id"]})
            self.assertEqual(r[0], 200, r[3])
            self.assertEqual(r[1]["data"]["id"], c["lease_id"])
            self.assertTrue(r[1]["data"]["renewable"])
            r = self.admin("PUT", "/v1/sys/leases/renew", {"lease_id": c["lease_id"], "increment": "30m"})
            self.assertEqual(r[0], 200, r[3])
            self.assertLessEqual(r[1]["lease_duration"], 1800)
            self.assertGreater(r[1]["lease_duration"], 1700)
            r = self.admin("PUT", "/v1/sys/leases/renew", {"lease_id": c["lease_id"], "increment": 86400})
            self.assertEqual(r[0], 200, r[3])
            self.assertLessEqual(r[1]["lease_duration"], 7200)  # max_ttl 2h from issue
            self.assertGreater(r[1]["lease_duration"], 7000)
            # the auditor may look, never renew or revoke
            self.assertEqual(self.admin("PUT", "/v1/sys/leases/lookup", {"lease_id": c["lease_id"]},
                                        client="auditor")[0], 200)
            self.assertEqual(self.admin("PUT", "/v1/sys/leases/revoke", {"lease_id": c["lease_id"]},
                                        client="auditor")[0], 403)
            self.assertIsNone(session.poll())
            r = self.admin("PUT", "/v1/sys/leases/revoke", {"lease_id": c["lease_id"]})
            self.assertEqual(r[0], 204, r[3])
            session.wait(timeout=30)  # terminated by revoke, long before pg_sleep(120) ends
            self.assertNotEqual(session.returncode, 0)
            self.assertIn("terminat", session.stderr.read())
            session.stdout.close()
            session.stderr.close()
        finally:
            if session.poll() is None:
                session.kill()
                session.wait()
        self.assertFalse(self.role_exists(user))
        r = self.admin("PUT", "/v1/sys/leases/lookup", {"lease_id": c["lease_id"]})
        self.assertEqual(r[0], 404, r[3])
        # Vault answers a revoke of an unknown lease with 204; the admin API says 404
        self.assertEqual(self.admin("PUT", "/v1/sys/leases/revoke", {"lease_id": c["lease_id"]})[0], 204)
        r = self.admin("PUT", "/admin/v1/leases/revoke", {"lease_id": c["lease_id"]})
        self.assertEqual(r[0], 404, r[3])
        self.assertEqual(r[1]["error"]["code"], "LEASE_NOT_FOUND")

    def test_leases_survive_a_restart_and_are_revoked_once(self):
        c = self.creds()
        user = c["data"]["username"]
        self.sg.stop()
        self.sg.start()
        r = self.admin("GET", "/admin/v1/leases", client="auditor")
        self.assertEqual(r[0], 200, r[3])
        self.assertIn(c["lease_id"], [l["id"] for l in r[1]["leases"]])
        self.assertTrue(self.role_exists(user))
        r = self.admin("PUT", "/admin/v1/leases/revoke", {"lease_id": c["lease_id"]})
        self.assertEqual(r[0], 200, r[3])
        self.assertFalse(self.role_exists(user))
        self.sg.stop()
        self.sg.start()
        r = self.admin("GET", "/admin/v1/leases")
        self.assertNotIn(c["lease_id"], [l["id"] for l in r[1]["leases"]])
        with open(os.path.join(self.sg.dir, "audit/entries.jsonl")) as f:
            events = [json.loads(line) for line in f if line.strip()]
        self.assertEqual(len([e for e in events if e.get("type") == "lease_revoke" and e.get("lease_id") == c["lease_id"]]), 1)

    def test_revoke_prefix(self):
        a, b = self.creds(), self.creds()
        r = self.admin("PUT", "/v1/sys/leases/revoke-prefix/acme/db/creds/readonly")
        self.assertEqual(r[0], 204, r[3])
        for c in (a, b):
            self.assertFalse(self.role_exists(c["data"]["username"]))
        r = self.admin("PUT", "/admin/v1/leases/revoke-prefix/acme/db/creds/")
        self.assertEqual(r[0], 200, r[3])
        self.assertEqual(self.admin("PUT", "/admin/v1/leases/revoke-prefix/..%2f")[0], 400)

    def test_the_reaper_revokes_expired_leases(self):
        c = self.creds("short")
        self.assertEqual(c["lease_duration"], 1)
        wait_for(lambda: not self.role_exists(c["data"]["username"]), what="the reaper")
        wait_for(lambda: c["lease_id"] not in [l["id"] for l in self.admin("GET", "/admin/v1/leases")[1]["leases"]],
                 what="the lease to be forgotten")

    def test_wrapped_creds_are_refused_and_create_nothing(self):
        """X-Vault-Wrap-TTL asks for a wrapping token: sealgate has none, so it refuses
        before a credential exists (no role in the database, no lease, no audit)."""
        leases = len(self.admin("GET", "/admin/v1/leases")[1]["leases"])
        roles = self.pg.psql("SELECT count(*) FROM pg_roles")
        r = self.sg.request("GET", "/v1/db/creds/readonly", client="admin", listener="admin",
                            headers={"X-Vault-Wrap-TTL": "60s"})
        self.assertEqual(r[0], 400, r[3])
        self.assertEqual(r[2].get("X-Sealgate-Error"), "WRAPPING_UNSUPPORTED")
        self.assertNotIn(b"password", r[3])
        self.assertEqual(len(self.admin("GET", "/admin/v1/leases")[1]["leases"]), leases)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM pg_roles"), roles)
        r = self.sg.request("PUT", "/v1/sys/leases/lookup", client="admin", listener="admin",
                            body={"lease_id": "acme/db/creds/readonly/x"}, headers={"X-Vault-Wrap-TTL": "60s"})
        self.assertEqual(r[2].get("X-Sealgate-Error"), "WRAPPING_UNSUPPORTED", r[3])

    def test_access_and_bad_input(self):
        self.assertEqual(self.admin("GET", "/v1/db/creds/readonly", client="auditor")[0], 403)
        r = self.sg.request("GET", "/v1/db/creds/readonly", client="acme-payments", listener="admin")
        self.assertEqual(r[0], 403)
        self.assertEqual(r[2].get("X-Sealgate-Error"), "WRONG_LISTENER")
        self.assertEqual(self.admin("GET", "/v1/db/creds/nosuch")[0], 404)
        r = self.sg.request("GET", "/v1/db/creds/readonly", client="admin", listener="admin",
                            headers={"X-Vault-Namespace": "globex"})
        self.assertEqual(r[0], 404)
        for body in ({}, {"lease_id": 5}, {"lease_id": "../../x"}, {"lease_id": "a'; DROP ROLE postgres; --"},
                     {"lease_id": "acme/db/creds/readonly/x", "bogus": 1}):
            r = self.admin("PUT", "/v1/sys/leases/renew", body)
            self.assertEqual(r[0], 400, (body, r[3]))
            self.assertIn("errors", r[1])
        r = self.admin("PUT", "/v1/sys/leases/renew", {"lease_id": "acme/db/creds/readonly/none", "increment": "x"})
        self.assertEqual(r[0], 400, r[3])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'postgres'"), "1")

    def test_an_unwritable_audit_log_hands_out_and_revokes_nothing(self):
        """A file-size limit inherited by a second sealgated makes its audit writes
        fail (a real full disk): creds, renew and revoke then answer 503
        AUDIT_UNAVAILABLE, no credential exists without its audit event, and no
        lease is revoked unaudited."""
        import resource
        db = {"tenant": "acme", "mount": "db", "roles": {"readonly": {"default_ttl": "1h", "max_ttl": "2h"}},
              "connection": {"host": self.pg.dir, "port": self.pg.port, "user": "postgres", "dbname": "postgres"}}
        sg = Instance(extra={"databases": [db]})
        try:
            with open(os.path.join(self.sg.dir, "policy.json")) as f:
                policy = f.read()
            with open(os.path.join(sg.dir, "policy.json"), "w") as f:
                f.write(policy)
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, hard))
            try:
                sg.start()
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            before = self.dynamic_roles()
            issued, refused = [], None
            for _ in range(300):
                r = sg.request("GET", "/v1/db/creds/readonly", client="admin", listener="admin")
                if r[0] != 200:
                    refused = r
                    break
                issued.append(r[1])
            self.assertIsNotNone(refused, "the audit log never filled up")
            self.assertEqual(refused[0], 503, refused[3])
            self.assertEqual(refused[2].get("X-Sealgate-Error"), "AUDIT_UNAVAILABLE", refused[2])
            self.assertGreater(len(issued), 3)
            # every role created since was handed out (and audited): none from the refused attempt
            created = self.dynamic_roles() - before
            self.assertEqual(len(created), len(issued))
            self.assertEqual(created, {c["data"]["username"] for c in issued})
            # renew and revoke need their audit event first: refused, and the lease stays
            lease = issued[0]["lease_id"]
            for path in ("/v1/sys/leases/renew", "/v1/sys/leases/revoke"):
                r = sg.request("PUT", path, client="admin", listener="admin", body={"lease_id": lease})
                self.assertEqual(r[0], 503, r[3])
                self.assertEqual(r[2].get("X-Sealgate-Error"), "AUDIT_UNAVAILABLE")
            self.assertTrue(self.role_exists(issued[0]["data"]["username"]))
        finally:
            sg.cleanup()

    def dynamic_roles(self):
        return set(filter(None, self.pg.psql("SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'v_')").splitlines()))

    def test_zz_database_down_fails_closed_and_nothing_leaks(self):
        """Runs last: stops PostgreSQL."""
        c = self.creds()
        password = c["data"]["password"]
        self.pg._run(["/usr/lib/postgresql/15/bin/pg_ctl", "-D", f"{self.pg.dir}/data", "-m", "immediate", "-w",
                      "stop"], capture_output=True)
        r = self.admin("GET", "/v1/db/creds/readonly")
        self.assertEqual(r[0], 503, r[3])
        self.assertEqual(r[2].get("X-Sealgate-Error"), "PROVIDER_UNAVAILABLE")
        self.assertNotIn("data", r[1])
        r = self.admin("PUT", "/admin/v1/leases/revoke", {"lease_id": c["lease_id"]})
        self.assertEqual(r[0], 503, r[3])
        # the lease is kept for a later revoke: nothing forgotten
        self.assertIn(c["lease_id"], [l["id"] for l in self.admin("GET", "/admin/v1/leases")[1]["leases"]])
        for place in (self.sg.log_path, os.path.join(self.sg.dir, "audit/entries.jsonl")):
            with open(place, "rb") as f:
                content = f.read()
            for form in encodings(password):
                self.assertNotIn(form.encode(), content, place)


if __name__ == "__main__":
    unittest.main()
