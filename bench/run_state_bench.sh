#!/usr/bin/env bash
# The sealed state store against Redis, same machine, same run, same client
# concurrency (issue 4).
#
#   bench/run_state_bench.sh [BUILD_DIR]       (default build/default; builds nothing)
#
# Starts redis-server on 127.0.0.1 (a free port, appendonly yes, appendfsync
# always, no RDB snapshots) with its data folder next to the state folder (same
# filesystem), runs bench/sealgate-state-load, prints its markdown tables on
# stdout, and stops Redis by PID.
#
# Environment: SECONDS_PER_RUN (default 5), CONCURRENCY (default "1 16 64"),
#              SCALES (default "10000 100000 1000000 10000000").
set -euo pipefail

BUILD=${1:-build/default}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}
SCALES=${SCALES:-"10000 100000 1000000 10000000"}
LOAD=$BUILD/bench/sealgate-state-load
[[ -x $LOAD ]] || { echo "run_state_bench: missing $LOAD (cmake --preset default && cmake --build build/default)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "run_state_bench: redis-server missing (scripts/install-deps.sh)" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/sealgate-state-bench.XXXXXX)  # on disk, not tmpfs
mkdir -p "$WORK/redis" "$WORK/sealgate"
REDIS_PID=
cleanup() {
  [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for _ in 1 2 3; do
  PORT=$((15000 + RANDOM % 17000))
  ss -Htan "sport = :$PORT" | grep -q . && continue
  redis-server --port "$PORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes --appendfsync always \
    --save "" --daemonize no --loglevel warning >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 300); do
    redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break 2
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  REDIS_PID=
done
[[ -n $REDIS_PID ]] || { echo "run_state_bench: redis did not start" >&2; cat "$WORK/redis.log" >&2; exit 1; }
echo "run_state_bench: redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$PORT, appendfsync always" >&2

# shellcheck disable=SC2086
"$LOAD" --dir "$WORK/sealgate" --redis-port "$PORT" --redis-dir "$WORK/redis" --seconds "$SECONDS_PER_RUN" \
  --concurrency $CONCURRENCY --scales $SCALES
