"""The servesim external-planner protocol, version 1, for planners written in Python.

servesim writes one JSON object per line and waits for one line back (docs/planner_protocol.md):

  hello        -> {"type": "hello", "version": 1}
  observation  -> {"type": "decision", "pools": {"<pool>": <replicas> | {"replicas": n, "drain": [...]}}}
                  or first {"type": "query", "queries": [...]}, answered by {"type": "answers", ...}
  bye          -> (no reply; the planner exits)

A planner is an object with decide(observation, query) -> {pool name: replicas or dict}, and
optionally hello(hello_message). query(list of query dicts) -> list of floats asks servesim's
capacity model (the pools' timing models, as a profiling table would). The same object runs as
a child process (serve(), over stdin/stdout), behind a ZeroMQ REP socket (serve_zmq()), or inside
the Python API (servesim.Simulation(..., planner=obj)). Only the standard library is needed here.
"""
import json
import sys

PROTOCOL_VERSION = 1


def _reply_to(planner, message, ask):
    """The reply line to one message from servesim (None for bye). `ask(line) -> line` queries."""
    kind = message.get("type")
    if kind == "hello":
        if message.get("version") != PROTOCOL_VERSION:
            raise SystemExit(f"servesim speaks protocol {message.get('version')}, this planner {PROTOCOL_VERSION}")
        if hasattr(planner, "hello"):
            planner.hello(message)
        return json.dumps({"type": "hello", "version": PROTOCOL_VERSION})
    if kind == "observation":
        def query(queries):
            answers = json.loads(ask(json.dumps({"type": "query", "queries": queries})))
            return answers["values"]
        decide = planner.decide if hasattr(planner, "decide") else planner
        return json.dumps({"type": "decision", "pools": decide(message, query)})
    if kind == "bye":
        return None
    raise SystemExit(f"unknown message type {kind!r}")


def serve(planner, stdin=sys.stdin, stdout=sys.stdout):
    """Answers servesim over stdin/stdout until it says bye (planner.external.command)."""
    def ask(line):
        stdout.write(line + "\n")
        stdout.flush()
        return stdin.readline()

    for line in stdin:
        reply = _reply_to(planner, json.loads(line), ask)
        if reply is None:
            return
        stdout.write(reply + "\n")
        stdout.flush()


def serve_zmq(planner, endpoint):
    """Answers servesim on a ZeroMQ REP socket (planner.external.connect: tcp://host:port). A query
    is the reply to servesim's request; its answers come back as servesim's next request."""
    import zmq  # Debian: python3-zmq

    socket = zmq.Context.instance().socket(zmq.REP)
    socket.bind(endpoint)

    def ask(line):
        socket.send_string(line)
        return socket.recv_string()

    while True:
        reply = _reply_to(planner, json.loads(socket.recv()), ask)
        socket.send_string(reply if reply is not None else "{}")
        if reply is None:
            return


def in_process(planner):
    """The callable the Python API's Simulation(planner=...) runs inside servesim."""
    def call(message, ask):
        reply = _reply_to(planner, json.loads(message), ask)
        return "" if reply is None else reply
    return call


class Predictor:
    """servesim's load predictors, to the last bit: constant, moving_average, holt_winters."""

    def __init__(self, name="constant", window=5, alpha=0.5, beta=0.3):
        if name not in ("constant", "moving_average", "holt_winters"):
            raise SystemExit(f"predictor {name!r}: this planner knows constant, moving_average, holt_winters")
        self.name, self.window, self.alpha, self.beta = name, window, alpha, beta
        self.values, self.level, self.trend, self.n = [], 0.0, 0.0, 0

    def observe(self, v):
        if self.name == "holt_winters":
            if self.n == 0:
                self.level = v
            elif self.n == 1:
                self.trend = v - self.level
                self.level = v
            else:
                prev = self.level
                self.level = self.alpha * v + (1 - self.alpha) * (self.level + self.trend)
                self.trend = self.beta * (self.level - prev) + (1 - self.beta) * self.trend
            self.n += 1
            return
        self.values.append(v)
        if self.name == "constant":
            self.values = self.values[-1:]
        elif len(self.values) > self.window:
            self.values.pop(0)

    def predict(self):
        if self.name == "holt_winters":
            return None if self.n == 0 else max(0.0, self.level + self.trend)
        if not self.values:
            return None
        if self.name == "constant":
            return self.values[-1]
        total = 0.0
        for v in self.values:  # left to right, as std::accumulate (no compensated sum)
            total += v
        return total / len(self.values)
