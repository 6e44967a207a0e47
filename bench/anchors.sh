#!/usr/bin/env bash
# Runs the shared anchor harness (../shared/bench/run-anchors.sh) with the real service in the
# same run: makes the bench database and a user (token via the CLI), exports the server's
# environment, copies the read-only harness to a writable folder and runs it from there.
#
#   bash bench/anchors.sh                      # --only tus,portal-ref,portal, REPS=5, 512 MiB
#   bash bench/anchors.sh --quick              # smoke test: 64 MiB, 1 rep
#   STORAGE_FSYNC=false bash bench/anchors.sh --reps 3
#   bash bench/anchors.sh --only portal-ref,portal
#
# Environment: DATABASE_URL (postgres://postgres@127.0.0.1:5432/portal_bench), STORAGE_FSYNC (true),
# PORTAL_PORT (18300), PORTAL_DATA_DIR (/tmp/portal-bench-data), ANCHORS_DIR (/tmp/portal-anchors),
# SHARED_BENCH (../shared/bench), BENCH_TOKEN (made here when unset); plus the harness's own
# REPS, SIZE, MULTI, CHUNK, SCRATCH, VERIFY.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUN="$ROOT/node_modules/.bin/bun"
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
ANCHORS_DIR="${ANCHORS_DIR:-/tmp/portal-anchors}"

# What `bun src/main.ts` reads; the harness exports PORT itself (from PORTAL_URL).
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal_bench}"
export STORAGE_FSYNC="${STORAGE_FSYNC:-true}"
export HOST=127.0.0.1 LOG_LEVEL="${LOG_LEVEL:-warning}"
export PORTAL_DATA_DIR="${PORTAL_DATA_DIR:-/tmp/portal-bench-data}"
export DATA_DIR="$PORTAL_DATA_DIR"   # the harness empties PORTAL_DATA_DIR between runs

# What the harness reads. PORTAL_CMD runs in the harness's folder, so every path is absolute;
# it is exec'd, so the PID the harness measures is bun's.
export PORTAL_URL="http://127.0.0.1:${PORTAL_PORT:-18300}"
export PORTAL_CMD="$BUN $ROOT/src/main.ts"
export PORTAL_CLIENT_ARGS="${PORTAL_CLIENT_ARGS:---first-part 1}"
export PORTAL_LABEL="${PORTAL_LABEL:-portal(fsync=$STORAGE_FSYNC)}"
if [ -z "${BENCH_TOKEN:-}" ]; then
  # creates the database when missing and a user with a 1 TiB quota; prints only the token
  BENCH_TOKEN="$(timeout 120 "$BUN" "$ROOT/bench/upload.ts" --token-only)"
fi
export BENCH_TOKEN

# ../shared is read-only and the harness writes node_modules/ and tmp/ beside itself.
mkdir -p "$ANCHORS_DIR" "$PORTAL_DATA_DIR"
cp -r "$SHARED_BENCH/." "$ANCHORS_DIR/"
chmod -R u+w "$ANCHORS_DIR"

status=0
bash "$ANCHORS_DIR/run-anchors.sh" --only tus,portal-ref,portal "$@" || status=$?
rm -rf "${PORTAL_DATA_DIR:?}"
exit "$status"
