#!/usr/bin/env bash
# Configures and builds servesim. SANITIZE=1 builds with ASan/UBSan into build-asan/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/deps.sh"
if [ "${SANITIZE:-0}" = 1 ]; then
  dir="$root/build-asan"; extra=(-DSERVESIM_SANITIZE=ON -DSERVESIM_BENCH=OFF)  # optimised: ASan is fast at -O2
else
  dir="$root/build"; extra=()
fi
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" -- --no-print-directory >&2
echo "$dir"
