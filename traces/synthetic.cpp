// Synthetic workloads: an arrival process (Poisson, gamma with a CV, constant) run in
// operational time through a rate schedule (steps, ramps, diurnal sine), token lengths from
// distributions, shared-prefix groups and multi-turn sessions that produce hash-id chains.
#include <algorithm>
#include <cmath>
#include <map>
#include <deque>
#include <vector>

#include "core/distributions.h"
#include "traces/length_sampler.h"
#include "traces/rate_schedule.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

constexpr std::uint64_t kGroupIdBase = 1ull << 62;  // group prefix ids never clash with fresh ids
constexpr std::uint64_t kSystemIdBase = 1ull << 61;  // nor do the agents' system prompt ids

class SyntheticSource final : public TraceSource {
 public:
  explicit SyntheticSource(const TraceContext& ctx)
      : cfg_(ctx.workload.synthetic),
        block_(static_cast<std::uint32_t>(ctx.workload.hash_block_tokens)),
        schedule_(cfg_.arrival),
        input_(cfg_.input_length, ctx, "input"),
        output_(cfg_.output_length, ctx, "output"),
        turns_(cfg_.sessions.turns, ctx, "turns"),
        tool_output_(cfg_.agent.tool_output_length, ctx, "tool_output"),
        fanout_(cfg_.agent.fanout, ctx, "fanout"),
        subagent_input_(cfg_.agent.subagent_input_length, ctx, "subagent_input"),
        arrivals_rng_(make_rng(ctx.seed, "workload.arrivals")),
        lengths_rng_(make_rng(ctx.seed, "workload.lengths")),
        sessions_rng_(make_rng(ctx.seed, "workload.sessions")),
        models_rng_(make_rng(ctx.seed, "workload.models")),
        classes_rng_(make_rng(ctx.seed, "workload.slo_classes")),
        lora_rng_(make_rng(ctx.seed, "workload.lora")),
        default_model_(ctx.models.empty() ? std::string() : ctx.models.front()) {
    for (const auto& [adapter, base] : ctx.lora_adapters) {
      AdapterMix& mix = adapters_[base];
      mix.names.push_back(adapter);
      const double k = static_cast<double>(mix.names.size());
      mix.cdf.push_back((mix.cdf.empty() ? 0 : mix.cdf.back()) +
                        (cfg_.lora.popularity == "zipf" ? 1 / std::pow(k, cfg_.lora.zipf_s) : 1.0));
    }
    double total = 0;
    for (const auto& m : cfg_.models) model_cdf_.push_back(total += m.weight);
    total = 0;
    for (const auto& c : cfg_.slo_classes) {
      class_cdf_.push_back(total += c.weight);
      auto it = std::find(ctx.slo_classes.begin(), ctx.slo_classes.end(), c.name);
      class_index_.push_back(it == ctx.slo_classes.end() ? -1 : static_cast<std::int8_t>(it - ctx.slo_classes.begin()));
    }
    advance_fresh();
  }

  std::optional<TraceRequest> next() override {
    if (!turns_queued_.empty()) {  // the rest of the session just started
      TraceRequest r = std::move(turns_queued_.front());
      turns_queued_.pop_front();
      return r;
    }
    if (next_fresh_s_ < 0) return std::nullopt;
    double t = next_fresh_s_;
    advance_fresh();
    if (!cfg_.sessions.enabled) return make_single(t);
    return make_session(t);
  }

  TraceStats stats() const override { return {rows_, 0, 0}; }

 private:
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

  // the model of the next request or session ("" = the default), drawn by weight
  std::string model() {
    if (model_cdf_.empty()) return {};
    const double u = uniform01(models_rng_) * model_cdf_.back();
    const size_t i = static_cast<size_t>(std::upper_bound(model_cdf_.begin(), model_cdf_.end(), u) - model_cdf_.begin());
    return cfg_.models[std::min(i, model_cdf_.size() - 1)].name;
  }

  // A request (session) for a model with LoRA adapters names one of them with probability
  // lora.fraction, by popularity; its own stream, so runs without adapters are unchanged.
  std::string with_adapter(std::string model) {
    if (cfg_.lora.fraction <= 0) return model;
    auto it = adapters_.find(model.empty() ? default_model_ : model);
    if (it == adapters_.end() || uniform01(lora_rng_) >= cfg_.lora.fraction) return model;
    const std::vector<double>& cdf = it->second.cdf;
    const double u = uniform01(lora_rng_) * cdf.back();
    const size_t i = static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    return it->second.names[std::min(i, cdf.size() - 1)];
  }

  // the SLO class of the next request or session (-1 = none), drawn by weight
  std::int8_t slo_class() {
    if (class_cdf_.empty()) return -1;
    const double u = uniform01(classes_rng_) * class_cdf_.back();
    const size_t i = static_cast<size_t>(std::upper_bound(class_cdf_.begin(), class_cdf_.end(), u) - class_cdf_.begin());
    return class_index_[std::min(i, class_cdf_.size() - 1)];
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
    r.model = with_adapter(model());
    r.slo_class = slo_class();
    ++rows_;
    return r;
  }

  // A closed-loop session: its first turn arrives at `t`; each later turn is sent a think time
  // after the previous one ends and re-sends the whole history (prompts and answers); agent
  // sessions call tools and sub-agents between turns (AgentConfig). All rows are made now, in
  // dependency order, and queued right behind the first, so the player knows them at once.
  TraceRequest make_session(double t) {
    const AgentConfig& agent = cfg_.agent;
    const bool agents = agent.enabled;
    const std::uint64_t session = ++session_count_;
    const int g = group();
    const std::string session_model = with_adapter(model());
    const std::int8_t session_class = slo_class();
    const std::uint32_t turns = std::max<std::uint32_t>(1, turns_.sample(sessions_rng_));
    std::uint32_t context_tokens = 0;  // the previous prompt and its answer
    std::vector<std::uint64_t> context_ids;
    std::vector<std::uint64_t> previous;  // what the next turn waits for
    std::uint32_t added = 0;              // tokens the next turn adds after the context
    double delay_s = 0, tool_s = 0;       // and its waits
    TraceRequest first;
    auto row = [&](std::uint32_t input, std::uint32_t prompt_prefix_tokens) {
      TraceRequest r;
      r.arrival_s = t;
      r.session_id = session;
      r.trace_id = ++trace_ids_;
      r.model = session_model;
      r.slo_class = session_class;
      r.input_tokens = input;
      r.output_tokens = output_.sample(lengths_rng_);
      r.hash_ids.assign(context_ids.begin(), context_ids.begin() + prompt_prefix_tokens / block_);
      append_ids(r.hash_ids, r.input_tokens);
      ++rows_;
      return r;
    };
    auto think = [&] {
      return cfg_.sessions.min_think_time.seconds + sample_exponential(sessions_rng_, cfg_.sessions.think_time.seconds);
    };
    auto tool_time = [&] {
      return agent.min_tool_time.seconds + sample_exponential(sessions_rng_, agent.tool_time.seconds);
    };
    for (std::uint32_t k = 0; k < turns; ++k) {
      std::uint32_t prefix = 0;
      if (k == 0) {
        prefix = agents ? static_cast<std::uint32_t>(agent.system_prompt_tokens)
                        : (g >= 0 ? static_cast<std::uint32_t>(cfg_.prefix.prefix_tokens) : 0);
        context_ids = agents ? system_ids(prefix) : prefix_ids(g, prefix);
        context_tokens = prefix;  // its full blocks are the shared ones
        added = input_.sample(lengths_rng_);
      }
      TraceRequest r = row(context_tokens + added, context_tokens);
      r.wait_for = previous;
      r.delay_s = delay_s;
      r.tool_wait_s = tool_s;
      context_ids.assign(r.hash_ids.begin(), r.hash_ids.begin() + r.input_tokens / block_);
      context_tokens = r.input_tokens + r.output_tokens;
      append_ids(context_ids, context_tokens);
      const std::uint64_t id = r.trace_id;
      if (k == 0) first = std::move(r);
      else turns_queued_.push_back(std::move(r));
      if (k + 1 == turns) break;
      // what happens before the next turn
      previous.assign(1, id);
      delay_s = tool_s = 0;
      const double u = agents ? uniform01(sessions_rng_) : 1.0;
      if (u < agent.fanout_probability) {  // sub-agents on the context so far, joined by the next turn
        const std::uint32_t n = std::max<std::uint32_t>(1, fanout_.sample(sessions_rng_));
        previous.clear();
        std::uint32_t answers = 0;
        for (std::uint32_t b = 0; b < n; ++b) {
          TraceRequest sub = row(context_tokens + subagent_input_.sample(lengths_rng_), context_tokens);
          sub.wait_for.assign(1, id);
          sub.tool_wait_s = tool_time();
          answers += sub.output_tokens;
          previous.push_back(sub.trace_id);
          turns_queued_.push_back(std::move(sub));
        }
        added = answers;
        delay_s = think();
      } else if (u < agent.fanout_probability + (1 - agent.fanout_probability) * agent.tool_probability) {
        added = tool_output_.sample(lengths_rng_);  // the tool's output
        tool_s = tool_time();
      } else {
        added = input_.sample(lengths_rng_);  // the user's next message
        delay_s = think();
      }
    }
    return first;
  }

  // the shared system prompt's full blocks: the same ids in every session
  std::vector<std::uint64_t> system_ids(std::uint32_t tokens) const {
    std::vector<std::uint64_t> ids;
    for (std::uint32_t j = 0; j < tokens / block_; ++j) ids.push_back(kSystemIdBase | j);
    return ids;
  }

  const SyntheticConfig& cfg_;
  std::uint32_t block_;
  RateSchedule schedule_;
  LengthSampler input_, output_, turns_, tool_output_, fanout_, subagent_input_;
  Rng arrivals_rng_, lengths_rng_, sessions_rng_, models_rng_;
  Rng classes_rng_, lora_rng_;
  struct AdapterMix {
    std::vector<std::string> names;
    std::vector<double> cdf;  // cumulative popularity
  };
  std::string default_model_;
  std::map<std::string, AdapterMix> adapters_;  // base model -> its adapters
  std::vector<double> model_cdf_, class_cdf_;  // cumulative weights of cfg_.models, cfg_.slo_classes
  std::vector<std::int8_t> class_index_;       // each cfg_.slo_classes entry's index in slo.classes
  double op_time_ = 0, last_fresh_s_ = 0, next_fresh_s_ = -1;
  std::uint64_t next_id_ = 0, rows_ = 0, session_count_ = 0, trace_ids_ = 0;
  std::deque<TraceRequest> turns_queued_;  // the later turns of the session just started
};

}  // namespace

SERVESIM_REGISTER(TraceRegistry, "synthetic",
                  "generated: Poisson/gamma/constant arrivals, rate schedules, length distributions, "
                  "shared prefixes, multi-turn sessions",
                  [](const TraceContext& ctx) { return std::make_unique<SyntheticSource>(ctx); })

}  // namespace servesim
