#!/usr/bin/env bash
# Runs scenarios/planner_burst.yaml with worker start-up latencies of 30 s, 2 min and 10 min and
# prints SLO attainment, violations and GPU-hours side by side. Extra arguments go to every run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(bash "$root/scripts/build.sh")"
cd "$root"
mkdir -p results/planner_burst
for s in 30s 2m 10m; do
  "$dir/servesim" run scenarios/planner_burst.yaml -q -o "results/planner_burst/startup_$s.h5" \
    --set "pools.0.lifecycle.startup.value=$s" "$@" >/dev/null
done
/usr/bin/python3 tools/compare_runs.py startup_30s=results/planner_burst/startup_30s.h5 \
  startup_2m=results/planner_burst/startup_2m.h5 startup_10m=results/planner_burst/startup_10m.h5 \
  --metrics requests_completed,slo_attainment,ttft_p50_s,ttft_p99_s,gpu_hours,gpus,scale_events,underprovisioned_s
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
for s in ("30s", "2m", "10m"):
    with h5py.File(f"results/planner_burst/startup_{s}.h5", "r") as f:
        r = f["requests"][:]
        miss = r[(r["ttft_s"] > 1.0) | (r["mean_itl_s"] > 0.05)]
        print(f"startup {s:>3}: {len(miss)} SLO violations, arriving between {miss['arrival_s'].min():.0f} s and "
              f"{miss['arrival_s'].max():.0f} s" if len(miss) else f"startup {s:>3}: no SLO violations")
PY
