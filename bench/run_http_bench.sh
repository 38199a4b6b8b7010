#!/usr/bin/env bash
# End-to-end HTTP benchmark of sealgated's PEP listener (mTLS, keep-alive).
#
#   bench/run_http_bench.sh [BUILD_DIR]        (default build/default; builds nothing)
#
# Creates a throw-away dev instance (`sealgate dev-init`), starts sealgated on
# 127.0.0.1 with kernel-picked ports, waits for its "started" log line, then runs
# bench/sealgate-http-load against
#   GET  /healthz
#   POST /v1/uris/canonicalize  {"uri":"secret://acme/kv/payments/stripe?version=3#api_key"}
# with 1 and 8 connections each, as the client identity acme-payments. Before
# each measured run an unrecorded warm-up run of the same shape is made; the
# server's CPU time (/proc/PID/stat utime+stime) is read around the measured run.
# Prints a markdown table on stdout; progress and raw JSON lines go to stderr.
#
# Environment: DURATION (seconds per measured run, default 5, max 60),
#              WARMUP (seconds of warm-up per run, default 1, 0 disables),
#              CONNECTIONS (default "1 8").
# Exit status: non-zero if the daemon failed, died, or any run had errors.
set -euo pipefail

BUILD=${1:-build/default}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-"1 8"}
URI_BODY='{"uri":"secret://acme/kv/payments/stripe?version=3#api_key"}'
START_TIMEOUT=30

die() { echo "run_http_bench: $*" >&2; exit 1; }
log() { echo "run_http_bench: $*" >&2; }

[[ -d $BUILD ]] || die "build dir $BUILD not found (build first: cmake --preset default && cmake --build build/default)"
BUILD=$(cd "$BUILD" && pwd)
SEALGATE=$BUILD/appliance/sealgate
SEALGATED=$BUILD/appliance/sealgated
LOAD=$BUILD/bench/sealgate-http-load
for b in "$SEALGATE" "$SEALGATED" "$LOAD"; do [[ -x $b ]] || die "missing executable $b"; done
awk -v d="$DURATION" 'BEGIN { exit !(d > 0 && d <= 60) }' || die "DURATION must be in (0, 60]"
awk -v d="$WARMUP" 'BEGIN { exit !(d >= 0 && d <= 30) }' || die "WARMUP must be in [0, 30]"

CLK_TCK=$(getconf CLK_TCK)
D=$(mktemp -d "${TMPDIR:-/tmp}/sealgate-httpbench-XXXXXX")
PID=""

stop_daemon() {
  # SIGTERM, then wait up to 15 s for a clean exit; sets DAEMON_RC.
  DAEMON_RC=""
  [[ -n $PID ]] || return 0
  if kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while kill -0 "$PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then
      log "sealgated (pid $PID) did not exit within 15 s of SIGTERM; sending SIGKILL"
      kill -KILL "$PID" 2>/dev/null || true
    fi
  fi
  DAEMON_RC=0
  wait "$PID" || DAEMON_RC=$?
  PID=""
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  stop_daemon || true
  rm -rf "$D"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- instance and daemon -------------------------------------------------------------

"$SEALGATE" dev-init --dir "$D" >"$D/dev-init.out" 2>&1 || { cat "$D/dev-init.out" >&2; die "dev-init failed"; }
CA=$D/pki/ca.pem
CERT=$D/pki/clients/acme-payments.pem
KEY=$D/pki/clients/acme-payments.key

# Grant benchmarks need a grant that survives the run: a policy with large
# obligations and a matching grant ceiling (the dev policy allows 5 uses).
cat >"$D/policy.json" <<'POLICY'
{"version": 1, "rules": [{"id": "bench", "effect": "allow", "subjects": ["spiffe://acme/payments"],
  "resources": ["secret://acme/kv/**"], "actions": ["use"],
  "obligations": {"ttl_seconds": 3600, "max_uses": 1000000}}]}
POLICY
sed -i 's/"name": "sealgate-dev",/"name": "sealgate-dev", "grants": {"max_uses": 1000000},/' "$D/sealgated.conf"

"$SEALGATED" --config "$D/sealgated.conf" --pep-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  2>"$D/sealgated.log" >/dev/null &
PID=$!

PORT=""
deadline=$((SECONDS + START_TIMEOUT))
while [[ -z $PORT ]]; do
  if [[ $(grep -m1 -o '"pep_port":[0-9]*' "$D/sealgated.log" 2>/dev/null || true) =~ ([0-9]+)$ ]]; then
    PORT=${BASH_REMATCH[1]}
    break
  fi
  if ! kill -0 "$PID" 2>/dev/null; then
    cat "$D/sealgated.log" >&2
    die "sealgated exited during start-up"
  fi
  ((SECONDS < deadline)) || { cat "$D/sealgated.log" >&2; die "no pep_port in the log within ${START_TIMEOUT}s"; }
  sleep 0.05
done
log "sealgated pid $PID, PEP port $PORT"

cpu_ticks() {  # utime + stime of $PID, in clock ticks (fields 14 and 15 of /proc/PID/stat)
  local stat
  stat=$(<"/proc/$PID/stat") || return 1
  stat=${stat##*) }  # drop "pid (comm) ": the remaining fields start at field 3
  read -r -a f <<<"$stat"
  echo $((f[11] + f[12]))
}

machine_ticks() {  # "busy total" jiffies of all CPUs from /proc/stat (idle = idle + iowait)
  local user nice system idle iowait irq softirq steal
  read -r _ user nice system idle iowait irq softirq steal _ </proc/stat
  echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}

jnum() {  # jnum KEY JSON -> the number after "KEY":
  [[ $2 =~ \"$1\":(-?[0-9.]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?"
}

# --- runs -----------------------------------------------------------------------------

ROWS=()
FAILED=0
run() {  # run LABEL METHOD PATH CONNS [BODY]
  local label=$1 method=$2 path=$3 conns=$4 body=${5:-}
  local args=(--host 127.0.0.1 --port "$PORT" --cacert "$CA" --cert "$CERT" --key "$KEY"
    --method "$method" --path "$path" --connections "$conns")
  [[ -n $body ]] && args+=(--body "$body" --content-type application/json)
  if awk -v d="$WARMUP" 'BEGIN { exit !(d > 0) }'; then
    "$LOAD" "${args[@]}" --duration "$WARMUP" >/dev/null || log "warm-up of $label x$conns reported errors"
  fi
  local before after mbefore mafter out rc=0
  before=$(cpu_ticks) || die "sealgated (pid $PID) is gone"
  mbefore=$(machine_ticks)
  out=$("$LOAD" "${args[@]}" --duration "$DURATION") || rc=$?
  mafter=$(machine_ticks)
  after=$(cpu_ticks) || { FAILED=1; log "sealgated died during $label x$conns"; }
  log "$out"
  if ((rc != 0)); then
    FAILED=1
    log "load client exited $rc for $label x$conns"
  fi
  [[ -n $out ]] || out='{}'
  local reqs secs cpu_s cpu_pct cpu_us client_pct other_pct
  reqs=$(jnum requests "$out")
  secs=$(jnum seconds "$out")
  if [[ -n ${after:-} ]]; then
    # Percentages are of one CPU (the machine has $(nproc) x 100 %). "other" is
    # what the rest of the machine used meanwhile: anything well above 0 means
    # the run competed with unrelated work and its figures are low.
    read -r cpu_s cpu_pct cpu_us client_pct other_pct < <(awk -v t=$((after - before)) -v hz="$CLK_TCK" \
      -v s="$secs" -v n="$reqs" -v cc="$(jnum client_cpu_s "$out")" -v ncpu="$(nproc)" \
      -v mb="$mbefore" -v ma="$mafter" 'BEGIN {
        split(mb, b, " "); split(ma, a, " ")
        c = t / hz
        wall = (a[2] - b[2]) / ncpu  # jiffies per CPU over the run
        busy = wall > 0 ? 100 * (a[1] - b[1]) / wall : 0
        srv = s > 0 ? 100 * c / s : 0
        cli = s > 0 ? 100 * cc / s : 0
        other = busy - srv - cli; if (other < 0) other = 0
        printf "%.2f %.0f %s %.0f %.0f\n", c, srv, (n > 0 ? sprintf("%.1f", 1e6 * c / n) : "?"), cli, other }')
  else
    cpu_s="?" cpu_pct="?" cpu_us="?" client_pct="?" other_pct="?"
  fi
  ROWS+=("| $method $path ($label) | $conns | $reqs | $(jnum errors "$out") | $(jnum non_2xx "$out") | $(jnum rps "$out") \
| $(jnum p50_us "$out") | $(jnum p90_us "$out") | $(jnum p99_us "$out") | $(jnum max_us "$out") \
| $cpu_s | $cpu_pct | $cpu_us | $client_pct | $other_pct |")
}

# One checked request each first: the load client only sees status codes.
if command -v curl >/dev/null; then
  log "GET /healthz -> $(curl -sS --cacert "$CA" --cert "$CERT" --key "$KEY" "https://127.0.0.1:$PORT/healthz")"
  log "POST /v1/uris/canonicalize -> $(curl -sS --cacert "$CA" --cert "$CERT" --key "$KEY" \
    -H 'Content-Type: application/json' --data "$URI_BODY" "https://127.0.0.1:$PORT/v1/uris/canonicalize")"
fi

for conns in $CONNECTIONS; do
  run healthz GET /healthz "$conns"
done
for conns in $CONNECTIONS; do
  run canonicalize POST /v1/uris/canonicalize "$conns" "$URI_BODY"
done

AUTH_1='{"requests":[{"uri":"secret://acme/kv/app/db#password","action":"use"}]}'
AUTH_128=$(/usr/bin/python3 -c 'import json; print(json.dumps({"requests": [{"uri": "secret://acme/kv/app/s%d" % i, "action": "use"} for i in range(128)]}))')
for conns in $CONNECTIONS; do
  run authorize-1 POST /v1/authorize "$conns" "$AUTH_1"
done
for conns in $CONNECTIONS; do
  run authorize-128 POST /v1/authorize "$conns" "$AUTH_128"
done
GRANT=$(curl -sS --cacert "$CA" --cert "$CERT" --key "$KEY" -H 'Content-Type: application/json' --data "$AUTH_1" \
  "https://127.0.0.1:$PORT/v1/authorize" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["grant"])')
for conns in $CONNECTIONS; do
  run consume POST /v1/grants/consume "$conns" "{\"grant\":\"$GRANT\"}"
done

if ! kill -0 "$PID" 2>/dev/null; then
  FAILED=1
  log "sealgated is no longer running"
fi
ERROR_LINES=$(grep -c '"level":"error"' "$D/sealgated.log" || true)
REJECTED=$(grep -c '"event":"connection_rejected"' "$D/sealgated.log" || true)
stop_daemon
if [[ $DAEMON_RC != 0 ]]; then
  FAILED=1
  log "sealgated exited with status $DAEMON_RC after SIGTERM"
fi
if ((ERROR_LINES > 0)); then
  log "sealgated logged $ERROR_LINES error lines, e.g.:"
  grep -m5 '"level":"error"' "$D/sealgated.log" >&2 || true
fi

# --- report ---------------------------------------------------------------------------

echo "sealgated PEP listener, mTLS keep-alive over 127.0.0.1; client and server share $(nproc) CPUs."
echo "Per run: ${WARMUP}s unrecorded warm-up, ${DURATION}s measured; server CPU = utime+stime of sealgated during the measured run;"
echo "CPU % are of one CPU (max $(($(nproc) * 100)) %); other = rest of the machine meanwhile (noise indicator)."
echo
echo "| request | conns | requests | errors | non-2xx | req/s | p50 µs | p90 µs | p99 µs | max µs | server CPU s | server CPU % | server CPU µs/req | client CPU % | other CPU % |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "sealgated: exit status ${DAEMON_RC:-?} after SIGTERM, $ERROR_LINES error log lines, $REJECTED rejected connections."
exit "$FAILED"
