#!/usr/bin/env bash
# Concurrent bridged calls through Ringback's SIP user agent, sipp at both ends (customers
# sending G.711 audio, a bot echoing it). See driver.py for what is measured and how, and
# BENCHMARKS.md, "SIP: concurrent bridged calls", for results.
#
#   bench/sip/run.sh                                   # 50,100,200,500,1000 calls; ~7 minutes
#   SIP_BENCH_LEVELS=500,1000 bench/sip/run.sh
#   SIP_BENCH_ARGS="--duration 40 --ramp 10 --keep" bench/sip/run.sh
#   RINGBACK_BIN=/path/to/ringback bench/sip/run.sh    # skip the build
#
# Needs sipp 3.6+ built with RTP streaming (Debian's sip-tester), python3, and an open-file
# limit above 4 x the calls (each call holds two RTP sockets in Ringback). Everything listens
# on 127.0.0.1.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

command -v sipp >/dev/null || { echo "sipp is required (Debian: apt-get install sip-tester)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

if [ -z "${RINGBACK_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --bin ringback)
  RINGBACK_BIN="$ROOT/target/release/ringback"
fi

levels="${SIP_BENCH_LEVELS:-50,100,200,500,1000}"
max=0
for n in ${levels//,/ }; do [ "$n" -gt "$max" ] && max="$n"; done
need=$((max * 4 + 1000))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || {
    echo "the open-file limit ($(ulimit -n)) is below $need and cannot be raised" >&2; exit 1; }
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/Mem:/ {print $2}') GiB; $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1 | sed 's/\.$//');" \
  "binary $RINGBACK_BIN (checkout at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))" >&2

# shellcheck disable=SC2086
exec python3 "$HERE/driver.py" --bin "$RINGBACK_BIN" --levels "$levels" \
  --out "${SIP_BENCH_OUT:-${TMPDIR:-/tmp}/ringback-sip-bench}" ${SIP_BENCH_ARGS:-}
