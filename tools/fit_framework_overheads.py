#!/usr/bin/python3
"""Fits each serving framework's per-iteration overhead and per-request frontend latency to a
`servesim check-silicon` table run with both at zero, on one half of the rows (by line parity).

The kernel timing model prices GPU kernels only; what a framework adds around them (scheduling,
sampling, detokenisation, HTTP) shows as the gap between measured and predicted TPOT (once per
iteration) and TTFT (once per request). The medians of those gaps on the fitting half are the
engines.yaml values; check-silicon on the other half then tests them.

    servesim check-silicon silicon.csv --overhead-ms 0 --request-latency-ms 0 -o fit.h5
    tools/fit_framework_overheads.py fit.csv --half odd
"""
import argparse
import sys

import pandas as pd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", help="check-silicon CSV output (run with zero overheads)")
    ap.add_argument("--half", choices=["odd", "even"], default="odd", help="the rows to fit on (by line number)")
    args = ap.parse_args()
    d = pd.read_csv(args.table, dtype={"backend_version": str})
    d = d[d.status == "ok"]
    d = d[(d.line % 2 == 1) == (args.half == "odd")]
    if d.empty:
        sys.exit("no rows ran ok in that half")
    d["engine_entry"] = d.apply(lambda r: f"{r.backend}@{r.backend_version}" if isinstance(r.backend_version, str)
                                and r.backend_version else r.backend, axis=1)
    print(f"# fitted on the {args.half} lines of {args.table}")
    print(f"{'entry':<24} {'rows':>5} {'iteration_overhead_ms':>22} {'request_latency_ms':>19}")
    for entry, g in d.groupby("engine_entry"):
        iteration = max(0.0, (g.measured_tpot_ms - g.predicted_tpot_ms).median())
        # a request's first token also waits for about one iteration's overhead
        request = max(0.0, (g.measured_ttft_ms - g.predicted_ttft_ms).median() - iteration)
        print(f"{entry:<24} {len(g):>5} {iteration:>22.3f} {request:>19.1f}")


if __name__ == "__main__":
    main()
