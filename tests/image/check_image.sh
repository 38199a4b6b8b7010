#!/usr/bin/env bash
# Checks a built appliance image tree (scripts/image.sh, directory variant):
# the .deb is installed, the unit and the ceremony hook are enabled, sshd is
# absent, no private key, token or machine id is baked in, file modes are the
# package's, and the image's own binaries run against its libraries.
# Run as root: tests/image/check_image.sh build/image/debian~bookworm/sealgate-image
set -euo pipefail
[[ $# -eq 1 && -d $1 ]] || { echo "usage: $0 IMAGE_TREE" >&2; exit 2; }
tree=$(realpath "$1")
fail() { echo "check_image: FAIL: $*" >&2; exit 1; }
ok() { echo "check_image: ok: $*"; }

grep -q '^VERSION_ID="12"' "$tree/etc/os-release" || fail "not Debian 12: $(grep VERSION_ID "$tree/etc/os-release")"
status=$(dpkg-query --admindir="$tree/var/lib/dpkg" -W -f='${db:Status-Abbrev} ${Version}' sealgate 2>/dev/null) ||
  fail "sealgate is not in the image's dpkg database"
[[ $status == ii* ]] || fail "sealgate is not installed cleanly in the image: $status"
for pkg in systemd tpm2-tools opensc softhsm2 libengine-pkcs11-openssl libtss2-tcti-device0; do
  [[ $(dpkg-query --admindir="$tree/var/lib/dpkg" -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null) == ii* ]] ||
    fail "$pkg is not installed in the image"
done
[[ $(dpkg-query --admindir="$tree/var/lib/dpkg" -W -f='${db:Status-Abbrev}' openssh-server 2>/dev/null) != ii* ]] ||
  fail "openssh-server is in the image"
ok "Debian 12 with sealgate ${status##* }, the TPM and PKCS#11 userland, no sshd"

for unit in sealgated.service var-lib-sealgate.mount; do
  [[ $(systemctl --root="$tree" is-enabled "$unit") == enabled ]] || fail "$unit is not enabled"
done
grep -q '^Requires=sealgate-ceremony-check.service$' "$tree/etc/systemd/system/sealgated.service.d/50-ceremony.conf" ||
  fail "sealgated does not wait for the ceremony check"
grep -q '^ExecStart=/usr/bin/sealgate config check --files' "$tree/usr/lib/systemd/system/sealgate-ceremony-check.service" ||
  fail "the ceremony hook does not run config check --files"
grep -q '^Label=sealgate-data$' "$tree/usr/lib/repart.d/50-sealgate-data.conf" || fail "no data partition definition"
ok "sealgated enabled behind the first-boot ceremony check; the data partition's repart and mount units"

# Nothing secret or instance-specific is baked in.
keys=$(grep -rlsI -e "-----BEGIN [A-Z ]*PRIVATE KEY-----" "$tree"/etc "$tree"/var "$tree"/root "$tree"/srv \
  "$tree"/opt "$tree"/usr/local || true)
[[ -z $keys ]] || fail "private keys in the image: $keys"
found=$(find "$tree"/etc "$tree"/var "$tree"/root \( -name 'ssh_host_*' -o -name '*.key' -o -name 'hsm.pin' \) -print)
[[ -z $found ]] || fail "key or PIN files in the image: $found"
[[ -z $(ls -A "$tree/var/lib/softhsm/tokens") ]] || fail "a SoftHSM2 token is baked in"
[[ ! -e $tree/etc/sealgate/pki ]] || fail "a PKI is baked in"
machine_id=$(cat "$tree/etc/machine-id" 2>/dev/null || true)
[[ -z $machine_id || $machine_id == uninitialized ]] || fail "a machine id is baked in: $machine_id"
[[ ! -e $tree/usr/sbin/policy-rc.d ]] || fail "the build's policy-rc.d is left in the image"
ok "no private key, ssh host key, PIN, token, PKI or machine id"

mode() { stat -c '%a %u %g' "$tree$1"; }
uid=$(awk -F: '$1 == "sealgate" {print $3}' "$tree/etc/passwd")
gid=$(awk -F: '$1 == "sealgate" {print $4}' "$tree/etc/passwd")
[[ -n $uid && $(awk -F: '$1 == "sealgate" {print $7}' "$tree/etc/passwd") == /usr/sbin/nologin ]] ||
  fail "no nologin user sealgate in the image"
for f in /usr/bin/sealgated /usr/bin/sealgate; do [[ $(mode $f) == "755 0 0" ]] || fail "$f is $(mode $f)"; done
for f in /etc/sealgate/sealgated.conf /lib/systemd/system/sealgated.service; do
  [[ $(mode $f) == "644 0 0" ]] || fail "$f is $(mode $f)"
done
[[ $(mode /var/lib/sealgate) == "700 $uid $gid" ]] || fail "/var/lib/sealgate is $(mode /var/lib/sealgate)"
writable=$(find "$tree" -xdev -type f -perm -0002 -print -quit)
[[ -z $writable ]] || fail "a world-writable file: $writable"
ok "file modes: commands 0755, config and unit 0644 root, /var/lib/sealgate 0700 sealgate, nothing world-writable"

version=${status##* }  # without the Debian revision below
[[ $(chroot "$tree" /usr/bin/sealgate --version) == "sealgate ${version%-*}" ]] || fail "the image's sealgate --version"
[[ $(chroot "$tree" /usr/bin/sealgated --version) == "sealgated ${version%-*}" ]] || fail "the image's sealgated --version"
chroot "$tree" /usr/bin/sealgate config check >/dev/null || fail "the image's config does not pass config check"
if chroot "$tree" /usr/bin/sealgate config check --files >/dev/null 2>&1; then
  fail "config check --files passes before any ceremony: the image carries ceremony files"
fi
ok "the image's commands run on its own libraries; its config is valid and awaits the ceremony"
echo "check_image: passed"
