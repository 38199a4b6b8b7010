#!/usr/bin/env bash
# Installs the .deb on this machine as an operator would, checks what it put
# where, runs the installed daemon as user `sealgate` against a development
# token, then removes and purges the package and checks what is left.
# Run as root: tests/package/install_test.sh build/default/package/sealgate_*.deb
# (scripts/test.sh runs it after scripts/package.sh.)
set -euo pipefail
[[ $# -eq 1 && -f $1 ]] || { echo "usage: $0 sealgate_<version>_<arch>.deb" >&2; exit 2; }
deb=$(realpath "$1")
[[ $(id -u) -eq 0 ]] || { echo "install_test: needs root (it installs a package)" >&2; exit 2; }

fail() { echo "install_test: FAIL: $*" >&2; exit 1; }
ok() { echo "install_test: ok: $*"; }
installed() { [[ $(dpkg-query -W -f='${db:Status-Abbrev}' sealgate 2>/dev/null) == ii* ]]; }
MARK=/var/lib/sealgate/.sealgate-install-test

# This test owns the package's paths: it only ever replaces an install it made itself.
if dpkg-query -W sealgate >/dev/null 2>&1; then
  [[ -e $MARK ]] || fail "sealgate is already installed here and not by this test; remove it first"
  apt-get purge -y -q sealgate >/dev/null
fi

PID=
cleanup() {
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

mapfile -t payload < <(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$')
echo "== apt-get install $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" >/tmp/sealgate-install-test.apt 2>&1 ||
  { cat /tmp/sealgate-install-test.apt; fail "apt-get install"; }
installed || fail "not installed after apt-get install"
touch "$MARK"

# --- what the package put where ----------------------------------------------------------
version=$(dpkg-query -W -f='${Version}' sealgate)
[[ $(sealgate --version) == "sealgate ${version%-*}" ]] || fail "sealgate --version: $(sealgate --version) (package $version)"
[[ $(sealgated --version) == "sealgated ${version%-*}" ]] || fail "sealgated --version: $(sealgated --version)"
ok "sealgate and sealgated ${version%-*} on PATH"
for cmd in sealgate sealgated; do
  page=/usr/share/man/man1/$cmd.1.gz
  zcat "$page" | grep -q "^\.TH \"\?${cmd^^}" || fail "$page is not $cmd's man page"
done
zcat /usr/share/man/man1/sealgate.1.gz | grep -q "config" || fail "sealgate(1) does not list the config command"
ok "man pages sealgate(1) and sealgated(1)"
dpkg-query -W -f='${Conffiles}\n' sealgate | grep -q '^ /etc/sealgate/sealgated.conf ' ||
  fail "/etc/sealgate/sealgated.conf is not a conffile"
depends=$(dpkg-query -W -f='${Depends}' sealgate)
for lib in libssl3 libsodium23 libpoco libtss2-esys libengine-pkcs11-openssl libtss2-tcti-device0 systemd; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
if ldd /usr/bin/sealgated /usr/bin/sealgate | grep -q "not found"; then fail "a library is missing: $(ldd /usr/bin/sealgated | grep 'not found')"; fi
ok "conffile, Depends (from dpkg-shlibdeps and the run-time modules), every library found"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd sealgate) || fail "no user sealgate"
((uid < 1000)) || fail "sealgate is not a system user (uid $uid)"
[[ $home == /var/lib/sealgate && $shell == /usr/sbin/nologin ]] || fail "user sealgate: home $home, shell $shell"
[[ $(stat -c '%a %U %G' /var/lib/sealgate) == "700 sealgate sealgate" ]] ||
  fail "/var/lib/sealgate is $(stat -c '%a %U %G' /var/lib/sealgate)"
ok "system user sealgate (uid $uid, nologin) and /var/lib/sealgate 0700"
[[ -f /lib/systemd/system/sealgated.service ]] || fail "no unit"
grep -q '^ExecStart=/usr/bin/sealgated --config /etc/sealgate/sealgated.conf$' /lib/systemd/system/sealgated.service ||
  fail "the unit does not start the installed daemon with the packaged config"
for f in "${payload[@]}"; do
  case $f in
    *.key | *.pin | *.p12 | *token* | /var/*) fail "the package ships $f" ;;
  esac
done
if grep -rl -- "-----BEGIN .*PRIVATE KEY-----" /etc/sealgate /usr/share/doc/sealgate /usr/share/sealgate 2>/dev/null; then
  fail "a private key is installed"
fi
ok "the unit, and no key, PIN or token in the package"

# The packaged config: valid as it stands; its files are the ceremony's to write.
sealgate config check || fail "sealgate config check on the packaged config"
if runuser -u sealgate -- sealgate config check --files >/tmp/sealgate-install-test.check 2>&1; then
  fail "config check --files passed before any key ceremony"
fi
grep -q "hsm.pin_file" /tmp/sealgate-install-test.check || fail "config check --files did not name hsm.pin_file"
ok "the packaged config passes config check; --files names what the ceremony must write"

# --- smoke run: the installed daemon, as user sealgate, on a development token ----------
inst=/var/lib/sealgate/smoke
runuser -u sealgate -- sealgate dev-init --dir "$inst" --tpm none >/dev/null || fail "dev-init as sealgate"
runuser -u sealgate -- sealgate config check --config "$inst/sealgated.conf" --files || fail "config check --files (dev)"
log=$inst/sealgated.log
# setpriv execs the daemon itself (runuser would stay in between as its parent).
setpriv --reuid=sealgate --regid=sealgate --init-groups -- \
  sealgated --config "$inst/sealgated.conf" --pep-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 >"$log" 2>&1 &
PID=$!
for _ in $(seq 300); do
  grep -q '"event":"started"' "$log" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$log"; fail "the installed sealgated did not start"; }
  sleep 0.1
done
admin=$(grep -o '"admin_port":[0-9]*' "$log" | head -1 | cut -d: -f2)
pep=$(grep -o '"pep_port":[0-9]*' "$log" | head -1 | cut -d: -f2)
[[ -n $admin && -n $pep ]] || { cat "$log"; fail "no ports in the started line"; }
[[ $(ps -o user= -p "$PID") == sealgate ]] || fail "sealgated does not run as sealgate"
clients=$inst/pki/clients
sealgate status --admin "https://localhost:$admin" --ca "$inst/pki/ca.pem" --cert "$clients/admin.pem" \
  --key "$clients/admin.key" || fail "sealgate status: not ready"
out=$(curl -sS --cacert "$inst/pki/ca.pem" --cert "$clients/acme-payments.pem" --key "$clients/acme-payments.key" \
  -H 'Content-Type: application/json' -d '{"uri":"secret://acme/kv/app/db#password"}' \
  "https://localhost:$pep/v1/uris/canonicalize")
[[ $out == *'"resource_ref":"rr1:v1:'* ]] || fail "canonicalize through the installed daemon: $out"
kill -TERM "$PID"
wait "$PID" || true
PID=
grep -q '"event":"stopped"' "$log" || { cat "$log"; fail "no clean stop"; }
ok "the installed sealgated served as user sealgate (status ready, a canonicalize call) and stopped cleanly"

# --- remove: commands gone, configuration and data kept ---------------------------------
echo "== apt-get remove sealgate"
apt-get remove -y -q sealgate >/dev/null
[[ $(dpkg-query -W -f='${db:Status-Abbrev}' sealgate) == rc* ]] || fail "not in config-files state after remove"
for f in "${payload[@]}"; do
  [[ $f == /etc/sealgate/sealgated.conf ]] && continue
  [[ -e $f ]] && fail "remove left $f"
done
[[ -f /etc/sealgate/sealgated.conf && -d $inst ]] || fail "remove deleted the configuration or the data"
ok "remove: every packaged file gone but the conffile; /etc/sealgate and /var/lib/sealgate kept"

# --- purge: configuration and data gone, the system user stays -------------------------
echo "== apt-get purge sealgate"
apt-get purge -y -q sealgate >/dev/null
dpkg-query -W sealgate >/dev/null 2>&1 && fail "dpkg still knows sealgate after purge"
for f in "${payload[@]}" /etc/sealgate /var/lib/sealgate; do
  [[ -e $f ]] && fail "purge left $f"
done
getent passwd sealgate >/dev/null || fail "purge removed the system user (Debian keeps them)"
ok "purge: nothing left but the system user"
echo "install_test: passed"
