#!/usr/bin/env python3
"""A Kubernetes-HPA-style autoscaler for servesim, over the external-planner protocol.

What the HorizontalPodAutoscaler does (autoscaling/v2, kube-controller-manager defaults):
  desired = ceil(current * metric / target), where `current` counts the pods that exist (ready
  and starting) and the metric is averaged over the ready ones; no change while the ratio is
  within the tolerance (10%); scale-up to the lowest and scale-down to the highest recommendation
  of its stabilisation window (0 s up, 300 s down); a scale-up adds at most max(max-surge pods,
  max-surge-percent of current) per decision; bounded by the pool's min/max replicas.

The metric is one the pool observation carries: kv_usage (0..1), running_per_worker,
queued_per_worker; or ttft_p90_s, a latency metric as a KEDA Prometheus trigger would scale on.

  planner: {policy: external, external: {command: "python3 hpa_planner.py --metric kv_usage --target 0.6"}}
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servesim_planner import serve  # noqa: E402


class HpaPlanner:
    def __init__(self, metric="kv_usage", target=0.6, tolerance=0.1, up_window_s=0.0, down_window_s=300.0,
                 max_surge=4, max_surge_percent=100.0):
        self.metric, self.target, self.tolerance = metric, target, tolerance
        self.up_window_s, self.down_window_s = up_window_s, down_window_s
        self.max_surge, self.max_surge_percent = max_surge, max_surge_percent
        self.history = {}  # pool -> [(time_s, recommendation)]

    def value(self, obs, pool):
        if self.metric == "ttft_p90_s":
            return obs["traffic"]["ttft_s"]["p90"]
        return pool[self.metric]

    def decide(self, obs, _query):
        now, decision = obs["time_s"], {}
        for p in obs["pools"]:
            current = p["ready"] + p["starting"]
            value = self.value(obs, p)
            if current == 0 or value is None or p["ready"] == 0:
                recommendation = max(current, p["min_replicas"])
            else:
                ratio = value / self.target
                recommendation = current if abs(ratio - 1) <= self.tolerance else math.ceil(current * ratio)
            history = self.history.setdefault(p["name"], [])
            history.append((now, recommendation))
            keep = max(self.up_window_s, self.down_window_s)
            history[:] = [(t, r) for t, r in history if t > now - keep or t == now]
            up = min(r for t, r in history if t > now - self.up_window_s or t == now)
            down = max(r for t, r in history if t > now - self.down_window_s or t == now)
            desired = current
            if up > current:
                desired = up
            elif down < current:
                desired = down
            surge = max(self.max_surge, math.ceil(current * self.max_surge_percent / 100))
            desired = min(desired, current + surge)
            desired = max(p["min_replicas"], min(p["max_replicas"], desired))
            decision[p["name"]] = {"replicas": desired, "proposed": recommendation}
        return decision


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metric", default="kv_usage",
                    choices=["kv_usage", "running_per_worker", "queued_per_worker", "ttft_p90_s"])
    ap.add_argument("--target", type=float, default=0.6, help="the metric's target value per worker")
    ap.add_argument("--tolerance", type=float, default=0.1)
    ap.add_argument("--scale-up-window", type=float, default=0.0, help="seconds")
    ap.add_argument("--scale-down-window", type=float, default=300.0, help="seconds")
    ap.add_argument("--max-surge", type=int, default=4, help="pods added per decision at most")
    ap.add_argument("--max-surge-percent", type=float, default=100.0, help="or this percent of current")
    a = ap.parse_args()
    serve(HpaPlanner(a.metric, a.target, a.tolerance, a.scale_up_window, a.scale_down_window, a.max_surge,
                     a.max_surge_percent))


if __name__ == "__main__":
    main()
