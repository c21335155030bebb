// Trace parsing and generation throughput (rows per second).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>

#include "traces/trace_source.h"

namespace servesim {
namespace {

void BM_SyntheticPoisson(benchmark::State& state) {
  WorkloadConfig w;
  w.source = "synthetic";
  w.synthetic.arrival.rate = 1000;
  w.synthetic.duration = Duration{1e9};
  TraceContext ctx{w, ".", 1};
  auto src = make_trace_source(ctx);
  for (auto _ : state) benchmark::DoNotOptimize(src->next());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SyntheticPoisson);

void BM_MooncakeJsonl(benchmark::State& state) {
  std::string path = "/tmp/servesim_bench_trace.jsonl";
  {
    std::ofstream out(path);
    for (int i = 0; i < 200000; ++i)
      out << "{\"timestamp\": " << i << ", \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]}\n";
  }
  WorkloadConfig w;
  w.source = "mooncake_jsonl";
  w.path = path;
  std::int64_t rows = 0;
  for (auto _ : state) {
    TraceContext ctx{w, ".", 1};
    auto src = make_trace_source(ctx);
    while (auto r = src->next()) ++rows;
  }
  state.SetItemsProcessed(rows);
  std::remove(path.c_str());
}
BENCHMARK(BM_MooncakeJsonl)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace servesim
