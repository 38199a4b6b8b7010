#!/usr/bin/env bash
# The demo, from nothing: installs what it needs, builds, creates a development
# instance (SoftHSM2 token with every key, a software TPM, dev CA, certificates,
# sealed state), runs sealgated on its embedded defaults and sends sample
# requests over mTLS.
#
#   scripts/demo.sh              keeps the appliance running until Ctrl-C (on a terminal)
#   scripts/demo.sh --no-wait    stops it after the samples
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

WAIT=1
[[ "${1:-}" == "--no-wait" || ! -t 0 ]] && WAIT=0
PRESET=${SEALGATE_PRESET:-default}
INSTANCE=${SEALGATE_DEMO_DIR:-$ROOT/build/demo-instance}

if [[ -z "${SEALGATE_SKIP_INSTALL:-}" ]]; then
  echo "== installing dependencies"
  install_deps
  echo "== building ($PRESET)"
  build "$PRESET" sealgate sealgated sealgate-test-peer
fi
BIN="$ROOT/build/$PRESET/appliance"

echo "== sealgate dev-init --dir $INSTANCE --tpm swtpm"
"$BIN/sealgate" dev-init --dir "$INSTANCE" --force --tpm swtpm

echo "== keys in the development token (values never leave it)"
"$BIN/sealgate" keys list --config "$INSTANCE/sealgated.conf"

# The dev config listens on 127.0.0.1:8443 / :9443 with pep.public_url
# https://localhost:8443; if those ports are taken, use free ones (the public URL,
# which DPoP proofs name, follows the PEP port).
PEP_LISTEN=() ; ADMIN_LISTEN=()
if ss -Htln "sport = :8443" | grep -q . || ss -Htln "sport = :9443" | grep -q .; then
  echo "   (8443/9443 busy: using free ports)"
  free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  P=$(free_port)
  PEP_LISTEN=(--pep-listen "127.0.0.1:$P" --pep-public-url "https://localhost:$P") ; ADMIN_LISTEN=(--admin-listen 127.0.0.1:0)
fi

# The software TPM: it seals the state's data key and its NV counter anchors the
# state against rollback (docs/STATE.md). The folder DIR/tpm is the TPM.
TPM_SOCK="$INSTANCE/tpm/swtpm.sock"
swtpm socket --tpm2 --server "type=unixio,path=$TPM_SOCK" --ctrl "type=unixio,path=$TPM_SOCK.ctrl" \
  --tpmstate "dir=$INSTANCE/tpm" --flags startup-clear 2>/dev/null &
TPM_PID=$!
PID=
PEER_PID=
cleanup() {
  [[ -n $PEER_PID ]] && kill -TERM "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null || true
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    wait "$PID" || true
  fi
  kill -TERM "$TPM_PID" 2>/dev/null && wait "$TPM_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 300); do [[ -S $TPM_SOCK ]] && break; sleep 0.01; done
[[ -S $TPM_SOCK ]] || { echo "swtpm did not start"; exit 1; }

LOG="$INSTANCE/sealgated.log"
start_sealgated() {
  : >"$LOG"
  "$BIN/sealgated" --config "$INSTANCE/sealgated.conf" "${PEP_LISTEN[@]}" "${ADMIN_LISTEN[@]}" >"$LOG" 2>&1 &
  PID=$!
  for _ in $(seq 300); do
    grep -q '"event":"started"' "$LOG" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { echo "sealgated failed to start:"; cat "$LOG"; exit 1; }
    sleep 0.1
  done
  PEP=$(grep -o '"pep_port":[0-9]*' "$LOG" | head -1 | cut -d: -f2)
  ADMIN=$(grep -o '"admin_port":[0-9]*' "$LOG" | head -1 | cut -d: -f2)
  [[ -n "$PEP" && -n "$ADMIN" ]] || { echo "sealgated did not report its ports:"; cat "$LOG"; exit 1; }
}
start_sealgated
echo "== sealgated is running: PEP https://localhost:$PEP, admin https://localhost:$ADMIN"

CA="$INSTANCE/pki/ca.pem"
CLIENTS="$INSTANCE/pki/clients"
as_client() { local who=$1; shift; curl -sS --cacert "$CA" --cert "$CLIENTS/$who.pem" --key "$CLIENTS/$who.key" "$@"; }

echo
echo "\$ curl --cert acme-payments.pem https://localhost:$PEP/v1/uris/canonicalize -d '{\"uri\":\"secret://ACME/kv/payments/stripe?version=3#api_key\"}'"
OUT=$(as_client acme-payments -H 'Content-Type: application/json' \
  -d '{"uri":"secret://ACME/kv/payments/stripe?version=3#api_key"}' "https://localhost:$PEP/v1/uris/canonicalize")
echo "$OUT"
grep -q '"resource_ref":"rr1:v1:' <<<"$OUT" || { echo "unexpected answer"; exit 1; }

echo
echo "\$ curl --cert acme-payments.pem .../v1/uris/canonicalize -d '{\"uri\":\"secret://globex/kv/billing/key\"}'   # another tenant"
OUT=$(as_client acme-payments -H 'Content-Type: application/json' -w ' HTTP %{http_code}' \
  -d '{"uri":"secret://globex/kv/billing/key"}' "https://localhost:$PEP/v1/uris/canonicalize")
echo "$OUT"
grep -q 'URI_TENANT_MISMATCH.* HTTP 403' <<<"$OUT" || { echo "unexpected answer"; exit 1; }

echo
echo "\$ curl https://localhost:$PEP/healthz   # no client certificate"
if curl -sS --cacert "$CA" "https://localhost:$PEP/healthz"; then
  echo "a request without a client certificate was answered"; exit 1
else
  echo "   -> refused during the TLS handshake, as it must be"
fi

echo
echo "\$ curl --cert acme-payments.pem .../v1/authorize -d '{\"requests\":[ app/db#password, app/api#key, other/x ]}'"
OUT=$(as_client acme-payments -H 'Content-Type: application/json' "https://localhost:$PEP/v1/authorize" -d '{"requests":[
  {"uri":"secret://acme/kv/app/db#password","action":"use"},
  {"uri":"secret://acme/kv/app/api#key","action":"use"},
  {"uri":"secret://acme/kv/other/x","action":"use"}]}')
echo "$OUT" | head -c 700; echo " ..."
GRANT=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"])' <<<"$OUT")
echo
echo "\$ curl --cert acme-payments.pem .../v1/grants/consume -d '{\"grant\":\"...\"}'   # bound to this certificate"
OUT=$(as_client acme-payments -H 'Content-Type: application/json' "https://localhost:$PEP/v1/grants/consume" \
  -d "{\"grant\":\"$GRANT\"}")
echo "$OUT"
grep -q '"remaining_uses":4' <<<"$OUT" || { echo "unexpected answer"; exit 1; }
echo
echo "\$ curl --cert globex-billing.pem .../v1/grants/consume   # the same grant over another certificate"
as_client globex-billing -H 'Content-Type: application/json' -w ' HTTP %{http_code}' \
  "https://localhost:$PEP/v1/grants/consume" -d "{\"grant\":\"$GRANT\"}"; echo

echo
echo "== a DPoP-bound grant (the proofs are made by tests/e2e/dpop_client.py)"
/usr/bin/python3 - "$PEP" "$CA" "$CLIENTS" <<'PY'
import http.client, json, ssl, sys
sys.path.insert(0, "tests/e2e")
from dpop_client import DpopKey
port, ca, clients = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(f"{clients}/acme-payments.pem", f"{clients}/acme-payments.key")
def post(path, body, dpop):
    c = http.client.HTTPSConnection("localhost", int(port), context=ctx)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json", "DPoP": dpop})
    r = c.getresponse(); out = (r.status, json.loads(r.read())); c.close(); return out
key = DpopKey(); base = f"https://localhost:{port}"
status, body = post("/v1/authorize", {"requests": [{"uri": "secret://acme/kv/app/db#password", "action": "use"}]},
                    key.proof("POST", base + "/v1/authorize"))
grant = body["grant"]
print("authorize with a DPoP proof ->", status, "grant bound to jkt", key.thumbprint()[:12] + "...")
proof = key.proof("POST", base + "/v1/grants/consume", token=grant)
print("consume with a fresh proof  ->", *post("/v1/grants/consume", {"grant": grant}, proof))
print("the same proof again        ->", *post("/v1/grants/consume", {"grant": grant}, proof))
PY

echo
echo "== the embedded KV v2 store (Vault-compatible, on the admin listener; values encrypted under an HSM-sealed key)"
echo "\$ curl --cert admin.pem -X POST https://localhost:$ADMIN/v1/kv/data/app/db -d '{\"data\":{\"password\":\"...\"}}'"
DEMO_VALUE=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
OUT=$(as_client admin -H 'Content-Type: application/json' -X POST "https://localhost:$ADMIN/v1/kv/data/app/db" \
  -d "{\"data\":{\"password\":\"demo-$DEMO_VALUE\"},\"options\":{\"cas\":0}}")
echo "$OUT"
grep -q '"version":1' <<<"$OUT" || { echo "unexpected answer"; exit 1; }
echo
echo "\$ curl --cert auditor.pem https://localhost:$ADMIN/v1/kv/metadata/app/db   # metadata, never the value"
OUT=$(as_client auditor "https://localhost:$ADMIN/v1/kv/metadata/app/db")
echo "$OUT"
grep -q '"current_version":1' <<<"$OUT" || { echo "unexpected answer"; exit 1; }
if grep -q "demo-$DEMO_VALUE" <<<"$OUT" || grep -rq "demo-$DEMO_VALUE" "$INSTANCE/kv" "$LOG" "$INSTANCE/audit"; then
  echo "the value leaked"; exit 1
fi
echo "   -> the value is in no response, log, audit event or KV file (values are read only with reveal)"

echo
echo "== use, not read: /v1/execute sends the secret to a local HTTPS server through the rest connector"
# A loopback HTTPS server (tests/support/https_peer.h) with a certificate from the
# dev CA, which connectors trust. Its /echo route sends back everything it got,
# the secret included: the egress guard scrubs that answer before it leaves.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$INSTANCE/pki/peer.key" -out "$INSTANCE/pki/peer.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$INSTANCE/pki/peer.ext"
openssl x509 -req -in "$INSTANCE/pki/peer.csr" -CA "$CA" -CAkey "$INSTANCE/pki/ca.key" -CAcreateserial -days 1 \
  -extfile "$INSTANCE/pki/peer.ext" -out "$INSTANCE/pki/peer.pem" 2>/dev/null
"$ROOT/build/$PRESET/tests/support/sealgate-test-peer" --cert "$INSTANCE/pki/peer.pem" --key "$INSTANCE/pki/peer.key" \
  >"$INSTANCE/peer.out" 2>&1 &
PEER_PID=$!
for _ in $(seq 300); do grep -q '^port ' "$INSTANCE/peer.out" 2>/dev/null && break; sleep 0.01; done
PEER_PORT=$(sed -n 's/^port //p' "$INSTANCE/peer.out")
[[ -n $PEER_PORT ]] || { echo "the local HTTPS server did not start"; cat "$INSTANCE/peer.out"; exit 1; }
EXEC_GRANT=$(as_client acme-payments -H 'Content-Type: application/json' "https://localhost:$PEP/v1/authorize" \
  -d '{"requests":[{"uri":"secret://acme/kv/app/db#password","action":"use"}]}' |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"])')
EXEC_BODY=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps({"grant": sys.argv[1],
  "slots": {"db": "secret://acme/kv/app/db#password"},
  "action": {"connector": "rest", "method": "POST", "url": "https://127.0.0.1:%s/echo" % sys.argv[2],
             "headers": {"Authorization": "Bearer {{slot:db}}"}, "json": {"password": "{{slot:db}}"}}}))' \
  "$EXEC_GRANT" "$PEER_PORT")
echo "\$ curl --cert acme-payments.pem .../v1/execute -d '{\"grant\":\"...\",\"slots\":{\"db\":\"secret://acme/kv/app/db#password\"},"
echo "    \"action\":{\"connector\":\"rest\",\"method\":\"POST\",\"url\":\"https://127.0.0.1:$PEER_PORT/echo\","
echo "              \"headers\":{\"Authorization\":\"Bearer {{slot:db}}\"},\"json\":{\"password\":\"{{slot:db}}\"}}}'"
OUT=$(as_client acme-payments -H 'Content-Type: application/json' "https://localhost:$PEP/v1/execute" -d "$EXEC_BODY")
/usr/bin/python3 -c 'import json,sys; r = json.loads(sys.argv[1]); e = json.loads(r["result"]["body"])
print(json.dumps({"status": r["status"], "audit_id": r["audit_id"], "remaining_uses": r["remaining_uses"],
                  "peer_status": r["result"]["status"], "what the peer echoed": {
                  "Authorization": e["headers"]["Authorization"], "body": e["body"]}}, indent=2))' "$OUT"
grep -q '"status":"ok"' <<<"$OUT" && grep -q 'Bearer \[REDACTED\]' <<<"$OUT" || { echo "unexpected answer: $OUT"; exit 1; }
if grep -q "demo-$DEMO_VALUE" <<<"$OUT" || grep -rq "demo-$DEMO_VALUE" "$LOG" "$INSTANCE/audit"; then
  echo "the value leaked"; exit 1
fi
echo "   -> the peer received the secret (it echoed it back); the caller saw [REDACTED], and the value is in"
echo "      no response, log line or audit event (the execute event names the grant, resource_ref and kv_version)"
kill -TERM "$PEER_PID"; wait "$PEER_PID" 2>/dev/null || true; PEER_PID=

echo
echo "== break-glass: two approvers, each with a TPM of their own, open a scoped override window"
# dev-init enrolled approver-1..3 (quorum 2) on software TPMs under DIR/approvers/.
APPROVER_TPMS=()
for who in approver-1 approver-2; do
  APPROVER_TPMS+=("$(bash "$ROOT/scripts/dev-approver-tpm.sh" "$INSTANCE" "$who" start)")
done
stop_approver_tpms() {
  for who in approver-1 approver-2; do bash "$ROOT/scripts/dev-approver-tpm.sh" "$INSTANCE" "$who" stop || true; done
}
echo "\$ curl --cert admin.pem -X POST https://localhost:$ADMIN/admin/v1/breakglass/requests -d '{\"tenant\":\"acme\","
echo "    \"uri_prefixes\":[\"secret://acme/kv/other\"],\"actions\":[\"use\"],\"mode\":\"override\",\"reason\":\"...\",\"duration_seconds\":300}'"
OUT=$(as_client admin -H 'Content-Type: application/json' "https://localhost:$ADMIN/admin/v1/breakglass/requests" -d '{
  "tenant":"acme","uri_prefixes":["secret://acme/kv/other"],"actions":["use"],"mode":"override",
  "reason":"demo: a policy deny overridden for five minutes","duration_seconds":300}')
echo "$OUT"
BG=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$OUT") ||
  { stop_approver_tpms; echo "unexpected answer"; exit 1; }
i=0
for who in approver-1 approver-2; do
  echo "\$ sealgate approve --admin https://localhost:$ADMIN --cert $who.pem --key $who.key --tpm ${APPROVER_TPMS[$i]} --yes $BG"
  if ! "$BIN/sealgate" approve --admin "https://localhost:$ADMIN" --ca "$CA" --cert "$CLIENTS/$who.pem" \
    --key "$CLIENTS/$who.key" --tpm "${APPROVER_TPMS[$i]}" --yes "$BG"; then
    stop_approver_tpms; echo "the approval by $who failed"; exit 1
  fi
  i=$((i + 1))
done
stop_approver_tpms
echo "\$ curl --cert acme-payments.pem .../v1/authorize -d '{\"requests\":[ other/x ]}'   # the policy denied it above"
OUT=$(as_client acme-payments -H 'Content-Type: application/json' "https://localhost:$PEP/v1/authorize" -d '{"requests":[
  {"uri":"secret://acme/kv/other/x","action":"use"}]}')
/usr/bin/python3 -c '
import base64, json, sys
r = json.load(sys.stdin)
claims = json.loads(base64.urlsafe_b64decode(r["grant"].split(".")[1] + "=="))
print(json.dumps({"results": r["results"], "grant claims": {k: claims[k] for k in ("bg", "exp")}}))' <<<"$OUT"
grep -q "\"obligations\":{\"breakglass\":\"$BG\"}" <<<"$OUT" || { echo "unexpected answer"; exit 1; }
echo "\$ curl --cert admin.pem -X DELETE https://localhost:$ADMIN/admin/v1/breakglass/active/$BG   # closed early"
as_client admin -X DELETE "https://localhost:$ADMIN/admin/v1/breakglass/active/$BG" | head -c 300; echo
OUT=$(as_client acme-payments -H 'Content-Type: application/json' "https://localhost:$PEP/v1/authorize" -d '{"requests":[
  {"uri":"secret://acme/kv/other/x","action":"use"}]}')
grep -q '"decision":"deny"' <<<"$OUT" || { echo "the deny did not come back: $OUT"; exit 1; }
echo "   -> denied again; the request, both approvals, the opening, the grant and the closing are in the audit log"

echo
echo "== the sealed state survives a restart: stop sealgated, start it again, consume the same grant"
kill -TERM "$PID"; wait "$PID" || true
start_sealgated
OUT=$(as_client acme-payments -H 'Content-Type: application/json' "https://localhost:$PEP/v1/grants/consume" \
  -d "{\"grant\":\"$GRANT\"}")
echo "$OUT"
grep -q '"remaining_uses":3' <<<"$OUT" || { echo "the use count did not survive the restart"; exit 1; }

echo
echo "\$ curl --cert admin.pem https://localhost:$ADMIN/admin/v1/status   # the TPM and the sealed state"
as_client admin "https://localhost:$ADMIN/admin/v1/status" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
print(json.dumps({"tpm": s["tpm"], "state": s["state"]}, indent=1))
assert s["state"]["rollback_protection"] == "tpm-nv-counter" and s["state"]["status"] == "ok"'
echo
echo "\$ curl --cert admin.pem https://localhost:$ADMIN/admin/v1/status   # the HSM"
as_client admin "https://localhost:$ADMIN/admin/v1/status" | head -c 400; echo " ..."
echo
echo "\$ curl --cert acme-payments.pem https://localhost:$PEP/readyz"
as_client acme-payments "https://localhost:$PEP/readyz"; echo

echo
echo "== the signed audit log, exported and verified offline as an auditor would"
echo "\$ curl --cert auditor.pem https://localhost:$ADMIN/admin/v1/audit/public-key   # pinned once, beforehand"
as_client auditor "https://localhost:$ADMIN/admin/v1/audit/public-key" |
  /usr/bin/python3 -c 'import json, sys; k = json.load(sys.stdin); print("key", k["key_name"], "id", k["key_id"], file=sys.stderr); print(k["pem"], end="")' \
  >"$INSTANCE/AUDIT_KEY.pem"
echo "\$ curl --cert auditor.pem https://localhost:$ADMIN/admin/v1/audit/export > audit-bundle.json"
as_client auditor "https://localhost:$ADMIN/admin/v1/audit/export" >"$INSTANCE/audit-bundle.json"
echo "\$ sealgate audit verify --key AUDIT_KEY.pem audit-bundle.json"
"$BIN/sealgate" audit verify --key "$INSTANCE/AUDIT_KEY.pem" "$INSTANCE/audit-bundle.json"
echo "\$ sealgate audit verify ... (one byte of entry 1 changed)"
/usr/bin/python3 - "$INSTANCE/audit-bundle.json" "$INSTANCE/audit-bundle-tampered.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["entries"][1] = b["entries"][1].replace('"decision_id":"', '"decision_id":"X', 1)
json.dump(b, open(sys.argv[2], "w"))
PY
"$BIN/sealgate" audit verify --quiet --key "$INSTANCE/AUDIT_KEY.pem" "$INSTANCE/audit-bundle-tampered.json" || true

echo
echo "== the admin web UI: https://localhost:$ADMIN/ui/ (docs/WEBUI.md)"
echo "   the browser presents the admin's client certificate: import $CLIENTS/admin.p12"
echo "   (its password is in $CLIENTS/admin.p12.pass) and trust the dev CA $CA for websites"
if ((WAIT)); then
  echo
  echo "== sealgated keeps running (log: $LOG). Press Ctrl-C to stop."
  wait "$PID" || true
else
  echo
  echo "== demo finished; stopping sealgated"
fi
