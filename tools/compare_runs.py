#!/usr/bin/python3
"""Prints summary metrics of several servesim runs side by side.

usage: compare_runs.py LABEL=RUN.h5 [LABEL=RUN.h5 ...] [--metrics m1,m2,...]

Reads each file's /summary with h5py (Debian: python3-h5py).
"""
import argparse
import math
import sys

import h5py

DEFAULT = ("gpus,throughput_req_per_s,output_tokens_per_s,ttft_p50_s,ttft_p99_s,itl_p50_s,itl_p99_s,"
           "slo_attainment,goodput_req_per_s,requests_remote_prefill,requests_local_prefill,"
           "kv_transfer_p50_s,kv_transfer_p99_s,kv_reserve_wait_mean_s")


def fmt(name, v):
    if isinstance(v, float) and math.isnan(v):
        return "-"
    if name.endswith("_s") and not name.endswith("_per_s"):
        return f"{v:.1f} s" if abs(v) >= 10 else f"{v * 1e3:.1f} ms"
    if name in ("slo_attainment", "prefix_hit_rate"):
        return f"{v * 100:.1f}%"
    return f"{v:.2f}" if abs(v - round(v)) > 1e-9 else f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="LABEL=PATH.h5")
    ap.add_argument("--metrics", default=DEFAULT, help="comma-separated /summary columns")
    args = ap.parse_args()
    metrics = args.metrics.split(",")
    labels, columns = [], []
    for spec in args.runs:
        label, _, path = spec.partition("=")
        if not path:
            sys.exit(f"compare_runs.py: '{spec}' is not LABEL=PATH.h5")
        with h5py.File(path, "r") as f:
            row = f["summary"][0]
            names = row.dtype.names
            missing = [m for m in metrics if m not in names]
            if missing:
                sys.exit(f"compare_runs.py: {path} has no summary metric {', '.join(missing)}")
            columns.append([fmt(m, float(row[m])) for m in metrics])
        labels.append(label)
    width = max(len(m) for m in metrics)
    cw = [max(len(label), *(len(v) for v in column)) for label, column in zip(labels, columns)]
    print(" " * width + "  " + "  ".join(l.rjust(w) for l, w in zip(labels, cw)))
    for i, m in enumerate(metrics):
        print(m.ljust(width) + "  " + "  ".join(columns[j][i].rjust(cw[j]) for j in range(len(labels))))


if __name__ == "__main__":
    main()
