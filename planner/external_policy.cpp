// Policy "external": the decisions come from a planner outside servesim (planner_protocol.h). At
// every tick the simulation waits, its clock frozen, for the planner's decision, so results stay
// deterministic whatever the planner's wall time. Capacity queries are answered from the pools'
// timing models, as the built-in sla policy reads them.
#include <fmt/format.h>

#include <cstdio>

#include "core/error.h"
#include "planner/capacity.h"
#include "planner/planner_policy.h"
#include "planner/planner_protocol.h"
#include "planner/planner_transport.h"

namespace servesim {
namespace {

class ExternalPolicy final : public PlannerPolicy {
 public:
  explicit ExternalPolicy(const PlannerPolicyContext& ctx)
      : s_(ctx.scenario),
        cap_(ctx.scenario, ctx.base_dir),
        transport_(make_planner_transport(s_.planner.external, ctx.base_dir, ctx.in_process)) {
    check_planner_hello(transport_->exchange(planner_hello(s_), ask_));
  }

  ~ExternalPolicy() override {
    if (broken_) {
      transport_->abandon();
      return;
    }
    try {
      transport_->close(planner_bye());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "servesim: warning: closing the external planner: %s\n", e.what());
    }
  }

  std::vector<PoolDecision> decide(TimeNs now, const PlannerObservation& seen, const PlannerForecast&) override {
    std::string message = planner_observation(tick_++, now, seen);
    queries_ = 0;
    broken_ = true;  // until a decision is in
    for (;;) {
      PlannerReply reply = parse_planner_reply(transport_->exchange(message, ask_), s_);
      if (!reply.is_query()) {
        std::vector<PoolDecision> out;
        for (size_t i = 0; i < seen.pools.size(); ++i)
          out.push_back(reply.decisions[i] ? std::move(*reply.decisions[i]) : PoolDecision::keep(seen.pools[i].target));
        broken_ = false;
        return out;
      }
      message = answers(reply);
    }
  }

 private:
  std::string answers(const PlannerReply& reply) {
    queries_ += static_cast<int>(reply.queries.size());
    if (queries_ > s_.planner.external.max_queries)
      throw InputError(fmt::format("external planner {}: more than {} capacity queries in tick {} "
                                   "(planner.external.max_queries); is it looping?",
                                   transport_->describe(), s_.planner.external.max_queries, tick_ - 1));
    std::vector<double> values;
    for (const CapacityQuery& q : reply.queries) values.push_back(answer(q));
    return planner_answers(values);
  }

  // A planner in this process asks while it decides: only queries are valid here.
  std::string ask(const std::string& query) {
    PlannerReply reply = parse_planner_reply(query, s_);
    if (!reply.is_query()) throw InputError("external planner: ask() takes a query message, not a decision");
    return answers(reply);
  }

  double answer(const CapacityQuery& q) const {
    switch (q.op) {
      case CapacityQuery::Op::kPrefillTokensPerS: return cap_.prefill_tokens_per_s(q.pool, q.a, q.b);
      case CapacityQuery::Op::kDecodeTokensPerS: return cap_.decode_tokens_per_s(q.pool, q.a, q.b);
      case CapacityQuery::Op::kExpectedTtftS: return cap_.expected_ttft_s(q.pool, q.a);
      case CapacityQuery::Op::kExpectedItlS: return cap_.expected_itl_s(q.pool, q.a, q.b);
    }
    return 0;
  }

  PlannerScope s_;
  TimingCapacityModel cap_;
  PlannerAsk ask_ = [this](const std::string& query) { return ask(query); };
  std::unique_ptr<PlannerTransport> transport_;
  std::uint64_t tick_ = 0;
  int queries_ = 0;
  bool broken_ = false;  // an error ended an exchange: no goodbye
};

}  // namespace

SERVESIM_REGISTER(PlannerPolicyRegistry, "external",
                  "a planner outside servesim (planner.external: a command, a ZeroMQ endpoint, or the Python API), "
                  "spoken to in JSON lines at every tick while simulated time stands still",
                  [](const PlannerPolicyContext& c) { return std::make_unique<ExternalPolicy>(c); })

}  // namespace servesim
