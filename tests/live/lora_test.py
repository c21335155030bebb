"""servesim live with LoRA adapters, as vLLM with --enable-lora serves them: /v1/models lists each
adapter with its base model as `parent`; a completion naming an adapter runs on it (an unknown one
is a 404); /metrics has vllm:lora_requests_info (max_lora, running and waiting adapters in its
labels; promtool accepts the exposition); BlockStored events carry lora_id (from 1) and lora_name,
and an adapter's blocks never share hashes with the base model's for the same prompt.
Run by ctest (Live.Lora)."""
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import h5py
import httpx
import msgpack
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import Live, free_port  # noqa: E402

SCENARIO = """
name: live_lora
seed: 3
workload: {source: synthetic, synthetic: {duration: 10s, arrival: {rate: 1}}}
router: {policy: kv_aware, indexer: events}
pools:
  - name: agg
    replicas: 1
    model: llama-3.1-8b
    gpu: h100_sxm
    lora: {max_loras: 2, adapters: [{name: sql}, {name: chat, rank: 8}]}
"""


def stored_events(sub):
    out = []
    while sub.poll(1000):
        _, _, payload = sub.recv_multipart()
        ts, events = msgpack.unpackb(payload, raw=False)
        for e in events:
            if e[0] == "BlockStored":
                out.append(dict(hashes=e[1], lora_id=e[5], lora_name=e[7]))
    return out


def main():
    scenario = os.path.join(tempfile.mkdtemp(prefix="servesim-lora-"), "lora.yaml")
    with open(scenario, "w") as f:
        f.write(SCENARIO)
    pub = free_port()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    with Live("--speedup", "5", "--kv-events", f"tcp://127.0.0.1:{pub}", scenario=scenario) as live, \
            httpx.Client(base_url=live.url, timeout=60) as http:
        sub.connect(f"tcp://127.0.0.1:{pub}")
        time.sleep(0.5)  # a PUB socket drops what it sends before the subscriber has joined
        models = {m["id"]: m for m in http.get("/v1/models").json()["data"]}
        assert set(models) == {"llama-3.1-8b", "sql", "chat"}, models
        assert models["llama-3.1-8b"]["parent"] is None and models["sql"]["parent"] == "llama-3.1-8b", models

        prompt = "the same long prompt for every model " * 20
        bad = http.post("/v1/completions", json={"model": "sql-v2", "prompt": prompt, "max_tokens": 4})
        assert bad.status_code == 404, bad.text

        # two long requests, one per adapter: with max_loras 2 both run, and the gauge says so
        seen = {}

        def long_request(model):
            r = http.post("/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": 400})
            seen[model] = r

        threads = [threading.Thread(target=long_request, args=(m,)) for m in ("sql", "chat")]
        for t in threads:
            t.start()
        info = None
        deadline = time.time() + 20
        while time.time() < deadline:
            text = http.get("/metrics").text
            m = re.search(r'^vllm:lora_requests_info\{([^}]*)\} (\S+)$', text, re.M)
            if m and 'running_lora_adapters="sql,chat"' in m.group(1):
                info = m
                break
            time.sleep(0.05)
        assert info, "vllm:lora_requests_info never showed both adapters running"
        labels = dict(re.findall(r'(\w+)="([^"]*)"', info.group(1)))
        assert labels["max_lora"] == "2" and labels["waiting_lora_adapters"] == "", labels
        assert abs(float(info.group(2)) - time.time()) < 60, info.group(2)  # a Unix time, as vLLM sets it
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert "error" not in (check.stdout + check.stderr).lower(), check.stdout + check.stderr
        for t in threads:
            t.join()
        assert all(r.status_code == 200 for r in seen.values()), {k: r.text for k, r in seen.items()}
        base = http.post("/v1/completions", json={"prompt": prompt, "max_tokens": 4})
        assert base.status_code == 200, base.text
        time.sleep(0.5)
        assert live.stop() == 0, live.output()

    stored = stored_events(sub)
    by_model = {}
    for e in stored:
        by_model.setdefault((e["lora_id"], e["lora_name"]), set()).update(e["hashes"])
    assert set(by_model) == {(1, "sql"), (2, "chat"), (None, None)}, set(by_model)
    sql, chat, plain = by_model[(1, "sql")], by_model[(2, "chat")], by_model[(None, None)]
    assert sql and chat and plain
    assert not (sql & chat) and not (sql & plain) and not (chat & plain), "adapters must not share KV blocks"
    with h5py.File(live.h5) as f:
        req = f["requests"][:]
        adapters = f["meta"].attrs["lora_adapters"]
        adapters = adapters.decode() if isinstance(adapters, bytes) else adapters
        assert adapters.split("\n") == ["sql", "chat"], adapters
        assert sorted(req["lora"].tolist()) == [-1, 0, 1], req["lora"]
        assert sorted(req["lora_loaded"].tolist()) == [-1, 1, 1], req["lora_loaded"]
    print(f"Live.Lora: /v1/models lists 2 adapters, lora_requests_info {labels}, "
          f"{len(stored)} BlockStored events: sql {len(sql)}, chat {len(chat)}, base {len(plain)} blocks, disjoint")


if __name__ == "__main__":
    main()
