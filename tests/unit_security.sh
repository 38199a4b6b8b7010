#!/bin/bash
# The systemd unit's exposure, as systemd-analyze scores it offline, must stay at
# or below 2.0 (image/sealgated.service says why each open item is open). Also
# fails when the unit does not parse or systemd-analyze is missing.
set -euo pipefail
UNIT="${1:?usage: unit_security.sh UNIT_FILE}"
MAX="2.0"
out=$(systemd-analyze security --offline=yes --no-pager "$UNIT" 2>&1) || { echo "$out"; exit 1; }
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  printf '%s\n' "$out"
  echo "unit_security: no exposure score in systemd-analyze's output" >&2
  exit 1
fi
echo "unit_security: $UNIT exposure $score (at most $MAX)"
awk -v s="$score" -v m="$MAX" 'BEGIN { exit !(s <= m) }' || {
  printf '%s\n' "$out" | grep '✗'
  echo "unit_security: exposure $score is above $MAX" >&2
  exit 1
}
