"""CONTRACT STUB of an external PDP, for tests only. No OPA or AuthZEN server can
run here (no such Debian package), so this stub implements exactly the published
wire contracts sealgate relies on (docs/STANDARDS.md):

- OPA Data API: POST /v1/data/<path> {"input": ...} -> 200 {"result": ..., "decision_id": ...};
  an undefined decision is 200 without "result".
- AuthZEN 1.0 batch: POST /access/v1/evaluations -> {"evaluations": [{"decision": bool, "context": {...}}]}
  in request order.

The "policy" it applies: allow `use` of URIs under secret://acme/kv/app/, deny the rest.
`mode` switches to the failure shapes the PEP must survive."""
import http.server
import json
import ssl
import threading
import time


class StubPdp:
    def __init__(self, kind, certfile, keyfile, cafile):
        self.kind = kind
        self.mode = "normal"  # normal | undefined | badshape | error | hang | notjson
        self.calls = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                stub.calls.append((self.path, body))
                if stub.mode == "hang":
                    time.sleep(3)
                if stub.mode == "error":
                    return self.reply(500, {"code": "internal_error"})
                if stub.mode == "notjson":
                    return self.reply(200, None, raw=b"<html>")
                if stub.kind == "opa":
                    if not self.path.startswith("/v1/data/"):
                        return self.reply(404, {})
                    if stub.mode == "undefined":
                        return self.reply(200, {"decision_id": "opa-1"})
                    if stub.mode == "badshape":
                        return self.reply(200, {"result": True, "decision_id": "opa-2"})
                    decisions = [{"index": r["index"], "allow": stub.allows(r["uri"], r["action"]),
                                  "obligations": {"ttl_seconds": 120, "max_uses": 2}, "reason": "OPA_SAYS_NO"}
                                 for r in body["input"]["requests"]]
                    decisions = [d if d["allow"] else {k: v for k, v in d.items() if k != "obligations"}
                                 for d in decisions]
                    return self.reply(200, {"result": {"decisions": decisions}, "decision_id": "opa-3"})
                if self.path != "/access/v1/evaluations":
                    return self.reply(404, {})
                if stub.mode in ("undefined", "badshape"):
                    return self.reply(200, {"evaluations": "nope"})
                evals = []
                for e in body["evaluations"]:
                    allow = stub.allows(e["resource"]["id"], e["action"]["name"])
                    evals.append({"decision": allow, "context": {"obligations": {"ttl_seconds": 120, "max_uses": 2}}
                                  if allow else {"reason": "AUTHZEN_SAYS_NO"}})
                return self.reply(200, {"evaluations": evals})

            def reply(self, status, obj, raw=None):
                data = raw if raw is not None else json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class QuietServer(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # the PEP hangs up on a "hang" answer: expected, not news

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        ctx.load_verify_locations(cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED  # the PEP reaches the PDP over mTLS
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def allows(uri, action):
        return action == "use" and uri.startswith("secret://acme/kv/app/")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
