#!/usr/bin/env bash
# Give the tests a real S3 server: a throwaway single-node Ceph cluster (one monitor, one
# bluestore OSD on a sparse file, one RGW with the beast frontend), all on 127.0.0.1 under
# $RGW_DIR. Idempotent: a healthy instance started earlier from the same dir and settings is
# reused. Anything else found there (a killed run, other settings) is stopped and wiped.
#
# stdout: only the `export S3_...=...` lines; progress and errors go to stderr. The same lines
# are written to $RGW_DIR/env: run this, then `. "$RGW_DIR/env"` (an `eval "$(...)"` would
# hide a failure from `set -e`). See README.md here for the variables and timings.
set -euo pipefail

RGW_DIR=${RGW_DIR:-/tmp/portal-rgw}
RGW_DIR=${RGW_DIR%/}
RGW_PORT=${RGW_PORT:-7480}                    # S3 (beast)
RGW_MON_PORT=${RGW_MON_PORT:-16789}           # monitor, msgr v1 (ceph's default is 6789)
RGW_OSD_PORT_MIN=${RGW_OSD_PORT_MIN:-$((RGW_MON_PORT + 1))}   # the OSD binds 4 ports in here
RGW_OSD_PORT_MAX=${RGW_OSD_PORT_MAX:-$((RGW_OSD_PORT_MIN + 40))}
RGW_MIN_PART_SIZE=${RGW_MIN_PART_SIZE:-1}     # bytes; RGW's (and AWS's) default is 5242880
RGW_OSD_SIZE=${RGW_OSD_SIZE:-20G}             # sparse: only what is written takes disk
RGW_REGION=${RGW_REGION:-us-east-1}
RGW_BUCKET=${RGW_BUCKET:-portal-test}
RGW_ACCESS_KEY=${RGW_ACCESS_KEY:-portal-test}
RGW_SECRET_KEY=${RGW_SECRET_KEY:-portal-test-secret}
RGW_TIMEOUT=${RGW_TIMEOUT:-90}                # seconds for the cluster to come up (install not counted)
RGW_STRICT_PORT=${RGW_STRICT_PORT-7481}       # a 2nd gateway on the same data keeping the real 5 MiB minimum; empty: none

CONF=$RGW_DIR/ceph.conf
KEYRING=$RGW_DIR/keyring
ENDPOINT=http://127.0.0.1:$RGW_PORT
MARKER=.portal-rgw                            # only a dir holding this file is ever wiped
SETTINGS="port=$RGW_PORT strict=$RGW_STRICT_PORT mon=$RGW_MON_PORT osd=$RGW_OSD_PORT_MIN-$RGW_OSD_PORT_MAX minpart=$RGW_MIN_PART_SIZE size=$RGW_OSD_SIZE bucket=$RGW_BUCKET key=$RGW_ACCESS_KEY secret=$(printf %s "$RGW_SECRET_KEY" | sha256sum | cut -c1-16)"
DAEMONS="mon.a osd.0 client.rgw.a${RGW_STRICT_PORT:+ client.rgw.strict}"
STRICT_ENDPOINT=${RGW_STRICT_PORT:+http://127.0.0.1:$RGW_STRICT_PORT}

log() { printf '[start-rgw %s] %s\n' "$(date +%T)" "$*" >&2; }

case $RGW_DIR in /|"") echo "refusing RGW_DIR='$RGW_DIR'" >&2; exit 2 ;; esac
for v in RGW_PORT RGW_MON_PORT RGW_OSD_PORT_MIN RGW_OSD_PORT_MAX RGW_MIN_PART_SIZE RGW_TIMEOUT \
         ${RGW_STRICT_PORT:+RGW_STRICT_PORT}; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a number, got '${!v}'" >&2; exit 2; }
done

# ---------------------------------------------------------------- helpers

# s3 METHOD PATH [curl args...] -- signed request, prints the body, fails on HTTP >= 400.
# curl 7.88's --aws-sigv4 sends no x-amz-content-sha256, and RGW then answers
# SignatureDoesNotMatch: send the header ourselves (curl signs it).
s3() {
  local method=$1 path=$2; shift 2
  local -a m=(-X "$method"); [[ $method == HEAD ]] && m=(--head)
  curl -sS --fail-with-body --max-time 20 "${m[@]}" \
    --aws-sigv4 "aws:amz:$RGW_REGION:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$ENDPOINT$path"
}

pid_of() { # pid_of NAME -> pid from the pid file, if that process still runs our conf
  local f=$RGW_DIR/run/$1.pid pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && uses_our_conf "$pid" && echo "$pid"
}

uses_our_conf() { # is process $1 a daemon started with -c $CONF ?
  [[ -r /proc/$1/cmdline ]] || return 1
  local -a args
  mapfile -d '' -t args < "/proc/$1/cmdline" 2>/dev/null || return 1
  local a
  for a in "${args[@]}"; do [[ $a == "$CONF" ]] && return 0; done
  return 1
}

our_pids() { # every process (pid files or not) running with our conf: leftovers of killed runs
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" ]] && continue
    uses_our_conf "$p" && echo "$p"
  done
  return 0
}

healthy() { # a previous run of this script is up, with the same settings, and S3 answers
  [[ -f $RGW_DIR/$MARKER && -f $RGW_DIR/ready && -f $RGW_DIR/env ]] || return 1
  [[ $(<"$RGW_DIR/ready") == "$SETTINGS" ]] || { log "settings differ from the running instance"; return 1; }
  local d
  for d in $DAEMONS; do pid_of "$d" >/dev/null || { log "$d is not running"; return 1; }; done
  s3 HEAD "/$RGW_BUCKET" -o /dev/null --max-time 5 2>/dev/null || { log "S3 does not answer on $ENDPOINT"; return 1; }
  [[ -z $STRICT_ENDPOINT ]] || curl -sf --max-time 5 -o /dev/null "$STRICT_ENDPOINT/" \
    || { log "S3 does not answer on $STRICT_ENDPOINT"; return 1; }
}

stop_ours() { # stop_ours [grace seconds]: SIGTERM, then SIGKILL, everything running with our conf
  local grace=${1:-0} pids   # grace 0: SIGKILL at once (the dir is wiped next anyway)
  pids=$(our_pids)
  [[ -n $pids ]] || return 0
  log "stopping daemons of $RGW_DIR: $(echo $pids)"
  if (( grace > 0 )); then
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 $((grace * 4))); do
      pids=$(for p in $pids; do [[ -d /proc/$p ]] && uses_our_conf "$p" && echo "$p"; done; true)
      [[ -z $pids ]] && return 0
      sleep 0.25
    done
  fi
  kill -KILL $pids 2>/dev/null || true
  for _ in $(seq 1 20); do
    pids=$(for p in $pids; do uses_our_conf "$p" && echo "$p"; done; true)  # a zombie has no cmdline
    [[ -z $pids ]] && return 0
    sleep 0.1
  done
}

port_holder() { ss -Hltnp "sport = :$1" 2>/dev/null | head -n 3; }

show_logs() {
  local f
  for f in "$RGW_DIR"/log/*; do
    [[ -s $f ]] || continue
    echo "----- tail of $f" >&2
    tail -n 15 "$f" >&2
  done
}

DEADLINE=0
fail() {
  trap - ERR
  printf '\nstart-rgw: FAILED: %s\n' "$*" >&2
  show_logs
  if [[ -n ${RGW_KEEP_ON_FAIL:-} ]]; then
    echo "start-rgw: RGW_KEEP_ON_FAIL is set: daemons left running; logs in $RGW_DIR/log" >&2
  else
    stop_ours 5
    echo "start-rgw: daemons stopped; logs kept in $RGW_DIR/log" >&2
  fi
  exit 1
}

wait_for() { # wait_for WHAT COMMAND... -- retry until it succeeds or the deadline passes
  local what=$1; shift
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < DEADLINE )) || fail "timed out after ${RGW_TIMEOUT}s waiting for $what"
    sleep 0.25
  done
}

launch() { # launch NAME CMD...: start a daemon (it forks into the background by itself) with
  # no fd of ours but its log: an inherited pipe (CI's output) or our lock would stay open
  local name=$1; shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}; (( fd > 2 )) && eval "exec $fd>&-"
    done
    exec "$@" > "$RGW_DIR/log/$name.out" 2>&1 < /dev/null
  )
}

ceph_cli() { timeout 20 ceph -c "$CONF" -n client.admin --connect-timeout 15 "$@"; }

write_env() {
  local tmp=$RGW_DIR/env.tmp
  cat > "$tmp" <<EOF
export S3_ENDPOINT=$ENDPOINT
export S3_REGION=$RGW_REGION
export S3_BUCKET=$RGW_BUCKET
export S3_ACCESS_KEY_ID=$RGW_ACCESS_KEY
export S3_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
export S3_MIN_PART_SIZE=$RGW_MIN_PART_SIZE
EOF
  [[ -z $STRICT_ENDPOINT ]] || echo "export S3_STRICT_ENDPOINT=$STRICT_ENDPOINT" >> "$tmp"
  mv "$tmp" "$RGW_DIR/env"
}

# ---------------------------------------------------------------- one run at a time per dir

mkdir -p "$(dirname "$RGW_DIR")"
exec 9> "$RGW_DIR.lock"
flock -w 300 9 || { echo "start-rgw: $RGW_DIR.lock is held by another run" >&2; exit 1; }

if healthy; then
  log "reusing the RGW already running on $ENDPOINT ($RGW_DIR)"
  cat "$RGW_DIR/env"
  exit 0
fi

# ---------------------------------------------------------------- packages

need_install=
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
  command -v "$b" >/dev/null || need_install=1
done
if [[ -n $need_install ]]; then
  log "installing radosgw ceph-mon ceph-osd from Debian (about 60 packages)"
  export DEBIAN_FRONTEND=noninteractive
  # DPkg::Lock::Timeout: wait for, rather than fail on, another apt-get running on the machine
  { apt-get -o DPkg::Lock::Timeout=300 update \
      && apt-get -o DPkg::Lock::Timeout=300 install --no-install-recommends -y radosgw ceph-mon ceph-osd; } \
    > "$RGW_DIR.apt.log" 2>&1 || { tail -n 30 "$RGW_DIR.apt.log" >&2; echo "start-rgw: apt-get failed" >&2; exit 1; }
  log "installed in $SECONDS s (apt log: $RGW_DIR.apt.log)"
fi

# ---------------------------------------------------------------- clear leftovers

stop_ours
if [[ -e $RGW_DIR ]]; then
  if [[ -f $RGW_DIR/$MARKER || -z $(ls -A "$RGW_DIR") ]]; then
    rm -rf "$RGW_DIR"
  else
    echo "start-rgw: $RGW_DIR exists and was not made by this script; refusing to wipe it" >&2
    exit 1
  fi
fi
for p in "$RGW_PORT" "$RGW_MON_PORT" $RGW_STRICT_PORT; do
  if [[ -n $(port_holder "$p") ]]; then
    echo "start-rgw: port $p on this machine is already in use:" >&2
    port_holder "$p" >&2
    echo "set RGW_PORT / RGW_MON_PORT / RGW_STRICT_PORT to free ports" >&2
    exit 1
  fi
done

T0=$SECONDS
set -E
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR
DEADLINE=$((SECONDS + RGW_TIMEOUT))
mkdir -p "$RGW_DIR"/{run,log,mon,osd/0,rgw}
touch "$RGW_DIR/$MARKER"
FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
log "creating a cluster in $RGW_DIR (mon 127.0.0.1:$RGW_MON_PORT, S3 $ENDPOINT, min part size $RGW_MIN_PART_SIZE)"

# \$name, \$id... are ceph's own metavariables, expanded by each daemon
cat > "$CONF" <<EOF
# made by test/s3/start-rgw.sh: a throwaway single-node cluster for tests
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$RGW_MON_PORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
ms bind port min = $RGW_OSD_PORT_MIN
ms bind port max = $RGW_OSD_PORT_MAX
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $KEYRING
run dir = $RGW_DIR/run
admin socket = $RGW_DIR/run/\$name.asok
pid file = $RGW_DIR/run/\$name.pid
log file = $RGW_DIR/log/\$name.log
mon cluster log file = $RGW_DIR/log/cluster.log
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail crit = 1
mon data avail warn = 1

[mon]
mon data = $RGW_DIR/mon/\$id
# commit map changes every 50 ms, not every second: RGW creates ~8 pools at start, each
# needing a few osdmap epochs (halves the cold start)
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $RGW_DIR/osd/\$id
osd objectstore = bluestore
bluestore block path = $RGW_DIR/osd-\$id.block
bluestore block create = true
bluestore block size = $RGW_OSD_SIZE
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mount = false
osd memory target = 1073741824

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $RGW_DIR/rgw
rgw multipart min part size = $RGW_MIN_PART_SIZE
rgw thread pool size = 64
EOF
[[ -z $RGW_STRICT_PORT ]] || cat >> "$CONF" <<EOF

# same cluster, users and buckets; RGW's default (and AWS's) 5 MiB minimum part size
[client.rgw.strict]
rgw frontends = beast endpoint=127.0.0.1:$RGW_STRICT_PORT
rgw data = $RGW_DIR/rgw
rgw thread pool size = 64
EOF

# one keyring for everybody (cephx; 'auth = none' makes the OSD fail with "wrong fsid")
ceph-authtool "$KEYRING" --create-keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$KEYRING" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$KEYRING" --gen-key -n osd.0 \
  --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
for n in client.rgw.a client.rgw.strict; do
  ceph-authtool "$KEYRING" --gen-key -n $n --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
done

monmaptool --create --fsid "$FSID" --addv a "[v1:127.0.0.1:$RGW_MON_PORT]" "$RGW_DIR/monmap" >/dev/null
ceph-mon -c "$CONF" -i a --mkfs --monmap "$RGW_DIR/monmap" --keyring "$KEYRING" \
  > "$RGW_DIR/log/mon.a.out" 2>&1 || fail "ceph-mon --mkfs"
launch mon.a ceph-mon -c "$CONF" -i a || fail "ceph-mon did not start"
wait_for "the monitor" ceph_cli mon stat
log "monitor up"

ceph_cli osd new "$OSD_UUID" 0 > /dev/null || fail "ceph osd new"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" > "$RGW_DIR/log/osd.0.out" 2>&1 || fail "ceph-osd --mkfs"
launch osd.0 ceph-osd -c "$CONF" -i 0 || fail "ceph-osd did not start"
osd_up() { ceph_cli osd dump 2>/dev/null | grep -q '^osd\.0 up'; }
wait_for "the OSD" osd_up
log "OSD up"

launch client.rgw.a radosgw -c "$CONF" -n client.rgw.a || fail "radosgw did not start"
wait_for "RGW on $ENDPOINT" curl -sf --max-time 2 -o /dev/null "$ENDPOINT/"
log "RGW answers"
if [[ -n $RGW_STRICT_PORT ]]; then   # only now: both gateways would race to create the zone's pools
  launch client.rgw.strict radosgw -c "$CONF" -n client.rgw.strict || fail "radosgw (strict) did not start"
fi

timeout 60 radosgw-admin -c "$CONF" -n client.admin user create --uid="$RGW_ACCESS_KEY" \
  --display-name="portal tests" --access-key="$RGW_ACCESS_KEY" --secret-key="$RGW_SECRET_KEY" \
  > "$RGW_DIR/log/user-create.out" 2>&1 || fail "radosgw-admin user create"

log "user created"
# the bucket, then one object and one aborted multipart upload: RGW creates its data and
# multipart pools on first use (~3 s), so no test pays for that
s3 PUT "/$RGW_BUCKET" >&2 || fail "creating bucket $RGW_BUCKET"
s3 PUT "/$RGW_BUCKET/.start-rgw-warmup" --data-binary warmup -o /dev/null >&2 || fail "warm-up PUT"
upload_id=$(s3 POST "/$RGW_BUCKET/.start-rgw-warmup?uploads=" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p') \
  || fail "warm-up CreateMultipartUpload"
[[ -n $upload_id ]] || fail "warm-up CreateMultipartUpload gave no UploadId"
s3 DELETE "/$RGW_BUCKET/.start-rgw-warmup?uploadId=$upload_id" -o /dev/null >&2 || fail "warm-up abort"
s3 DELETE "/$RGW_BUCKET/.start-rgw-warmup" -o /dev/null >&2 || fail "warm-up DELETE"

[[ -z $RGW_STRICT_PORT ]] || wait_for "RGW on $STRICT_ENDPOINT" curl -sf --max-time 2 -o /dev/null "$STRICT_ENDPOINT/"
write_env
printf '%s\n' "$SETTINGS" > "$RGW_DIR/ready"
log "S3 is up on $ENDPOINT after $((SECONDS - T0)) s; env in $RGW_DIR/env"
cat "$RGW_DIR/env"
