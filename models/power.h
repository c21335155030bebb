#pragma once
// GPU power and energy of a worker's iterations. Each GPU of a worker draws, as a fraction of its
// power limit (catalog tdp_w),
//     P = min(1, busy_floor + compute_slope * u_compute + memory_slope * u_memory)
// during an iteration, where u_compute is the iteration's FLOPs over the GPU's dense peak for the
// iteration's duration and u_memory its HBM bytes (weights, KV read) over the bandwidth: the
// utilisation of the two resources a forward pass drives, whatever timing model priced it. A
// held GPU with nothing to run draws idle_fraction. The defaults (pools[].power) are fitted by
// scripts/fit_power.py to splitwise-sim's measured power of Llama-2-70B on A100s (average power
// within 4.5% mean, prefill peak within 9.5%); other GPUs scale the same curve to their limit.
#include "core/count_memo.h"
#include "core/iteration.h"
#include "core/units.h"
#include "models/catalog.h"
#include "models/pool_config.h"

namespace servesim {

class PowerModel {
 public:
  PowerModel(const ModelSpec& model, const GpuSpec& gpu, int tp, int ep, const PowerConfig& curve);
  static PowerModel for_pool(const PoolConfig& pool, const Catalog& catalog);

  struct Utilisation {
    double compute = 0, memory = 0;
  };
  // What one GPU of the worker does during an iteration of `batch` lasting `duration_ns`.
  Utilisation utilisation(const BatchShape& batch, TimeNs duration_ns) const;
  // Watts of the whole worker (all its GPUs): during such an iteration, and held with nothing to run.
  double busy_w(const BatchShape& batch, TimeNs duration_ns) const;
  // Joules of the whole worker over such an iteration (busy_w x duration, without a division:
  // it is priced on every iteration).
  double busy_j(const BatchShape& batch, TimeNs duration_ns) const;
  double idle_w() const { return idle_w_; }
  double tdp_w() const { return tdp_w_; }  // the worker's GPUs' power limits, summed
  // One GPU's power at the given utilisation, as a fraction of its limit.
  double fraction(const Utilisation& u) const;

 private:
  struct Work {
    double flops, bytes;  // one GPU's
  };
  Work work(const BatchShape& batch) const;
  ModelSpec m_;
  int tp_, ep_;
  PowerConfig curve_;
  double peak_flops_, bandwidth_bytes_per_s_, tdp_w_, idle_w_;
  double compute_j_per_flop_, memory_j_per_byte_;  // the slopes over one GPU's peak rates (per watt of limit)
  // one GPU's GEMM FLOPs per token and weight bytes (the LM head's per sequence); a MoE model's
  // body by token count, as the experts touched depend on it
  struct {
    double body_flops_per_token = 0, body_bytes = 0, head_flops_per_token = 0, head_bytes = 0;
  } dense_;
  mutable CountMemo body_flops_, body_bytes_;
};

}  // namespace servesim
