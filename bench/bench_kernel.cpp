// SystemC's own cost: an empty SC_METHOD per worker, each re-notifying its timed event, as a
// worker fires one event per engine iteration. A whole run's wall time divided by this figure
// times the run's iterations is its "bare-kernel ratio" (bench/README.md): how much of the run
// is servesim's work and how much the event kernel's.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include <systemc>

namespace servesim {
namespace {

class Ticker : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Ticker);
  Ticker(sc_core::sc_module_name name, sc_core::sc_time period) : sc_core::sc_module(name), period_(period) {
    SC_METHOD(on_tick);
    sensitive << tick_;
    dont_initialize();
  }
  std::uint64_t fired = 0;

 private:
  void start_of_simulation() override { tick_.notify(period_); }
  void on_tick() {
    ++fired;
    tick_.notify(period_);
  }
  sc_core::sc_time period_;
  sc_core::sc_event tick_;
};

// Elaborated once per process (SystemC allows one elaboration): 8 workers, iteration periods
// around 8 ms, a little apart so that their events rarely coincide.
std::vector<std::unique_ptr<Ticker>>& tickers() {
  static std::vector<std::unique_ptr<Ticker>> t = [] {
    std::vector<std::unique_ptr<Ticker>> v;
    for (int w = 0; w < 8; ++w)
      v.push_back(std::make_unique<Ticker>(("ticker" + std::to_string(w)).c_str(),
                                           sc_core::sc_time(8000 + 13 * w, sc_core::SC_US)));
    return v;
  }();
  return t;
}

void BM_TimedEventPerIteration(benchmark::State& state) {
  auto& t = tickers();
  std::uint64_t before = 0;
  for (const auto& k : t) before += k->fired;
  for (auto _ : state) sc_core::sc_start(sc_core::sc_time(100, sc_core::SC_SEC));  // ~100k events
  std::uint64_t after = 0;
  for (const auto& k : t) after += k->fired;
  state.SetItemsProcessed(static_cast<std::int64_t>(after - before));
}
BENCHMARK(BM_TimedEventPerIteration)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace servesim

int sc_main(int, char*[]) { return 0; }  // never called: Google Benchmark's main runs
