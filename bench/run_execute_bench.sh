#!/usr/bin/env bash
# POST /v1/execute with the rest connector against a local HTTPS server, and the
# same load client calling that server directly, in the same run.
#
#   bench/run_execute_bench.sh [BUILD_DIR]        (default build/default; builds nothing)
#
# A throw-away dev instance; sealgate-test-peer (tests/support/https_peer.h) on a
# free loopback port with a dev-CA certificate; a secret in the embedded KV store;
# one mTLS-bound grant with enough uses. Then bench/sealgate-http-load, as
# acme-payments, runs for each connection count:
#   direct:  GET /ok on the peer, with the secret in an Authorization header
#   execute: POST /v1/execute on sealgated, the rest connector doing that GET /ok
#   hmac:    POST /v1/execute with the hmac connector (no peer): the execute path's own cost
# Each execute verifies the grant, spends a use durably (fdatasync), fetches and
# decrypts the secret, opens a new TLS connection to the peer (no pooling), scrubs
# the answer and commits the audit event (fdatasync) before answering; the direct
# client keeps one TLS connection alive. Prints a markdown table on stdout.
#
# Environment: DURATION (seconds per measured run, default 5), WARMUP (default 1),
#              CONNECTIONS (default "1 8").
set -euo pipefail

BUILD=${1:-build/default}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-"1 8"}
die() { echo "run_execute_bench: $*" >&2; exit 1; }
log() { echo "run_execute_bench: $*" >&2; }

BUILD=$(cd "$BUILD" && pwd) || die "no build dir"
SEALGATE=$BUILD/appliance/sealgate
SEALGATED=$BUILD/appliance/sealgated
LOAD=$BUILD/bench/sealgate-http-load
PEER=$BUILD/tests/support/sealgate-test-peer
for b in "$SEALGATE" "$SEALGATED" "$LOAD" "$PEER"; do [[ -x $b ]] || die "missing executable $b"; done

D=$(mktemp -d "${TMPDIR:-/tmp}/sealgate-execbench-XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$D"
  exit "$rc"
}
trap cleanup EXIT

wait_for() {  # wait_for FILE REGEX -> the first capture group
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if [[ $(grep -m1 -oE "$2" "$1" 2>/dev/null || true) =~ ([0-9]+)$ ]]; then echo "${BASH_REMATCH[1]}"; return; fi
    sleep 0.05
  done
  cat "$1" >&2
  die "timed out waiting for $2 in $1"
}

"$SEALGATE" dev-init --dir "$D" >"$D/dev-init.out" 2>&1 || { cat "$D/dev-init.out" >&2; die "dev-init failed"; }
CA=$D/pki/ca.pem
CERT=$D/pki/clients/acme-payments.pem
KEY=$D/pki/clients/acme-payments.key
ADMIN=(--cert "$D/pki/clients/admin.pem" --key "$D/pki/clients/admin.key")

# The peer's certificate, from the dev CA (connectors trust it).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$D/peer.key" -out "$D/peer.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$D/peer.ext"
openssl x509 -req -in "$D/peer.csr" -CA "$CA" -CAkey "$D/pki/ca.key" -CAcreateserial -days 1 \
  -extfile "$D/peer.ext" -out "$D/peer.pem" 2>/dev/null

"$PEER" --cert "$D/peer.pem" --key "$D/peer.key" --threads 16 >"$D/peer.out" 2>&1 &
PIDS+=($!)
PEER_PORT=$(wait_for "$D/peer.out" 'port [0-9]+')

cat >"$D/policy.json" <<'POLICY'
{"version": 1, "rules": [
  {"id": "bench", "effect": "allow", "subjects": ["spiffe://acme/payments"], "resources": ["secret://acme/kv/**"],
   "actions": ["use"], "obligations": {"ttl_seconds": 3600, "max_uses": 1000000, "connectors": ["rest", "hmac"]}},
  {"id": "admin", "effect": "allow", "subjects": ["spiffe://sealgate-admin/admin/*"], "resources": ["secret://acme/kv/**"],
   "actions": ["reveal"]}],
 "egress": {"acme": {"rest": {"hosts": ["127.0.0.1"]}}}}
POLICY
sed -i 's/"name": "sealgate-dev",/"name": "sealgate-dev", "grants": {"max_uses": 1000000}, "limits": {"max_connections": 256, "worker_threads": 32},/' \
  "$D/sealgated.conf"
"$SEALGATED" --config "$D/sealgated.conf" --pep-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  2>"$D/sealgated.log" >/dev/null &
PIDS+=($!)
PEP=$(wait_for "$D/sealgated.log" '"pep_port":[0-9]+')
ADM=$(wait_for "$D/sealgated.log" '"admin_port":[0-9]+')
log "sealgated PEP $PEP, admin $ADM; peer $PEER_PORT"

TOKEN="bench-token-$(openssl rand -hex 16)"
curl -sSf --cacert "$CA" "${ADMIN[@]}" -H 'Content-Type: application/json' \
  --data "{\"data\":{\"token\":\"$TOKEN\"}}" "https://127.0.0.1:$ADM/v1/kv/data/app/api" >/dev/null
GRANT=$(curl -sSf --cacert "$CA" --cert "$CERT" --key "$KEY" -H 'Content-Type: application/json' \
  --data '{"requests":[{"uri":"secret://acme/kv/app/api#token","action":"use"}]}' \
  "https://127.0.0.1:$PEP/v1/authorize" | python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"])')
BODY=$(python3 -c 'import json,sys; print(json.dumps({"grant": sys.argv[1], "slots": {"tok": "secret://acme/kv/app/api#token"},
  "action": {"connector": "rest", "method": "GET", "url": "https://127.0.0.1:%s/ok" % sys.argv[2],
             "headers": {"Authorization": "Bearer {{slot:tok}}"}}}))' "$GRANT" "$PEER_PORT")
HMAC_BODY=$(python3 -c 'import json,sys; print(json.dumps({"grant": sys.argv[1], "slots": {"tok": "secret://acme/kv/app/api#token"},
  "action": {"connector": "hmac", "key": "{{slot:tok}}", "algorithm": "HS256", "message": "order-42"}}))' "$GRANT")
CHECK=$(curl -sS --cacert "$CA" --cert "$CERT" --key "$KEY" -H 'Content-Type: application/json' --data "$BODY" \
  "https://127.0.0.1:$PEP/v1/execute")
[[ $CHECK == *'"status":"ok"'* ]] || die "a checked execute failed: $CHECK"

jnum() { [[ $2 =~ \"$1\":(-?[0-9.]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?"; }
ROWS=()
run() {  # run LABEL PORT METHOD PATH CONNS [BODY] [HEADER]
  local label=$1 port=$2 method=$3 path=$4 conns=$5 body=${6:-}
  local args=(--host 127.0.0.1 --port "$port" --cacert "$CA" --cert "$CERT" --key "$KEY" --method "$method"
    --path "$path" --connections "$conns")
  [[ -n $body ]] && args+=(--body "$body" --content-type application/json)
  "$LOAD" "${args[@]}" --duration "$WARMUP" >/dev/null 2>&1 || true
  local out
  out=$("$LOAD" "${args[@]}" --duration "$DURATION") || die "load client failed for $label x$conns: $out"
  log "$out"
  ROWS+=("| $label | $conns | $(jnum requests "$out") | $(jnum non_2xx "$out") | $(jnum rps "$out") | $(jnum p50_us "$out") \
| $(jnum p99_us "$out") | $(jnum max_us "$out") |")
}
for conns in $CONNECTIONS; do
  run "direct GET /ok (baseline)" "$PEER_PORT" GET /ok "$conns"
  run "POST /v1/execute, rest -> GET /ok" "$PEP" POST /v1/execute "$conns" "$BODY"
  run "POST /v1/execute, hmac (no peer)" "$PEP" POST /v1/execute "$conns" "$HMAC_BODY"
done
echo "| path | connections | requests | non-2xx | ops/s | p50 µs | p99 µs | max µs |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
# The token must not have come back in any answer: check one.
[[ $CHECK != *"$TOKEN"* ]] || die "the secret appeared in an execute answer"
