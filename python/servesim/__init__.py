"""servesim from Python: step a scenario's simulation, observe it, scale it, or hand it a planner.

    import servesim
    sim = servesim.Simulation("scenarios/planner_burst.yaml", overrides={"pools.0.replicas": 4}, seed=1,
                              output="results/burst.h5")
    while sim.run_until(sim.time_s + 60):
        obs = sim.observe()                  # the external-planner observation, as a dict
        if obs["pools"][0]["queued_per_worker"] > 4:
            sim.scale("agg", obs["pools"][0]["target"] + 1)
    summary = sim.finish()                   # writes the same HDF5 file as `servesim run`
    run = servesim.load("results/burst.h5")  # pandas DataFrames (run.requests, run.planner, ...)

A planner object (decide(observation, query) -> {pool: replicas}, optional hello(message)) or a
plain function decide(observation, query) runs inside the simulation at every planner tick:
    servesim.Simulation("scenario.yaml", planner=MyPlanner())
exactly as it would over the JSON-lines protocol as a child process (docs/planner_protocol.md).

One Simulation per process: SystemC elaborates once. run_in_subprocess() runs one in a child.
"""
import json

from . import _servesim
from . import planner_protocol as _protocol
from ._servesim import ConfigError, InputError, InvariantError, OutputError  # noqa: F401

__all__ = ["Simulation", "load", "run_in_subprocess", "ConfigError", "InputError", "InvariantError", "OutputError"]


def _override_text(key, value):
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (list, dict)):
        value = json.dumps(value)  # YAML flow style
    return f"{key}={value}"


class Simulation:
    """One scenario's run, stepped from Python (docs/python.md)."""

    def __init__(self, scenario, overrides=None, seed=None, planner=None, output=""):
        sets = [_override_text(k, v) for k, v in (overrides or {}).items()]
        raw = None
        if planner is not None:
            raw = _protocol.in_process(planner)
        self._sim = _servesim.Simulation(str(scenario), sets, seed, raw, str(output))

    @property
    def time_s(self):
        """Simulated time now, in seconds."""
        return self._sim.time_s

    @property
    def running(self):
        return self._sim.running

    def run_until(self, t_s):
        """Runs to simulated time t_s (or the end of the workload); False once the run is over."""
        return self._sim.run_until(float(t_s))

    def observe(self):
        """What a planner tick now would see (the window since the last tick), as a dict."""
        obs = json.loads(self._sim.observe())
        obs.pop("tick", None)
        return obs

    def scale(self, pool, replicas):
        """Sets a pool's replica target, as a planner decision (it lands an actuation delay later)."""
        self._sim.scale(str(pool), int(replicas))

    def finish(self):
        """Runs to the end, checks the invariants, writes the output file; returns the summary."""
        return dict(self._sim.finish())

    def summary(self):
        return dict(self._sim.summary())

    def summary_table(self):
        return self._sim.summary_table()


def load(path):
    """A run or sweep file as pandas DataFrames (servesim_h5: .requests, .planner, .timeseries, ...)."""
    from . import h5
    return h5.load(str(path))


def _child(conn, args, kwargs, until):
    try:
        sim = Simulation(*args, **kwargs)
        if until is not None:
            sim.run_until(until)
        conn.send(("ok", sim.finish()))
    except Exception as e:  # noqa: BLE001 - handed to the parent as is
        conn.send(("error", e))


def run_in_subprocess(*args, **kwargs):
    """Runs Simulation(*args, **kwargs) to the end in a fresh process; returns its summary.
    For more than one simulation from the same Python process."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_child, args=(child, args, kwargs, None))
    p.start()
    kind, value = parent.recv()
    p.join()
    if kind == "error":
        raise value
    return value
