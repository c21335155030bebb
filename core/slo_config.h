#pragma once
// The service-level objective a run's goodput and SLO attainment are measured against.
#include "core/config.h"
#include "core/units.h"

namespace servesim {

using config::at_least;
using config::between;
using config::one_of;
using config::positive;

struct SloConfig {
  Duration ttft{2.0};
  Duration itl{0.1};
  template <class V>
  void visit(V& v) {
    v.field("ttft", ttft, "time-to-first-token target for goodput", positive());
    v.field("itl", itl, "mean inter-token latency target for goodput", positive());
  }
};

}  // namespace servesim
