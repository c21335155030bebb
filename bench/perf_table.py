#!/usr/bin/env python3
"""Whole-run timings of the rows in bench/README.md's performance table, for one or two builds.

    bench/perf_table.py NEW_BINARY [--before [LABEL=]OLD_BINARY ...] [--runs 3]
                        [--rows mooncake,fixed] [--event-ns NS]

--before may be given more than once (e.g. the issue's starting point and the last round's end):
a column per build, then the new one, then its speed-up over each. Each row runs `runs` times per
binary (the builds alternate, so drift on a shared machine hits all alike); the table shows the fastest wall time (whole process, /usr/bin/time), simulated time
per wall time, simulated requests per wall second and the peak RSS of that run. With --event-ns
(SystemC's cost of one timed event, from build/bench/bench_kernel), a last column gives the
new build's bare-kernel ratio: its wall time over (engine iterations x NS), the time an empty
SC_METHOD loop firing the same events would take. Prints markdown.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import h5py  # Debian's python3-h5py: the same reader the tools use

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOONCAKE = "bench/scenarios/mooncake_8w.yaml"
ROWS = [
    ("mooncake", "Mooncake conversation, 12,031 requests, 8 workers, kv_aware, block 16", [MOONCAKE]),
    ("mooncake_b64", "same, block 64", [MOONCAKE, "--set", "pools.0.engine.block_size=64"]),
    ("mooncake_rr", "same, round_robin", [MOONCAKE, "--set", "router.policy=round_robin"]),
    ("fixed", "512/128 tokens, Poisson, 1 worker at ~85% load, 100k requests",
     ["bench/scenarios/fixed_512_128_1w.yaml"]),
    ("engine_1w", "(a) 1 worker, 100k requests near saturation", ["bench/scenarios/engine_1w_100k.yaml"]),
    ("engine_64w", "(b) 64 workers, 1M requests, least_loaded", ["bench/scenarios/engine_64w_1m.yaml"]),
    # (b)'s per-worker load on one worker: the per-request cost (b) is compared with
    ("engine_1w_64w_load", "(b) on 1 worker at its per-worker load (21.875 req/s), 1M requests",
     ["bench/scenarios/engine_64w_1m.yaml", "--set", "pools.0.replicas=1",
      "--set", "workload.synthetic.arrival.rate=21.875"]),
    ("kernel", "(f) kernel-timed Llama-3.1-70B fp8 TP4, 8,000 requests",
     ["scenarios/benchmark_llama70b_fp8.yaml", "--set", "workload.max_requests=8000",
      "--set", "workload.closed_loop.concurrency=64"]),
    ("disagg", "(d) disaggregated 4P+4D, 60k requests", ["bench/scenarios/disagg_4p4d_60k.yaml"]),
    ("startup", "start-up: quickstart with one request (scenario, catalog, tables, file)",
     ["scenarios/quickstart.yaml", "--set", "workload.max_requests=1"]),
]
SIMULATED = re.compile(r"simulated\s+([0-9.]+) s in [0-9.]+ s wall .*?, ([0-9]+) requests/wall s")
REQUESTS = re.compile(r"requests\s+([0-9]+) completed")


def run_once(binary, args):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.h5")
        timing = os.path.join(tmp, "time")
        cmd = ["/usr/bin/time", "-f", "%e %M", "-o", timing, binary, "run", *args, "-q", "-o", out]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
        wall, rss_kb = open(timing).read().split()[-2:]
        sim = SIMULATED.search(proc.stdout)
        done = REQUESTS.search(proc.stdout)
        with h5py.File(out, "r") as f:
            iterations = int(f["/workers"]["iterations"].sum()) if "workers" in f else 0
        return {"wall": float(wall), "rss_mb": int(rss_kb) / 1024, "sim_s": float(sim.group(1)) if sim else 0.0,
                "requests": int(done.group(1)) if done else 0, "iterations": iterations}


def cell(r):
    return (f"{r['wall']:.2f} s, {r['sim_s'] / r['wall']:,.0f}x real time, "
            f"{r['requests'] / r['wall']:,.0f} req/s, {r['rss_mb']:.0f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("--before", action="append", default=[])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", default=",".join(r[0] for r in ROWS))
    ap.add_argument("--event-ns", type=float)
    a = ap.parse_args()
    wanted = a.rows.split(",")
    builds = []
    for i, spec in enumerate(a.before):
        label, _, path = spec.rpartition("=")
        builds.append((label or ("before" if len(a.before) == 1 else f"before {i + 1}"), path))
    befores = [name for name, _ in builds]
    builds.append(("after" if befores else "time", a.binary))
    head = "| run | " + " | ".join(name for name, _ in builds) + " |"
    head += "".join(f" speed-up over {name} |" if len(befores) > 1 else " speed-up |" for name in befores)
    if a.event_ns:
        head += " bare-kernel ratio |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for key, label, args in ROWS:
        if key not in wanted:
            continue
        best = {}
        for _ in range(a.runs):
            for name, binary in builds:
                r = run_once(os.path.abspath(binary), args)
                if name not in best or r["wall"] < best[name]["wall"]:
                    best[name] = r
        cells = [cell(best[name]) for name, _ in builds]
        speedup = "".join(f" | {best[name]['wall'] / best['after']['wall']:.2f}x" for name in befores)
        last = best[builds[-1][0]]
        ratio = ""
        if a.event_ns:
            bare = last["iterations"] * a.event_ns * 1e-9
            ratio = f" | {last['wall'] / bare:.0f} ({last['iterations']:,} iterations)" if bare > 0 else " | -"
        print(f"| {label} | " + " | ".join(cells) + speedup + ratio + " |", flush=True)


if __name__ == "__main__":
    main()
