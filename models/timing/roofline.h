#pragma once
#include <string>

#include "models/catalog.h"
#include "models/timing/timing_model.h"

namespace servesim {

struct RooflineEfficiency {
  double memory_efficiency = 0.8, compute_efficiency = 0.7, attention_efficiency = 0.5;
  double allreduce_latency_us = 10, overhead_ms = 0.5;
  template <class V>
  void visit(V& v) {
    v.field("memory_efficiency", memory_efficiency, "", config::between(0.01, 1));
    v.field("compute_efficiency", compute_efficiency, "", config::between(0.01, 1));
    v.field("attention_efficiency", attention_efficiency, "", config::between(0.01, 1));
    v.field("allreduce_latency_us", allreduce_latency_us, "", config::at_least(0));
    v.field("overhead_ms", overhead_ms, "", config::at_least(0));
  }
};

// Named entry of models/catalog/efficiency.yaml (throws ConfigError listing the names).
const RooflineEfficiency& roofline_efficiency(const std::string& name);

class RooflineTiming final : public TimingModel {
 public:
  RooflineTiming(const ModelSpec& model, const GpuSpec& gpu, int tp, const RooflineEfficiency& eff);
  struct Breakdown {
    double linear_s = 0, attention_s = 0, allreduce_s = 0, overhead_s = 0;
  };
  Breakdown breakdown(const BatchShape& batch) const;
  TimeNs iteration_ns(const BatchShape& batch) const override;

 private:
  ModelSpec m_;
  GpuSpec g_;
  int tp_;
  RooflineEfficiency e_;
};

}  // namespace servesim
