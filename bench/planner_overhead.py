#!/usr/bin/python3
"""The external-planner protocol's cost per planner tick, in wall microseconds: one quiet hour
(0.2 req/s on one worker) with a planner tick every second (3,600 ticks), run with a built-in
policy that keeps every target (scripted, no steps), a trivial planner over JSON lines as a
child process (examples/planners/servesim_planner.py serve()), and the same planner in process
through the Python API. Per-tick cost = (wall - built-in wall) / ticks, each against the built-in policy run the same
way (the CLI; Simulation.finish() in Python); best of three runs each.
    bench/planner_overhead.py [build-dir]      (default build/)
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
TICKS = 3600
SCENARIO = """name: overhead
seed: 1
workload:
  source: synthetic
  synthetic:
    duration: 1h
    arrival: {process: poisson, rate: 0.2}
    input_length: {dist: fixed, value: 512}
    output_length: {dist: fixed, value: 32}
pools:
  - {name: agg, replicas: 1, model: llama-3.1-8b, gpu: h100_sxm, lifecycle: {max_replicas: 2}}
planner: {policy: scripted, adjustment_interval: 1s}
output: {requests: false}
"""
TRIVIAL = f"""import sys
sys.path.insert(0, {os.path.join(ROOT, 'examples', 'planners')!r})
from servesim_planner import serve
serve(lambda obs, query: {{}})
"""
IN_PROCESS = f"""import sys, time
sys.path.insert(0, {os.path.join(BUILD, 'python')!r})
import servesim
planner = (lambda obs, query: {{}}) if sys.argv[2] == "callback" else None
sim = servesim.Simulation(sys.argv[1], planner=planner, output=sys.argv[1] + ".py.h5")
t = time.perf_counter()
sim.finish()
print(time.perf_counter() - t)
"""


def best(f, n=3):
    return min(f() for _ in range(n))


def cli(scenario, *sets):
    def once():
        argv = [os.path.join(BUILD, "servesim"), "run", scenario, "-q", "-o", scenario + ".cli.h5"]
        for s in sets:
            argv += ["--set", s]
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t
    return once


def main():
    with tempfile.TemporaryDirectory() as d:
        scenario = os.path.join(d, "overhead.yaml")
        open(scenario, "w").write(SCENARIO)
        trivial = os.path.join(d, "trivial.py")
        open(trivial, "w").write(TRIVIAL)
        in_process = os.path.join(d, "in_process.py")
        open(in_process, "w").write(IN_PROCESS)
        builtin = best(cli(scenario))
        child = best(cli(scenario, "planner.policy=external", f"planner.external.command=/usr/bin/python3 {trivial}"))
        python_start = best(lambda: (lambda t: (subprocess.run(["/usr/bin/python3", "-c", "pass"], check=True),
                                                 time.perf_counter() - t)[1])(time.perf_counter()))

        def inproc(kind):
            def once():
                r = subprocess.run(["/usr/bin/python3", in_process, scenario, kind], check=True, capture_output=True,
                                   text=True)
                return float(r.stdout.strip())
            return once
        inproc_base = best(inproc("builtin"))
        inproc_wall = best(inproc("callback"))
        print(f"built-in policy:        {builtin:.3f} s wall for {TICKS} ticks (the simulation alone)")
        print(f"JSON lines, child:      {child:.3f} s -> {(child - builtin - python_start) / TICKS * 1e6:.0f} us per tick "
              f"(python3 start-up, {python_start * 1e3:.0f} ms, not counted)")
        print(f"in process (Python API): {inproc_wall:.3f} s in finish() against {inproc_base:.3f} s with the "
              f"built-in policy -> {(inproc_wall - inproc_base) / TICKS * 1e6:.0f} us per tick")


if __name__ == "__main__":
    main()
