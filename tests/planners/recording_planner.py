#!/usr/bin/env python3
"""Keeps every target, drains agg_0 at the first tick after 60 s, asks one capacity query per
tick, and writes every message it got to the file named by argv[1] (one JSON object per line)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../examples/planners"))
from servesim_planner import serve  # noqa: E402


class Recorder:
    def __init__(self, path):
        self.log = open(path, "w")
        self.drained = False

    def hello(self, message):
        self.log.write(json.dumps(message) + "\n")

    def decide(self, obs, query):
        (ttft,) = query([{"op": "expected_ttft_s", "pool": "agg", "isl": 512}])
        obs["expected_ttft_s_512"] = ttft
        self.log.write(json.dumps(obs) + "\n")
        self.log.flush()
        if obs["time_s"] >= 60 and not self.drained:
            self.drained = True
            return {"agg": {"replicas": 1, "drain": ["agg_0"]}}
        return {}


serve(Recorder(sys.argv[1]))
