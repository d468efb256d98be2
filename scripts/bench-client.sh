#!/usr/bin/env bash
# Client cost per call, instructor against a hand-written reqwest + serde_json baseline.
#
# 1. `cargo bench`: CPU time per call, sequential and at 64 concurrent tasks, and a call that
#    needs one re-ask, as ratios measured in the same run.
# 2. Instructions per call under callgrind, which do not drift with the machine's load: each
#    side runs 200 and 1,200 sequential calls, and the difference / 1,000 removes start-up.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench -p instructor-rs --bench client

command -v valgrind >/dev/null || { echo "valgrind not installed: skipping instruction counts" >&2; exit 0; }
bin=$(cargo bench -p instructor-rs --bench client --no-run 2>&1 | grep -oE 'target/release/deps/client-[0-9a-f]+' | head -n 1)
count() { # side calls
  BENCH_QUICK=1 BENCH_PROFILE=$1 BENCH_CALLS=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per_call
for side in baseline library; do
  small=$(count "$side" 200)
  large=$(count "$side" 1200)
  per_call[$side]=$(( (large - small) / 1000 ))
done
echo
echo "instructions per call (callgrind): baseline ${per_call[baseline]}, instructor ${per_call[library]}"
awk -v b="${per_call[baseline]}" -v l="${per_call[library]}" \
  'BEGIN { printf "instructions per call vs baseline           %.2f×  (target <= 1.15) %s\n", l / b, (l / b <= 1.15 ? "ok" : "MISSED") }'
