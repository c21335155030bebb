#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan: the sanitizer build, build-asan/) and runs each for
# FUZZ_SECONDS (default 60) from the seed corpora in fuzz/corpus and scenarios/. A crash, a
# sanitizer report, an input slower than 1 s of a core, or memory above 2 GB fails the script; the
# input that did it is kept in build-asan/findings/. The targets run side by side.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
targets=(mooncake_jsonl azure_csv scenario openai_request planner_reply parquet hf_config)
# the sanitizer build (clang, ASan + UBSan, coverage hooks) builds the fuzz targets beside the tests
dir="$(SANITIZE=1 bash "$root/scripts/build.sh" "${targets[@]/#/fuzz_}")"
mkdir -p "$dir/findings"
# libFuzzer's -timeout is wall time, and the targets share the cores: with seven on two, each has
# about a quarter of one, so 1 s of a core is ceil(targets / cores) s of wall time (a scenario
# input once took over 1 s there in ASan's quarantine recycling, a hang on no core of its own)
cores="$(nproc)"
timeout_s=$(( (${#targets[@]} + cores - 1) / cores ))
run() {
  local t="$1" seeds
  case "$t" in
    scenario) seeds="$root/scenarios" ;;
    *) seeds="$root/fuzz/corpus/$t" ;;
  esac
  local corpus="$dir/corpus/$t"
  mkdir -p "$corpus"
  # -timeout: an input slower than 1 s of a core is a hang; -rss_limit_mb: runaway memory is a finding
  if "$dir/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix="$dir/findings/$t-" -print_final_stats=1 "$corpus" "$seeds" >"$dir/fuzz_$t.log" 2>&1; then
    echo "fuzz_$t: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$dir/fuzz_$t.log"), $(ls "$corpus" | wc -l) inputs in the corpus, no finding"
  else
    echo "fuzz_$t: FAILED"; tail -n 60 "$dir/fuzz_$t.log"; return 1
  fi
}
# all targets at once: the wall time is FUZZ_SECONDS whatever the core count
status=0
pids=()
for t in "${targets[@]}"; do
  run "$t" > "$dir/fuzz_$t.summary" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
  cat "$dir/fuzz_${targets[$i]}.summary"
done
if (( status == 0 )); then echo "fuzzing: ${#targets[@]} targets, ${seconds} s each, no finding"; else echo "fuzzing found a failure"; fi
exit $status
