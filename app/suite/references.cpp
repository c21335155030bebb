#include "app/suite/references.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "app/suite/closed_forms.h"
#include "traces/trace_source.h"

namespace servesim {

namespace {
double arrival_rate(const SuiteReferenceConfig& ref, const LoadedScenario& run) {
  if (ref.arrival_rate) return *ref.arrival_rate;
  const auto& w = run.config.workload;
  if (w.source != "synthetic" || w.synthetic.arrival.process != "poisson" || w.synthetic.arrival.schedule != "none")
    throw ConfigError(fmt::format("reference {}: the run's arrivals are not a constant-rate Poisson stream; "
                                  "give reference.arrival_rate",
                                  ref.formula));
  return w.synthetic.arrival.rate;
}
}  // namespace

double prefix_reuse_bound(const LoadedScenario& run) {
  TraceContext ctx = trace_context(run.config, run.base_dir);
  auto source = make_trace_source(ctx);
  const std::uint64_t block = static_cast<std::uint64_t>(run.config.pools.at(0).engine.block_size);
  const std::uint64_t hash_block = static_cast<std::uint64_t>(run.config.workload.hash_block_tokens);
  std::map<std::pair<std::size_t, std::uint64_t>, std::size_t> trie;  // (parent node, trace id) -> node
  std::set<std::pair<std::size_t, std::uint64_t>> seen;              // (trie node, engine block index)
  double hit_tokens = 0, prompt_tokens = 0;
  std::vector<std::size_t> nodes;
  while (auto t = source->next()) {
    prompt_tokens += t->input_tokens;
    // node of every leading run of trace ids
    nodes.clear();
    std::size_t node = 0;
    for (std::uint64_t id : t->hash_ids) {
      auto [it, fresh] = trie.emplace(std::make_pair(node, id), trie.size() + 1);
      node = it->second;
      nodes.push_back(node);
    }
    const std::uint64_t covered = std::min<std::uint64_t>(t->input_tokens, t->hash_ids.size() * hash_block);
    const std::uint64_t full = covered / block;
    const std::uint64_t usable = t->input_tokens > 0 ? (t->input_tokens - 1) / block : 0;
    std::uint64_t hits = 0;
    while (hits < std::min(full, usable) && seen.count({nodes[((hits + 1) * block - 1) / hash_block], hits})) ++hits;
    hit_tokens += static_cast<double>(hits * block);
    for (std::uint64_t j = 0; j < full; ++j) seen.insert({nodes[((j + 1) * block - 1) / hash_block], j});
  }
  return prompt_tokens > 0 ? hit_tokens / prompt_tokens : 0;
}

double reference_value(const SuiteReferenceConfig& ref, const LoadedScenario& run) {
  if (ref.formula == "prefix_bound") return prefix_reuse_bound(run);
  if (!ref.service_s) throw ConfigError(fmt::format("reference {} needs service_s", ref.formula));
  const double lambda = arrival_rate(ref, run), d = *ref.service_s;
  const int servers = ref.servers.value_or(run.config.pools.at(0).replicas);
  try {
    if (ref.formula == "md1_wait") return closed_form::md1_mean_wait_s(lambda, d);
    if (ref.formula == "mm1_wait") return closed_form::mm1_mean_wait_s(lambda, d);
    if (ref.formula == "ekd1_wait") return closed_form::ekd1_mean_wait_s(lambda, servers, d);
    if (ref.formula == "mdc_random_wait") return closed_form::md1_mean_wait_s(lambda / servers, d);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("reference {} at {} req/s, service {} s, {} servers: {}", ref.formula, lambda, d,
                                  servers, e.what()));
  }
  throw ConfigError(fmt::format("unknown reference formula '{}'", ref.formula));
}

}  // namespace servesim
