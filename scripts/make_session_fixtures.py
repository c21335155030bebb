#!/usr/bin/env python3
"""Writes the session and agent-graph trace fixtures in tests/data (seeded: reruns give the same files).

  agentic_graph.jsonl   agentic_mooncake: 10 agent sessions of 5-50 turns over a shared 2,048-token
                        system prompt; a turn waits for the previous one (think 0.2-3 s, and on tool
                        turns a tool wait of 0.5-8 s); about every sixth turn fans out to 2-8 sub-agent
                        calls (each after a 1-6 s tool wait) that the next turn joins.
  sessions_full.jsonl   mooncake_jsonl: 20 chat sessions of 5-15 turns; each later turn gives a `delay`
                        (1-10 s after the previous turn ends) and re-sends the whole history.
  sessions_delta.jsonl  mooncake_delta: the same sessions, each later turn giving only what the user added.
  trie_sessions.jsonl   trie_agentic: 12 agent sessions of 5-30 turns, tool outputs of 50-2,000 tokens
                        and tool latencies of 0.2-8 s, without timestamps (run under a session limit).

hash_block_tokens is 256 in all three (hash ids cover 256 tokens).
"""
import json
import os
import random

BLOCK = 256
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")


class Ids:
    def __init__(self, start):
        self.next = start

    def fresh(self, n):
        out = list(range(self.next, self.next + n))
        self.next += n
        return out


def extend(ids, tokens_before, tokens_after, fresh):
    """ids covering a prompt grown from tokens_before to tokens_after (full blocks keep their ids)."""
    kept = ids[: tokens_before // BLOCK]
    need = -(-tokens_after // BLOCK) - len(kept)
    return kept + fresh.fresh(need)


def agentic(rng):
    rows = []
    fresh = Ids(1000)
    system = fresh.fresh(2048 // BLOCK)
    t_ms = 0
    for s in range(10):
        t_ms += rng.randint(500, 4000)
        turns = [5, 8, 12, 20, 35, 50, 6, 15, 9, 28][s]
        context = 2048 + rng.randint(100, 600)
        ids = system + fresh.fresh(-(-context // BLOCK) - len(system))
        prev = None
        joined = []
        for k in range(turns):
            rid = f"s{s}-t{k}"
            out = rng.randint(30, 400)
            row = {"request_id": rid, "session_id": f"agent-{s}", "input_length": context, "output_length": out,
                   "hash_ids": ids}
            if prev is None:
                row["timestamp"] = t_ms
            else:
                row["wait_for"] = joined or [prev]
                row["delay"] = 100 if joined else rng.randint(200, 3000)
                if not joined and rng.random() < 0.5:
                    row["tool_wait_ms"] = rng.randint(500, 8000)
            rows.append(row)
            before = context
            context += out
            joined = []
            if k % 6 == 3 and k + 1 < turns:  # fan out to sub-agents, joined by the next turn
                for b in range(rng.randint(2, 8)):
                    sub_in = context + rng.randint(200, 1500)
                    sub_out = rng.randint(50, 300)
                    sid = f"{rid}-sub{b}"
                    rows.append({"request_id": sid, "session_id": f"agent-{s}", "wait_for": [rid],
                                 "tool_wait_ms": rng.randint(1000, 6000), "input_length": sub_in,
                                 "output_length": sub_out, "hash_ids": extend(ids, before + out, sub_in, fresh),
                                 "branches": 1})
                    joined.append(sid)
                    context += sub_out  # the sub-agent's answer joins the parent's context
            grown = context + rng.randint(50, 800)  # tool output or the user's next message
            ids = extend(ids, before, grown, fresh)
            context = grown
            prev = rid
    return rows


def sessions(rng):
    full, delta = [], []
    fresh = Ids(50000)
    t_ms = 0
    for s in range(20):
        t_ms += rng.randint(200, 3000)
        turns = rng.randint(5, 15)
        prompt, ids, answer = 0, [], 0
        for k in range(turns):
            added = rng.randint(50, 1500)
            out = rng.randint(20, 600)
            new_prompt = prompt + answer + added
            new_ids = extend(ids, prompt + answer, new_prompt, fresh)
            head = {"session_id": 100 + s}
            if k == 0:
                head["timestamp"] = t_ms
            else:
                head["delay"] = rng.randint(1000, 10000)
            full.append({**head, "input_length": new_prompt, "output_length": out, "hash_ids": new_ids})
            kept = (prompt + answer) // BLOCK if k else 0
            delta.append({**head, "input_length": added, "output_length": out, "hash_ids": new_ids[kept:]})
            # the next turn re-sends this prompt and answer: answer blocks get their own ids
            ids = extend(new_ids, new_prompt, new_prompt + out, fresh)
            prompt, answer = new_prompt, out
    return full, delta


def trie(rng):
    rows = []
    for s in range(12):
        n = rng.randint(5, 30)
        rows.append({"num_turns": n, "input_prompt_length": rng.randint(1000, 6000),
                     "assistant_response_length": [rng.randint(50, 500) for _ in range(n)],
                     "tool_call_output_length": [rng.randint(50, 2000) for _ in range(n)],
                     "tool_call_latency": [round(rng.uniform(0.2, 8.0), 3) for _ in range(n)],
                     "final_assistant_response_length": rng.randint(100, 600)})
    return rows


def write(name, rows):
    with open(os.path.join(HERE, name), "w") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(", ", ": ")) + "\n")


if __name__ == "__main__":
    write("agentic_graph.jsonl", agentic(random.Random(22)))
    full, delta = sessions(random.Random(7))
    write("sessions_full.jsonl", full)
    write("sessions_delta.jsonl", delta)
    write("trie_sessions.jsonl", trie(random.Random(3)))
