// Engine scheduler speed without SystemC: simulated iterations and requests per wall second.
// Whole-run figures (SystemC, recorder) come from bench/scenarios/*.yaml with /usr/bin/time -v;
// see bench/README.md.
#include <benchmark/benchmark.h>

#include "core/rng.h"
#include "models/timing/kernel.h"
#include "models/timing/roofline.h"
#include "tests/engine_harness.h"

namespace servesim {
namespace {

std::vector<Request> workload(int n, double rate, std::uint32_t in_mean, std::uint32_t out_mean) {
  Rng rng = make_rng(1, "bench");
  std::vector<Request> rs;
  TimeNs t = 0;
  for (int i = 0; i < n; ++i) {
    t += static_cast<TimeNs>(-std::log1p(-uniform01(rng)) / rate * 1e9);
    rs.push_back(testing::make_request(static_cast<std::uint64_t>(i), t, 1 + static_cast<std::uint32_t>(rng() % (2 * in_mean)),
                                       1 + static_cast<std::uint32_t>(rng() % (2 * out_mean))));
  }
  return rs;
}

// One Llama-3.1-8B worker on H100 (roofline), batch up to 256, 100k requests near saturation.
void BM_VllmOneWorker(benchmark::State& state) {
  PoolConfig pool;
  pool.engine.max_num_seqs = 256;
  const Catalog& c = Catalog::builtin();
  RooflineTiming timing(c.model("llama-3.1-8b"), c.gpu("h100_sxm"), 1, roofline_efficiency("default"));
  const std::int64_t blocks = kv_capacity(pool, c).blocks;
  auto rs = workload(static_cast<int>(state.range(0)), 30.0, 512, 256);
  std::int64_t iterations = 0, requests = 0;
  std::int64_t peak_batch = 0;
  for (auto _ : state) {
    auto run = testing::run_engine(pool, blocks, rs, [&](const BatchShape& b) { return timing.iteration_ns(b); });
    iterations += static_cast<std::int64_t>(run.batches.size());
    requests += static_cast<std::int64_t>(rs.size());
    for (auto& b : run.batches) peak_batch = std::max<std::int64_t>(peak_batch, b.decode_seqs);
  }
  state.counters["iterations_per_s"] = benchmark::Counter(static_cast<double>(iterations), benchmark::Counter::kIsRate);
  state.counters["requests_per_s"] = benchmark::Counter(static_cast<double>(requests), benchmark::Counter::kIsRate);
  state.counters["peak_decode_batch"] = static_cast<double>(peak_batch);
}
BENCHMARK(BM_VllmOneWorker)->Arg(100'000)->Unit(benchmark::kMillisecond)->Iterations(1);

// The cost of pricing one iteration: roofline (arithmetic) against kernel (table lookups).
// Decode batches of varying size and context, with a prefill chunk every 8th iteration.
const std::string kTables = std::string(SERVESIM_SOURCE_DIR) + "/data/aiconfigurator/h100_sxm";

std::unique_ptr<TimingModel> timing_for(const std::string& name) {
  PoolConfig pool;
  pool.model = "llama-3.1-70b";
  pool.tp = 4;
  pool.precision = "fp8";
  pool.timing.model = name;
  pool.timing.kernel.tables = kTables;
  return TimingRegistry::instance().create(name, TimingContext{pool});
}

void BM_IterationCost(benchmark::State& state, const std::string& name) {
  auto t = timing_for(name);
  std::vector<BatchShape> shapes;
  Rng rng = make_rng(2, "bench.shapes");
  for (int i = 0; i < 4096; ++i) {
    BatchShape b;
    b.decode_seqs = 1 + static_cast<std::int32_t>(rng() % 256);
    b.decode_context_tokens = b.decode_seqs * static_cast<std::int64_t>(256 + rng() % 8000);
    if (i % 8 == 0) {
      b.prefill_seqs = 1;
      b.prefill_tokens = 1 + static_cast<std::int64_t>(rng() % 8000);
      b.prefill_attention_pairs = static_cast<double>(b.prefill_tokens) * (b.prefill_tokens + 1) / 2;
    }
    shapes.push_back(b);
  }
  size_t i = 0;
  TimeNs sum = 0;
  for (auto _ : state) sum += t->iteration_ns(shapes[i++ % shapes.size()]);
  benchmark::DoNotOptimize(sum);
  state.counters["iterations_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_IterationCost, roofline, std::string("roofline"));
BENCHMARK_CAPTURE(BM_IterationCost, kernel, std::string("kernel"));

}  // namespace
}  // namespace servesim
