#!/bin/sh
# One interleaved side-by-side run of openclaw-supervisor ("ours") and the peers
# (supervisord, PM2, runit, s6, horust) with the peer harness, which stays outside
# this repo (HARNESS, default ../shared/peerbench beside the checkout), through
# our adapter (ours.py). Each scenario goes through every tool in turn before the
# next one; never two supervisors at once. Run from the checkout:
#
#   cargo build --release --bins            # the supervisor, its keeper, the simulator
#   sh ../shared/peerbench/install.sh       # once: the peers
#   sh benches/peerbench/run.sh             # ~20 minutes
#   python3 benches/peerbench/table.py      # the table (BENCHMARKS.md "Side by side")
#
# CPU2 / CPU100 / CPU200: the idle CPU windows in seconds (60 / 60 / 20);
# SMALL: the tools at 100 and 200 services (default: ours and the three that
# lead at rest; supervisord and PM2 are far behind there). Results:
# $PEERBENCH/results/*.jsonl, the load average of each step in loadavg.log.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
HARNESS=${HARNESS:-$HERE/../../../shared/peerbench}
HARNESS=$(cd "$HARNESS" && pwd) || exit 1
PEERBENCH=${PEERBENCH:-${TMPDIR:-/tmp}/peerbench}; export PEERBENCH
OURS_BIN=${OURS_BIN:-$PWD/target/release/openclaw-supervisor}
OURS_SIM=${OURS_SIM:-$PWD/target/release/openclaw-gateway-sim}
export OURS_BIN OURS_SIM
[ -x "$OURS_BIN" ] || { echo "no $OURS_BIN: cargo build --release --bins first" >&2; exit 1; }
mkdir -p "$PEERBENCH/results"
cp -r "$HARNESS"/*.py "$HARNESS"/workload "$PEERBENCH"/
cd "$PEERBENCH" || exit 1
TOOLS=${TOOLS:-ours supervisord pm2 runit s6 horust}
SMALL=${SMALL:-ours runit s6 horust}
B="python3 $HERE/ours.py $PEERBENCH bench.py"
S="python3 $HERE/ours.py $PEERBENCH status_fine.py"
L="$PEERBENCH/results/loadavg.log"
step() { echo "$(date +%T) start $* | $(cat /proc/loadavg)" >>"$L"; "$@"; echo "$(date +%T) end($?) $* | $(cat /proc/loadavg)" >>"$L"; }
for t in $TOOLS; do step $B idle "$t" 2 "${CPU2:-60}"; done
step $B idle ours-sim 2 "${CPU2:-60}"      # the simulator as workload, default probes on
step $B idle ours-simnp 2 "${CPU2:-60}"    # the same, probes off: the difference is the probes' cost
for t in $SMALL; do step $B idle "$t" 100 "${CPU100:-60}"; done
for t in $SMALL; do step $B idle "$t" 200 "${CPU200:-20}"; done
for t in $TOOLS; do step $B respawn "$t" 25 2.0; done
step $B respawn s6 25 2.0 ready
for t in $TOOLS; do step $B respawn "$t" 20 0; done
for t in $TOOLS; do step $S "$t" 40; done
