#!/usr/bin/env bash
# The long crash test of the sealed state: kill -9 sealgated at 100 random
# instants under consume and DPoP anti-replay load, and after every restart prove
# that no jti was accepted twice, no grant was used more than max_uses, and every
# call the client saw succeed is in the state (tests/e2e/test_state_crash.py; CI
# runs the same test with 20 kills).
#
#   scripts/crash-test.sh [ITERATIONS] [PRESET]     (default 100, asan)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
ITERATIONS=${1:-100}
PRESET=${2:-asan}
if [[ -z "${SEALGATE_SKIP_INSTALL:-}" ]]; then
  install_deps
  build "$PRESET" sealgate sealgated
fi
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
SEALGATE_BUILD_DIR="$ROOT/build/$PRESET" SEALGATE_CRASH_ITERATIONS=$ITERATIONS \
  /usr/bin/python3 "$ROOT/tests/e2e/test_state_crash.py" -v
