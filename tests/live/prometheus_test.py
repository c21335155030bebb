"""A real Prometheus server (Debian's) scrapes servesim live on loopback; its HTTP API answers a
rate and a histogram quantile over the scraped series. Run by ctest (Live.Prometheus)."""
import math
import os
import subprocess
import sys
import tempfile
import threading
import time

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from harness import Live, free_port  # noqa: E402


def query(prom, expr):
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert r["status"] == "success", r
    return [float(v["value"][1]) for v in r["data"]["result"]]


def main():
    with Live("--speedup", "1") as live:
        tmp = tempfile.mkdtemp(prefix="servesim-prom-")
        port = free_port()
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"global: {{scrape_interval: 500ms, evaluation_interval: 1s}}\n"
                    f"scrape_configs:\n  - job_name: servesim\n    static_configs: [{{targets: ['127.0.0.1:{live.port}']}}]\n")
        prom = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 30
            while True:
                try:
                    if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.time() < deadline and prom.poll() is None, "prometheus did not start"
                time.sleep(0.2)
            stop = threading.Event()
            sent = [0]

            def load():
                with httpx.Client(base_url=live.url, timeout=30) as http:
                    while not stop.is_set():
                        r = http.post("/v1/completions", json={"prompt": f"load {sent[0]} " * 50, "max_tokens": 20})
                        assert r.status_code == 200, r.text
                        sent[0] += 1

            threads = [threading.Thread(target=load) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(6)
            stop.set()
            for t in threads:
                t.join()
            time.sleep(1.5)  # a last scrape after the load
            up = query(url, 'up{job="servesim"}')
            assert up == [1.0], up
            rate = query(url, "sum(rate(vllm:generation_tokens_total[4s] offset 1s))")
            assert rate and rate[0] > 0, rate
            p50 = query(url, "histogram_quantile(0.5, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[5s] offset 1s)))")
            assert p50 and 0 < p50[0] < 1 and math.isfinite(p50[0]), p50
            total = query(url, 'sum(vllm:request_success_total{finished_reason="length"})')
            assert total == [float(sent[0])], (total, sent[0])
            print(f"Live.Prometheus: {sent[0]} requests; Prometheus saw {rate[0]:.0f} generated tokens/s and "
                  f"TTFT p50 {p50[0] * 1e3:.1f} ms")
        finally:
            prom.terminate()
            prom.wait(timeout=30)
        assert live.stop() == 0


if __name__ == "__main__":
    main()
