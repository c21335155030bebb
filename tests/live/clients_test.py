"""servesim live against real clients: httpx, curl -N, the official OpenAI Node SDK, promtool.
Loopback only; a bounded number of requests. Run by ctest (Live.Clients)."""
import json
import os
import socket
import subprocess
import sys
import time

import h5py
import httpx

sys.path.insert(0, os.path.dirname(__file__))
from harness import SCENARIO, SERVESIM, Live, check_stream, sse_events  # noqa: E402

MODEL = "llama-3.1-8b"


def error_of(resp, status, param=None, code=None):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}, body
    assert body["message"], body
    if param is not None:
        assert body["param"] == param, body
    if code is not None:
        assert body["code"] == code, body
    return body


def metric_values(text, name, **labels):
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, value = line.rsplit(" ", 1)
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            out.append(float(value))
    return out


def main():
    api_requests = 0  # requests that pass validation (each becomes one simulated request)
    with Live("--speedup", "1") as live, httpx.Client(base_url=live.url, timeout=60) as http:
        # models
        models = http.get("/v1/models").json()
        assert models["object"] == "list" and [m["id"] for m in models["data"]] == [MODEL], models
        assert http.get("/health").status_code == 200

        # non-streaming completion: 100 bytes = 25 stand-in tokens
        r = http.post("/v1/completions", json={"model": MODEL, "prompt": "abcd" * 25, "max_tokens": 7})
        api_requests += 1
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
        assert body["choices"][0]["finish_reason"] == "length"
        assert body["usage"] == {"prompt_tokens": 25, "completion_tokens": 7, "total_tokens": 32,
                                 "prompt_tokens_details": {"cached_tokens": 0}}, body["usage"]

        # chat, non-streaming, max_completion_tokens, an exact token count from the client
        r = http.post("/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_completion_tokens": 4,
            "num_prompt_tokens": 300, "temperature": 0, "ignore_eos": True})
        api_requests += 1
        body = r.json()
        assert body["object"] == "chat.completion", body
        assert body["choices"][0]["message"]["role"] == "assistant"
        assert body["usage"]["prompt_tokens"] == 300 and body["usage"]["completion_tokens"] == 4, body

        # streaming chat with usage (httpx)
        req = {"model": MODEL, "messages": [{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": "count to ten " * 20}],
               "max_tokens": 12, "stream": True, "stream_options": {"include_usage": True}}
        with http.stream("POST", "/v1/chat/completions", json=req) as s:
            assert s.headers["content-type"].startswith("text/event-stream"), s.headers
            text, usage = check_stream(sse_events(s.iter_lines()), "chat", 12, True)
        api_requests += 1
        assert usage["completion_tokens"] == 12 and usage["total_tokens"] == usage["prompt_tokens"] + 12, usage
        assert len(text.split()) == 12

        # curl -N, a streaming completion without usage
        out = subprocess.run(["curl", "-sN", f"{live.url}/v1/completions", "-H", "Content-Type: application/json",
                              "-d", json.dumps({"prompt": "curl says hi", "max_tokens": 5, "stream": True})],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        check_stream(sse_events(out.split("\n")[:-1]), "completion", 5, False)
        api_requests += 1

        # the official OpenAI Node SDK
        node = subprocess.run(["node", os.path.join(os.path.dirname(__file__), "openai_sdk.mjs"), live.url + "/v1"],
                              capture_output=True, text=True, timeout=120)
        assert node.returncode == 0, node.stdout + node.stderr
        sdk = json.loads(node.stdout.strip().splitlines()[-1])
        api_requests += sdk["requests"]
        print("node sdk:", sdk)

        # errors: OpenAI's error body, the right status, the parameter named
        error_of(http.post("/v1/completions", content=b"{not json"), 400)
        error_of(http.post("/v1/completions", json=["a list"]), 400)
        error_of(http.post("/v1/completions", json={"model": MODEL}), 400, param="prompt")
        error_of(http.post("/v1/chat/completions", json={"messages": []}), 400, param="messages")
        error_of(http.post("/v1/chat/completions", json={"messages": [{"content": "x"}]}), 400, param="messages[0].role")
        error_of(http.post("/v1/completions", json={"model": "gpt-9", "prompt": "x"}), 404, param="model",
                 code="model_not_found")
        error_of(http.post("/v1/completions", json={"prompt": "x", "max_tokens": 0}), 400, param="max_tokens")
        error_of(http.post("/v1/completions", json={"prompt": "x", "max_tokens": -3}), 400, param="max_tokens")
        error_of(http.post("/v1/completions", json={"prompt": "x", "max_tokens": "ten"}), 400, param="max_tokens")
        error_of(http.post("/v1/completions", json={"prompt": "x", "max_tokens": 10**7}), 400, param="max_tokens")
        error_of(http.post("/v1/completions", json={"prompt": "x", "n": 2}), 400, param="n")
        error_of(http.post("/v1/completions", json={"prompt": "x", "stream": "yes"}), 400, param="stream")
        error_of(http.post("/v1/completions", json={"prompt": "x", "max_tokens": 5, "min_tokens": 9}), 400,
                 param="min_tokens")
        error_of(http.post("/v1/completions", json={"prompt": "x" * 600_000}), 400, code="context_length_exceeded")
        error_of(http.post("/v1/completions", content=b"x" * (17 << 20)), 413)
        error_of(http.get("/v1/nothing"), 404)
        # malformed HTTP on a raw socket: an error status, and the server goes on serving
        for raw in (b"GARBAGE\r\n\r\n", b"POST /v1/completions HTTP/1.1\r\nContent-Length: nope\r\n\r\n{}",
                    b"POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"\x00\xff" * 64):
            with socket.create_connection(("127.0.0.1", live.port), timeout=10) as s:
                s.sendall(raw)
                s.shutdown(socket.SHUT_WR)
                reply = s.recv(200)
            assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), (raw, reply)
        assert http.get("/health").status_code == 200

        # a client that hangs up mid-stream: the engine drops its request and frees its blocks
        req = {"prompt": "a long answer please", "max_tokens": 4000, "stream": True}
        with http.stream("POST", "/v1/completions", json=req) as s:
            for i, line in enumerate(s.iter_lines()):
                if i >= 10:
                    break
        api_requests += 1
        deadline = time.time() + 10
        while True:
            m = http.get("/metrics").text
            aborted = sum(metric_values(m, "vllm:request_success_total", finished_reason="abort"))
            running = sum(metric_values(m, "vllm:num_requests_running"))
            if (aborted == 1 and running == 0) or time.time() > deadline:
                break
            time.sleep(0.1)
        assert aborted == 1 and running == 0, (aborted, running)
        assert sum(metric_values(m, "vllm:kv_cache_usage_perc")) == 0, "the aborted request's blocks are still in use"

        # KV-aware routing on live traffic: a shared prefix lands where its KV is
        base = "".join(f"shared context line {i:03d}. " for i in range(80))  # ~ 2 KB, ~ 500 tokens
        first = http.post("/v1/completions", json={"prompt": base + "first question", "max_tokens": 2}).json()
        api_requests += 1
        cached = []
        for q in range(4):
            b = http.post("/v1/completions", json={"prompt": base + f"follow-up {q}", "max_tokens": 2}).json()
            cached.append(b["usage"]["prompt_tokens_details"]["cached_tokens"])
            api_requests += 1
        shared_tokens = len(base) // 4
        assert all(c >= shared_tokens - 16 for c in cached), (cached, shared_tokens, first["usage"])
        m = http.get("/metrics").text
        hits = sum(metric_values(m, "vllm:prefix_cache_hits_total"))
        assert hits >= sum(cached), (hits, cached)

        # promtool parses the exposition; its only lint complaint is the ':' in vLLM's own names
        check = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True, text=True, timeout=60)
        problems = [p for p in (check.stdout + check.stderr).splitlines() if p.strip()]
        assert check.returncode in (0, 3), check.stdout + check.stderr  # 3: lint problems only, no parse error
        assert problems and all(p.startswith("vllm:") and p.endswith("metric names should not contain ':'")
                                for p in problems), problems
        own = "\n".join(l for l in m.splitlines() if "vllm:" not in l) + "\n"
        check = subprocess.run(["promtool", "check", "metrics"], input=own, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        for name in ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                     "vllm:gpu_cache_usage_perc", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
                     "vllm:num_preemptions_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                     "vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket",
                     "vllm:e2e_request_latency_seconds_count", "vllm:request_queue_time_seconds_sum",
                     "servesim_pool_workers", "servesim_simulation_lag_seconds_bucket"]:
            assert metric_values(m, name), f"{name} missing from /metrics"
        done = sum(metric_values(m, "vllm:request_success_total", finished_reason="length"))
        assert done == api_requests - 1, (done, api_requests)

        assert live.stop() == 0, live.output()
    out = live.output()
    assert "1 aborted by their clients" in out, out

    with h5py.File(live.h5) as f:
        req = f["requests"][:]
        rows = f["live/requests"][:]
        assert len(req) == api_requests and len(rows) == api_requests, (len(req), len(rows), api_requests)
        status = h5py.check_enum_dtype(f["requests"].dtype["status"])
        by_name = {v: k for k, v in status.items()}
        assert sorted(by_name[s] for s in req["status"]).count("aborted") == 1
        assert list(sorted(rows["request_id"])) == list(sorted(req["id"]))  # one row per request, no duplicate
        assert (rows["sim_finish_s"] >= rows["sim_arrival_s"]).all()
        # the shared-prefix follow-ups all ran on the worker that held the prefix
        last5 = req[-5:]
        assert len(set(last5["decode_worker"])) == 1, last5["decode_worker"]
    print(f"Live.Clients: {api_requests} requests, every check passed")


def api_key_check():
    with Live("--api-key", "sekret", "--max-concurrent", "1") as live, httpx.Client(base_url=live.url, timeout=30) as http:
        error_of(http.get("/v1/models"), 401, code="invalid_api_key")
        error_of(http.post("/v1/completions", json={"prompt": "x"}, headers={"Authorization": "Bearer wrong"}), 401)
        ok = http.post("/v1/completions", json={"prompt": "x", "max_tokens": 2}, headers={"Authorization": "Bearer sekret"})
        assert ok.status_code == 200, ok.text
        assert http.get("/health").status_code == 200  # health and metrics need no key, as in vLLM
        # one request in flight is the limit: a second one meanwhile is a 429
        with http.stream("POST", "/v1/completions", json={"prompt": "x", "max_tokens": 3000, "stream": True},
                         headers={"Authorization": "Bearer sekret"}) as s:
            # keep the line iterator: a discarded one is collected at once, and closing it closes
            # httpx's connection, which ends the stream (and frees the slot) before the next request
            lines = s.iter_lines()
            next(lines)
            error_of(http.post("/v1/completions", json={"prompt": "y"}, headers={"Authorization": "Bearer sekret"}),
                     429, code="too_many_requests")
            assert next(lines) is not None  # the open stream is unaffected by the refused request
        # a second server on a taken port, and a bad speedup: exit 2 naming the fix, at once
        for extra, words in ((["--port", str(live.port)], "cannot listen"), (["--speedup", "0"], "--speedup")):
            bad = subprocess.run([SERVESIM, "live", SCENARIO, "-o", "none", *extra], capture_output=True, text=True,
                                 timeout=30)
            assert bad.returncode == 2 and words in bad.stderr, (bad.returncode, bad.stderr)
        assert live.stop() == 0


if __name__ == "__main__":
    main()
    api_key_check()
