#!/usr/bin/env bash
# Runs scenarios/disagg_vs_agg.yaml as aggregated, 1:1, 2:1 and 1:2 prefill:decode (same 24 GPUs)
# and prints them side by side. Extra arguments go to every run (e.g. --set workload.end=600s).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(bash "$root/scripts/build.sh")"
cd "$root"
mkdir -p results/disagg_vs_agg
run() {
  local label=$1; shift
  "$dir/servesim" run scenarios/disagg_vs_agg.yaml -q -o "results/disagg_vs_agg/$label.h5" "$@" >/dev/null
}
run aggregated --set pools.0.replicas=6 --set pools.1.replicas=0 --set pools.2.replicas=0 "$@"
run 1to1 "$@"
run 2to1 --set pools.0.replicas=0 --set pools.1.replicas=4 --set pools.2.replicas=2 "$@"
run 1to2 --set pools.0.replicas=0 --set pools.1.replicas=2 --set pools.2.replicas=4 "$@"
/usr/bin/python3 tools/compare_runs.py aggregated=results/disagg_vs_agg/aggregated.h5 \
  1:1=results/disagg_vs_agg/1to1.h5 2:1=results/disagg_vs_agg/2to1.h5 1:2=results/disagg_vs_agg/1to2.h5
