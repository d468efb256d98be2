#!/usr/bin/env bash
# The reverse check: our library (json-schema and tools modes) against llama-cpp-python's
# OpenAI-compatible server on the same GGUF as `instructor serve`. Our client must work with a
# peer's server.
#
# llama-cpp-python compiles llama.cpp when installed (minutes on two cores). The venv is
# ${INSTRUCTOR_LLAMA_VENV}, else /tmp/bench-venv when it already has llama_cpp, else
# target/llama-venv. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${INSTRUCTOR_LLAMA_VENV:-}
if [ -z "$venv" ]; then
  if [ -x /tmp/bench-venv/bin/python ] && /tmp/bench-venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
    venv=/tmp/bench-venv
  else
    venv=target/llama-venv
  fi
fi
started=$SECONDS
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# llama.cpp built for this machine's kind of CPU (x86-64-v3, as our engine and llama-server), from
# source: a wheel from pip's cache may have been built with -march=native on another CPU, and
# then dies with "Illegal instruction" on this one. The flags it was built with are kept in the
# venv, and a venv without them (or with others) is rebuilt.
flags=
[ "$(uname -m)" = x86_64 ] && flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
marker="$venv/.llama-cpp-cmake-args"
if ! "$venv/bin/python" -c 'import llama_cpp.server.app' 2>/dev/null || [ "$(cat "$marker" 2>/dev/null)" != "$flags" ]; then
  installed=$("$venv/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null || true)
  "$venv/bin/pip" install --quiet --disable-pip-version-check "llama-cpp-python[server]${installed:+==$installed}"
  version=$("$venv/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)')
  # Two compile jobs: a small machine stays usable.
  CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} "$venv/bin/pip" install --quiet \
    --disable-pip-version-check --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python \
    "llama-cpp-python==$version"
  printf '%s' "$flags" >"$marker"
fi
echo "llama-cpp-python ready in $((SECONDS - started)) s ($venv)" >&2

# The whole workspace, all features: the same build as the test command's, so nothing is rebuilt.
cargo build -q --workspace --all-features
target/debug/instructor model pull >/dev/null
model=$(target/debug/instructor model list | awk -F'\t' '/SmolLM2-135M-Instruct.Q4_1.gguf/ {print $1}')
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2 --host 127.0.0.1 --port "$port" \
  --n_threads 2 --n_ctx 4096 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "llama-cpp-python's server did not start" >&2; exit 1; }
  sleep 0.2
done
echo "llama-cpp-python's server at http://127.0.0.1:$port/v1" >&2

started=$SECONDS
INSTRUCTOR_REVERSE_URL="http://127.0.0.1:$port/v1" INSTRUCTOR_REVERSE_MODEL=smollm2 \
  cargo test -q --workspace --all-features --test reverse -- --ignored --nocapture
echo "reverse check ran in $((SECONDS - started)) s" >&2
