#!/usr/bin/env bash
# Runs scenarios/transfer_cost.yaml over NVLink, 400 Gbit/s InfiniBand and 100 Gbit/s Ethernet and
# prints them side by side. Extra arguments go to every run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(bash "$root/scripts/build.sh")"
cd "$root"
mkdir -p results/transfer_cost
run() {
  local label=$1; shift
  "$dir/servesim" run scenarios/transfer_cost.yaml -q -o "results/transfer_cost/$label.h5" "$@" >/dev/null
}
run nvlink --set topology.placement=pack "$@"
run ib400 "$@"
eth=()
for n in 0 1; do
  eth+=(--set "topology.nodes.$n.uplink_gbit_per_s=100" --set "topology.nodes.$n.uplink_kind=ethernet"
        --set "topology.nodes.$n.uplink_latency=10us")
done
run eth100 "${eth[@]}" "$@"
/usr/bin/python3 tools/compare_runs.py nvlink=results/transfer_cost/nvlink.h5 ib400=results/transfer_cost/ib400.h5 \
  eth100=results/transfer_cost/eth100.h5 \
  --metrics kv_transfer_mean_s,kv_transfer_p50_s,kv_transfer_p99_s,kv_transfer_gbytes_total,ttft_p50_s,ttft_p99_s,itl_p50_s,slo_attainment
/usr/bin/python3 - <<'PY'
import h5py
for label in ("nvlink", "ib400", "eth100"):
    with h5py.File(f"results/transfer_cost/{label}.h5", "r") as f:
        t = f["transfers"][:]
        names = [n.decode() for n in f["links/info"]["name"]]
        ts = f["links/timeseries"][:]
        busiest = max(set(ts["link"]), key=lambda l: ts["utilisation"][ts["link"] == l].max())
        peak = ts["utilisation"][ts["link"] == busiest].max()
        print(f"{label:7s} achieved {t['gbyte_per_s'].mean():7.1f} GB/s per transfer (mean); busiest link "
              f"{names[busiest]} peaks at {peak * 100:.1f}% in a 1 s window")
PY
