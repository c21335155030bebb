"""Starts `servesim live` on loopback for a test and stops it (SIGTERM) at the end."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

SERVESIM = os.environ.get("SERVESIM_BIN", "build/servesim")
SOURCE = os.environ.get("SERVESIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCENARIO = os.path.join(SOURCE, "scenarios", "live.yaml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Live:
    """`with Live(args) as live:` serves; live.url, live.h5 (read after the block), live.rc."""

    def __init__(self, *args, scenario=SCENARIO, timeout_s=120):
        self.tmp = tempfile.mkdtemp(prefix="servesim-live-")
        self.h5 = os.path.join(self.tmp, "live.h5")
        ready = os.path.join(self.tmp, "port")
        self.log = open(os.path.join(self.tmp, "log.txt"), "w+")
        cmd = [SERVESIM, "live", scenario, "--port", "0", "--ready-file", ready, "-o", self.h5, *args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not os.path.exists(ready) or not open(ready).read().strip():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"servesim live did not start: {self.output()}")
            time.sleep(0.05)
        self.port = int(open(ready).read())
        self.url = f"http://127.0.0.1:{self.port}"
        self.timeout_s = timeout_s
        self.rc = None

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.rc is None:
            self.proc.send_signal(signal.SIGTERM)
            self.rc = self.proc.wait(timeout=60)
        return self.rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None and self.rc is None:
            self.stop()
        return False


def sse_events(lines):
    """The `data:` payloads of an SSE stream, in order; checks each event's framing."""
    events, pending = [], None
    for line in lines:
        line = line.rstrip("\r\n")
        if line.startswith(":"):
            continue  # comment (keep-alive)
        if line.startswith("data: "):
            assert pending is None, f"two data lines in one event: {line!r}"
            pending = line[len("data: "):]
        elif line == "":
            if pending is not None:
                events.append(pending)
                pending = None
        else:
            raise AssertionError(f"not an SSE line: {line!r}")
    assert pending is None, "the stream ended inside an event"
    return events


def check_stream(events, kind, max_tokens, include_usage):
    """Asserts an OpenAI stream's structure; returns (text, usage or None)."""
    assert events and events[-1] == "[DONE]", f"no [DONE] at the end: {events[-3:]}"
    chunks = [json.loads(e) for e in events[:-1]]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1, ids
    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
    assert all(c["object"] == obj for c in chunks)
    usage = None
    if include_usage:
        assert chunks[-1]["choices"] == [] and "usage" in chunks[-1], chunks[-1]
        usage = chunks.pop()["usage"]
    if kind == "chat":
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        chunks = chunks[1:]
        text = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    else:
        text = "".join(c["choices"][0]["text"] for c in chunks)
    assert len(chunks) == max_tokens, f"{len(chunks)} token chunks for max_tokens {max_tokens}"
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    assert reasons[:-1] == [None] * (len(reasons) - 1) and reasons[-1] == "length", reasons[-3:]
    return text, usage
