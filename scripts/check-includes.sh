#!/usr/bin/env bash
# The appliance's folders depend on each other one way (CONTRIBUTING.md,
# "Folders"). This check reads every #include "appliance/..." of the product code
# in appliance/<folder>/ (tests, *_test.cc, may reach further) and fails when:
#   - a folder includes a folder it may not depend on (the table below; a
#     folder's admin API files, *_admin_api.{h,cc}, may also use what
#     admin_api_may_use lists for it);
#   - any folder but keys/ includes hsm/ or attest/ headers directly;
#   - product code includes tests/ headers.
#
# Usage: scripts/check-includes.sh   (exit 0: clean; exit 1: offenders listed)
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"

# folder -> the appliance folders its product code may include (besides itself).
declare -A may_use=(
  [telemetry]=""
  [config]=""
  [connectors]=""
  [server]="telemetry config"
  [ui]="server"
  [state]="telemetry"
  [audit]="telemetry config server"
  [policy]="telemetry connectors"
  [breakglass]="telemetry config server state audit"
  [grants]="telemetry config server audit"
  [kv]="telemetry config server audit policy"
  [execute]="telemetry config server audit grants"
  [keys]="telemetry config state audit grants breakglass"
  [rotation]="telemetry config server state audit grants keys"
  [app]="telemetry config server ui connectors state audit policy breakglass grants kv execute keys rotation"
  [cli]="telemetry config policy audit keys breakglass"
)

# folder -> what its admin API files (*_admin_api.h, *_admin_api.cc: the HTTP face
# of the folder's logic) may include besides the folder's own row.
declare -A admin_api_may_use=(
  [policy]="server audit"
  [state]="server audit"
)

offenders=()
while IFS= read -r file; do
  [[ $file == *_test.cc || $file == *test_util.h ]] && continue
  folder=${file#appliance/}
  folder=${folder%%/*}
  if [[ -z ${may_use[$folder]+set} ]]; then
    offenders+=("$file: appliance/$folder/ is not in the dependency table of scripts/check-includes.sh")
    continue
  fi
  allowed=" ${may_use[$folder]} "
  [[ $file == *_admin_api.h || $file == *_admin_api.cc ]] && allowed+="${admin_api_may_use[$folder]:-} "
  while IFS= read -r include; do
    target=${include#\#include \"}
    target=${target%\"*}
    case $target in
      appliance/*)
        used=${target#appliance/}
        used=${used%%/*}
        [[ $used == "$folder" ]] && continue
        [[ $allowed == *" $used "* ]] ||
          offenders+=("$file: includes $target, but appliance/$folder/ may not depend on appliance/$used/")
        ;;
      hsm/* | attest/*)
        [[ $folder == keys ]] || offenders+=("$file: includes $target; only appliance/keys/ talks to hsm/ and attest/")
        ;;
      tests/*)
        offenders+=("$file: product code includes $target")
        ;;
    esac
  done < <(grep -E '^#include "' "$file" || true)
done < <(git ls-files 'appliance/*.h' 'appliance/*.cc' 'appliance/*.in')

if ((${#offenders[@]})); then
  printf 'check-includes: %s\n' "${offenders[@]}" >&2
  exit 1
fi
echo "check-includes: ok (appliance/ folders depend one way; only keys/ includes hsm/ and attest/)"
