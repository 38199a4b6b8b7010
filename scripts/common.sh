# Shared by scripts/demo.sh and scripts/test.sh.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

install_deps() {
  as_root bash "$ROOT/scripts/install-deps.sh"
}

# build PRESET [TARGET...]
build() {
  local preset=$1; shift
  cmake --preset "$preset" -S "$ROOT" >/dev/null
  if (($#)); then
    cmake --build "$ROOT/build/$preset" -j"$(nproc)" --target "$@"
  else
    cmake --build "$ROOT/build/$preset" -j"$(nproc)"
  fi
}
