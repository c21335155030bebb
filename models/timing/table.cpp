// A prefill iteration is looked up by (prefill sequences, mean chunk tokens), or, when the table
// measured batch 1 only, by the iteration's total prefill tokens; a decode iteration by
// (decode sequences, mean context tokens); a mixed iteration costs the sum of both (an upper
// bound: the phases share weight reads on real hardware).
#include "models/timing/table.h"

#include <algorithm>
#include <cmath>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/line_reader.h"

namespace servesim {

void LatencyGrid::add(double batch, double tokens, double ms) {
  points_[{batch, tokens}] = ms;
  if (std::find(batches_.begin(), batches_.end(), batch) == batches_.end()) batches_.push_back(batch);
  if (std::find(tokens_.begin(), tokens_.end(), tokens) == tokens_.end()) tokens_.push_back(tokens);
}

void LatencyGrid::finish(const std::string& where) {
  std::sort(batches_.begin(), batches_.end());
  std::sort(tokens_.begin(), tokens_.end());
  for (double b : batches_)
    for (double t : tokens_)
      if (!points_.count({b, t}))
        throw InputError(fmt::format("{}: the grid has no point at batch {:g}, tokens {:g}; a table needs every "
                                     "batch x tokens combination it spans",
                                     where, b, t));
}

namespace {
// Index i with axis[i] <= x <= axis[i+1] and the weight of axis[i+1]; clamps when allowed.
std::pair<size_t, double> locate(const std::vector<double>& axis, double x, bool extrapolate, bool* clamped,
                                 const std::string& what) {
  if (axis.size() == 1) {
    if (x != axis[0]) {
      if (!extrapolate) throw InputError(fmt::format("{} {:g} is outside the measured value {:g}", what, x, axis[0]));
      *clamped = true;
    }
    return {0, 0.0};
  }
  if (x < axis.front() || x > axis.back()) {
    if (!extrapolate)
      throw InputError(fmt::format("{} {:g} is outside the measured range [{:g}, {:g}]", what, x, axis.front(), axis.back()));
    *clamped = true;
    x = std::clamp(x, axis.front(), axis.back());
  }
  size_t i = static_cast<size_t>(std::upper_bound(axis.begin(), axis.end(), x) - axis.begin());
  i = std::min(std::max<size_t>(i, 1), axis.size() - 1) - 1;
  return {i, (x - axis[i]) / (axis[i + 1] - axis[i])};
}
}  // namespace

double LatencyGrid::at(double batch, double tokens, bool extrapolate, bool* clamped, const std::string& where) const {
  try {
    auto [bi, bw] = locate(batches_, batch, extrapolate, clamped, "batch");
    auto [ti, tw] = locate(tokens_, tokens, extrapolate, clamped, "tokens");
    auto v = [&](size_t b, size_t t) {
      return points_.at({batches_[std::min(b, batches_.size() - 1)], tokens_[std::min(t, tokens_.size() - 1)]});
    };
    return (1 - bw) * ((1 - tw) * v(bi, ti) + tw * v(bi, ti + 1)) + bw * ((1 - tw) * v(bi + 1, ti) + tw * v(bi + 1, ti + 1));
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}. Fix: measure that point, or set timing.table.extrapolate: true to clamp "
                                 "to the grid's edge (counted)",
                                 where, e.what()));
  }
}

TableTiming::TableTiming(const std::string& path, bool extrapolate) : path_(path), extrapolate_(extrapolate) {
  LineReader in(path);
  std::string_view line;
  bool header = false;
  while (in.next(line)) {
    in.throw_if_problem();
    if (line.empty() || line.front() == '#') continue;
    if (!header) {
      if (line != "phase,batch,tokens,latency_ms")
        throw InputError(fmt::format("{}:{}: header must be 'phase,batch,tokens,latency_ms'", path, in.line_number()));
      header = true;
      continue;
    }
    std::string s(line);
    char phase[16];
    double b, t, ms;
    int consumed = 0;
    if (std::sscanf(s.c_str(), "%15[^,],%lf,%lf,%lf%n", phase, &b, &t, &ms, &consumed) != 4 ||
        consumed != static_cast<int>(s.size()) || b < 1 || t < 0 || !(ms > 0))
      throw InputError(fmt::format("{}:{}: expected phase,batch>=1,tokens>=0,latency_ms>0 (got '{}')", path,
                                   in.line_number(), quote_text(s)));
    std::string p(phase);
    if (p == "prefill") prefill_.add(b, t, ms);
    else if (p == "decode") decode_.add(b, t, ms);
    else throw InputError(fmt::format("{}:{}: phase must be prefill or decode (got '{}')", path, in.line_number(), p));
  }
  if (prefill_.empty() || decode_.empty())
    throw InputError(fmt::format("{}: needs both prefill and decode rows", path));
  prefill_.finish(path + " (prefill)");
  decode_.finish(path + " (decode)");
}

TimeNs TableTiming::iteration_ns(const BatchShape& b) const {
  double ms = 0;
  bool clamped = false;
  if (b.prefill_seqs > 0) {
    const double tokens = static_cast<double>(b.prefill_tokens);
    ms += prefill_.single_batch()
              ? prefill_.at(prefill_.first_batch(), tokens, extrapolate_, &clamped, path_ + " (prefill)")
              : prefill_.at(b.prefill_seqs, tokens / b.prefill_seqs, extrapolate_, &clamped, path_ + " (prefill)");
  }
  if (b.decode_seqs > 0)
    ms += decode_.at(b.decode_seqs, static_cast<double>(b.decode_context_tokens) / b.decode_seqs, extrapolate_,
                     &clamped, path_ + " (decode)");
  if (clamped && extrapolations_++ == 0)
    spdlog::warn("{}: a batch fell outside the measured grid and was clamped to its edge (counted)", path_);
  return std::max<TimeNs>(1, std::llround(ms * 1e6));
}

SERVESIM_REGISTER(TimingRegistry, "table",
                  "measured latencies from CSV (phase, batch, tokens, latency_ms), bilinear interpolation",
                  [](const TimingContext& ctx) {
                    return std::make_unique<TableTiming>(ctx.resolve(ctx.pool.timing.table.path),
                                                         ctx.pool.timing.table.extrapolate);
                  })

}  // namespace servesim
