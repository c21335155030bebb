#!/usr/bin/env bash
# Configures and builds servesim, reusing what is there: packages are checked (and installed when
# missing) only for a first build; an existing build tree is brought up to date by make alone
# (a few seconds when nothing changed). SANITIZE=1 builds with ASan/UBSan into build-asan/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${SANITIZE:-0}" = 1 ]; then
  dir="$root/build-asan"; extra=(-DSERVESIM_SANITIZE=ON -DSERVESIM_BENCH=OFF)  # optimised: ASan is fast at -O2
else
  dir="$root/build"; extra=()
fi
if [ ! -f "$dir/CMakeCache.txt" ]; then
  bash "$root/scripts/deps.sh"
  # -g1: line tables for backtraces and perf, without the full debug info that makes compiling
  # SystemC- and template-heavy code about a fifth slower
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    "${extra[@]}" >/dev/null
fi
cmake --build "$dir" -j"$(nproc)" -- --no-print-directory >&2
echo "$dir"
