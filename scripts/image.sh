#!/usr/bin/env bash
# Builds the appliance image with Debian 12's mkosi (version 14) from the .deb
# (docs/IMAGE.md). Needs root and the Debian mirror.
#   scripts/image.sh          the directory variant: build/image/debian~bookworm/sealgate-image/
#                             (what CI builds and checks)
#   scripts/image.sh --gpt    the disk image: a read-only squashfs root, bootable (UEFI), the data
#                             partition added at first boot. Needs loop devices.
# Prints the output's path last. tests/image/check_image.sh checks a built tree.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

variant=(--format directory)
if [[ ${1:-} == --gpt ]]; then
  variant=(--format gpt_squashfs --bootable --output sealgate-image.raw
           --kernel-command-line "systemd.volatile=state console=ttyS0")
fi
[[ -n "${SEALGATE_SKIP_INSTALL:-}" ]] || install_deps
deb=$(ls "$ROOT"/build/default/package/sealgate_*.deb 2>/dev/null || true)
[[ -n $deb ]] || deb=$(SEALGATE_SKIP_INSTALL=1 bash "$ROOT/scripts/package.sh" | tail -1)

# The .deb's own dependencies come from Debian through Packages=; the finalize
# script then installs the .deb itself (mkosi 14 has no option for a local package).
packages=()
IFS=',' read -ra depends <<<"$(dpkg-deb -f "$deb" Depends)"
for dep in "${depends[@]}"; do
  name=$(sed -E 's/^ *([^ (|]+).*/\1/' <<<"$dep")
  packages+=(--package "$name")
done

out="$ROOT/build/image"
mkdir -p "$out"
# The mirror is the network: a failed download (seen once: debootstrap could not
# get the Release file) is tried again, twice at most; any other failure repeats.
for attempt in 1 2 3; do
  if mkosi -C "$ROOT/image/mkosi" --force --output-dir "$out" --workspace-dir "$out" \
    --environment "SEALGATE_DEB=$deb" "${packages[@]}" "${variant[@]}" build >&2; then
    break
  fi
  ((attempt < 3)) || { echo "image: mkosi failed $attempt times" >&2; exit 1; }
  echo "image: mkosi failed (attempt $attempt); trying again" >&2
  sleep 5
done
# mkosi 14 writes into a folder named after the distribution and release.
if [[ ${1:-} == --gpt ]]; then echo "$out/debian~bookworm/sealgate-image.raw"; else echo "$out/debian~bookworm/sealgate-image"; fi
