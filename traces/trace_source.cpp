#include "traces/trace_source.h"

#include <algorithm>
#include <deque>
#include <unordered_set>

#include "core/paths.h"

namespace servesim {

std::string TraceContext::resolve(const std::string& path) const { return resolve_path(base_dir, path); }

namespace {

// Applies the workload knobs to a raw source, in trace time:
// window [start, end) -> spread equal timestamps -> (t - start) * time_scale / rate_scale.
class KnobbedSource final : public TraceSource {
 public:
  KnobbedSource(std::unique_ptr<TraceSource> inner, const WorkloadConfig& cfg)
      : inner_(std::move(inner)), cfg_(cfg) {}

  std::optional<TraceRequest> next() override {
    if (cfg_.max_requests && emitted_ >= static_cast<std::uint64_t>(*cfg_.max_requests)) return std::nullopt;
    if (bin_.empty() && !fill_bin()) return std::nullopt;
    TraceRequest r = std::move(bin_.front());
    bin_.pop_front();
    r.arrival_s = (r.arrival_s - cfg_.start.seconds) * cfg_.time_scale / cfg_.rate_scale;
    if (!(r.arrival_s <= kMaxTraceTimeS))
      throw InputError(fmt::format(
          "workload: request {} arrives at {:.4g} s after time_scale {:g} and rate_scale {:g}, beyond the {:g} s "
          "(about 190 years) a run may span. Fix: lower workload.time_scale or raise workload.rate_scale",
          emitted_, r.arrival_s, cfg_.time_scale, cfg_.rate_scale, kMaxTraceTimeS));
    ++emitted_;
    return r;
  }

  std::uint64_t graph_entries_held() const override { return inner_->graph_entries_held() + dropped_.size(); }

  TraceStats stats() const override {
    TraceStats s = inner_->stats();
    s.rows_filtered += filtered_;
    return s;
  }

 private:
  std::optional<TraceRequest> pull() {
    if (lookahead_) {
      auto r = std::move(lookahead_);
      lookahead_.reset();
      return r;
    }
    while (!done_) {
      auto r = inner_->next();
      if (!r) {
        done_ = true;
        break;
      }
      if (r->arrival_s < cfg_.start.seconds || waits_for_dropped(*r)) {
        ++filtered_;
        if (r->trace_id) dropped_.insert(r->trace_id);  // rows waiting for it go too
        continue;
      }
      if (cfg_.end && r->arrival_s >= cfg_.end->seconds) {
        ++filtered_;
        done_ = true;  // sorted: nothing later can be inside the window
        break;
      }
      return r;
    }
    return std::nullopt;
  }

  bool waits_for_dropped(const TraceRequest& r) const {
    if (dropped_.empty()) return false;
    return std::any_of(r.wait_for.begin(), r.wait_for.end(), [&](std::uint64_t id) { return dropped_.count(id) > 0; });
  }

  // Reads all rows sharing the next timestamp (only those: memory is one bin) and spreads them.
  bool fill_bin() {
    auto first = pull();
    if (!first) return false;
    bin_.push_back(std::move(*first));
    if (cfg_.spread_equal_timestamps.seconds <= 0) return true;
    const double t0 = bin_.front().arrival_s;
    while (auto r = pull()) {
      if (r->arrival_s != t0) {
        lookahead_ = std::move(r);
        break;
      }
      bin_.push_back(std::move(*r));
    }
    double span = cfg_.spread_equal_timestamps.seconds;
    if (lookahead_) span = std::min(span, lookahead_->arrival_s - t0);  // keep arrivals ordered
    const double n = static_cast<double>(bin_.size());
    for (size_t i = 0; i < bin_.size(); ++i) bin_[i].arrival_s = t0 + span * static_cast<double>(i) / n;
    return true;
  }

  std::unique_ptr<TraceSource> inner_;
  const WorkloadConfig& cfg_;
  std::deque<TraceRequest> bin_;
  std::optional<TraceRequest> lookahead_;
  std::unordered_set<std::uint64_t> dropped_;  // rows before the window that later rows may wait for
  bool done_ = false;
  std::uint64_t emitted_ = 0, filtered_ = 0;
};

}  // namespace

std::unique_ptr<TraceSource> make_trace_source(const TraceContext& ctx) {
  auto raw = TraceRegistry::instance().create(ctx.workload.source, ctx);
  return std::make_unique<KnobbedSource>(std::move(raw), ctx.workload);
}

}  // namespace servesim
