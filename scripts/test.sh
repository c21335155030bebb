#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest.
# SANITIZE=1 runs it as an ASan/UBSan build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(bash "$root/scripts/build.sh")"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
exec ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" "$@"
