#!/usr/bin/env bash
# Every C++ file of the repository is laid out as .clang-format says (Google style,
# 120 columns; CONTRIBUTING.md, "Checks"). Lists the files that differ and fails.
# Fix with: git ls-files '*.cc' '*.h' | xargs clang-format -i
#
#   scripts/check-format.sh     (exit 0: clean; exit 1: files listed)
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.cpp' '*.hpp')
offenders=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || offenders+=("$f")
done
if ((${#offenders[@]})); then
  printf 'check-format: not formatted: %s\n' "${offenders[@]}" >&2
  echo "check-format: run clang-format -i on the files above" >&2
  exit 1
fi
echo "check-format: ok (${#files[@]} files)"
