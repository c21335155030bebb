#pragma once
// The external-planner protocol (docs/planner_protocol.md): one JSON object per line. servesim
// sends hello, then at every adjustment tick an observation; the planner answers each with a
// decision, or first with capacity queries servesim answers from the pools' timing models (the
// profiling tables an SLA planner reads). Pure functions: formatting and checked parsing.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "planner/planner_config.h"
#include "planner/planner_policy.h"

namespace servesim {

constexpr int kPlannerProtocolVersion = 1;

std::string planner_hello(const PlannerScope& s);
std::string planner_observation(std::uint64_t tick, TimeNs now, const PlannerObservation& o);
std::string planner_answers(const std::vector<double>& values);
std::string planner_bye();

struct CapacityQuery {
  enum class Op : std::uint8_t { kPrefillTokensPerS, kDecodeTokensPerS, kExpectedTtftS, kExpectedItlS };
  Op op = Op::kPrefillTokensPerS;
  size_t pool = 0;
  double a = 0, b = 0;  // (isl, ttft_s) | (context, itl_s) | (isl, -) | (concurrency, context)
};

struct PlannerReply {
  std::vector<CapacityQuery> queries;  // a query reply
  // a decision: per pool (scenario order), nullopt = keep the target in force
  std::vector<std::optional<PoolDecision>> decisions;
  bool is_query() const { return decisions.empty(); }
};

// Checks the planner's answer to hello (its protocol version). Throws InputError naming the problem.
void check_planner_hello(std::string_view line);
// Parses and validates an answer to an observation: JSON, type, pool and worker names, replicas
// within the pool's min_replicas..max_replicas. Throws InputError naming the problem and the fix.
PlannerReply parse_planner_reply(std::string_view line, const PlannerScope& s);

}  // namespace servesim
