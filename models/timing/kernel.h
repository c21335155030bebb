#pragma once
// "kernel": an iteration's duration composed from measured per-kernel latencies: the GEMMs of
// every layer for the batch's tokens, context attention for the prefill chunks, generation
// attention for the decodes and their KV lengths, the TP all-reduces, memory-bound elementwise
// kernels, and a per-iteration framework overhead.
#include <atomic>
#include <initializer_list>
#include <spdlog/spdlog.h>
#include <memory>
#include <string>
#include <vector>

#include "core/count_memo.h"
#include "models/catalog.h"
#include "models/timing/kernel_tables.h"
#include "models/timing/timing_model.h"

namespace servesim {

// Memory constants of the system the tables were measured on (<tables>.yaml, aiconfigurator's
// format): achieved bandwidth for elementwise kernels and their fixed latency.
struct SystemMemory {
  double bandwidth_bytes_per_s = 0, efficiency = 1, kernel_latency_s = 0;
  static SystemMemory load(const std::string& system_yaml);  // throws InputError
};

class KernelTiming final : public TimingModel {
 public:
  KernelTiming(const ModelSpec& model, int tp, const KernelTimingConfig& config,
               std::shared_ptr<const KernelTables> tables, SystemMemory memory, int ep = 1, int attention_dp = 1);
  struct Breakdown {
    double gemm_ms = 0, context_attention_ms = 0, generation_attention_ms = 0, allreduce_ms = 0, elementwise_ms = 0,
           overhead_ms = 0;
    double alltoall_ms = 0;  // attention DP: the MoE layers' token dispatch and combine (NCCL all-to-all)
    double total_ms() const {
      return gemm_ms + context_attention_ms + generation_attention_ms + allreduce_ms + elementwise_ms + overhead_ms +
             alltoall_ms;
    }
  };
  Breakdown breakdown(const BatchShape& batch) const;
  TimeNs iteration_ns(const BatchShape& batch) const override;
  TimeNs overhead_ns() const override { return std::llround(c_.overhead_ms * 1e6); }
  std::vector<Part> parts(const BatchShape& batch) const override;
  // Lookups outside the tables; shapes memoised (the linear layers by token count) count once.
  std::uint64_t extrapolations() const override { return extrapolations_; }

  // One GEMM from the table of `dtype` (bfloat16 | fp8 | fp8_block), ms.
  double gemm_ms(double m, double n, double k) const;
  // One GEMM of MLA's input projections (ModelSpec::mla_input_precision), ms.
  double mla_input_gemm_ms(double m, double n, double k) const;
  // `extrapolated`, where given, says whether the lookup fell outside the table.
  double allreduce_ms(double elements, bool graph, bool* extrapolated = nullptr) const;

 private:
  // `extrapolated`, where given, says whether the lookup fell outside the table (and was counted).
  double lookup(const LogGrid& grid, std::initializer_list<double> x, const char* what,
                bool* extrapolated = nullptr) const;
  // Counts a lookup outside the tables; the first one per model is logged with `message()`.
  template <class Message>
  void count_extrapolation(const Message& message) const {
    if (extrapolations_++ == 0) spdlog::warn("{}: {} (counted in timing_extrapolations)", tables_->dir, message());
  }
  // Attention is additive over sequences: where the table lacks a batch at this length (beyond
  // its largest, or a hole), the nearest smaller measured batch is scaled up linearly; where the
  // hole is at its smallest batch, the next larger batch's value stands for it (each counted).
  double attention_ms(const LogGrid& grid, double batch, double len, const char* what) const;
  // Attention over every layer: the full-attention layers read `full` at `len`; sliding-window
  // layers read their own kernels (`windowed`) at `len` where measured, else `full` at
  // `window_len`, the window's share of the work (unused without such layers).
  double layers_attention_ms(const LogGrid& full, const LogGrid* windowed, double batch, double len,
                             double window_len, const char* what, const char* windowed_what) const;
  // The same from module tables: the layers that run an indexer (every layer without skip
  // modules) read modules_, those that share an earlier layer's picks skip_modules_.
  double module_layers_ms(bool generation, double batch, double len) const;
  double linear_ms(std::int64_t tokens) const;  // the layers' GEMMs, memoised by token count
  // The LM head's GEMM over `seqs` sequences' last tokens, and one all-reduce of `tokens` tokens'
  // hidden states: each a pure function of its count, memoised (lookups outside the tables are
  // made, and counted, every time, as before)
  double lm_head_ms(std::int64_t seqs) const;
  double allreduce_tokens_ms(std::int64_t tokens) const;
  // the layers' GEMMs (MoE routing `moe_tokens` over experts shared by `moe_ranks` ranks; -1: `tokens`)
  double layers_ms(double tokens, double moe_tokens, int moe_ranks) const;
  double mla_projection_ms(double tokens) const;  // one layer's MLA input projections

  ModelSpec m_;
  int tp_, ep_;
  KernelTimingConfig c_;
  std::shared_ptr<const KernelTables> tables_;
  SystemMemory mem_;
  Extrapolation policy_;
  const LogGrid* gemm_ = nullptr;
  const LogGrid* lm_head_gemm_ = nullptr;  // gemm_, but bf16 in an NVFP4 checkpoint
  const LogGrid* mla_input_gemm_ = nullptr;  // gemm_, or mla_input_gemm_precision()'s
  const LogGrid* o_proj_gemm_ = nullptr;     // gemm_, or ModelSpec::attention_precision's
  const LogGrid* context_ = nullptr;
  const LogGrid* generation_ = nullptr;
  // sliding-window layers' kernels where the tables measured them at the model's window (read at
  // the whole context); null: the full-attention kernels at the window's share of the work
  const LogGrid* context_window_ = nullptr;
  const LogGrid* generation_window_ = nullptr;
  // MLA models: the absorbed decode's two batched GEMMs (context_ and generation_ are then the
  // MLA attention tables)
  const LogGrid* moe_ = nullptr;  // the measured MoE layer of this shape (timing.kernel.moe: table)
  // Module tables: the whole attention block per layer (projections included), for prefill and
  // decode, and what they are for the log ("DSA context module", ...)
  struct ModuleTables {
    const LogGrid* context = nullptr;
    const LogGrid* generation = nullptr;
    std::string context_label, generation_label;
  };
  // vLLM's MLA modules or a sparse-attention model's DSA modules; empty where kernels price attention
  ModuleTables modules_;
  // a sparse-attention model whose layers share indexer picks (GLM-5.2): those layers' block
  // without the indexer; empty otherwise
  ModuleTables skip_modules_;
  // a hybrid's Gated DeltaNet layers (batch x chunk length; batch); null without them
  const LogGrid* linear_context_ = nullptr;
  const LogGrid* linear_generation_ = nullptr;
  const LogGrid* mla_bmm_pre_ = nullptr;
  const LogGrid* mla_bmm_post_ = nullptr;
  const LogGrid* allreduce_graph_ = nullptr;
  const LogGrid* allreduce_eager_ = nullptr;
  const LogGrid* allreduce_nccl_ = nullptr;
  const LogGrid* alltoall_ = nullptr;  // over the attention-DP group's GPUs, for a MoE model
  double elementwise_bytes_ = 0;
  mutable CountMemo linear_ms_;  // by token count
  mutable CountMemo lm_head_ms_;  // by sequence count
  mutable CountMemo allreduce_tokens_ms_;  // by token count
  mutable std::atomic<std::uint64_t> extrapolations_{0};
};

}  // namespace servesim
