#!/usr/bin/env bash
# The long fuzz job (docs/FUZZING.md): each libFuzzer target for SECONDS (default
# 600), one after another on one core, over its seed corpus plus whatever earlier
# long runs found (kept in build/fuzz-long/<target>/corpus, never in the seeds).
#
#   scripts/fuzz-long.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz-long.sh 600 json_parse uri
#
# TARGET is a name under tests/fuzz/corpus (json_parse, uri, dpop, ...); none: all.
# Prints one line per target (executions, coverage, features, corpus, new units,
# crashes) and writes them to build/fuzz-long/summary.tsv. A crash, leak or
# timeout keeps its reproducer in build/fuzz-long/<target>/ and makes the script
# exit 1 once every target has run. SEALGATE_FUZZ_NO_BUILD=1 skips the build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

SECONDS_PER_TARGET=${1:-600}
shift || true
if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || ((SECONDS_PER_TARGET < 1)); then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi

if [[ ${SEALGATE_FUZZ_NO_BUILD:-0} != 1 ]]; then
  cmake --preset fuzz -S "$ROOT" >/dev/null
  # One core: the job is meant to run beside other work.
  cmake --build "$ROOT/build/fuzz" -j1
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  for t in "$ROOT"/build/fuzz/tests/fuzz/*_fuzz; do targets+=("$(basename "$t" _fuzz)"); done
fi

OUT="$ROOT/build/fuzz-long"
mkdir -p "$OUT"
summary="$OUT/summary.tsv"
[[ -f $summary ]] || printf 'date\ttarget\tseconds\texecs\texecs_per_s\tcov\tft\tcorpus\tnew_units\tpeak_rss_mb\tresult\n' >"$summary"

failed=0
for name in "${targets[@]}"; do
  bin="$ROOT/build/fuzz/tests/fuzz/${name}_fuzz"
  seeds="$ROOT/tests/fuzz/corpus/$name"
  if [[ ! -x $bin || ! -d $seeds ]]; then
    echo "no fuzz target or seed corpus named $name" >&2
    exit 2
  fi
  dir="$OUT/$name"
  mkdir -p "$dir/corpus"
  cp -rn "$seeds/." "$dir/corpus/"
  log="$dir/run-$(date -u +%Y%m%dT%H%M%SZ).log"
  result=ok
  # -fork/-jobs stay off: one process, one core.
  if ! (cd "$dir" && "$bin" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
        -artifact_prefix="$dir/" corpus >"$log" 2>&1); then
    result="FAILED (see $log and $dir/crash-*|leak-*|timeout-*|oom-*)"
    failed=1
  fi
  final() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}' || true; }
  last=$(grep -E "^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)" "$log" | tail -1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
  line=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$(date -u +%F)" "$name" "$SECONDS_PER_TARGET" \
    "$(final number_of_executed_units)" "$(final average_exec_per_sec)" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
    "$(final new_units_added)" "$(final peak_rss_mb)" "$result")
  echo "$line" | tee -a "$summary"
done
exit "$failed"
