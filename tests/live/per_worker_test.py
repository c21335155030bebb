"""servesim live --per-worker-ports: each simulated worker serves its own vLLM-like endpoint, so an
outside router can do the routing. Requests sent to a worker's port run on that worker; its
/metrics shows its own series; /health is 503 (and completions too) for a worker that is not ready
(here: the pool's spare slots, stopped until a planner starts them). Run by ctest (Live.PerWorker)."""
import os
import socket
import sys
import tempfile
import time

import h5py
import httpx

sys.path.insert(0, os.path.dirname(__file__))
from clients_test import error_of, metric_values  # noqa: E402
from harness import Live  # noqa: E402


def free_base(n):
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65535:
            continue
        try:
            socks = []
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free run of ports")


def main():
    base = free_base(4)
    # 2 workers serve; 2 more slots exist for a planner to start (stopped here)
    with Live("--per-worker-ports", str(base), "--set", "pools.0.replicas=2",
              "--set", "pools.0.lifecycle.max_replicas=4") as live, httpx.Client(timeout=30) as http:
        worker = lambda i: f"http://127.0.0.1:{base + i}"  # noqa: E731
        assert [http.get(worker(i) + "/health").status_code for i in range(4)] == [200, 200, 503, 503]
        for k in range(3):
            r = http.post(worker(1) + "/v1/completions", json={"prompt": f"to worker one {k}", "max_tokens": 4})
            assert r.status_code == 200, r.text
        error_of(http.post(worker(3) + "/v1/completions", json={"prompt": "x"}), 503)
        assert [m["id"] for m in http.get(worker(0) + "/v1/models").json()["data"]] == ["llama-3.1-8b"]
        own = http.get(worker(1) + "/metrics").text
        assert metric_values(own, "vllm:request_success_total", finished_reason="length") == [3.0], own[:400]
        assert all('engine="1"' in l for l in own.splitlines() if l.startswith("vllm:")), "another worker's series"
        whole = http.get(live.url + "/metrics").text
        assert metric_values(whole, "vllm:request_success_total", engine="1", finished_reason="length") == [3.0]
        assert metric_values(whole, "vllm:request_success_total", engine="0", finished_reason="length") == [0.0]
        assert live.stop() == 0, live.output()
    with h5py.File(live.h5) as f:
        req = f["requests"][:]
    assert len(req) == 3 and set(req["decode_worker"]) == {1}, req["decode_worker"]
    print(f"Live.PerWorker: worker endpoints on {base}-{base + 3}; 3 requests ran on the worker they were sent to")


PLANNED = """name: live_planned
seed: 7
simulation: {sample_interval: 1s}
workload:
  source: synthetic
  synthetic:
    duration: 60s
    arrival: {process: poisson, rate: 1}
    input_length: {dist: fixed, value: 100}
    output_length: {dist: fixed, value: 10}
router: {policy: least_loaded}
pools:
  - name: agg
    replicas: 1
    model: llama-3.1-8b
    gpu: h100_sxm
    lifecycle: {max_replicas: 2, startup: {dist: fixed, value: 1s}}
planner:
  policy: scripted
  adjustment_interval: 500ms
  scripted: [{at: 2s, pool: agg, replicas: 2}, {at: 5s, pool: agg, replicas: 1}]
slo: {ttft: 1s, itl: 50ms}
"""


def planner_scales():
    """A planner starts a worker and later drains one: its endpoint's /health follows."""
    base = free_base(2)
    path = os.path.join(tempfile.mkdtemp(prefix="servesim-planned-"), "planned.yaml")
    with open(path, "w") as f:
        f.write(PLANNED)
    seen = []
    with Live("--per-worker-ports", str(base), scenario=path) as live, httpx.Client(timeout=10) as http:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8:
            states = tuple(http.get(f"http://127.0.0.1:{base + i}/health").status_code for i in range(2))
            if not seen or seen[-1][1] != states:
                seen.append((round(time.monotonic() - t0, 2), states))
            time.sleep(0.05)
        assert live.stop() == 0, live.output()
    phases = [s for _, s in seen]
    # one ready; then both (started at 2 s, ready a second later); then one again (drained at 5 s)
    assert phases[0] == (200, 503) and (200, 200) in phases and phases[-1] in ((200, 503), (503, 200)), seen
    up = next(t for t, s in seen if s == (200, 200))
    down = next(t for t, s in seen if t > up and s != (200, 200))
    assert 2.5 <= up <= 4.0 and 4.5 <= down <= 6.5, seen
    print(f"Live.PerWorker: a planner started worker 1 (its /health 200 at {up:.2f} s wall) and drained one "
          f"(at {down:.2f} s): {seen}")


if __name__ == "__main__":
    main()
    planner_scales()
