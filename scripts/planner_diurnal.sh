#!/usr/bin/env bash
# Runs scenarios/planner_diurnal.yaml with the sla planner and with static provisioning for the
# peak (4 workers, the most the planner runs; 3 miss the SLO at the peak: see the studies suite)
# and prints GPU-hours and SLO attainment side by side. Extra arguments go to both runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(bash "$root/scripts/build.sh")"
cd "$root"
mkdir -p results/planner_diurnal
"$dir/servesim" run scenarios/planner_diurnal.yaml -q -o results/planner_diurnal/sla.h5 "$@" >/dev/null
"$dir/servesim" run scenarios/planner_diurnal.yaml -q -o results/planner_diurnal/static_peak.h5 \
  --set planner.policy=static --set pools.0.replicas=4 "$@" >/dev/null
/usr/bin/python3 tools/compare_runs.py sla=results/planner_diurnal/sla.h5 static_peak=results/planner_diurnal/static_peak.h5 \
  --metrics requests_completed,gpu_hours,gpus,slo_attainment,ttft_p50_s,ttft_p99_s,itl_p99_s,scale_events,underprovisioned_s
