#!/usr/bin/env python3
"""Fits the GPU power curve of models/power.h to splitwise-sim's measured power (data/splitwise_sim/
perf_model.csv.gz: Llama-2-70B on A100-80GB at TP 2, 4 and 8; peak_power and average_power as
fractions of the GPU's power limit, with the prompt and per-token times they were measured with).

Model, per GPU, as a fraction of its power limit (TDP):
    P = min(1, busy_floor + compute_slope * u_compute + memory_slope * u_memory)
u_compute: the iteration's FLOPs over the GPU's dense peak for its duration; u_memory: its HBM
bytes (weights and KV read) over the bandwidth for its duration. A request's average power is
its prefill's and its decode steps' power weighted by their times; peak_power is the prefill's.
Rows whose average power is below 0.3 (the 8,192-token prompts: 0.17-0.18 while their peak is
~1.0, not a steady state) are left out. Prints the coefficients and the mean absolute errors;
tests/energy_test.cpp checks that models/power.h's defaults reproduce them.

    scripts/fit_power.py [data/splitwise_sim/perf_model.csv.gz]
"""
import csv
import gzip
import itertools
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else "data/splitwise_sim/perf_model.csv.gz"
# models/catalog: llama-2-70b (69.0B params, 80 layers, 8 KV heads of 128, bf16) and a100_80gb
PARAMS, KV_BYTES_PER_TOKEN, KV_HEADS = 69.0e9, 80 * 8 * 128 * 2 * 2, 8
BW, PEAK = 2039e9, 312e12

groups = defaultdict(list)
with gzip.open(path, "rt") as f:
    for r in csv.DictReader(f):
        if r["model"] == "llama2-70b" and r["hardware"] == "a100-80gb":
            key = tuple(int(r[k]) for k in ("tensor_parallel", "prompt_size", "batch_size", "token_size"))
            groups[key].append(r)

obs = []
for (tp, prompt, batch, tokens), rows in sorted(groups.items()):
    mean = lambda k: sum(float(x[k]) for x in rows) / len(rows)
    avg, peak = mean("average_power"), mean("peak_power")
    if avg < 0.3:
        continue
    prefill_s, step_s, e2e_s = mean("prompt_time") / 1e3, mean("token_time") / 1e3, mean("e2e_time") / 1e3
    weights = 2 * PARAMS / tp
    pre = (2 * PARAMS * prompt * batch / tp / (PEAK * prefill_s), weights / (BW * prefill_s))
    context = prompt + tokens / 2
    dec = (2 * PARAMS * batch / tp / (PEAK * step_s),
           (weights + batch * context * KV_BYTES_PER_TOKEN / min(tp, KV_HEADS)) / (BW * step_s))
    obs.append(((tp, prompt, batch), prefill_s, e2e_s - prefill_s, e2e_s, avg, peak, pre, dec))


def power(c, u):
    return min(1.0, c[0] + c[1] * u[0] + c[2] * u[1])


def errors(c):
    ea, ep = [], []
    for _, pre_s, dec_s, e2e_s, avg, peak, pre, dec in obs:
        p_pre, p_dec = power(c, pre), power(c, dec)
        ea.append(abs((p_pre * pre_s + p_dec * dec_s) / e2e_s - avg) / avg)
        ep.append(abs(p_pre - peak) / peak)
    return ea, ep


def loss(c):
    ea, ep = errors(c)
    return sum(e * e for e in ea) + sum(e * e for e in ep)


# a grid, then finer grids around the best point
best, step = (0.3, 1.5, 0.7), (0.05, 0.2, 0.1)
for _ in range(6):
    grid = [[b + d * s for d in range(-4, 5)] for b, s in zip(best, step)]
    best = min(itertools.product(*grid), key=loss)
    step = tuple(s / 3 for s in step)
ea, ep = errors(best)
print(f"busy_floor {best[0]:.3f} compute_slope {best[1]:.3f} memory_slope {best[2]:.3f}")
print(f"rows {len(obs)}: average power error {100 * sum(ea) / len(ea):.1f}% mean, "
      f"peak (prefill) power error {100 * sum(ep) / len(ep):.1f}% mean")
