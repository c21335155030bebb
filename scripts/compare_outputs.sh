#!/usr/bin/env bash
# Proves that two servesim builds give bit-identical results: runs every shipped scenario (and the
# benchmark scenarios, shortened) with both binaries and compares every recorded dataset with
# h5diff, except /summary and /meta (they hold wall time and the build's version).
#   scripts/compare_outputs.sh OLD_BINARY NEW_BINARY [FILTER]
# OLD_CATALOG_DIR=DIR runs the old binary on that catalog folder (SERVESIM_CATALOG_DIR; e.g. the
# old commit's models/catalog from `git archive`) where the catalog gained keys it does not know.
# FILTER (a grep -E pattern) picks runs by name. Exit status 1 if any run differs. A table that
# gained columns in the new build (h5diff: "not comparable") is compared on the columns both have
# (scripts/compare_common_columns.py), and the added ones are named, as are datasets only the
# new build writes.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
old="$(realpath "$1")" new="$(realpath "$2")" filter="${3:-.}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
runs=(
  "quickstart|scenarios/quickstart.yaml|"
  "mooncake_conversation|scenarios/mooncake_conversation.yaml|"
  "kv_routing|scenarios/kv_routing.yaml|"
  "kv_routing_rr|scenarios/kv_routing.yaml|--set router.policy=round_robin"
  "kv_routing_ll|scenarios/kv_routing.yaml|--set router.policy=least_loaded"
  "kv_routing_approx|scenarios/kv_routing.yaml|--set router.indexer=approximate"
  "kv_routing_latency|scenarios/kv_routing.yaml|--set router.kv_event_latency=50ms --set router.router_temperature=0.5"
  "kv_routing_b64|scenarios/kv_routing.yaml|--set pools.0.engine.block_size=64"
  "disagg_vs_agg|scenarios/disagg_vs_agg.yaml|"
  "transfer_cost|scenarios/transfer_cost.yaml|"
  "planner_burst|scenarios/planner_burst.yaml|"
  "planner_diurnal|scenarios/planner_diurnal.yaml|--set workload.end=6h"
  "planner_external|scenarios/planner_external.yaml|"
  "llama70b_fp8|scenarios/benchmark_llama70b_fp8.yaml|--set workload.max_requests=2000"
  "bench_1w|bench/scenarios/engine_1w_100k.yaml|--set workload.max_requests=20000"
  "bench_64w|bench/scenarios/engine_64w_1m.yaml|--set workload.max_requests=50000"
  "bench_disagg|bench/scenarios/disagg_4p4d_60k.yaml|--set workload.max_requests=10000"
  "bench_mooncake|bench/scenarios/mooncake_8w.yaml|"
  "bench_fixed|bench/scenarios/fixed_512_128_1w.yaml|--set workload.max_requests=20000"
)
status=0
for run in "${runs[@]}"; do
  IFS='|' read -r name scenario sets <<<"$run"
  [[ "$name" =~ $filter ]] || continue
  for side in old new; do
    bin="$old"; [ "$side" = new ] && bin="$new"
    catalog=(); [ "$side" = old ] && [ -n "${OLD_CATALOG_DIR:-}" ] && catalog=(env SERVESIM_CATALOG_DIR="$OLD_CATALOG_DIR")
    # shellcheck disable=SC2086
    if ! "${catalog[@]}" "$bin" run "$root/$scenario" -q -o "$work/$name.$side.h5" $sets >"$work/$name.$side.log" 2>&1; then
      echo "FAIL  $name: the $side binary failed"; sed 's/^/      /' "$work/$name.$side.log" | tail -5; status=1; continue 2
    fi
  done
  differs=() added=()
  for obj in $(h5ls -r "$work/$name.old.h5" | awk '$2 == "Dataset" {print $1}' | grep -vE '^/(summary|meta)'); do
    # h5diff exits 0 on datasets of different lengths or types ("not comparable"): count that as
    # a difference, unless both are empty or the new one only added columns
    out=$(h5diff -c "$work/$name.old.h5" "$work/$name.new.h5" "$obj" "$obj" 2>&1) && ! grep -qi 'not comparable' <<<"$out" && continue
    [ "$(h5ls "$work/$name.old.h5$obj" | awk '{print $3}')$(h5ls "$work/$name.new.h5$obj" | awk '{print $3}')" = "{0/Inf}{0/Inf}" ] && continue
    if cols=$(/usr/bin/python3 "$root/scripts/compare_common_columns.py" "$work/$name.old.h5" "$work/$name.new.h5" "$obj" 2>&1); then
      [ -n "$cols" ] && added+=("$obj+[$cols]")
    else
      differs+=("$obj")
    fi
  done
  # objects only one file has: ones the new build added are named; one it lost is a difference
  listing=$(diff <(h5ls -r "$work/$name.old.h5" | awk '{print $1}') <(h5ls -r "$work/$name.new.h5" | awk '{print $1}'))
  lost=$(grep '^<' <<<"$listing" | awk '{print $2}' | tr '\n' ' ')
  gained=$(grep '^>' <<<"$listing" | awk '{print $2}' | tr '\n' ' ')
  if [ ${#differs[@]} -eq 0 ] && [ -z "$lost" ]; then
    echo "same  $name ($(h5ls -r "$work/$name.old.h5" | awk '$2 == "Dataset"' | grep -vcE '^/(summary|meta)') datasets)${added[*]:+; new columns: ${added[*]}}${gained:+; new: $gained}"
  else
    echo "DIFF  $name: ${differs[*]}${lost:+ missing: $lost}"; status=1
  fi
done
exit $status
