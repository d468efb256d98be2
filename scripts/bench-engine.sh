#!/usr/bin/env bash
# The embedded engine against llama-cpp-python, in one run: same GGUF, same templated prompts,
# 2 threads. llama-cpp-python is installed into a venv (it compiles llama.cpp: minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${BENCH_THREADS:-2}
venv=${BENCH_VENV:-target/bench-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import llama_cpp' 2>/dev/null || "$venv/bin/pip" install --quiet llama-cpp-python

cargo run --release -q -p instructor-cli -- model pull >/dev/null
model=$(cargo run --release -q -p instructor-cli -- model list | awk -F'\t' '/SmolLM2-135M-Instruct.Q4_1.gguf/ {print $1}')
prompts=$(mktemp)
ours=$(BENCH_MODEL="$model" BENCH_THREADS=$threads BENCH_PROMPT_OUT="$prompts" cargo bench -q -p instructor-engine --bench engine 2>/dev/null | tail -n 1)
theirs=$("$venv/bin/python" scripts/bench_engine_llama_cpp_python.py "$model" "$prompts" "$threads")
rm -f "$prompts"

python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"SmolLM2-135M-Instruct Q4_1, {a['threads']} threads, prompt of {a['prompt_tokens']} tokens (llama-cpp-python counted {b['prompt_tokens']})")
print(f"{'':40} {'instructor-engine':>18} {'llama-cpp-python':>18}")
rows = [("prefill (ms)", "prefill_ms"), ("first token, cold (ms)", "first_token_ms"),
        ("first token, shared system prompt (ms)", "first_token_shared_prefix_ms"),
        ("decode, unconstrained (tok/s)", "decode_tps"), ("peak RSS (MB)", "peak_rss_mb")]
for label, key in rows:
    print(f"{label:40} {a[key]:18.1f} {b[key]:18.1f}")
print(f"{'decode, JSON Schema (tok/s)':40} {a['decode_constrained_tps']:18.1f} {'-':>18}")
print(f"{'first token, JSON Schema, cold (ms)':40} {a['first_token_constrained_ms']:18.1f} {'-':>18}")
print()
def check(what, ratio, ok, target):
    print(f"{what:58} {ratio:6.2f}  (target {target}) {'ok' if ok else 'MISSED'}")
r = a["decode_constrained_tps"] / b["decode_tps"]
check("constrained decode / llama.cpp unconstrained decode", r, r >= 0.95, ">= 0.95")
r = a["prefill_ms"] / b["prefill_ms"]
check("prefill time / llama.cpp prefill time", r, r <= 1.10, "<= 1.10, parity")
check("first token, ms (constrained, ~50-token prompt, cold)", a["first_token_constrained_ms"], a["first_token_constrained_ms"] < 150, "< 150")
check("first token, ms (constrained, same system prompt cached)", a["first_token_shared_prefix_ms"], a["first_token_shared_prefix_ms"] < 150, "< 150")
PY
