#!/usr/bin/python3
"""Bring-your-own-planner study: the built-in sla policy, the same policy as an external planner
(examples/planners/sla_planner.py over JSON lines) and a Kubernetes-HPA-style controller
(examples/planners/hpa_planner.py) on the burst (scenarios/planner_external.yaml) and the diurnal
day (scenarios/planner_diurnal.yaml), across actuation delays of 0, 5 and 30 s and worker
start-up times of 30 s and 2 min. Prints SLO attainment, GPU-hours and scale events as a
markdown table, and whether each external sla run equals its built-in twin bit for bit.
    scripts/planner_study.py              both traffics (the 24 h day: ~30 CPU-minutes)
    scripts/planner_study.py burst        the burst only (~1 CPU-minute)
"""
import concurrent.futures
import os
import subprocess
import sys

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "results", "planner_study")
SLA = "python3 ../examples/planners/sla_planner.py"
HPA = "python3 ../examples/planners/hpa_planner.py --metric running_per_worker --target 24"
TRAFFIC = {
    "burst": ("scenarios/planner_external.yaml", "--predictor constant", "pools.0.lifecycle.startup.value={}"),
    "diurnal": ("scenarios/planner_diurnal.yaml", "--predictor holt_winters --alpha 0.5 --beta 0.2",
                "pools.0.lifecycle.startup.phases=[{{name: start, dist: fixed, value: {}}}]"),
}
PLANNERS = {
    "sla": lambda pred: ["planner.policy=sla"],
    "sla_external": lambda pred: ["planner.policy=external", f"planner.external.command={SLA} {pred}"],
    "hpa": lambda pred: ["planner.policy=external", f"planner.external.command={HPA}"],
}


def run(binary, traffic, planner, delay, startup):
    scenario, pred, startup_key = TRAFFIC[traffic]
    path = os.path.join(OUT, f"{traffic}_{planner}_act{delay}_start{startup}.h5")
    sets = [f"planner.actuation_delay.value={delay}", "planner.discovery_delay.value=2s",
            startup_key.format(startup)] + PLANNERS[planner](pred)
    argv = [binary, "run", scenario, "-q", "-o", path]
    for s in sets:
        argv += ["--set", s]
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    with h5py.File(path, "r") as f:
        s = f["summary"][0]
        return (traffic, delay, startup, planner, float(s["slo_attainment"]), float(s["gpu_hours"]),
                int(s["scale_events"]), path)


def same_run(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        shared = [d for d in ("requests", "planner", "control_plane", "timeseries/pools") if d in fa and d in fb]
        return all(fa[d][()].tobytes() == fb[d][()].tobytes() for d in shared)


def main(argv):
    binary = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh")], check=True, capture_output=True,
                            text=True).stdout.strip() + "/servesim"
    traffics = argv or ["burst", "diurnal"]
    os.makedirs(OUT, exist_ok=True)
    jobs = [(t, p, d, s) for t in traffics for d in ("0s", "5s", "30s") for s in ("30s", "2m") for p in PLANNERS]
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        rows = list(pool.map(lambda j: run(binary, *j), jobs))
    by_key = {(r[0], r[1], r[2], r[3]): r for r in rows}
    print("| traffic | actuation delay | start-up | planner | SLO attainment | GPU-hours | scale events |")
    print("|---|---|---|---|---|---|---|")
    for t, d, s, p, slo, gh, ev, _ in rows:
        print(f"| {t} | {d} | {s} | {p} | {slo * 100:.2f}% | {gh:.2f} | {ev} |")
    twins = [same_run(by_key[(t, d, s, "sla")][7], by_key[(t, d, s, "sla_external")][7])
             for t in traffics for d in ("0s", "5s", "30s") for s in ("30s", "2m")]
    print(f"\nexternal sla == built-in sla, bit for bit: {sum(twins)} of {len(twins)} configurations")


if __name__ == "__main__":
    main(sys.argv[1:])
