#include "traces/length_sampler.h"

#include <algorithm>
#include <cmath>

#include "core/distributions.h"
#include "traces/trace_source.h"

namespace servesim {

namespace {
constexpr size_t kReservoir = 1 << 16;  // bounded memory whatever the trace's length
}

LengthSampler::LengthSampler(const LengthDistConfig& cfg, const TraceContext& ctx, const char* stream)
    : cfg_(cfg) {
  if (cfg.dist == "lognormal" && cfg.mean > 0) {
    // match the requested mean and standard deviation of the lengths themselves
    double v = cfg.std * cfg.std, m = cfg.mean;
    sigma_ = std::sqrt(std::log1p(v / (m * m)));
    mu_ = std::log(m) - 0.5 * sigma_ * sigma_;
  }
  if (cfg.dist == "empirical") {
    WorkloadConfig file_cfg;
    file_cfg.source = cfg.format;
    file_cfg.path = cfg.path;
    file_cfg.on_bad_line = "skip";
    TraceContext file_ctx{file_cfg, ctx.base_dir, ctx.seed};
    auto src = TraceRegistry::instance().create(cfg.format, file_ctx);
    Rng rng = make_rng(ctx.seed, std::string("empirical.") + stream);
    std::uint64_t seen = 0;
    while (auto r = src->next()) {
      std::uint32_t v = cfg.field == "input" ? r->input_tokens : r->output_tokens;
      if (empirical_.size() < kReservoir) empirical_.push_back(v);
      else {
        std::uint64_t j = rng() % (seen + 1);
        if (j < kReservoir) empirical_[j] = v;
      }
      ++seen;
    }
    if (empirical_.empty())
      throw InputError(fmt::format("{}: no rows to build an empirical length distribution from", cfg.path));
  }
}

std::uint32_t LengthSampler::sample(Rng& rng) const {
  double x = 0;
  if (cfg_.dist == "fixed") x = cfg_.value;
  else if (cfg_.dist == "uniform") x = cfg_.min + uniform01(rng) * (cfg_.max - cfg_.min + 1);
  else if (cfg_.dist == "normal") x = cfg_.mean + cfg_.std * sample_standard_normal(rng);
  else if (cfg_.dist == "lognormal") x = std::exp(mu_ + sigma_ * sample_standard_normal(rng));
  else if (cfg_.dist == "exponential") x = sample_exponential(rng, cfg_.mean);
  else if (cfg_.dist == "empirical") x = empirical_[rng() % empirical_.size()];
  double lo = std::max(1.0, cfg_.min);
  x = std::clamp(std::floor(x + (cfg_.dist == "uniform" ? 0.0 : 0.5)), lo, cfg_.max);
  return static_cast<std::uint32_t>(x);
}

}  // namespace servesim
