#!/usr/bin/python3
"""Load servesim run and sweep files (HDF5) into pandas DataFrames.

    import servesim_h5
    run = servesim_h5.load("results/quickstart.h5")
    run.requests            # one row per request (status and route as strings)
    run.timeseries["cluster"], run.timeseries["pools"], run.workers, run.planner
    run.transfers, run.links["info"], run.links["timeseries"], run.links["paths"]
    run.summary             # a pandas Series of the /summary metrics
    run.scenario_yaml       # the effective scenario, from /meta
    sweep = servesim_h5.load("results/sweep_quick.h5")
    sweep.trials, sweep.trial_stats, sweep.pareto["x__y"]

CLI:  servesim_h5.py describe FILE.h5   (every dataset, its rows and columns)

Column names carry their units (_s seconds, _per_s per second, _tokens, _bytes ...); see
results/README.md. Needs Debian's python3-h5py, python3-pandas and python3-numpy.
"""
import sys

MISSING = []
try:
    import h5py
except ImportError:  # pragma: no cover - reported by require()
    MISSING.append("python3-h5py")
try:
    import numpy as np
    import pandas as pd
except ImportError:  # pragma: no cover
    MISSING.append("python3-pandas")


class ServesimFileError(Exception):
    """A file that is not a readable servesim run or sweep file."""


def require(extra=()):
    """Exit with the Debian packages to install when an import failed."""
    missing = list(MISSING)
    for module, package in extra:
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        sys.exit("servesim tools need these Debian packages: " + " ".join(missing) +
                 "\n  install them with: apt-get install " + " ".join(missing))


def _frame(dataset):
    """A compound dataset as a DataFrame: enums become their names, byte strings text."""
    data = dataset[()]
    frame = pd.DataFrame({name: data[name] for name in data.dtype.names})
    for name in data.dtype.names:
        enum = h5py.check_enum_dtype(dataset.dtype[name])
        if enum:
            names = {v: k for k, v in enum.items()}
            frame[name] = pd.Categorical([names.get(int(v), str(v)) for v in frame[name]],
                                         categories=[names[v] for v in sorted(names)])
        elif frame[name].dtype == object:
            frame[name] = [v.decode() if isinstance(v, bytes) else v for v in frame[name]]
    return frame


class ServesimFile:
    """Everything in one file, as DataFrames. `kind` is "run" or "sweep"."""

    def __init__(self, path):
        self.path = path
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise ServesimFileError(f"{path}: cannot open as HDF5 ({e}); is it a complete servesim file?") from e
        with f:
            if "meta" not in f:
                raise ServesimFileError(f"{path}: not a servesim file (no /meta group)")
            self.meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["meta"].attrs.items()}
            self.kind = "sweep" if "trials" in f else "run"
            if self.kind == "run" and "summary" not in f:
                raise ServesimFileError(f"{path}: the run has no /summary: it was killed or is still running "
                                        "(what was flushed is readable with h5py)")
            self.scenario_yaml = self.meta.get("scenario_yaml", self.meta.get("base_scenario_yaml", ""))
            self.datasets = {}
            f.visititems(self._collect)
            self.requests = self.datasets.get("requests")
            self.workers = self.datasets.get("workers")
            self.planner = self.datasets.get("planner")
            self.transfers = self.datasets.get("transfers")
            self.timeseries = {k.split("/", 1)[1]: v for k, v in self.datasets.items() if k.startswith("timeseries/")}
            self.links = {k.split("/", 1)[1]: v for k, v in self.datasets.items() if k.startswith("links/")}
            self.trials = self.datasets.get("trials")
            self.trial_stats = self.datasets.get("trial_stats")
            self.pareto = {k.split("/", 1)[1]: v for k, v in self.datasets.items() if k.startswith("pareto/")}
            summary = self.datasets.get("summary")
            self.summary = summary.iloc[0] if summary is not None and len(summary) else None

    def _collect(self, name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.names:
            self.datasets[name] = _frame(obj)

    def name(self):
        return self.meta.get("scenario_name") or self.path

    def slo(self):
        """(ttft_s, itl_s) targets of the run, from its summary."""
        if self.summary is None:
            return None, None
        return self.summary.get("slo_ttft_s"), self.summary.get("slo_itl_s")


def load(path):
    require()
    return ServesimFile(path)


def describe(path, out=sys.stdout):
    run = load(path)
    print(f"{path}: servesim {run.kind} file, {run.meta.get('servesim_version', '?')} "
          f"({run.meta.get('git_commit', '?')})", file=out)
    if run.kind == "run":
        print(f"scenario {run.meta.get('scenario_name')} from {run.meta.get('scenario_source')}, "
              f"seed {run.meta.get('seed')}", file=out)
    for name, frame in sorted(run.datasets.items()):
        cols = ", ".join(frame.columns[:12]) + (f", ... ({len(frame.columns)} columns)" if len(frame.columns) > 12 else "")
        print(f"  /{name}: {len(frame)} rows: {cols}", file=out)
    return run


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Read servesim HDF5 files.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("describe", help="list the datasets of a run or sweep file")
    d.add_argument("file")
    args = ap.parse_args(argv)
    try:
        describe(args.file)
    except ServesimFileError as e:
        sys.exit(f"servesim_h5: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
