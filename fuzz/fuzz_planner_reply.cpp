// libFuzzer target: the external planner's replies (planner/planner_protocol.h). An InputError
// naming the problem is the documented answer to a bad reply; anything else escaping, or an
// accepted decision outside the pools' bounds or naming a worker of another pool, is a finding.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "planner/planner_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace servesim;
  const std::string line(reinterpret_cast<const char*>(data), size);
  static const PlannerConfig planner;
  static const SloConfig slo;
  static const std::vector<PoolConfig> pools = [] {
    std::vector<PoolConfig> p(2);
    p[0].name = "agg";
    p[0].replicas = 2;
    p[0].lifecycle.min_replicas = 1;
    p[0].lifecycle.max_replicas = 4;
    p[1].name = "d\"ecode";
    p[1].role = "decode";
    p[1].replicas = 1;
    return p;
  }();
  const PlannerScope scope{planner, pools, slo, 1};
  try {
    check_planner_hello(line);
  } catch (const InputError& e) {
    if (std::string(e.what()).empty()) __builtin_trap();
  }
  try {
    PlannerReply r = parse_planner_reply(line, scope);
    if (r.is_query()) {
      for (const auto& q : r.queries)
        if (q.pool >= pools.size() || !(q.a >= 0) || !(q.b >= 0)) __builtin_trap();
    } else {
      if (r.decisions.size() != pools.size()) __builtin_trap();
      std::int32_t first = 0;
      for (size_t i = 0; i < pools.size(); ++i) {
        const int slots = worker_slots(pools[i]);
        if (const auto& d = r.decisions[i]) {
          if (d->target < pools[i].lifecycle.min_replicas || d->target > slots) __builtin_trap();
          for (std::int32_t w : d->drain)
            if (w < first || w >= first + slots) __builtin_trap();
        }
        first += slots;
      }
    }
  } catch (const InputError& e) {
    if (std::string(e.what()).find("external planner") == std::string::npos) __builtin_trap();
  }
  return 0;
}
