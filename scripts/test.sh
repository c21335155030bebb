#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest; a skipped test
# fails it (every test's data ships in data/). SANITIZE=1 runs it as an ASan/UBSan build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(bash "$root/scripts/build.sh")"
# the OpenAI Node SDK for Live.Clients, pinned by tests/live/package-lock.json
if [ ! -d "$root/tests/live/node_modules/openai" ] || [ "$root/tests/live/package-lock.json" -nt "$root/tests/live/node_modules" ]; then
  (cd "$root/tests/live" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
log="$dir/ctest.log"
status=0
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" "$@" 2>&1 | tee "$log" || status=$?
if grep -q '\*\*\*Skipped' "$log"; then
  echo "test.sh: skipped tests (each must run):"; grep '\*\*\*Skipped' "$log"; exit 1
fi
exit $status
