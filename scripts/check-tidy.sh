#!/usr/bin/env bash
# clang-tidy over the product code of appliance/ with the checks in .clang-tidy
# (CONTRIBUTING.md, "Checks"); every finding fails the run.
#
#   scripts/check-tidy.sh [BUILD_DIR]     (default build/asan; needs its compile_commands.json)
set -euo pipefail
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
BUILD=${1:-build/asan}
[[ -f $BUILD/compile_commands.json ]] || { echo "check-tidy: no $BUILD/compile_commands.json (configure first)" >&2; exit 2; }

mapfile -t files < <(git ls-files 'appliance/*.cc' | grep -v '_test\.cc$')
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# -Wno-unknown-warning-option: the compile commands may carry gcc-only warning flags.
if ! run-clang-tidy -p "$BUILD" -j "$(nproc)" -quiet -extra-arg=-Wno-unknown-warning-option \
    "${files[@]/#/$ROOT/}" >"$log" 2>&1; then
  grep -E '(error|warning): ' "$log" | grep -v 'warnings generated' | sort -u >&2 || true
  echo "check-tidy: findings above (${#files[@]} files)" >&2
  exit 1
fi
echo "check-tidy: ok (${#files[@]} files of appliance/)"
