#!/usr/bin/python3
"""Finds rows of a measured serving table that claim different deployments but measure the same.

usage: silicon_twins.py TABLE.csv[.gz] [--model SUBSTRING] [--within PERCENT] [--agreeing]

Rows are twins when they share backend, version, model, system, precision, mode, prompt and
output lengths and client concurrency (from the id's `_c<N>_`) but differ in their deployment
columns (TP, attention DP, MoE TP/EP, batch size). For each pair: both deployments, TTFT and TPOT
and how far apart they are (--agreeing: only the pairs within --within percent on both); last, how
many pairs agree so. Twins that agree closely measured one deployment, whatever the columns say:
check-silicon runs each row as its columns say, so such rows cannot judge the deployment they
claim. Rows without a measured TTFT or TPOT are left out; a value that is not a positive number is
an error naming the row.
"""
import argparse
import csv
import gzip
import re
import sys

SAME = ("backend", "backend_version", "model_path", "system", "precision", "mode", "isl", "osl")
DEPLOYMENT = ("tp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size", "batch_size")


def concurrency(row):
    m = re.search(r"_c(\d+)_", row["id"])
    return m.group(1) if m else None


def deployment(row):
    return "tp{} dp{} mtp{} ep{} b{}".format(*(row[k] or "-" for k in DEPLOYMENT))


def measured(row, column, table):
    try:
        v = float(row[column])
    except ValueError:
        v = float("nan")
    if not v > 0:
        sys.exit(f"silicon_twins.py: {table}: row {row['id']}: {column} '{row[column]}' is not a positive number")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("--model", default="", help="only models whose path holds this")
    ap.add_argument("--within", type=float, default=5.0, help="percent (default 5)")
    ap.add_argument("--agreeing", action="store_true", help="print only the pairs that agree")
    a = ap.parse_args()
    opener = gzip.open if a.table.endswith(".gz") else open
    try:
        with opener(a.table, "rt", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        sys.exit(f"silicon_twins.py: {a.table}: {e}")
    missing = [c for c in ("id", *SAME, *DEPLOYMENT, "silicon_ttft_ms", "silicon_tpot_ms") if rows and c not in rows[0]]
    if not rows or missing:
        sys.exit(f"silicon_twins.py: {a.table}: no rows, or missing columns {missing}")
    groups = {}
    for r in rows:
        c = concurrency(r)
        if c is None or a.model not in r["model_path"] or not r["silicon_ttft_ms"] or not r["silicon_tpot_ms"]:
            continue
        groups.setdefault(tuple(r[k] for k in SAME) + (c,), []).append(r)
    pairs = agree = 0
    print(f"{'model':<28} {'isl':>5} {'osl':>5} {'conc':>4}  {'deployment A':<22} {'deployment B':<22}"
          f" {'TTFT A':>9} {'TTFT B':>9} {'diff':>7} {'TPOT A':>7} {'TPOT B':>7} {'diff':>7}")
    for key, group in sorted(groups.items(), key=lambda kv: (kv[0][2], int(kv[0][6]), int(kv[0][7]), int(kv[0][8]))):
        for i, x in enumerate(group):
            for y in group[i + 1:]:
                if all(x[k] == y[k] for k in DEPLOYMENT):
                    continue
                ttft = [measured(r, "silicon_ttft_ms", a.table) for r in (x, y)]
                tpot = [measured(r, "silicon_tpot_ms", a.table) for r in (x, y)]
                d_ttft, d_tpot = 100 * (ttft[1] / ttft[0] - 1), 100 * (tpot[1] / tpot[0] - 1)
                close = abs(d_ttft) <= a.within and abs(d_tpot) <= a.within
                pairs += 1
                agree += close
                if a.agreeing and not close:
                    continue
                print(f"{key[2].split('/')[-1][:28]:<28} {key[6]:>5} {key[7]:>5} {key[8]:>4}  {deployment(x):<22} {deployment(y):<22}"
                      f" {ttft[0]:>9.1f} {ttft[1]:>9.1f} {d_ttft:>+6.1f}% {tpot[0]:>7.2f} {tpot[1]:>7.2f} {d_tpot:>+6.1f}%")
    print(f"{pairs} pairs of rows with different deployments; {agree} agree within {a.within:g}% on both TTFT and TPOT")


if __name__ == "__main__":
    main()
