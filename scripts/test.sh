#!/usr/bin/env bash
# The whole test suite, from nothing: installs what it needs, checks the layout,
# builds the fuzz targets with clang-14 and runs each briefly over its seed corpus,
# builds under ASan+UBSan, runs clang-tidy over appliance/ with that build's compile
# commands, builds the .deb (lintian-clean) and installs, runs, removes and purges
# it on this machine, builds the appliance image from it and checks the tree, runs
# the README demo against the ASan build, then every unit,
# integration and end-to-end test once (ctest's summary is the closing line).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

FUZZ_SECONDS=${SEALGATE_FUZZ_SECONDS:-30}

echo "== the repository stands alone (no reference outside it)"
bash "$ROOT/scripts/check-standalone.sh"
bash "$ROOT/scripts/check-includes.sh"

echo "== installing dependencies"
install_deps

echo "== layout (clang-format over every C++ file)"
bash "$ROOT/scripts/check-format.sh"

echo "== npm packages for the e2e tests (pinned by tests/e2e/node/package-lock.json)"
(cd "$ROOT/tests/e2e/node" && npm ci --no-audit --no-fund --loglevel=error)

echo "== OpenAPI lint (redocly, pinned by the same package-lock.json; every rule an error)"
(cd "$ROOT/tests/e2e/node" && npx --no-install redocly lint --config "$ROOT/docs/redocly.yaml" \
  --format=stylish "$ROOT/docs/openapi.json")

echo "== fuzz targets (clang-14 + libFuzzer), ${FUZZ_SECONDS}s each"
build fuzz
for target in "$ROOT"/build/fuzz/tests/fuzz/*_fuzz; do
  name=$(basename "$target" _fuzz)
  corpus="$ROOT/tests/fuzz/corpus/$name"
  work=$(mktemp -d)
  cp -r "$corpus/." "$work/"
  if ! "$target" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 "$work" >"$work.log" 2>&1; then
    echo "fuzz target $name failed:"; tail -60 "$work.log"; exit 1
  fi
  grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" "$work.log" || true
  rm -rf "$work" "$work.log"
done

echo "== building (ASan + UBSan)"
build asan

echo "== clang-tidy over the product code of appliance/ (its compile commands)"
bash "$ROOT/scripts/check-tidy.sh" "$ROOT/build/asan"

echo "== the .deb (default preset): lintian, then installed, run as user sealgate, removed and purged"
SEALGATE_SKIP_INSTALL=1 bash "$ROOT/scripts/package.sh"
bash "$ROOT/tests/package/install_test.sh" "$(ls "$ROOT"/build/default/package/sealgate_*.deb)"

echo "== the appliance image (mkosi 14, directory variant) from that .deb, and its checks"
bash "$ROOT/tests/image/check_image.sh" "$(SEALGATE_SKIP_INSTALL=1 bash "$ROOT/scripts/image.sh" | tail -1)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Leaks inside libp11 / SoftHSM2 at exit are theirs (docs/DEVELOPMENT.md, "Sanitizers and third-party leaks"); never ours.
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"

echo "== README demo against the ASan build"
SEALGATE_PRESET=asan SEALGATE_SKIP_INSTALL=1 bash "$ROOT/scripts/demo.sh" --no-wait

echo "== unit, integration and end-to-end tests (ASan + UBSan)"
ctest --preset asan -j2


