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
count() { # api side calls
  BENCH_APIS=$1 BENCH_QUICK=1 BENCH_PROFILE=$2 BENCH_CALLS=$3 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_call() { # api side
  local small large
  small=$(count "$1" "$2" 200)
  large=$(count "$1" "$2" 1200)
  echo $(( (large - small) / 1000 ))
}
echo
echo "instructions per call (callgrind; 1,200 calls minus 200, per call):"
for api in chat responses anthropic gemini; do
  base=$(per_call "$api" baseline)
  ours=$(per_call "$api" library)
  awk -v api="$api" -v b="$base" -v l="$ours" \
    'BEGIN { printf "  %-10s baseline %7d  instructor %7d  %.2fx (target <= 1.15) %s\n", api, b, l, l / b, (l / b <= 1.15 ? "ok" : "MISSED") }'
  if [ "$api" = chat ]; then
    reask=$(per_call chat reask)
    awk -v r="$reask" -v l="$ours" \
      'BEGIN { printf "  %-10s one re-ask %7d = %.2fx a plain call (target <= 2.3) %s\n", "chat", r, r / l, (r / l <= 2.3 ? "ok" : "MISSED") }'
  fi
done
