#!/usr/bin/env bash
# Side-by-side benchmark: the same delayed-job workload on Ringback (SQLite), Ringback
# (PostgreSQL), pg-boss and BullMQ. See README.md beside this script.
#
#   bench/compare/run.sh
#   COMPARE_ONLY=ringback-sqlite,bullmq COMPARE_MODES=bulk COMPARE_JOBS=10000 bench/compare/run.sh
#
# Needs: node >= 20 and npm; cargo (unless RINGBACK_BIN is given); PostgreSQL on
# 127.0.0.1:5432 (user postgres, trust auth) for ringback-postgres and pgboss; Redis on
# 127.0.0.1:6379 for bullmq.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

ALL_SYSTEMS="ringback-sqlite,ringback-postgres,pgboss,bullmq"
ALL_MODES="bulk,single"
ONLY="${COMPARE_ONLY:-$ALL_SYSTEMS}"
MODES="${COMPARE_MODES:-$ALL_MODES}"

systems=()
for s in ${ONLY//,/ }; do
  case ",$ALL_SYSTEMS," in
    *",$s,"*) systems+=("$s") ;;
    *) echo "unknown system '$s' in COMPARE_ONLY (expected some of $ALL_SYSTEMS)" >&2; exit 2 ;;
  esac
done
modes=()
for m in ${MODES//,/ }; do
  case ",$ALL_MODES," in
    *",$m,"*) modes+=("$m") ;;
    *) echo "unknown mode '$m' in COMPARE_MODES (expected some of $ALL_MODES)" >&2; exit 2 ;;
  esac
done
[ "${#systems[@]}" -gt 0 ] && [ "${#modes[@]}" -gt 0 ] || { echo "nothing to run" >&2; exit 2; }

command -v node >/dev/null || { echo "node is required (>= 20)" >&2; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || { echo "node >= 20 is required (found $(node --version))" >&2; exit 1; }

# --- the run's identity, scratch directory and clean-up ------------------------------------------

RUN_ID="$(date -u +%Y%m%d%H%M%S)"
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ringback-compare.XXXXXX")"
mkdir -p "$RUN_DIR/pids" "$RUN_DIR/trials"
export COMPARE_RUN_ID="$RUN_ID"
export COMPARE_PID_DIR="$RUN_DIR/pids"
export COMPARE_RESULTS_DIR="$RUN_DIR/trials"
export COMPARE_OUT_DIR="${COMPARE_OUT_DIR:-$HERE}"
PG_ADMIN_URL="${COMPARE_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export COMPARE_PG_URL="$PG_ADMIN_URL"
DRIVER_PID=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # The driver cleans up after itself; give it a moment if it is still running.
  if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM "$DRIVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$DRIVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DRIVER_PID" 2>/dev/null || true
  fi
  # Servers and workers the drivers started and did not end (a driver that was killed).
  local f pid
  for f in "$RUN_DIR"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cut -d' ' -f1 "$f")"
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.5
  for f in "$RUN_DIR"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cut -d' ' -f1 "$f")"
    kill -KILL "$pid" 2>/dev/null || true
  done
  # Databases and Redis keys of this run, whatever state the drivers left them in.
  if [ -d "$HERE/node_modules/pg" ] || [ -d "$HERE/node_modules/ioredis" ]; then
    (cd "$HERE" && node lib/cleanup.js "$RUN_ID") || true
  fi
  rm -rf "$RUN_DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Ringback binary, npm packages ----------------------------------------------------------------

needs_ringback=0
for s in "${systems[@]}"; do [[ "$s" == ringback-* ]] && needs_ringback=1; done
if [ "$needs_ringback" = 1 ]; then
  if [ -z "${RINGBACK_BIN:-}" ]; then
    echo "== building ringback (cargo build --release --bin ringback)"
    (cd "$ROOT" && cargo build --release --bin ringback)
    RINGBACK_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/ringback"
  fi
  [ -x "$RINGBACK_BIN" ] || { echo "RINGBACK_BIN=$RINGBACK_BIN is not an executable" >&2; exit 1; }
  export RINGBACK_BIN
  COMPARE_RINGBACK_VERSION="$("$RINGBACK_BIN" --version 2>/dev/null | awk '{print $NF}' || echo unknown)"
  export COMPARE_RINGBACK_VERSION
fi
COMPARE_RINGBACK_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  COMPARE_RINGBACK_COMMIT="$COMPARE_RINGBACK_COMMIT+dirty"
fi
export COMPARE_RINGBACK_COMMIT

if [ ! -d "$HERE/node_modules" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  echo "== installing npm packages into bench/compare/node_modules"
  # `npm ci` insists on lock entries for every platform's optional binaries (msgpackr-extract),
  # which not every registry mirror serves; `npm install --no-save` installs the locked
  # versions without touching package.json or package-lock.json.
  (cd "$HERE" && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
    npm install --no-save --no-audit --no-fund --loglevel=error; })
fi

# --- the trials ------------------------------------------------------------------------------------

run_trial() { # system mode [VAR=value ...]
  local s="$1" m="$2" rc=0 t0=$SECONDS
  shift 2
  (cd "$HERE" && exec env "$@" node drive.js "$s" "$m") &
  DRIVER_PID=$!
  wait "$DRIVER_PID" || rc=$?
  DRIVER_PID=""
  echo "== $s / $m done in $((SECONDS - t0)) s (exit $rc)"
}

echo "== run $RUN_ID: ${systems[*]} x ${modes[*]}; ${COMPARE_JOBS:-100000} jobs over ${COMPARE_SPREAD_S:-10} s"
started=$SECONDS
for s in "${systems[@]}"; do
  for m in "${modes[@]}"; do
    echo
    echo "== $s / $m"
    trial="$RUN_DIR/trials/trial-$s-$m.json"
    run_trial "$s" "$m"
    # Due times are fixed when a job is enqueued, so the lead time before the first one is a
    # guess. If the enqueue was still running when jobs fell due, run it again once with a
    # lead time from the enqueue time just measured (unless COMPARE_LEAD_S was given).
    if [ -z "${COMPARE_LEAD_S:-}" ] && [ -e "$trial" ] &&
      node -e 'process.exit(JSON.parse(require("fs").readFileSync(process.argv[1])).window?.overran ? 0 : 1)' "$trial"; then
      lead="$(node -p 'Math.ceil(JSON.parse(require("fs").readFileSync(process.argv[1])).enqueue.seconds * 1.3 + 3)' "$trial")"
      echo "== $s / $m: the enqueue overran the first due time; running it again with a lead of $lead s"
      run_trial "$s" "$m" COMPARE_LEAD_S="$lead" COMPARE_NOTE="second attempt: the first enqueue overran the default lead time"
    fi
    # A system that cannot run (ringback-postgres before PostgreSQL support) is skipped once.
    if grep -q '"skipped"' "$trial" 2>/dev/null; then
      for rest in "${modes[@]}"; do
        [ "$rest" = "$m" ] && continue
        [ -e "$RUN_DIR/trials/trial-$s-$rest.json" ] && continue
        node -e '
          const fs = require("fs");
          const [from, to, mode] = process.argv.slice(1);
          const t = JSON.parse(fs.readFileSync(from, "utf8"));
          t.mode = mode;
          fs.writeFileSync(to, JSON.stringify(t, null, 2) + "\n");
        ' "$trial" "$RUN_DIR/trials/trial-$s-$rest.json" "$rest"
      done
      break
    fi
  done
done
echo
echo "== all trials done in $((SECONDS - started)) s"

(cd "$HERE" && node report.js)
