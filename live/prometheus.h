#pragma once
// Prometheus text exposition format (version 0.0.4): families with HELP and TYPE lines, labelled
// samples, cumulative histograms. Counters are named without `_total`; the suffix is added here,
// as prometheus_client does.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace servesim::live {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Observations into fixed buckets (upper bounds, increasing; +Inf is implicit).
class PromHistogram {
 public:
  explicit PromHistogram(std::span<const double> bounds) : bounds_(bounds.begin(), bounds.end()), counts_(bounds.size() + 1) {}
  void observe(double v, std::uint64_t n = 1);
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }  // per bucket, not cumulative
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class MetricsText {
 public:
  enum class Type { kCounter, kGauge, kHistogram };
  // Starts a family; the samples that follow belong to it.
  void family(std::string_view name, Type type, std::string_view help);
  void sample(const Labels& labels, double value);  // counter or gauge of the current family
  void histogram(const Labels& labels, const PromHistogram& h);
  const std::string& text() const { return out_; }

 private:
  std::string out_, name_;
  Type type_ = Type::kGauge;
};

std::string prom_value(double v);  // Prometheus float text: NaN, +Inf, -Inf, shortest round-trip

// vLLM's bucket bounds (vllm/v1/metrics/loggers.py).
inline constexpr double kTtftBuckets[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
                                          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
inline constexpr double kItlBuckets[] = {0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,  0.3,  0.4, 0.5,
                                         0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
inline constexpr double kRequestLatencyBuckets[] = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,  15.0, 20.0,
                                                    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
// servesim's simulation lag (wall seconds an event is published after its due wall time).
inline constexpr double kLagBuckets[] = {0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                         0.05,   0.1,    0.2,   0.5,   1.0,   2.0,  5.0};

}  // namespace servesim::live
