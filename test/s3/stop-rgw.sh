#!/usr/bin/env bash
# Stop the RGW, OSD and monitor that start-rgw.sh started in $RGW_DIR: SIGTERM by their pid
# files (plus any process still running with $RGW_DIR/ceph.conf, e.g. from a killed run),
# wait up to $RGW_STOP_TIMEOUT seconds (per group), then SIGKILL. With --purge (or RGW_PURGE=1)
# also remove $RGW_DIR. Exits 0 unless something survives SIGKILL, so it suits a trap.
set -uo pipefail

RGW_DIR=${RGW_DIR:-/tmp/portal-rgw}
RGW_DIR=${RGW_DIR%/}
RGW_STOP_TIMEOUT=${RGW_STOP_TIMEOUT:-10}
purge=${RGW_PURGE:-}
for a in "$@"; do
  case $a in
    --purge) purge=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
  esac
done
case $RGW_DIR in /|"") echo "refusing RGW_DIR='$RGW_DIR'" >&2; exit 2 ;; esac
CONF=$RGW_DIR/ceph.conf

uses_our_conf() {
  [[ -r /proc/$1/cmdline ]] || return 1
  local -a args; local a
  mapfile -d '' -t args < "/proc/$1/cmdline" 2>/dev/null || return 1
  for a in "${args[@]}"; do [[ $a == "$CONF" ]] && return 0; done
  return 1
}

alive() { local p out=(); for p in "$@"; do uses_our_conf "$p" && out+=("$p"); done; echo "${out[*]}"; }

stop_group() { # stop_group WHAT PID...: SIGTERM, wait, SIGKILL after $RGW_STOP_TIMEOUT s
  local what=$1; shift
  local left; left=$(alive "$@")
  [[ -n $left ]] || return 0
  stopped=1
  echo "stop-rgw: SIGTERM $what ($left)" >&2
  kill -TERM $left 2>/dev/null
  local deadline=$((SECONDS + RGW_STOP_TIMEOUT))
  while [[ -n $left ]] && (( SECONDS < deadline )); do sleep 0.1; left=$(alive $left); done
  [[ -n $left ]] || return 0
  echo "stop-rgw: $what still running after ${RGW_STOP_TIMEOUT}s, SIGKILL $left" >&2
  kill -KILL $left 2>/dev/null
  for _ in $(seq 1 25); do left=$(alive $left); [[ -z $left ]] && return 0; sleep 0.2; done
  echo "stop-rgw: could not stop $left" >&2
  return 1
}

from_pidfiles() { local f; for f in "$@"; do [[ -s $f ]] && cat "$f"; done; return 0; }

# gateways first, then the OSD, then the monitor: each stops in well under a second while the
# monitor is still there (SIGTERM to all at once takes ~5 s: RGW waits for the gone monitor)
rc=0 stopped=
stop_group gateways $(from_pidfiles "$RGW_DIR"/run/client.rgw.*.pid) || rc=1
stop_group osd $(from_pidfiles "$RGW_DIR"/run/osd.*.pid) || rc=1
stop_group monitor $(from_pidfiles "$RGW_DIR"/run/mon.*.pid) || rc=1
leftovers=()                                  # e.g. from a killed run whose pid files are gone
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  [[ $p != "$$" ]] && uses_our_conf "$p" && leftovers+=("$p")
done
(( ${#leftovers[@]} )) && { stop_group leftovers "${leftovers[@]}" || rc=1; }
(( rc == 0 )) || exit 1
[[ -n $stopped ]] || echo "stop-rgw: nothing running for $RGW_DIR" >&2
rm -f "$RGW_DIR"/run/*.pid "$RGW_DIR/ready" 2>/dev/null

if [[ -n $purge && -e $RGW_DIR ]]; then
  if [[ -f $RGW_DIR/.portal-rgw ]]; then
    rm -rf "$RGW_DIR" && echo "stop-rgw: removed $RGW_DIR" >&2
  else
    echo "stop-rgw: $RGW_DIR was not made by start-rgw.sh; not removing it" >&2
  fi
fi
exit 0
