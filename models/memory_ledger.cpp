#include "models/memory_ledger.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/error.h"
#include "core/json_text.h"

namespace servesim {

namespace {
constexpr double kGiB = 1073741824.0;

MemoryLedger start(std::string_view rule, const MemoryDemand& d, double budget) {
  MemoryLedger l;
  l.rule = rule;
  l.device_bytes = d.device_bytes;
  l.device_reported = d.device_reported;
  l.budget_bytes = budget;
  return l;
}

void add(MemoryLedger& l, std::string name, double bytes, std::string note) {
  if (bytes > 0) l.items.push_back({std::move(name), bytes, std::move(note)});
}

double items_total(const MemoryLedger& l) {
  double sum = 0;
  for (const MemoryItem& i : l.items) sum += i.bytes;
  return sum;
}

void add_adapters_and_draft(MemoryLedger& l, const MemoryDemand& d) {
  add(l, "lora_slots", d.lora_bytes, "max_loras adapters at max_lora_rank, preallocated");
  add(l, "speculative_draft", d.draft_bytes, "the draft model's or MTP/EAGLE layer's weights");
}

// The profile run's peak: the forward pass and the sampler run one after the other, so the
// larger of the two is what PyTorch's allocator peaked at.
double profile_peak(const MemoryDemand& d) { return std::max(d.forward_peak_bytes, d.sampler_peak_bytes); }

MemoryLedger vllm_v1(const MemoryDemand& d) {
  MemoryLedger l = start("vllm_v1", d, d.device_bytes * d.utilization);
  add(l, "weights", d.weight_bytes, "the checkpoint's parameters at its precision");
  add(l, "activation_peak", profile_peak(d),
      d.sampler_peak_bytes >= d.forward_peak_bytes
          ? fmt::format("profile run: the sampler over {} sequences' fp32 logits (sort, indices, probabilities)",
                        d.sampler_rows)
          : fmt::format("profile run: the forward pass over {} tokens", d.profile_tokens));
  add(l, "non_torch", d.non_torch_bytes, "outside PyTorch's allocator: library workspaces, communication buffers");
  add_adapters_and_draft(l, d);
  l.kv_bytes = l.budget_bytes - items_total(l);
  return l;
}

MemoryLedger sglang_static(const MemoryDemand& d) {
  MemoryLedger l = start("sglang_static", d, d.device_bytes * d.utilization);
  add(l, "weights", d.weight_bytes, "the checkpoint's parameters at its precision");
  add_adapters_and_draft(l, d);
  l.kv_bytes = l.budget_bytes - items_total(l);  // activations run in the (1 - fraction) left over
  return l;
}

MemoryLedger trtllm_free_fraction(const MemoryDemand& d) {
  // the fraction applies to what is free once the weights and the runtime's buffers are allocated
  const double runtime = d.forward_peak_bytes + d.non_torch_bytes;
  const double reserved = d.weight_bytes + runtime + d.lora_bytes + d.draft_bytes;
  MemoryLedger l = start("trtllm_free_fraction", d, reserved + d.utilization * (d.device_bytes - reserved));
  add(l, "weights", d.weight_bytes, "the engine's weights at its precision");
  add(l, "activation_peak", d.forward_peak_bytes, fmt::format("runtime buffers for {} tokens", d.profile_tokens));
  add(l, "non_torch", d.non_torch_bytes, "library workspaces, communication buffers");
  add_adapters_and_draft(l, d);
  l.kv_bytes = l.budget_bytes - items_total(l);
  return l;
}
}  // namespace

const std::vector<MemoryRule>& memory_rules() {
  static const std::vector<MemoryRule> rules = {
      {"vllm_v1", "vLLM V1: total x gpu_memory_utilization - weights - profile-run peak - non-torch memory", vllm_v1},
      {"sglang_static", "SGLang: total x mem_fraction_static (gpu_memory_utilization) - weights", sglang_static},
      {"trtllm_free_fraction",
       "TensorRT-LLM: free_gpu_memory_fraction (gpu_memory_utilization) of the memory left after weights and buffers",
       trtllm_free_fraction},
  };
  return rules;
}

std::vector<std::string> memory_rule_names() {
  std::vector<std::string> names;
  for (const MemoryRule& r : memory_rules()) names.emplace_back(r.name);
  return names;
}

const MemoryRule& memory_rule(std::string_view name) {
  for (const MemoryRule& r : memory_rules())
    if (r.name == name) return r;
  throw ConfigError(fmt::format("unknown memory_rule '{}'; one of: {}", name, fmt::join(memory_rule_names(), ", ")));
}

std::string MemoryLedger::text() const {
  std::string out = fmt::format(
      "memory ledger ({}): {:.2f} GiB {}, budget {:.2f} GiB\n", rule, device_bytes / kGiB,
      device_reported ? "as the driver reports it" : "nominal (the catalog has no driver-reported figure)",
      budget_bytes / kGiB);
  for (const MemoryItem& i : items) out += fmt::format("  {:<18} {:>9.3f} GiB  {}\n", i.name, i.bytes / kGiB, i.note);
  out += fmt::format("  {:<18} {:>9.3f} GiB  what is left\n", "kv_cache", kv_bytes / kGiB);
  return out;
}

std::string MemoryLedger::one_line() const {
  std::string out = fmt::format("ledger {}: budget {:.2f} GiB of {:.2f} GiB {}", rule, budget_bytes / kGiB,
                                device_bytes / kGiB, device_reported ? "reported" : "nominal");
  for (const MemoryItem& i : items) out += fmt::format(", {} {:.2f}", i.name, i.bytes / kGiB);
  return out + fmt::format(", KV cache {:.2f} GiB", kv_bytes / kGiB);
}

std::string MemoryLedger::json() const {
  std::string out = fmt::format(
      R"({{"rule": "{}", "device_bytes": {}, "device_reported": {}, "budget_bytes": {}, "items": {{)", json_escape(rule),
      json_number(device_bytes), device_reported ? "true" : "false", json_number(budget_bytes));
  for (size_t i = 0; i < items.size(); ++i)
    out += fmt::format(R"({}"{}": {})", i ? ", " : "", json_escape(items[i].name), json_number(items[i].bytes));
  return out + fmt::format(R"(}}, "kv_bytes": {}}})", json_number(kv_bytes));
}

}  // namespace servesim
