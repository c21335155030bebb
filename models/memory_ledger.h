#pragma once
// How a serving engine divides a worker's GPU memory, item by item, into what it reserves and
// what is left for the KV cache. The engines differ in the rule (what the memory fraction is a
// fraction of, which items come out of it), so each framework's rule is an entry of a small
// table, selected by `engine.memory_rule`:
//   vllm_v1               vLLM V1 (Worker.determine_available_memory): total x gpu_memory_utilization,
//                         less the weights, the profile run's PyTorch peak and the memory outside
//                         PyTorch's allocator; CUDA graphs are captured after the KV cache is
//                         allocated, out of the (1 - utilisation) margin, so they are not an item
//   sglang_static         SGLang: mem_fraction_static (gpu_memory_utilization) of the total holds the
//                         weights and the KV pool; activations live outside that fraction
//   trtllm_free_fraction  TensorRT-LLM: free_gpu_memory_fraction (gpu_memory_utilization) of the memory
//                         left once the weights and the runtime's buffers are in place
// Every amount is a whole worker's (tp GPUs). Plain data: no SystemC.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace servesim {

// What the model and engine settings ask for, before a rule divides the memory.
struct MemoryDemand {
  double device_bytes = 0;       // tp x the memory the driver reports (or the nominal size)
  bool device_reported = false;  // false: the catalog has no driver figure, the nominal size stands in
  double utilization = 0.9;      // gpu_memory_utilization / mem_fraction_static / free_gpu_memory_fraction
  double weight_bytes = 0;
  double forward_peak_bytes = 0;  // the profile run's forward pass at the token budget
  double sampler_peak_bytes = 0;  // its sampler over max_num_seqs rows of logits (after the forward)
  std::int64_t profile_tokens = 0, sampler_rows = 0;  // the token budget and those rows (for the notes)
  double non_torch_bytes = 0;     // outside PyTorch's allocator: library workspaces, communication buffers
  double lora_bytes = 0, draft_bytes = 0;
};

struct MemoryItem {
  std::string name;  // weights, activation_peak, non_torch, lora_slots, speculative_draft
  double bytes = 0;
  std::string note;  // how the engine arrives at it
};

struct MemoryLedger {
  std::string rule;
  double device_bytes = 0;
  bool device_reported = false;
  double budget_bytes = 0;        // what the rule lets the engine use for the items and the KV cache
  std::vector<MemoryItem> items;  // taken out of the budget, in the engine's order
  double kv_bytes = 0;            // what is left: the KV cache (negative: a shortfall)
  // The ledger as text, one item a line (servesim timing, validate), on one line (errors) or as a
  // JSON object (/meta).
  std::string text() const;
  std::string one_line() const;
  std::string json() const;
};

struct MemoryRule {
  std::string_view name, description;
  MemoryLedger (*divide)(const MemoryDemand&);
};
// Every rule, in the order --list prints them, and their names (what engine.memory_rule accepts);
// `memory_rule(name)` throws ConfigError for others.
const std::vector<MemoryRule>& memory_rules();
std::vector<std::string> memory_rule_names();
const MemoryRule& memory_rule(std::string_view name);

}  // namespace servesim
