#!/usr/bin/env python3
"""A planner that breaks the protocol in one chosen way (tests/planner_external_test.cpp).
Usage: misbehaving_planner.py MODE, MODE one of: json pool range hang exit drain version."""
import json
import sys
import time

mode = sys.argv[1]
for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "hello":
        print(json.dumps({"type": "hello", "version": 99 if mode == "version" else 1}), flush=True)
        continue
    if message["type"] == "bye":
        break
    print(f"misbehaving planner: {mode} at t={message['time_s']}", file=sys.stderr, flush=True)
    if mode == "json":
        print("{not json", flush=True)
    elif mode == "pool":
        print(json.dumps({"type": "decision", "pools": {"nope": 2}}), flush=True)
    elif mode == "range":
        print(json.dumps({"type": "decision", "pools": {"agg": 99}}), flush=True)
    elif mode == "drain":
        print(json.dumps({"type": "decision", "pools": {"agg": {"replicas": 1, "drain": ["agg_99"]}}}), flush=True)
    elif mode == "hang":
        time.sleep(60)
    elif mode == "exit":
        sys.exit(7)
