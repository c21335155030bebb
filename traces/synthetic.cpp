// Synthetic workloads: an arrival process (Poisson, gamma with a CV, constant) run in
// operational time through a rate schedule (steps, ramps, diurnal sine), token lengths from
// distributions, shared-prefix groups and multi-turn sessions that produce hash-id chains.
#include <queue>
#include <vector>

#include "core/distributions.h"
#include "traces/length_sampler.h"
#include "traces/rate_schedule.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

constexpr std::uint64_t kGroupIdBase = 1ull << 62;  // group prefix ids never clash with fresh ids

class SyntheticSource final : public TraceSource {
 public:
  explicit SyntheticSource(const TraceContext& ctx)
      : cfg_(ctx.workload.synthetic),
        block_(static_cast<std::uint32_t>(ctx.workload.hash_block_tokens)),
        schedule_(cfg_.arrival),
        input_(cfg_.input_length, ctx, "input"),
        output_(cfg_.output_length, ctx, "output"),
        turns_(cfg_.sessions.turns, ctx, "turns"),
        arrivals_rng_(make_rng(ctx.seed, "workload.arrivals")),
        lengths_rng_(make_rng(ctx.seed, "workload.lengths")),
        sessions_rng_(make_rng(ctx.seed, "workload.sessions")) {
    advance_fresh();
  }

  std::optional<TraceRequest> next() override {
    bool take_turn = !pending_.empty() && (next_fresh_s_ < 0 || pending_.top().time_s <= next_fresh_s_);
    if (take_turn) {
      Turn t = pending_.top();
      pending_.pop();
      return emit_turn(t.time_s, t.session);
    }
    if (next_fresh_s_ < 0) return std::nullopt;
    double t = next_fresh_s_;
    advance_fresh();
    if (!cfg_.sessions.enabled) return make_single(t);
    std::uint32_t turns = turns_.sample(sessions_rng_);
    Session fresh{++session_count_, turns, 0, 0, {}, group()};
    size_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
      sessions_[slot] = std::move(fresh);
    } else {
      slot = sessions_.size();
      sessions_.push_back(std::move(fresh));
    }
    return emit_turn(t, slot);
  }

  TraceStats stats() const override { return {rows_, 0, 0}; }

 private:
  struct Session {
    std::uint64_t id;
    std::uint32_t turns_left;
    std::uint32_t context_tokens;  // tokens of the last turn's prompt + output
    std::uint32_t prompt_tokens;   // last turn's prompt
    std::vector<std::uint64_t> ids;  // ids covering context_tokens
    int group;
  };
  struct Turn {
    double time_s;
    size_t session;
    std::uint64_t seq;
    bool operator>(const Turn& o) const { return time_s != o.time_s ? time_s > o.time_s : seq > o.seq; }
  };

  // Next arrival of the process: a unit-mean renewal step in operational time.
  void advance_fresh() {
    double step = 1.0;
    if (cfg_.arrival.process == "poisson") step = sample_exponential(arrivals_rng_, 1.0);
    else if (cfg_.arrival.process == "gamma") {
      double k = 1.0 / (cfg_.arrival.cv * cfg_.arrival.cv);
      step = sample_gamma(arrivals_rng_, k, 1.0 / k);
    }
    op_time_ += step;
    double horizon = cfg_.duration.seconds;
    next_fresh_s_ = schedule_.inverse(op_time_, std::max(0.0, last_fresh_s_), horizon);
    if (next_fresh_s_ >= 0) last_fresh_s_ = next_fresh_s_;
  }

  int group() {
    if (cfg_.prefix.groups <= 0) return -1;
    return static_cast<int>(lengths_rng_() % static_cast<std::uint64_t>(cfg_.prefix.groups));
  }

  // ids for a prompt whose first `reuse_tokens` tokens match `known` ids (full blocks only)
  void append_ids(std::vector<std::uint64_t>& out, std::uint32_t total_tokens) {
    std::uint32_t want = (total_tokens + block_ - 1) / block_;
    while (out.size() < want) out.push_back(next_id_++);
  }

  std::vector<std::uint64_t> prefix_ids(int g, std::uint32_t prompt_tokens) {
    std::vector<std::uint64_t> ids;
    if (g < 0) return ids;
    std::uint32_t full = std::min<std::uint32_t>(cfg_.prefix.prefix_tokens, prompt_tokens) / block_;
    for (std::uint32_t j = 0; j < full; ++j)
      ids.push_back(kGroupIdBase | (static_cast<std::uint64_t>(g) << 32) | j);
    return ids;
  }

  TraceRequest make_single(double t) {
    TraceRequest r;
    r.arrival_s = t;
    int g = group();
    std::uint32_t prefix = g >= 0 ? static_cast<std::uint32_t>(cfg_.prefix.prefix_tokens) : 0;
    r.input_tokens = prefix + input_.sample(lengths_rng_);
    r.output_tokens = output_.sample(lengths_rng_);
    r.hash_ids = prefix_ids(g, r.input_tokens);
    append_ids(r.hash_ids, r.input_tokens);
    ++rows_;
    return r;
  }

  TraceRequest emit_turn(double t, size_t si) {
    Session& s = sessions_[si];
    TraceRequest r;
    r.arrival_s = t;
    r.session_id = s.id;
    std::uint32_t fresh = input_.sample(lengths_rng_);
    std::uint32_t prefix = (s.context_tokens == 0 && s.group >= 0) ? cfg_.prefix.prefix_tokens : 0;
    r.input_tokens = s.context_tokens + prefix + fresh;
    r.output_tokens = output_.sample(lengths_rng_);
    if (s.context_tokens == 0) r.hash_ids = prefix_ids(s.group, r.input_tokens);
    else r.hash_ids.assign(s.ids.begin(), s.ids.begin() + s.context_tokens / block_);
    append_ids(r.hash_ids, r.input_tokens);
    // the session's context for its next turn: this prompt and its output
    s.ids.assign(r.hash_ids.begin(), r.hash_ids.begin() + r.input_tokens / block_);
    s.prompt_tokens = r.input_tokens;
    s.context_tokens = r.input_tokens + r.output_tokens;
    append_ids(s.ids, s.context_tokens);
    if (--s.turns_left > 0) {
      double next = t + cfg_.sessions.min_think_time.seconds +
                    sample_exponential(sessions_rng_, cfg_.sessions.think_time.seconds);
      if (next <= cfg_.duration.seconds) pending_.push(Turn{next, si, turn_seq_++});
      else end_session(si);
    } else {
      end_session(si);
    }
    ++rows_;
    return r;
  }

  void end_session(size_t si) {
    sessions_[si].ids = {};  // release its chain; the slot is reused
    free_slots_.push_back(si);
  }

  const SyntheticConfig& cfg_;
  std::uint32_t block_;
  RateSchedule schedule_;
  LengthSampler input_, output_, turns_;
  Rng arrivals_rng_, lengths_rng_, sessions_rng_;
  double op_time_ = 0, last_fresh_s_ = 0, next_fresh_s_ = -1;
  std::uint64_t next_id_ = 0, rows_ = 0, session_count_ = 0, turn_seq_ = 0;
  std::vector<Session> sessions_;  // live sessions only: slots are reused
  std::vector<size_t> free_slots_;
  std::priority_queue<Turn, std::vector<Turn>, std::greater<Turn>> pending_;
};

}  // namespace

SERVESIM_REGISTER(TraceRegistry, "synthetic",
                  "generated: Poisson/gamma/constant arrivals, rate schedules, length distributions, "
                  "shared prefixes, multi-turn sessions",
                  [](const TraceContext& ctx) { return std::make_unique<SyntheticSource>(ctx); })

}  // namespace servesim
