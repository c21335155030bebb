#!/usr/bin/env bash
# Configures and builds servesim, reusing what is there: packages are checked (and installed when
# missing) only for a first build; an existing build tree is brought up to date by make alone
# (a few seconds when nothing changed). SANITIZE=1 builds with ASan/UBSan into build-asan/
# (clang; the fuzz targets too). Arguments name the targets to build (default: all).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${SANITIZE:-0}" = 1 ]; then
  # clang (it compiles instrumented code about twice as fast as gcc), optimised (ASan is fast at
  # -O2), and the libFuzzer targets of scripts/fuzz.sh built from the same objects
  dir="$root/build-asan"; extra=(-DSERVESIM_FUZZ=ON -DSERVESIM_BENCH=OFF)
  compilers=(CC=clang CXX=clang++); packages=(clang libclang-rt-14-dev)
  # a tree configured by gcc (before the sanitizer build moved to clang) is configured again
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang' "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
else
  dir="$root/build"; extra=(); compilers=(); packages=()
fi
if [ ! -f "$dir/CMakeCache.txt" ]; then
  bash "$root/scripts/deps.sh" "${packages[@]}"
  # -g1: line tables for backtraces and perf, without the full debug info that makes compiling
  # SystemC- and template-heavy code about a fifth slower
  env "${compilers[@]}" cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    "${extra[@]}" >/dev/null
fi
targets=(); for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$dir" -j"$(nproc)" "${targets[@]}" -- --no-print-directory >&2
echo "$dir"
