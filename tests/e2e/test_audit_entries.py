"""End-to-end tests of the audit log's browsing API (GET /admin/v1/audit/entries:
filters, pages, roles, bad parameters) and of the export's announced size
(X-Sealgate-Audit-Entries, Content-Length, Content-Disposition)."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance  # noqa: E402

ALLOWED = {"uri": "secret://acme/kv/app/db#password", "action": "use"}
CANARY_PATH = "CanaryEntriesPath7"
DENIED = {"uri": "secret://acme/kv/other/" + CANARY_PATH, "action": "use"}
GLOBEX = {"uri": "secret://globex/kv/billing", "action": "use"}


class AuditEntriesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance()
        cls.sg.start()
        cls.started = int(time.time()) - 1
        sg = cls.sg
        cls.granted, cls.denied, cls.globex = [], [], []
        for _ in range(4):
            status, body, _, _ = sg.request("POST", "/v1/authorize", body={"requests": [ALLOWED]})
            assert status == 200 and "grant" in body, body
            cls.granted.append(body["decision_id"])
        for _ in range(3):
            status, body, _, _ = sg.request("POST", "/v1/authorize", body={"requests": [DENIED]})
            assert status == 200 and "grant" not in body, body
            cls.denied.append(body["decision_id"])
        status, body, _, _ = sg.request("POST", "/v1/authorize", body={"requests": [ALLOWED]})
        cls.granted.append(body["decision_id"])
        status, _, _, _ = sg.request("POST", "/v1/grants/consume", body={"grant": body["grant"]})
        assert status == 200
        for _ in range(2):
            status, body, _, _ = sg.request("POST", "/v1/authorize", client="globex-billing",
                                            body={"requests": [GLOBEX]})
            assert status == 200, body
            cls.globex.append(body["decision_id"])

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def get(self, query, client="auditor"):
        status, body, headers, raw = self.sg.request("GET", "/admin/v1/audit/entries" + (query and "?" + query),
                                                     client=client, listener="admin")
        return status, body, raw

    def pages(self, query, client="auditor"):
        """Every page of `query`, following next_before: the items and the page count."""
        items, before, n = [], "", 0
        while True:
            n += 1
            status, body, raw = self.get(query + before, client)
            self.assertEqual(status, 200, body)
            self.assertLessEqual(set(body), {"entries", "tree_size", "next_before"})
            self.assertNotIn(CANARY_PATH.encode(), raw)
            self.assertNotIn(b"secret://", raw)
            items += body["entries"]
            if "next_before" not in body:
                return items, n
            self.assertLess(body["next_before"], body["tree_size"])
            before = f"&before={body['next_before']}"

    def test_pages_cover_the_log_newest_first_without_gaps_and_match_the_export(self):
        status, bundle, headers, raw = self.sg.request("GET", "/admin/v1/audit/export", client="auditor",
                                                       listener="admin")
        self.assertEqual(status, 200)
        n = bundle["tree_size"]
        self.assertGreaterEqual(n, 11)  # 10 decisions and a consume
        items, pages = self.pages("limit=3")
        self.assertEqual([i["index"] for i in items], list(range(n - 1, -1, -1)))
        self.assertEqual(pages, (n + 2) // 3)
        for item in items:  # each entry is the event as logged (the bundle's bytes, parsed)
            self.assertEqual(item["entry"], json.loads(bundle["entries"][item["index"]]))
            self.assertEqual(item["entry"]["audit_index"], item["index"])
        status, body, _ = self.get("")
        self.assertEqual(status, 200)
        self.assertEqual(len(body["entries"]), min(n, 50))  # the default limit

    def test_filters_combine_across_pages(self):
        items, pages = self.pages("type=authorize&tenant=acme&outcome=denied&limit=2")
        self.assertEqual([i["entry"]["decision_id"] for i in items], list(reversed(self.denied)))
        self.assertGreaterEqual(pages, 2)
        for i in items:
            self.assertEqual(i["entry"]["decision"], "deny")
        items, _ = self.pages("tenant=globex")
        self.assertEqual([i["entry"]["decision_id"] for i in items], list(reversed(self.globex)))
        items, _ = self.pages("type=authorize&outcome=granted&tenant=acme&limit=1")
        self.assertEqual([i["entry"]["decision_id"] for i in items], list(reversed(self.granted)))
        items, _ = self.pages("type=consume")
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["entry"]["outcome"], "consumed")
        self.assertEqual(self.pages("type=authoriz")[0], [])  # exact, not a prefix
        self.assertEqual(self.pages("tenant=ACME")[0], [])

    def test_time_range_in_unix_seconds(self):
        everything, _ = self.pages("limit=200")
        items, _ = self.pages(f"since={self.started}&until={int(time.time()) + 2}&limit=200")
        self.assertEqual(len(items), len(everything))
        self.assertEqual(self.pages(f"since={int(time.time()) + 3600}")[0], [])
        self.assertEqual(self.pages(f"until={self.started}")[0], [])

    def test_bad_parameters_are_400_naming_the_parameter(self):
        for query, name in [("limit=0", "limit"), ("limit=201", "limit"), ("before=-1", "before"),
                            ("since=2026-01-01T00:00:00Z", "since"), ("until=soon", "until"),
                            ("type=", "type"), ("tenant=a&tenant=b", "tenant"), ("color=red", "color"),
                            ("outcome=a%0Ab", "outcome"), ("limit=5&limit=6", "limit")]:
            status, body, _ = self.get(query)
            self.assertEqual(status, 400, query)
            self.assertEqual(body["error"]["code"], "INVALID_REQUEST", query)
            self.assertIn(name, body["error"]["message"], query)
        # A broken percent-encoding never reaches the handler: the request target is refused first.
        status, body, _ = self.get("outcome=%zz")
        self.assertEqual((status, body["error"]["code"]), (400, "HTTP_MALFORMED"))

    def test_roles(self):
        self.assertEqual(self.get("limit=1", client="admin")[0], 200)
        status, body, _ = self.get("limit=1", client="approver-1")
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "FORBIDDEN")
        status, _, _ = self.get("limit=1", client="acme-payments")  # a service certificate
        self.assertIn(status, (401, 403))
        for client in ["approver-1", "acme-payments"]:
            status, _, _, _ = self.sg.request("GET", "/admin/v1/audit/export", client=client, listener="admin")
            self.assertIn(status, (401, 403), client)
        # Read-only: no method writes through this path.
        for method in ["POST", "PUT", "DELETE"]:
            status, _, _, _ = self.sg.request(method, "/admin/v1/audit/entries", client="admin", listener="admin",
                                              body={} if method != "DELETE" else None)
            self.assertIn(status, (404, 405), method)

    def test_export_headers_announce_the_bundle(self):
        status, bundle, headers, raw = self.sg.request("GET", "/admin/v1/audit/export", client="auditor",
                                                       listener="admin")
        self.assertEqual(status, 200)
        h = {k.lower(): v for k, v in headers.items()}
        n = bundle["tree_size"]
        self.assertEqual(len(bundle["entries"]), n)
        self.assertEqual(h["x-sealgate-audit-entries"], str(n))
        self.assertEqual(int(h["content-length"]), len(raw))
        self.assertEqual(h["content-disposition"], f'attachment; filename="sealgate-audit-{n}.json"')
        # The entries view agrees on the size when nothing was logged in between.
        _, page, _ = self.get("limit=1")
        self.assertEqual(page["tree_size"], n)
        self.assertEqual(page["entries"][0]["index"], n - 1)


if __name__ == "__main__":
    unittest.main()
