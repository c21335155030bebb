"""servesim live with router admission control: one worker that takes one request at a time and
no router queue. Of four requests sent together, one is served and three get HTTP 429 at once, as
a gateway with flow control answers; the run's file records them as rejected (queue_full).
Run by ctest (Live.Admission)."""
import concurrent.futures
import os
import sys
import time

import h5py
import httpx

sys.path.insert(0, os.path.dirname(__file__))
from clients_test import error_of  # noqa: E402
from harness import Live  # noqa: E402


def main():
    with Live("--speedup", "1", "--set", "pools.0.replicas=1", "--set", "router.admission.max_inflight_per_worker=1",
              "--set", "router.admission.max_queue=0") as live, httpx.Client(base_url=live.url, timeout=60) as http:
        def ask(k):
            t0 = time.monotonic()
            r = http.post("/v1/completions", json={"prompt": f"request {k} " * 20, "max_tokens": 300})
            return r, time.monotonic() - t0

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(ask, range(4)))
        served = [r for r, _ in results if r.status_code == 200]
        turned_away = [(r, s) for r, s in results if r.status_code != 200]
        assert len(served) == 1, [r.status_code for r, _ in results]
        assert served[0].json()["usage"]["completion_tokens"] == 300
        for r, seconds in turned_away:
            error_of(r, 429, code="rate_limit_exceeded")
            assert "max_queue" in r.json()["error"]["message"], r.text
            assert seconds < 1.0, f"a rejection should be immediate, took {seconds:.2f} s"
        live.stop()
    with h5py.File(live.h5) as f:
        req = f["requests"][:]
        assert sorted(req["status"].tolist()) == [1, 5, 5, 5], req["status"]
        assert sorted(req["reject_reason"].tolist()) == [0, 2, 2, 2], req["reject_reason"]
        assert f["summary"]["requests_rejected_queue_full"][0] == 3
    print("live admission: 1 served, 3 rejected with 429")


if __name__ == "__main__":
    main()
