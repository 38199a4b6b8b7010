#!/usr/bin/env bash
# Installs every Debian package sealgate needs to build, run and test.
# Idempotent; run as root on Debian 12. Names everything it uses: nothing may
# rely on what happens to be installed on the machine.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config clang-14 libclang-rt-14-dev
  # the checks CI runs: layout (clang-format) and clang-tidy with run-clang-tidy
  clang-format clang-tidy
  # PKCS#11: SoftHSM2, opensc's pkcs11-tool, libp11 + the OpenSSL pkcs11 engine
  softhsm2 opensc libp11-kit-dev libp11-dev libengine-pkcs11-openssl
  # a second vendor module for the key store tests: libtpm2-pkcs11 over swtpm
  swtpm swtpm-tools libtpm2-pkcs11-1
  # TPM 2.0 through tpm2-tss ESAPI (attest/): sealing, NV counters; tpm2-tools for runbooks
  libtss2-dev tpm2-tools
  # audit: Kafka sink (librdkafka and its mock cluster)
  librdkafka-dev
  # libraries
  libssl-dev openssl libpoco-dev libsodium-dev nlohmann-json3-dev libspdlog-dev
  libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  # test and demo tools
  curl python3 python3-cryptography procps iproute2
  # the state benchmark's baseline (Redis SET NX, appendfsync always) and its client library
  redis-server libhiredis-dev
  # providers: PostgreSQL dynamic credentials (libpq) and a throwaway server for their tests
  libpq-dev postgresql-15 postgresql-client-15
  # providers: the development file provider reads YAML as well as JSON
  libyaml-cpp-dev
  # connectors (/v1/execute): libssh and libldap, and their real peers for the tests
  # (sshd with its own host keys and config; slapd with ldap-utils for its set-up)
  libssh-dev openssh-server openssh-client libldap-dev slapd ldap-utils
  # the web UI's browser tests: Debian's Chromium (driven by npm playwright-core) and a font for its screenshots
  chromium fonts-liberation
  # the service: sd_notify (Type=notify, watchdog) and systemd-analyze for the unit's exposure check
  libsystemd-dev systemd
  # monitoring: promtool checks the metrics the daemon serves and the shipped alert rules
  prometheus
  # the .deb: dpkg-shlibdeps (Depends), help2man (man pages from --help), lintian, gzip
  dpkg-dev help2man lintian gzip
  # the appliance image: mkosi 14 with debootstrap; squashfs and FAT tools for its disk variant
  mkosi debootstrap squashfs-tools dosfstools
)
# node-vault (tests/e2e/node) needs node and npm. These machines may carry nodejs
# with npm from outside Debian, which Debian's npm conflicts with: add Debian's
# only when there is no node at all (docs/DEVELOPMENT.md, "Installing the dependencies").
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#PACKAGES[@]} packages present"
fi
