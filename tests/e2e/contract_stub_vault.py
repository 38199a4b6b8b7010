"""CONTRACT STUB of an OpenBao/Vault server, for tests only. No Vault or OpenBao can
run here (not in Debian), so this stub reproduces exactly the documented responses
the client relies on (docs/STANDARDS.md "KV v2"; Vault's AppRole docs):

- POST /v1/auth/approle/login {"role_id","secret_id"} -> 200 {"auth":{"client_token":...}};
  a wrong secret_id -> 400 {"errors":["invalid role or secret ID"]}.
- GET /v1/<mount>/data/<path>[?version=N] with X-Vault-Token -> 200
  {"data":{"data":{...},"metadata":{"created_time","custom_metadata","deletion_time","destroyed","version"}}};
  a missing token -> 403 {"errors":["permission denied"]}; unknown path -> 404 {"errors":[]};
  a deleted or destroyed version -> 404 whose body still carries {"data":{"data":null,"metadata":{...}}}.
- The X-Vault-Namespace header selects the namespace.

`fail_next` makes the next N requests answer 503 (to test retries); `expire_tokens`
makes every current token stale (403), as an expired token would."""
import http.server
import json
import secrets
import ssl
import threading
import urllib.parse

META = {"created_time": "2026-01-01T00:00:00.000000Z", "custom_metadata": None}


class StubVault:
    def __init__(self, certfile, keyfile, cafile=None):
        self.role_id, self.secret_id = "role-1", "secret-id-1"
        self.tokens = {"static-token"}
        self.fail_next = 0
        self.stale_once = False  # the next token use is refused, as an expired token would be
        self.requests = []
        # namespace -> mount -> path -> {version: (data | None, deletion_time, destroyed)}
        self.store = {
            "team-a": {"secret": {"app/db": {1: ({"password": "stub-v1"}, "", False),
                                             2: (None, "2026-01-02T00:00:00Z", False),
                                             3: (None, "", True),
                                             4: ({"password": "stub-value-v4"}, "", False)}}},
        }
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def common(self):
                stub.requests.append((self.command, self.path, dict(self.headers)))
                if stub.fail_next > 0:
                    stub.fail_next -= 1
                    self.reply(503, {"errors": ["Vault is sealed"]})
                    return False
                return True

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                if not self.common():
                    return
                if self.path != "/v1/auth/approle/login":
                    return self.reply(404, {"errors": []})
                if body.get("role_id") != stub.role_id or body.get("secret_id") != stub.secret_id:
                    return self.reply(400, {"errors": ["invalid role or secret ID"]})
                token = "hvs." + secrets.token_hex(8)
                stub.tokens.add(token)
                return self.reply(200, {"auth": {"client_token": token, "lease_duration": 3600, "renewable": True}})

            def do_GET(self):
                if not self.common():
                    return
                if stub.stale_once:
                    stub.stale_once = False
                    return self.reply(403, {"errors": ["permission denied"]})
                if self.headers.get("X-Vault-Token") not in stub.tokens:
                    return self.reply(403, {"errors": ["permission denied"]})
                url = urllib.parse.urlsplit(self.path)
                parts = url.path.split("/")
                if len(parts) < 5 or parts[1] != "v1" or parts[3] != "data":
                    return self.reply(404, {"errors": []})
                ns = self.headers.get("X-Vault-Namespace", "")
                versions = stub.store.get(ns, {}).get(parts[2], {}).get("/".join(parts[4:]))
                if not versions:
                    return self.reply(404, {"errors": []})
                q = urllib.parse.parse_qs(url.query)
                v = int(q.get("version", ["0"])[0]) or max(versions)
                if v not in versions:
                    return self.reply(404, {"errors": []})
                data, deletion, destroyed = versions[v]
                meta = dict(META, deletion_time=deletion, destroyed=destroyed, version=v)
                if data is None:
                    return self.reply(404, {"data": {"data": None, "metadata": meta}})
                return self.reply(200, {"request_id": "stub", "lease_id": "", "renewable": False, "lease_duration": 0,
                                        "data": {"data": data, "metadata": meta}, "wrap_info": None,
                                        "warnings": None, "auth": None})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def expire_tokens(self):
        self.tokens = set()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
