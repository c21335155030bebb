#!/usr/bin/env python3
"""servesim's built-in `sla` planner policy, written again over the external-planner protocol.

As Dynamo's SLA planner: predict the next interval's request rate, ISL and OSL; ask what one
worker carries within the TTFT/ITL targets (servesim answers capacity queries from the pools'
timing models, as Dynamo's planner reads its pre-deployment profiling tables); replicas =
ceil(predicted rate / capacity per worker), the targets corrected by observed / expected latency.
Same arithmetic in the same order as planner/policies.cpp and planner/capacity.cpp, so a run with
this planner is bit-identical to one with `planner.policy: sla` (tests/planner_external_test.cpp).

  planner: {policy: external, external: {command: "python3 sla_planner.py --predictor constant"}}
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servesim_planner import Predictor, serve  # noqa: E402


def clamp(c, lo, hi):
    return lo if c < lo else hi if hi < c else c  # std::clamp, NaN passing through


class SlaPlanner:
    def __init__(self, predictor="constant", window=5, alpha=0.5, beta=0.3, max_utilisation=0.9,
                 correction=True, min_correction=1.0, max_correction=4.0):
        self.make_predictor = lambda: Predictor(predictor, window, alpha, beta)
        self.requests, self.isl, self.osl = self.make_predictor(), self.make_predictor(), self.make_predictor()
        self.max_utilisation, self.correction = max_utilisation, correction
        self.min_correction, self.max_correction = min_correction, max_correction
        self.p_corr, self.d_corr = {}, {}
        self.ttft_s = self.itl_s = None

    def hello(self, hello):
        self.ttft_s, self.itl_s = hello["slo"]["ttft_s"], hello["slo"]["itl_s"]

    # --- the capacity model, asked through servesim ---
    def service_s(self, query, role, pool, t):
        context, osl = t["isl"] + t["osl"] / 2, max(1.0, t["osl"])
        prefill_cap, decode_cap = query([
            {"op": "prefill_tokens_per_s", "pool": pool, "isl": t["isl"], "ttft_s": t["ttft_s"]},
            {"op": "decode_tokens_per_s", "pool": pool, "context": context, "itl_s": t["itl_s"] / t["d_corr"]}])
        prefill = t["isl"] / prefill_cap * t["p_corr"]
        decode = osl / decode_cap
        return prefill if role == "prefill" else decode if role == "decode" else prefill + decode

    def utilisation(self, query, role, pool, t, s):
        if role == "decode":
            return t["max_utilisation"]
        (expected,) = query([{"op": "expected_ttft_s", "pool": pool, "isl": t["isl"]}])
        slack = t["ttft_s"] - expected * t["p_corr"]
        if slack <= 0:
            return min(0.05, t["max_utilisation"])
        return min(t["max_utilisation"], 2 * slack / (2 * slack + s))

    def replicas(self, query, role, pool, t):
        s = self.service_s(query, role, pool, t)
        capacity = self.utilisation(query, role, pool, t, s) / s
        if not t["rate"] > 0:
            return 0, capacity
        return int(math.ceil(t["rate"] / capacity - 1e-9)), capacity

    def expected_ttft_s(self, query, role, pool, t, workers):
        s = self.service_s(query, role, pool, t)
        rho = t["rate"] * s / max(1, workers)
        if rho >= 1:
            return math.nan
        (expected,) = query([{"op": "expected_ttft_s", "pool": pool, "isl": t["isl"]}])
        return expected + rho * s / (2 * (1 - rho))

    def targets(self, pool, rate, isl, osl, p_corr=1.0, d_corr=1.0, max_utilisation=0.9):
        return {"rate": rate, "isl": isl, "osl": osl, "ttft_s": self.ttft_s, "itl_s": self.itl_s,
                "p_corr": p_corr, "d_corr": d_corr, "max_utilisation": max_utilisation}

    def update_corrections(self, query, p, traffic, interval_s):
        name, role = p["name"], p["role"]
        isl, osl = num(traffic["mean_isl"]), num(traffic["mean_osl"])
        if p["ready"] == 0 or not isl > 0 or math.isnan(osl):
            return
        itl, ttft = num(traffic["itl_s"]["mean"]), num(traffic["ttft_s"]["mean"])
        lo, hi = self.min_correction, self.max_correction
        if role != "prefill" and itl > 0 and p["running_per_worker"] > 0:
            context = isl + osl / 2
            (expected,) = query([{"op": "expected_itl_s", "pool": name, "concurrency": p["running_per_worker"],
                                  "context": context}])
            self.d_corr[name] = clamp(itl / expected, lo, hi)
        if role != "decode" and ttft > 0:
            t = self.targets(name, traffic["requests"] / interval_s, isl, osl)
            expected = self.expected_ttft_s(query, role, name, t, p["ready"])
            if expected > 0:
                self.p_corr[name] = clamp(ttft / expected, lo, hi)

    def decide(self, obs, query):
        traffic = obs["traffic"]
        self.requests.observe(traffic["requests"])
        if traffic["mean_isl"] is not None:
            self.isl.observe(traffic["mean_isl"])
        if traffic["mean_osl"] is not None:
            self.osl.observe(traffic["mean_osl"])
        rate_next = num(self.requests.predict())
        isl_next, osl_next = num(self.isl.predict()), num(self.osl.predict())
        if not rate_next >= 0 or math.isnan(isl_next) or math.isnan(osl_next):
            return {}  # nothing seen yet: every pool keeps its target
        decision = {}
        for p in obs["pools"]:
            name, role = p["name"], p["role"]
            if self.correction:
                self.update_corrections(query, p, traffic, obs["interval_s"])
            p_corr, d_corr = self.p_corr.get(name, 1.0), self.d_corr.get(name, 1.0)
            t = self.targets(name, rate_next / obs["interval_s"], isl_next, osl_next, p_corr, d_corr,
                             self.max_utilisation)
            proposed, capacity = self.replicas(query, role, name, t)
            decision[name] = {"replicas": clamp(proposed, p["min_replicas"], p["max_replicas"]),
                              "proposed": proposed, "capacity_req_per_s": capacity,
                              "correction": d_corr if role == "decode" else p_corr}
        return decision


def num(v):
    return math.nan if v is None else v


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predictor", default="constant", help="constant | moving_average | holt_winters")
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--beta", type=float, default=0.3)
    ap.add_argument("--max-utilisation", type=float, default=0.9)
    ap.add_argument("--no-correction", action="store_true")
    ap.add_argument("--min-correction", type=float, default=1.0)
    ap.add_argument("--max-correction", type=float, default=4.0)
    a = ap.parse_args()
    serve(SlaPlanner(a.predictor, a.window, a.alpha, a.beta, a.max_utilisation, not a.no_correction,
                     a.min_correction, a.max_correction))


if __name__ == "__main__":
    main()
