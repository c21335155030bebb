#!/usr/bin/python3
"""The Python API (import servesim, built by CMake into build/python): a run stepped from Python
equals the CLI's run bit for bit; observe() and scale() work between steps; a planner object run
in process equals the same planner over the JSON protocol as a child process; a second Simulation
in one process is a clear error; servesim.load() gives DataFrames. Each simulation runs in its
own process (one SystemC elaboration per process): this script re-runs itself for each."""
import json
import os
import subprocess
import sys
import tempfile

import h5py

BIN = os.environ["SERVESIM_BIN"]
SRC = os.environ["SERVESIM_SOURCE_DIR"]
PLANNERS = os.path.join(SRC, "examples", "planners")

SCENARIO = """name: pyapi
seed: 1
simulation: {sample_interval: 10s}
workload:
  source: synthetic
  synthetic:
    duration: 10m
    arrival:
      process: poisson
      schedule: steps
      points: [{at: 0s, rate: 6}, {at: 3m, rate: 24}, {at: 7m, rate: 6}]
    input_length: {dist: lognormal, mean: 2048, std: 1024, max: 8192}
    output_length: {dist: lognormal, mean: 256, std: 128, max: 1024}
router: {policy: least_loaded}
pools:
  - name: agg
    replicas: 2
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {max_num_seqs: 128, max_num_batched_tokens: 8192}
    lifecycle: {min_replicas: 1, max_replicas: 12, startup: {dist: fixed, value: 1m}}
planner:
  policy: sla
  adjustment_interval: 30s
  scrape_delay: 5s
  predictor: {name: constant}
slo: {ttft: 1s, itl: 50ms}
"""

COMPARED = ["requests", "planner", "control_plane", "timeseries/pools", "timeseries/cluster", "workers"]


def child(mode, scenario, out):
    """One simulation, in this (fresh) process."""
    import servesim
    if mode == "stepped":
        sim = servesim.Simulation(scenario, overrides={"pools.0.replicas": 3}, seed=7, output=out)
        t = 0
        while sim.run_until(t + 45):
            t += 45
            assert abs(sim.time_s - t) < 1e-9, (sim.time_s, t)
        sim.finish()
    elif mode == "observe_scale":
        sim = servesim.Simulation(scenario, overrides={"planner.policy": "static"}, output=out)
        sim.run_until(130)
        obs = sim.observe()
        assert obs["type"] == "observation" and obs["version"] == 1, obs
        assert obs["pools"][0]["name"] == "agg" and obs["pools"][0]["ready"] == 2, obs["pools"]
        # the window since the last planner tick (every 30 s, the last at 120 s; the decision on it came at 125 s)
        assert abs(obs["interval_s"] - 10) < 1e-6 and abs(obs["time_s"] - 130) < 1e-9, obs
        assert obs["traffic"]["requests"] > 0, obs
        assert obs["gpus_in_use"] == 2 and obs["gpu_budget"] is None, obs
        sim.scale("agg", 5)
        try:
            sim.scale("agg", 99)
            raise AssertionError("out of range accepted")
        except ValueError as e:
            assert "outside 1..12" in str(e), e
        try:
            sim.scale("nope", 1)
            raise AssertionError("unknown pool accepted")
        except ValueError as e:
            assert "no pool is named 'nope'" in str(e), e
        sim.run_until(200)
        assert sim.observe()["pools"][0]["ready"] == 5, "started at 130 s, ready a minute later"
        summary = sim.finish()
        assert summary["requests_completed"] > 0, summary
        assert json.dumps(sim.summary()) == json.dumps(summary)  # NaN-aware
        # one simulation per process
        try:
            servesim.Simulation(scenario)
            raise AssertionError("a second Simulation was allowed")
        except RuntimeError as e:
            assert "one simulation per Python process" in str(e), e
        run = servesim.load(out)
        assert len(run.requests) == summary["requests_completed"], (len(run.requests), summary)
        assert list(run.planner.columns)[:2] == ["time_s", "pool"], run.planner.columns
    elif mode == "callback":
        sys.path.insert(0, PLANNERS)
        from sla_planner import SlaPlanner
        sim = servesim.Simulation(scenario, planner=SlaPlanner(predictor="constant"), output=out)
        sim.finish()
    elif mode == "callback_raises":
        def planner(obs, query):
            raise KeyError("my planner's own bug")
        try:
            servesim.Simulation(scenario, planner=planner).finish()
            raise AssertionError("the planner's exception was lost")
        except KeyError as e:
            assert "my planner's own bug" in str(e), e
    else:
        raise SystemExit(f"unknown mode {mode}")


def in_child(mode, scenario, out):
    r = subprocess.run([sys.executable, __file__, "child", mode, scenario, out], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"{mode}: {r.stdout}\n{r.stderr}"


def same(a, b, what):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for ds in COMPARED:
            assert ds in fa and ds in fb, ds
            assert fa[ds][()].tobytes() == fb[ds][()].tobytes(), f"{what}: /{ds} differs"


def main():
    with tempfile.TemporaryDirectory() as d:
        scenario = os.path.join(d, "pyapi.yaml")
        with open(scenario, "w") as f:
            f.write(SCENARIO)
        cli = os.path.join(d, "cli.h5")
        subprocess.run([BIN, "run", scenario, "-q", "-o", cli, "--set", "pools.0.replicas=3", "--seed", "7"],
                       check=True, capture_output=True, timeout=300)
        stepped = os.path.join(d, "stepped.h5")
        in_child("stepped", scenario, stepped)
        same(cli, stepped, "CLI vs Python API stepped in 45 s slices")
        print("ok: the Python API run equals the CLI run bit for bit")

        in_child("observe_scale", scenario, os.path.join(d, "observe.h5"))
        print("ok: observe(), scale(), finish(), summary(), load(), one simulation per process")

        protocol = os.path.join(d, "protocol.h5")
        subprocess.run([BIN, "run", scenario, "-q", "-o", protocol, "--set", "planner.policy=external", "--set",
                        f"planner.external.command=/usr/bin/python3 {PLANNERS}/sla_planner.py --predictor constant"],
                       check=True, capture_output=True, timeout=300)
        builtin = os.path.join(d, "builtin.h5")
        subprocess.run([BIN, "run", scenario, "-q", "-o", builtin], check=True, capture_output=True, timeout=300)
        callback = os.path.join(d, "callback.h5")
        in_child("callback", scenario, callback)
        same(protocol, callback, "the planner over JSON lines vs in process")
        same(builtin, callback, "the built-in sla policy vs its Python rewrite in process")
        with h5py.File(callback, "r") as f:
            assert f["planner"]["target"].max() > 2, "the planner scaled"
        print("ok: a Python planner in process equals it over the protocol (and the built-in sla policy)")

        in_child("callback_raises", scenario, os.path.join(d, "raises.h5"))
        print("ok: a planner callback's own exception reaches the caller")

        # more than one simulation from one process: each in a child of its own
        import servesim
        a = servesim.run_in_subprocess(scenario, overrides={"planner.policy": "static"}, seed=2)
        b = servesim.run_in_subprocess(scenario, overrides={"planner.policy": "static"}, seed=2)
        wall = ("wall_time_s", "sim_speedup", "requests_per_wall_s")
        a, b = ({k: v for k, v in x.items() if k not in wall} for x in (a, b))
        assert json.dumps(a) == json.dumps(b) and a["requests_completed"] > 1000, (a, b)
        try:
            servesim.run_in_subprocess(scenario, overrides={"pools.0.replicas": 99})
            raise AssertionError("an invalid override was accepted")
        except servesim.ConfigError as e:
            assert "pools.0" in str(e), e
        print("ok: run_in_subprocess() runs one simulation per child, errors come back as themselves")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(*sys.argv[2:5])
    else:
        main()
