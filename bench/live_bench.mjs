// servesim live's frontend under load (not a test: bench/README.md). For each speedup, a closed
// loop of C clients (Node's fetch: a client that does not limit the server) sends small non-streaming
// completions for D seconds; then one client measures the HTTP overhead per request at a speedup
// where the simulated latency is negligible. servesim's own exit line gives the simulation lag.
// usage: node bench/live_bench.mjs [build/servesim] [--clients 64] [--seconds 8]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const bin = args[0] && !args[0].startsWith("--") ? args[0] : "build/servesim";
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const clients = opt("--clients", 64), seconds = opt("--seconds", 8);
const scenario = new URL("../scenarios/live.yaml", import.meta.url).pathname;

async function withServer(speedup, fn) {
  const dir = mkdtempSync(join(tmpdir(), "servesim-bench-"));
  const ready = join(dir, "port");
  const proc = spawn(bin, ["live", scenario, "--port", "0", "--ready-file", ready, "-o", "none", "--speedup", String(speedup),
                           "--max-concurrent", "4096", "--lag-warn", "1000"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  while (!existsSync(ready) || !readFileSync(ready, "utf8").trim()) await new Promise((r) => setTimeout(r, 50));
  const url = `http://127.0.0.1:${readFileSync(ready, "utf8").trim()}`;
  const result = await fn(url);
  const exited = new Promise((r) => proc.on("exit", r));
  proc.kill("SIGTERM");
  await exited;
  const lag = out.match(/simulation lag p50 ([\d.e+-]+) ms, p99 ([\d.e+-]+) ms/);
  return { ...result, lag_p50_ms: Number(lag[1]), lag_p99_ms: Number(lag[2]) };
}

async function post(url, body) {
  const r = await fetch(`${url}/v1/completions`, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  if (r.status !== 200) throw new Error(`${r.status} ${await r.text()}`);
  return r.json();
}

async function closedLoop(url) {
  let n = 0, stop = false;
  const latencies = [];
  const t0 = performance.now();
  setTimeout(() => (stop = true), seconds * 1000);
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    while (!stop) {
      const s = performance.now();
      await post(url, { prompt: `client ${c} request ${n} ` + "x".repeat(200), max_tokens: 8 });
      latencies.push(performance.now() - s);
      n++;
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { req_per_s: n / wall, latency_p50_ms: latencies[Math.floor(latencies.length / 2)] };
}

async function overhead(url) {
  const times = [];
  for (let i = 0; i < 400; i++) {
    const s = performance.now();
    await post(url, { prompt: [1, 2, 3, 4], max_tokens: 1 });
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return { overhead_p50_ms: times[200], overhead_p99_ms: times[396] };
}

console.log(`| speedup | req/s sustained (${clients} clients, 8 output tokens) | client latency p50 ms | simulation lag p50 ms | p99 ms |`);
console.log("| --- | --- | --- | --- | --- |");
for (const speedup of [1, 10, 100, 1000]) {
  const r = await withServer(speedup, closedLoop);
  console.log(`| ${speedup} | ${r.req_per_s.toFixed(0)} | ${r.latency_p50_ms.toFixed(1)} | ${r.lag_p50_ms.toFixed(3)} | ${r.lag_p99_ms.toFixed(3)} |`);
}
const o = await withServer(100000, overhead);
console.log(`\nHTTP overhead per request (one client, 1 output token, speedup 1e5 so simulated time is negligible): ` +
            `p50 ${o.overhead_p50_ms.toFixed(2)} ms, p99 ${o.overhead_p99_ms.toFixed(2)} ms round trip`);
