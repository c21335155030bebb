"""KV events from servesim live in vLLM's wire format (ZeroMQ PUB, msgpack batches): a Python
subscriber rebuilds each worker's cached-block set from BlockStored/BlockRemoved/AllBlocksCleared
and it must equal the simulator's KV caches at the end (/live/kv_cache). Also the replay socket,
the map-tagged format, and workers of two attention-DP ranks the router routes to (a batch per
rank carrying its data_parallel_rank, each rank's cache rebuilt on its own). Run by ctest
(Live.KvEvents)."""
import os
import struct
import sys
import time

import h5py
import httpx
import msgpack
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import Live, free_port  # noqa: E402

BLOCK = 16


def decode(payload, map_format, dp):
    """(data_parallel_rank or None, events as dicts)"""
    batch = msgpack.unpackb(payload, raw=False)
    # [ts, events] (no DP rank by default); [ts, events, rank] from a rank the router routes to
    assert isinstance(batch, list) and len(batch) == (3 if dp else 2), batch
    ts, events = batch[:2]
    rank = batch[2] if dp else None
    assert rank is None or rank in (0, 1), rank
    assert abs(ts - time.time()) < 600, ts
    out = []
    for e in events:
        if map_format:
            assert isinstance(e, dict), e
            out.append(e)
            continue
        tag = e[0]
        if tag == "BlockStored":
            assert len(e) == 8, e
            out.append(dict(type=tag, block_hashes=e[1], parent_block_hash=e[2], token_ids=e[3], block_size=e[4],
                            lora_id=e[5], medium=e[6], lora_name=e[7]))
        elif tag == "BlockRemoved":
            assert len(e) == 3, e
            out.append(dict(type=tag, block_hashes=e[1], medium=e[2]))
        else:
            assert e == ["AllBlocksCleared"], e
            out.append(dict(type=tag))
    return rank, out


def run(map_format, dp=False):
    pub, replay = free_port(), free_port()
    args = ["--speedup", "20", "--kv-events", f"tcp://127.0.0.1:{pub}", "--kv-events-replay", f"tcp://127.0.0.1:{replay}",
            "--set", "pools.0.engine.num_gpu_blocks=32"]  # small caches: evictions happen
    if map_format:
        args.append("--kv-events-map-format")
    if dp:
        args += ["--set", "pools.0.attention_dp=2", "--set", "pools.0.engine.dp_balance=router"]
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVHWM, 0)
    with Live(*args) as live:
        sub.connect(f"tcp://127.0.0.1:{pub}")
        time.sleep(0.5)  # a PUB socket drops what it sends before the subscriber has joined
        prompts = []
        for i in range(40):  # families of shared prefixes, some reused, more than the caches hold
            family = i % 7
            prompts.append("".join(f"family {family} line {k}. " for k in range(40)) + f"question {i}")
        with httpx.Client(base_url=live.url, timeout=60) as http:
            for i, p in enumerate(prompts):
                r = http.post("/v1/completions", json={"prompt": p, "max_tokens": 3 + i % 5})
                assert r.status_code == 200, r.text
        time.sleep(0.3)
        # the replay socket: every batch from seq 0, then the end marker (seq -1)
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(f"tcp://127.0.0.1:{replay}")
        dealer.send_multipart([b"", struct.pack(">Q", 0)])
        replayed = []
        while True:
            assert dealer.poll(10_000), "no answer from the replay socket"
            frames = dealer.recv_multipart()
            assert frames[0] == b"", frames
            seq = struct.unpack(">q", frames[1])[0]
            if seq == -1:
                break
            replayed.append((seq, frames[2]))
        assert live.stop() == 0, live.output()

    cache = {}  # (topic (worker name), DP rank or None) -> set of block hashes
    seqs, stored, removed, messages = [], 0, 0, {}
    while sub.poll(1000):
        topic, seq, payload = sub.recv_multipart()
        seq = struct.unpack(">Q", seq)[0]
        seqs.append(seq)
        messages[seq] = payload
        rank, events = decode(payload, map_format, dp)
        blocks = cache.setdefault((topic.decode(), rank), set())
        for e in events:
            if e["type"] == "BlockStored":
                assert e["block_size"] == BLOCK and e["medium"] == "GPU" and e["lora_id"] is None, e
                hashes = e["block_hashes"]
                assert hashes and all(isinstance(h, int) for h in hashes), e
                # a stored run chains: live prompts carry their tokens, block_size per block
                assert len(e["token_ids"]) in (0, BLOCK * len(hashes)), (len(e["token_ids"]), len(hashes))
                stored += len(hashes)
                blocks.update(hashes)
            elif e["type"] == "BlockRemoved":
                for h in e["block_hashes"]:
                    assert h in blocks, "removed a block that was never stored"
                    blocks.discard(h)
                removed += len(e["block_hashes"])
            else:
                blocks.clear()
    assert seqs == list(range(len(seqs))), "sequence numbers must count up from 0 without gaps"
    assert removed > 0, "the test needs evictions (smaller caches or more prompts)"
    assert [s for s, _ in replayed] == seqs and all(messages[s] == p for s, p in replayed), "replay differs"

    with h5py.File(live.h5) as f:
        kv = f["live/kv_cache"][:]
        names = [f"agg_{w}" for w in range(4)]
        truth = {names[w]: set(int(k) for k in kv["block_hash"][kv["worker"] == w]) for w in range(4)}
    for name in names:  # a worker's cache: its ranks' together
        held = set().union(*(blocks for (topic, _), blocks in cache.items() if topic == name))
        assert held == truth[name], (name, len(held), len(truth[name]))
    if dp:  # both ranks of some worker published
        assert {rank for _, rank in cache} == {0, 1}, sorted(cache)
    total = sum(len(v) for v in truth.values())
    print(f"Live.KvEvents ({'map' if map_format else 'array'}{', 2 DP ranks' if dp else ''}): {len(seqs)} batches, "
          f"{stored} blocks stored, {removed} removed; rebuilt caches equal the simulator's ({total} blocks)")


if __name__ == "__main__":
    run(map_format=False)
    run(map_format=True)
    run(map_format=False, dp=True)
