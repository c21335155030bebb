// Engine scheduler speed without SystemC: simulated iterations and requests per wall second.
// Whole-run figures (SystemC, recorder) come from bench/scenarios/*.yaml with /usr/bin/time -v;
// see bench/README.md.
#include <benchmark/benchmark.h>

#include "core/rng.h"
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

}  // namespace
}  // namespace servesim
