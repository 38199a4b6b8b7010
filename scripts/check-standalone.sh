#!/usr/bin/env bash
# The repository stands alone (docs/DEVELOPMENT.md, "Standalone check"): no
# tracked file may refer to a folder beside the checkout (the parent directory's
# "shared" folder), or to a DESIGN/RECIPES/STANDARDS/STYLE
# document that is not in the repository. A reference such as
# `docs/DESIGN.md` is fine when that file exists, resolved from the repository
# root or from the referring file's own folder (so `DESIGN.md` inside docs/
# means docs/DESIGN.md). A section citation by bare name ("RECIPES §3") has no
# file to resolve to and is always an offender.
#
# Usage: scripts/check-standalone.sh   (exit 0: clean; exit 1: offenders listed)
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"

self="scripts/check-standalone.sh"
offenders=()

# 1. The parent directory's "shared" folder, anywhere (the pattern is assembled
#    so that this script does not name it either).
outside='\.\./'"sha"'red'
while IFS= read -r hit; do
  offenders+=("$hit")
done < <(git grep -nI -e "$outside" || true)

# 2. DESIGN.md, RECIPES.md, STANDARDS.md, STYLE.md, with the path written
#    before them, must name a file that exists.
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  text=${rest#*:}
  dir=$(dirname "$file")
  # A Markdown link [text](target) refers to its target, not its text.
  linked=$(sed -E 's/\[[^]]*\]\(([^)]*)\)/\1/g' <<<"$text")
  while IFS= read -r ref; do
    [ -n "$ref" ] || continue
    ref=${ref#./}
    if [ -f "$ref" ] || [ -f "$dir/$ref" ]; then continue; fi
    offenders+=("$file:$line: $ref does not exist: $text")
  done < <(grep -oE '[A-Za-z0-9_./-]*(DESIGN|RECIPES|STANDARDS|STYLE)\.md' <<<"$linked" || true)
done < <(git grep -nIE '(DESIGN|RECIPES|STANDARDS|STYLE)\.md' -- ":!$self" || true)

# 3. Section citations by bare document name ("RECIPES §3", "STANDARDS §2").
while IFS= read -r hit; do
  offenders+=("$hit")
done < <(git grep -nIE '\b(DESIGN|RECIPES|STANDARDS|STYLE) §' -- ":!$self" || true)

if [ ${#offenders[@]} -gt 0 ]; then
  echo "check-standalone: references to files outside the repository:" >&2
  printf '  %s\n' "${offenders[@]}" >&2
  exit 1
fi
echo "check-standalone: ok"
