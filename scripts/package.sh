#!/usr/bin/env bash
# Builds the Debian package from the default preset (hardened, optimised) and
# checks it with lintian: any error fails. Prints the .deb's path last.
#   scripts/package.sh     -> build/default/package/sealgate_<version>-<release>_<arch>.deb
# docs/PACKAGE.md says how to install it; tests/package/install_test.sh installs,
# runs and purges it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

[[ -n "${SEALGATE_SKIP_INSTALL:-}" ]] || install_deps
build default sealgated sealgate package-files
rm -rf "$ROOT/build/default/package"
(cd "$ROOT/build/default" && cpack -G DEB --config CPackConfig.cmake >/dev/null)
deb=$(ls "$ROOT"/build/default/package/sealgate_*.deb)
echo "== lintian $deb"
# --fail-on error: a lintian error fails the build; warnings are printed.
lintian --fail-on error --tag-display-limit 0 "$deb"
echo "$deb"
