#pragma once
#include <string>

#include "core/count_memo.h"
#include "models/catalog.h"
#include "models/timing/model_ops.h"
#include "models/timing/timing_model.h"

namespace servesim {

// Achieved / peak factors and fixed latencies: data (models/catalog/efficiency*.yaml), fitted to
// measured kernel tables by `servesim calibrate`.
struct RooflineEfficiency {
  double memory_efficiency = 0.8, compute_efficiency = 0.7, attention_efficiency = 0.5;
  double kernel_latency_us = 0;                 // fixed cost of every GEMM and elementwise kernel
  double attention_latency_us = 0;              // fixed cost of an attention kernel
  double allreduce_latency_us = 10;             // per all-reduce
  double allreduce_step_latency_us = 0;         // per ring step: 2 (tp - 1) steps per all-reduce
  double allreduce_bandwidth_efficiency = 1.0;  // achieved / NVLink bandwidth in an all-reduce
  double overhead_ms = 0.5;                     // per iteration: scheduling, sampling, launch gaps
  std::string source;                           // where the numbers came from
  template <class V>
  void visit(V& v) {
    v.field("memory_efficiency", memory_efficiency, "", config::between(0.01, 1));
    v.field("compute_efficiency", compute_efficiency, "", config::between(0.01, 1));
    v.field("attention_efficiency", attention_efficiency, "", config::between(0.01, 1));
    v.field("kernel_latency_us", kernel_latency_us, "", config::at_least(0));
    v.field("attention_latency_us", attention_latency_us, "", config::at_least(0));
    v.field("allreduce_latency_us", allreduce_latency_us, "", config::at_least(0));
    v.field("allreduce_step_latency_us", allreduce_step_latency_us, "", config::at_least(0));
    v.field("allreduce_bandwidth_efficiency", allreduce_bandwidth_efficiency, "", config::between(0.01, 1));
    v.field("overhead_ms", overhead_ms, "", config::at_least(0));
    v.field("source", source, "");
  }
};

// The roofline cost of single kernels, shared by the timing model and `servesim calibrate`.
struct RooflineKernels {
  const GpuSpec& gpu;
  const RooflineEfficiency& eff;
  double gemm_s(double m, double n, double k, const std::string& precision) const;
  double context_attention_s(double batch, double isl, int heads, double head_dim) const;
  double generation_attention_s(double batch, double kv_len, int kv_heads, int head_dim, double kv_dtype_bytes) const;
  double allreduce_s(double bytes, int gpus) const;
  // An all-to-all in which each of `gpus` GPUs holds `bytes` for all of them (it keeps 1 / gpus):
  // one exchange over NVLink at the all-reduce's efficiency, plus its fixed cost. A group larger
  // than the GPU's node (gpus_per_node) sends the other nodes' share over the GPU's network link
  // (internode_gbps, which validation requires then) while NVLink carries its node's share.
  double alltoall_s(double bytes, int gpus) const;
};

// An efficiency entry by name (the built-in catalog's efficiency.yaml and efficiency/*.yaml, then
// the same files in each folder of SERVESIM_CATALOG_PATH, ':'-separated), or by path: a value
// ending in .yaml is a file `servesim calibrate -o FILE` wrote (one entry), relative to base_dir.
const RooflineEfficiency& roofline_efficiency(const std::string& name_or_path, const std::string& base_dir = ".");

class RooflineTiming final : public TimingModel {
 public:
  RooflineTiming(const ModelSpec& model, const GpuSpec& gpu, int tp, const RooflineEfficiency& eff, int ep = 1);
  struct Breakdown {
    double linear_s = 0, attention_s = 0, elementwise_s = 0, allreduce_s = 0, overhead_s = 0;
    double alltoall_s = 0;  // attention DP: the MoE layers' token dispatch and combine
  };
  Breakdown breakdown(const BatchShape& batch) const;
  TimeNs iteration_ns(const BatchShape& batch) const override;
  TimeNs overhead_ns() const override { return s_to_ns(e_.overhead_ms * 1e-3); }
  std::vector<Part> parts(const BatchShape& batch) const override;

 private:
  double gemms_s(const GemmOps& ops) const;
  ModelSpec m_;
  GpuSpec g_;
  int tp_;
  RooflineEfficiency e_;
  int ep_;
  // linear layers' seconds by token count (the LM head apart), the LM head's by sequence count
  mutable CountMemo body_linear_s_, lm_head_s_;
};

}  // namespace servesim
