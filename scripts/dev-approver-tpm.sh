#!/usr/bin/env bash
# The software TPM of a development instance's break-glass approver:
# `sealgate dev-init --tpm swtpm` keeps approver-1..3's TPM states in
# DIR/approvers/<name>/ (docs/DEVELOPMENT.md, "Break-glass approvers of a
# development instance"). The folder is the TPM: the same folder keeps its EK,
# its enrolled AK and its PCR values (all zero after startup-clear, as enrolled).
#
#   scripts/dev-approver-tpm.sh DIR NAME start    # in the background; prints the TCTI for --tpm
#   scripts/dev-approver-tpm.sh DIR NAME stop
#   scripts/dev-approver-tpm.sh DIR NAME status   # exit 0 when it runs
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 DIR NAME start|stop|status" >&2
  exit 2
fi
dir=$1 name=$2 action=$3
[[ $name =~ ^[a-z0-9][a-z0-9._-]{0,63}$ ]] || { echo "not an approver name: $name" >&2; exit 2; }
state=$(cd "$dir" && pwd)/approvers/$name
[[ -f $state/tpm2-00.permall ]] || { echo "no approver TPM in $state (sealgate dev-init --tpm swtpm makes them)" >&2; exit 2; }
sock=$state/swtpm.sock
pidfile=$state/swtpm.pid

running() {
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == swtpm ]]
}

case $action in
  start)
    if ! running; then
      rm -f "$sock" "$sock.ctrl" "$pidfile"
      # What DevSoftwareTpm::startCommand prints, as dev-init shows it.
      swtpm socket --tpm2 --server "type=unixio,path=$sock" --ctrl "type=unixio,path=$sock.ctrl" \
        --tpmstate "dir=$state" --flags startup-clear --daemon --pid "file=$pidfile"
      for _ in $(seq 300); do [[ -S $sock ]] && break; sleep 0.01; done
      [[ -S $sock ]] || { echo "swtpm did not start for $name" >&2; exit 1; }
    fi
    echo "swtpm:path=$sock"
    ;;
  stop)
    if running; then
      pid=$(<"$pidfile")
      kill -TERM "$pid"
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    fi
    rm -f "$pidfile"
    ;;
  status)
    if running; then echo "running: swtpm:path=$sock"; else echo "stopped"; exit 1; fi
    ;;
  *)
    echo "usage: $0 DIR NAME start|stop|status" >&2
    exit 2
    ;;
esac
