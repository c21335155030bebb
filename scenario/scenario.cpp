#include "scenario/scenario.h"

#include <fmt/ranges.h>

#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "core/paths.h"
#include "models/catalog.h"
#include "models/timing/kernel_tables.h"
#include "models/engine_scheduler.h"
#include "models/timing/roofline.h"
#include "models/timing/timing_model.h"
#include "planner/planner_policy.h"
#include "router/router_policy.h"
#include "scenario/placement.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

template <class Reg>
void check_registered(const config::SourceMap& map, const std::string& path, const std::string& name) {
  if (!Reg::instance().contains(name))
    map.fail(path, fmt::format("unknown {} '{}'", Reg::kind(), name),
             fmt::format("use one of: {}", fmt::join(Reg::instance().names(), ", ")));
}

void validate_lengths(const config::SourceMap& map, const std::string& path, const LengthDistConfig& d,
                      const std::string& base_dir) {
  if (d.min > d.max)
    map.fail(path + ".min", fmt::format("min ({:g}) is above max ({:g})", d.min, d.max),
             "make min <= max");
  if (d.dist == "fixed" && d.value < 1)
    map.fail(path + ".value", "a fixed length must be at least 1 token", "set value >= 1");
  if ((d.dist == "normal" || d.dist == "lognormal" || d.dist == "exponential") && d.mean < 1)
    map.fail(path + ".mean", "the mean length must be at least 1 token", "set mean >= 1");
  if (d.dist == "empirical") {
    if (d.path.empty())
      map.fail(path + ".path", "dist: empirical needs the trace file to sample from",
               "set path to a trace file");
    check_registered<TraceRegistry>(map, path + ".format", d.format);
    std::string p = resolve_path(base_dir, d.path);
    if (!std::filesystem::exists(p)) map.fail(path + ".path", fmt::format("file '{}' does not exist", p), "check the path");
  }
}

// Prefill and decode pools come together, hold the same model's KV, and reach each other.
std::shared_ptr<const WorkerPlacement> validate_disaggregation(const ScenarioConfig& s, const config::SourceMap& map) {
  int prefill = -1, decode = -1;
  int workers = 0, entry = 0;
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const int slots = worker_slots(s.pools[i]);
    workers += slots;
    if (role_of(s.pools[i]) != WorkerRole::kPrefill) entry += slots;
    if (slots == 0) continue;  // an empty pool plays no part
    const WorkerRole role = role_of(s.pools[i]);
    if (role == WorkerRole::kPrefill && prefill < 0) prefill = static_cast<int>(i);
    if (role == WorkerRole::kDecode && decode < 0) decode = static_cast<int>(i);
  }
  if (prefill >= 0 && decode < 0)
    map.fail(fmt::format("pools.{}.role", prefill), "a prefill pool needs a decode pool to send its KV to",
             "add a pool with role: decode, or make this one aggregated");
  if (decode >= 0 && prefill < 0)
    map.fail(fmt::format("pools.{}.role", decode), "a decode pool needs a prefill pool",
             "add a pool with role: prefill, or make this one aggregated");
  if (workers == 0)
    map.fail("pools", "every pool has 0 replicas and max_replicas", "give a pool at least one replica");
  if (entry == 0)
    map.fail("pools", "only prefill workers: nothing can decode", "give an aggregated or decode pool replicas");
  for (size_t i = 0; i < s.pools.size(); ++i)
    if (role_of(s.pools[i]) != WorkerRole::kAggregated && prefill >= 0 && worker_slots(s.pools[i]) > 0 &&
        s.pools[i].model != s.pools[static_cast<size_t>(prefill)].model)
      map.fail(fmt::format("pools.{}.model", i),
               fmt::format("'{}' cannot take KV from pools.{}'s '{}'", s.pools[i].model, prefill,
                           s.pools[static_cast<size_t>(prefill)].model),
               "give prefill and decode pools the same model");
  return std::make_shared<const WorkerPlacement>(place_workers(s, map));
}

// Sizes and event rates that would take unbounded memory or time (a typo such as replicas: 1e9 or
// sample_interval: 1us) are rejected before anything is built; the bounds are in docs/limits.md.
void validate_scale(const ScenarioConfig& s, const config::SourceMap& map) {
  if (s.simulation.skip_scale_checks) return;
  constexpr double kMaxWorkers = 10'000, kMaxGpus = 100'000, kMaxRowsPerSimS = 100'000, kMaxRows = 2e9;
  constexpr double kMaxPlannerTicksPerSimS = 1'000, kMaxReportsPerSimS = 1e6, kMaxFailuresPerWorkerHour = 3'600;
  const std::string fix_tail = "or set simulation.skip_scale_checks: true if the run really needs it";
  double workers = 0, gpus = 0;
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const double slots = worker_slots(s.pools[i]);
    workers += slots;
    gpus += slots * s.pools[i].gpus_per_worker();
    if (workers > kMaxWorkers)
      map.fail(fmt::format("pools.{}.{}", i, s.pools[i].replicas >= s.pools[i].lifecycle.max_replicas.value_or(0)
                                                 ? "replicas"
                                                 : "lifecycle.max_replicas"),
               fmt::format("the pools would build {:.0f} workers, above the bound of {:.0f}", workers, kMaxWorkers),
               "lower it, " + fix_tail);
  }
  if (gpus > kMaxGpus)
    map.fail("pools", fmt::format("the pools would use {:.0f} GPUs, above the bound of {:.0f}", gpus, kMaxGpus),
             "lower replicas or tp, " + fix_tail);
  double topo_gpus = 0;
  for (size_t i = 0; i < s.topology.nodes.size(); ++i) {
    topo_gpus += s.topology.nodes[i].gpus;
    if (topo_gpus > kMaxGpus)
      map.fail(fmt::format("topology.nodes.{}.gpus", i),
               fmt::format("the topology would hold {:.0f} GPUs, above the bound of {:.0f}", topo_gpus, kMaxGpus),
               "lower it, " + fix_tail);
  }
  const double sample_s = s.simulation.sample_interval.seconds;
  const double rows_per_s = (1 + workers + static_cast<double>(s.pools.size())) / sample_s;
  if (rows_per_s > kMaxRowsPerSimS)
    map.fail("simulation.sample_interval",
             fmt::format("{} with {:.0f} workers writes {:.3g} time-series rows per simulated second, above the bound "
                         "of {:.0f}",
                         format_duration(s.simulation.sample_interval), workers, rows_per_s, kMaxRowsPerSimS),
             "raise it, " + fix_tail);
  if (s.simulation.max_time && rows_per_s * s.simulation.max_time->seconds > kMaxRows)
    map.fail("simulation.sample_interval",
             fmt::format("{} over max_time {} writes {:.3g} time-series rows, above the bound of {:.3g}",
                         format_duration(s.simulation.sample_interval), format_duration(*s.simulation.max_time),
                         rows_per_s * s.simulation.max_time->seconds, kMaxRows),
             "raise it, " + fix_tail);
  if (1 / s.planner.adjustment_interval.seconds > kMaxPlannerTicksPerSimS)
    map.fail("planner.adjustment_interval",
             fmt::format("{} is {:.3g} planner decisions per simulated second, above the bound of {:.0f}",
                         format_duration(s.planner.adjustment_interval), 1 / s.planner.adjustment_interval.seconds,
                         kMaxPlannerTicksPerSimS),
             "raise it, " + fix_tail);
  if (s.router.load_source == "reports" && workers / s.router.load_report_interval.seconds > kMaxReportsPerSimS)
    map.fail("router.load_report_interval",
             fmt::format("{} with {:.0f} workers is {:.3g} load reports per simulated second, above the bound of {:.3g}",
                         format_duration(s.router.load_report_interval), workers,
                         workers / s.router.load_report_interval.seconds, kMaxReportsPerSimS),
             "raise it, " + fix_tail);
  if (s.failures.rate_per_worker_hour > kMaxFailuresPerWorkerHour)
    map.fail("failures.rate_per_worker_hour",
             fmt::format("{:g} failures per worker-hour (one every {:.3g} s) is above the bound of {:.0f}: workers "
                         "would die faster than they start",
                         s.failures.rate_per_worker_hour, 3600 / s.failures.rate_per_worker_hour,
                         kMaxFailuresPerWorkerHour),
             "lower it, " + fix_tail);
}

void validate_duration_dist(const config::SourceMap& map, const std::string& path, const DurationDistConfig& d) {
  if (d.dist == "uniform" && d.max.seconds < d.min.seconds)
    map.fail(path + ".max", "the upper bound is below the lower bound", "raise max or lower min");
  if (d.dist == "lognormal" && d.mean.seconds <= 0)
    map.fail(path + ".mean", "a lognormal duration needs a positive mean", "set mean");
}

// Lifecycle bounds, the planner's policy and script, the GPU budget and failures.
void validate_planner(const ScenarioConfig& s, const config::SourceMap& map) {
  const auto& pl = s.planner;
  check_registered<PlannerPolicyRegistry>(map, "planner.policy", pl.policy);
  check_registered<PredictorRegistry>(map, "planner.predictor.name", pl.predictor.name);
  auto pool_index = [&](const std::string& name, const std::string& path) {
    for (size_t i = 0; i < s.pools.size(); ++i)
      if (s.pools[i].name == name) return i;
    map.fail(path, fmt::format("no pool is named '{}'", name), "use a name from pools");
  };
  int gpus = 0;
  double tdp_w = 0;
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const auto& p = s.pools[i];
    const auto& lc = p.lifecycle;
    const std::string base = fmt::format("pools.{}.lifecycle", i);
    gpus += p.replicas * p.gpus_per_worker();
    tdp_w += p.replicas * p.gpus_per_worker() * Catalog::builtin().gpu(p.gpu).tdp_w;
    if (lc.max_replicas && *lc.max_replicas < p.replicas)
      map.fail(base + ".max_replicas", fmt::format("below replicas ({})", p.replicas),
               "raise max_replicas to at least replicas");
    if (lc.min_replicas > worker_slots(p))
      map.fail(base + ".min_replicas", fmt::format("above the {} workers the pool may run", worker_slots(p)),
               "lower min_replicas or raise max_replicas");
    validate_duration_dist(map, base + ".startup", lc.startup);
    for (size_t k = 0; k < lc.startup.phases.size(); ++k)
      validate_duration_dist(map, fmt::format("{}.startup.phases.{}", base, k), lc.startup.phases[k]);
    if (role_of(p) != WorkerRole::kAggregated && lc.drain_timeout)
      map.fail(base + ".drain_timeout", "a drain timeout is supported on aggregated pools only (for now)",
               "remove it: prefill and decode workers drain until their last request ends");
  }
  if (pl.gpu_budget && gpus > *pl.gpu_budget)
    map.fail("planner.gpu_budget", fmt::format("the pools start with {} GPUs, above the budget of {}", gpus, *pl.gpu_budget),
             "raise gpu_budget or lower replicas");
  if (pl.power_budget_w && tdp_w > *pl.power_budget_w)
    map.fail("planner.power_budget_w",
             fmt::format("the pools start with {:g} W of GPUs (catalog tdp_w), above the budget of {:g} W", tdp_w,
                         *pl.power_budget_w),
             "raise power_budget_w or lower replicas");
  validate_duration_dist(map, "planner.actuation_delay", pl.actuation_delay);
  validate_duration_dist(map, "planner.discovery_delay", pl.discovery_delay);
  // (like load: and sla:, an external: section may stay while another policy is tried)
  if (pl.policy == "external" && pl.external.command.empty() == pl.external.connect.empty())
    map.fail("planner.external", "policy external needs exactly one of command and connect",
             "set planner.external.command (a child process) or planner.external.connect (tcp://host:port)");
  if (!pl.scripted.empty() && pl.policy != "scripted")
    map.fail("planner.scripted", fmt::format("a script is read only by policy scripted, not '{}'", pl.policy),
             "remove planner.scripted or set planner.policy: scripted");
  for (size_t k = 0; k < pl.scripted.size(); ++k) {
    const std::string path = fmt::format("planner.scripted.{}", k);
    const auto& p = s.pools[pool_index(pl.scripted[k].pool, path + ".pool")];
    if (pl.scripted[k].replicas > worker_slots(p))
      map.fail(path + ".replicas", fmt::format("pool '{}' may run at most {} workers", p.name, worker_slots(p)),
               "raise its lifecycle.max_replicas");
  }
  for (size_t k = 0; k < s.failures.schedule.size(); ++k) {
    const std::string path = fmt::format("failures.schedule.{}.pool", k);
    const auto& p = s.pools[pool_index(s.failures.schedule[k].pool, path)];
    if (role_of(p) != WorkerRole::kAggregated)
      map.fail(path, "failures are supported on aggregated pools only (for now)", "fail an aggregated pool");
  }
  if (s.failures.rate_per_worker_hour > 0)
    for (size_t i = 0; i < s.pools.size(); ++i)
      if (role_of(s.pools[i]) != WorkerRole::kAggregated && worker_slots(s.pools[i]) > 0)
        map.fail("failures.rate_per_worker_hour",
                 fmt::format("failures are supported on aggregated pools only (for now); pools.{} is {}", i,
                             s.pools[i].role),
                 "set it to 0 for disaggregated scenarios");
}

// Speculative decoding: acceptance given once and consistently, a draft the pool can price.
void validate_speculative(const PoolConfig& p, const std::string& at, const config::SourceMap& map,
                          const Catalog& catalog) {
  const SpeculativeConfig& c = p.speculative;
  if (!c.enabled()) {
    if (c.num_speculative_tokens > 0 || !c.acceptance_rates.empty() || c.mean_acceptance_length || c.draft_step ||
        !c.draft_model.empty())
      map.fail(at + ".method", "speculative settings are given but method is none",
               "choose a method (draft_model, mtp, eagle or ngram) or remove the settings");
    return;
  }
  const int k = c.num_speculative_tokens;
  if (k < 1)
    map.fail(at + ".num_speculative_tokens", fmt::format("method {} needs at least one draft token", c.method),
             "set num_speculative_tokens (vLLM's typical values: 1 to 5)");
  if (role_of(p) == WorkerRole::kPrefill)
    map.fail(at + ".method", fmt::format("pool '{}' only prefills: speculative decoding has nothing to decode", p.name),
             "set it on the decode pool");
  if (p.engine.scheduler != "vllm" && p.engine.scheduler != "sglang")
    map.fail(at + ".method",
             fmt::format("engine scheduler '{}' does not model speculative decoding", p.engine.scheduler),
             "use engine.scheduler vllm or sglang");
  if (c.acceptance_rates.empty() == !c.mean_acceptance_length)
    map.fail(at + ".acceptance_rates",
             c.acceptance_rates.empty() ? "speculative decoding needs acceptance_rates or mean_acceptance_length"
                                        : "give acceptance_rates or mean_acceptance_length, not both",
             "e.g. acceptance_rates: [0.8, 0.6, 0.4] (vLLM's per-position acceptance rates), or "
             "mean_acceptance_length: 2.5");
  if (!c.acceptance_rates.empty()) {
    if (static_cast<int>(c.acceptance_rates.size()) != k)
      map.fail(at + ".acceptance_rates",
               fmt::format("{} rates for {} draft tokens", c.acceptance_rates.size(), k), "give one rate per draft token");
    for (size_t i = 0; i < c.acceptance_rates.size(); ++i) {
      const double r = c.acceptance_rates[i];
      if (!(r >= 0 && r <= 1))
        map.fail(fmt::format("{}.acceptance_rates.{}", at, i), fmt::format("{:g} is not a probability", r),
                 "give a rate between 0 and 1");
      if (i > 0 && r > c.acceptance_rates[i - 1])
        map.fail(fmt::format("{}.acceptance_rates.{}", at, i),
                 fmt::format("{:g} is above the rate before it ({:g}): a draft token is kept only if every one before "
                             "it is",
                             r, c.acceptance_rates[i - 1]),
                 "give non-increasing rates (vLLM's per-position acceptance rates are)");
    }
  }
  if (c.mean_acceptance_length && *c.mean_acceptance_length > k + 1)
    map.fail(at + ".mean_acceptance_length",
             fmt::format("{:g} tokens per step, but a step emits at most {} (num_speculative_tokens + 1)",
                         *c.mean_acceptance_length, k + 1),
             "lower it or propose more draft tokens");
  if ((c.method == "draft_model") == c.draft_model.empty())
    map.fail(at + ".draft_model",
             c.method == "draft_model" ? "method draft_model needs a draft_model" : "draft_model is for method draft_model",
             c.method == "draft_model" ? "name a catalog model, e.g. llama-3.2-1b (servesim --list)" : "remove it");
  if (c.method == "draft_model" && !catalog.has_model(c.draft_model))
    map.fail(at + ".draft_model", fmt::format("unknown model '{}'", c.draft_model), "see servesim --list");
  if (c.method == "ngram" && c.draft_step)
    map.fail(at + ".draft_step", "ngram drafts by prompt lookup on the CPU: it has no GPU step", "remove draft_step");
  if (p.timing.model == "table")
    map.fail(at + ".method", "timing model 'table' has no measurements of steps that verify draft tokens",
             "use timing model roofline, kernel or polynomial");
  if (c.method != "ngram" && !c.draft_step && p.timing.model != "roofline" && p.timing.model != "kernel")
    map.fail(at + ".draft_step",
             fmt::format("timing model '{}' cannot price a draft model's forward pass", p.timing.model),
             "set draft_step (the time of one draft pass), or use timing model roofline or kernel");
}

// LoRA: adapters on aggregated vLLM-style pools, one base model and one rank per adapter name,
// never a base model's name (a request's `model` would be ambiguous).
void validate_lora(const ScenarioConfig& s, const config::SourceMap& map, const std::vector<std::string>& served) {
  std::map<std::string, std::pair<std::string, int>> seen;  // adapter -> (base model, rank)
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const PoolConfig& p = s.pools[i];
    if (!p.lora.enabled()) continue;
    const std::string at = fmt::format("pools.{}.lora", i);
    if (role_of(p) != WorkerRole::kAggregated)
      map.fail(at + ".adapters", fmt::format("LoRA adapters are served on aggregated pools only (pool '{}' is {})", p.name, p.role),
               "serve the adapters from an aggregated pool");
    if (p.engine.scheduler != "vllm" && p.engine.scheduler != "sglang")
      map.fail(at + ".adapters",
               fmt::format("engine scheduler '{}' does not model LoRA adapters", p.engine.scheduler),
               "use engine.scheduler vllm or sglang");
    if (Catalog::builtin().has_model(p.model)) {
      const ModelSpec& m = Catalog::builtin().model(p.model);
      if (m.experts > 0 || m.kv_lora_rank > 0 || m.linear_layers > 0)
        map.fail(at + ".adapters",
                 fmt::format("LoRA adapters are modelled on dense models with standard attention; {} is {}", p.model,
                             m.experts > 0        ? "a mixture of experts"
                             : m.kv_lora_rank > 0 ? "an MLA model"
                                                  : "a hybrid with linear-attention layers"),
                 "serve the adapters on a dense model");
    }
    std::set<std::string> here;
    for (size_t j = 0; j < p.lora.adapters.size(); ++j) {
      const auto& a = p.lora.adapters[j];
      const std::string key = fmt::format("{}.adapters.{}", at, j);
      if (a.name.empty()) map.fail(key + ".name", "an adapter needs a name", "give it the name requests use");
      if (a.rank > p.lora.max_lora_rank)
        map.fail(key + ".rank", fmt::format("rank {} is above max_lora_rank {}", a.rank, p.lora.max_lora_rank),
                 "raise lora.max_lora_rank or lower the rank");
    }
    for (const LoraAdapter& a : lora_adapters(p)) {
      if (!here.insert(a.name).second)
        map.fail(at + ".adapters", fmt::format("adapter '{}' is declared twice", a.name), "declare each adapter once");
      if (std::find(served.begin(), served.end(), a.name) != served.end())
        map.fail(at + ".adapters", fmt::format("adapter '{}' has the name of a served model", a.name), "rename it");
      auto [it, fresh] = seen.emplace(a.name, std::make_pair(p.model, a.rank));
      if (!fresh && it->second != std::make_pair(p.model, a.rank))
        map.fail(at + ".adapters",
                 fmt::format("adapter '{}' is declared by another pool for {} at rank {}; here for {} at rank {}", a.name,
                             it->second.first, it->second.second, p.model, a.rank),
                 "an adapter belongs to one base model and has one rank: rename one of them");
    }
  }
  if (seen.size() > 32767) map.fail("pools", fmt::format("{} LoRA adapters; at most 32,767", seen.size()), "serve fewer");
}

// kv_storage: read rates given, pools that take part sharing one KV layout, room for a block.
void validate_kv_storage(const ScenarioConfig& s, const config::SourceMap& map) {
  const KvStorageConfig& k = s.kv_storage;
  if (!k.enabled()) {
    if (s.router.storage_overlap_weight > 0)
      map.fail("router.storage_overlap_weight", "there is no kv_storage tier to weigh",
               "set kv_storage.disk or kv_storage.remote, or storage_overlap_weight to 0");
    return;
  }
  for (auto [name, tier] : {std::pair{"disk", &k.disk}, std::pair{"remote", &k.remote}})
    if (tier->enabled() && !tier->gbyte_per_s)
      map.fail(fmt::format("kv_storage.{}.gbyte_per_s", name), "required when gbytes > 0",
               "give the tier's sustained read rate in GB/s (shared by the fetches in flight)");
  const PoolConfig* first = nullptr;
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const PoolConfig& p = s.pools[i];
    if (!p.kv_offload.enabled() || worker_slots(p) == 0) continue;
    if (!first) {
      first = &p;
      continue;
    }
    // the tiers hold chain keys, which name tokens, not a model's KV: one layout shares them
    if (p.model != first->model || p.engine.block_size != first->engine.block_size ||
        kv_offload_costs(p, Catalog::builtin()).block_bytes != kv_offload_costs(*first, Catalog::builtin()).block_bytes)
      map.fail(fmt::format("pools.{}.model", i),
               fmt::format("pool '{}' ({}, block_size {}) shares kv_storage with pool '{}' ({}, block_size {}), whose KV "
                           "blocks differ",
                           p.name, p.model, p.engine.block_size, first->name, first->model, first->engine.block_size),
               "give the pools that offload KV one model, KV precision and block size, or drop kv_storage");
  }
  if (!first) {
    map.fail("kv_storage", "no pool has host memory for KV: the shared tiers keep what host memory evicts and fetch into it",
             "give a pool kv_offload.host_gbytes > 0");
    return;
  }
  const KvStorageLayout layout = kv_storage_layout(s);
  if (k.disk.enabled() && layout.spec.disk_blocks_per_node < 1)
    map.fail("kv_storage.disk.gbytes",
             fmt::format("{:g} GB holds not one KV block of {:.0f} bytes", k.disk.gbytes, layout.block_bytes),
             "give it more space or set it to 0");
  if (k.remote.enabled() && layout.spec.remote_blocks < 1)
    map.fail("kv_storage.remote.gbytes",
             fmt::format("{:g} GB holds not one KV block of {:.0f} bytes", k.remote.gbytes, layout.block_bytes),
             "give it more space or set it to 0");
}

// Requests go only to pools serving their model (validate_disaggregation already ties each
// prefill pool to a decode pool of its model): a synthetic mix may name only served models.
void validate_models(const ScenarioConfig& s, const config::SourceMap& map, std::vector<std::string>& warnings) {
  const std::vector<std::string> served = served_models(s);
  std::set<std::string> class_names;
  if (s.slo.classes.size() > 127) map.fail("slo.classes", "at most 127 SLO classes", "merge classes");
  for (size_t i = 0; i < s.slo.classes.size(); ++i) {
    const auto& name = s.slo.classes[i].name;
    if (name.empty()) map.fail(fmt::format("slo.classes.{}.name", i), "an SLO class needs a name", "give it one");
    if (!class_names.insert(name).second)
      map.fail(fmt::format("slo.classes.{}.name", i), fmt::format("SLO class '{}' is defined twice", name),
               "give each class its own name");
  }
  const auto& limits = s.router.admission.rate_limits;
  const std::vector<ServedAdapter> served_loras = served_adapters(s);
  for (size_t i = 0; i < limits.size(); ++i) {
    if (std::find(served.begin(), served.end(), limits[i].model) == served.end() &&
        std::none_of(served_loras.begin(), served_loras.end(),
                     [&](const ServedAdapter& a) { return a.name == limits[i].model; }))
      map.fail(fmt::format("router.admission.rate_limits.{}.model", i),
               fmt::format("no pool serves model or LoRA adapter '{}' (pools serve: {})", limits[i].model,
                           fmt::join(served, ", ")),
               "name a pool's model or adapter");
    for (size_t j = 0; j < i; ++j)
      if (limits[j].model == limits[i].model)
        map.fail(fmt::format("router.admission.rate_limits.{}.model", i),
                 fmt::format("model '{}' has two rate limits", limits[i].model), "keep one");
  }
  validate_lora(s, map, served);
  const auto& mix = s.workload.synthetic.models;
  if (s.workload.source != "synthetic") return;
  const auto& classes = s.workload.synthetic.slo_classes;
  for (size_t i = 0; i < classes.size(); ++i)
    if (!class_names.count(classes[i].name))
      map.fail(fmt::format("workload.synthetic.slo_classes.{}.name", i),
               fmt::format("'{}' is not one of slo.classes", classes[i].name), "define it under slo.classes");
  const std::vector<ServedAdapter> adapters = served_adapters(s);
  auto adapter_of = [&](const std::string& name) {
    return std::find_if(adapters.begin(), adapters.end(), [&](const ServedAdapter& a) { return a.name == name; });
  };
  for (size_t i = 0; i < mix.size(); ++i)
    if (std::find(served.begin(), served.end(), mix[i].name) == served.end() && adapter_of(mix[i].name) == adapters.end())
      map.fail(fmt::format("workload.synthetic.models.{}.name", i),
               fmt::format("no pool serves model or LoRA adapter '{}' (pools serve: {})", mix[i].name,
                           fmt::join(served, ", ")),
               "name a pool's model or adapter, or add a pool serving it");
  if (s.workload.synthetic.lora.fraction > 0 && adapters.empty())
    map.fail("workload.synthetic.lora.fraction", "no pool serves a LoRA adapter",
             "declare adapters under a pool's lora.adapters, or set the fraction to 0");
  for (size_t k = 0; k < served.size(); ++k) {
    const std::string& m = served[k];
    auto asks_for = [&](const std::string& name) {
      auto a = adapter_of(name);
      return name == m || (a != adapters.end() && a->model == static_cast<std::int16_t>(k));
    };
    const bool asked = mix.empty() ? m == served.front()
                                   : std::any_of(mix.begin(), mix.end(), [&](const auto& x) { return asks_for(x.name); });
    if (!asked)
      warnings.push_back(fmt::format(
          "no request will ask for {}, so its pools get no traffic ({}). Fix: list it in workload.synthetic.models", m,
          mix.empty() ? fmt::format("requests name no model and all go to the first pool's, {}", served.front())
                      : std::string("workload.synthetic.models does not list it")));
  }
}

}  // namespace

void validate_pool(const PoolConfig& p, const std::string& base, const config::SourceMap& map,
                   const std::string& base_dir) {
  check_registered<SchedulerRegistry>(map, base + ".engine.scheduler", p.engine.scheduler);
  check_registered<TimingRegistry>(map, base + ".timing.model", p.timing.model);
  const Catalog& catalog = Catalog::builtin();
  if (!catalog.has_model(p.model)) {
    if (const std::string* why = catalog.unreadable_config(p.model))  // a config.json it could not read
      map.fail(base + ".model", *why, "");
    if (const std::string* entry = catalog.entry_of_architecture(p.model))
      map.fail(base + ".model",
               fmt::format("unknown model '{}': the catalog's {} has its architecture (same_architecture), not "
                           "necessarily its weights' format",
                           p.model, *entry),
               fmt::format("model: {}, with pools[].precision set to the checkpoint's format (or add a "
                           "model_configs/ file of the checkpoint)",
                           *entry));
    map.fail(base + ".model", fmt::format("unknown model '{}'", p.model), "use a model from the catalog (servesim --list)");
  }
  if (!catalog.gpus().count(p.gpu))
    map.fail(base + ".gpu", fmt::format("unknown GPU '{}'", p.gpu), "use a GPU from the catalog (servesim --list)");
  if (p.engine.scheduler == "vllm" && p.engine.max_num_batched_tokens < p.engine.max_num_seqs)
    map.fail(base + ".engine.max_num_batched_tokens",
             fmt::format("the token budget ({}) is below max_num_seqs ({}): a full batch of decodes would not fit",
                         p.engine.max_num_batched_tokens, p.engine.max_num_seqs),
             "raise max_num_batched_tokens to at least max_num_seqs");
  if (p.engine.capacity_policy == "guaranteed_no_evict" && (p.engine.scheduler != "vllm" || role_of(p) == WorkerRole::kDecode))
    map.fail(base + ".engine.capacity_policy",
             p.engine.scheduler != "vllm"
                 ? fmt::format("guaranteed_no_evict is modelled on the vllm scheduler, not '{}'", p.engine.scheduler)
                 : std::string("guaranteed_no_evict is modelled on aggregated and prefill pools, not decode pools"),
             "use capacity_policy max_utilization here");
  if (p.engine.admission == "full_prompt" &&
      ((p.engine.scheduler != "vllm" && p.engine.scheduler != "sglang") || p.engine.capacity_policy == "guaranteed_no_evict"))
    map.fail(base + ".engine.admission",
             p.engine.capacity_policy == "guaranteed_no_evict"
                 ? std::string("guaranteed_no_evict already admits only a request whose prompt and output fit")
                 : fmt::format("full_prompt admission is modelled on the vllm and sglang schedulers, not '{}'",
                               p.engine.scheduler),
             "leave admission at first_chunk here");
  if (p.engine.preemption == "fifo" && p.engine.scheduler != "vllm")
    map.fail(base + ".engine.preemption",
             fmt::format("scheduler '{}' picks its own victims (sglang retracts the decode with the fewest output "
                         "tokens)",
                         p.engine.scheduler),
             "leave preemption at lifo, or use the vllm scheduler");
  if (p.timing.model == "table") {
    if (p.timing.table.path.empty())
      map.fail(base + ".timing.table.path", "the table timing model needs a CSV", "set timing.table.path");
    std::string t = resolve_path(base_dir, p.timing.table.path);
    if (!std::filesystem::exists(t))
      map.fail(base + ".timing.table.path", fmt::format("file '{}' does not exist", t), "check the path");
  }
  if (catalog.has_model(p.model)) {
    const ModelSpec& m = catalog.model(p.model);
    // vLLM splits a linear-attention layer's key and value heads (Mamba2: groups and heads) over the GPUs
    if (m.linear_layers > 0 && (m.linear_key_heads % p.tp != 0 || m.linear_value_heads % p.tp != 0))
      map.fail(base + ".tp",
               fmt::format("{}'s linear-attention layers have {} key and {} value heads, which tp {} does not split",
                           p.model, m.linear_key_heads, m.linear_value_heads, p.tp),
               fmt::format("choose a tp dividing {}", std::gcd(m.linear_key_heads, m.linear_value_heads)));
  }
  if (p.expert_parallel > 1 && catalog.has_model(p.model)) {
    const ModelSpec& m = catalog.model(p.model);
    if (m.experts == 0)
      map.fail(base + ".expert_parallel", fmt::format("{} is a dense model: it has no experts to split", p.model),
               "leave expert_parallel at 1");
    else if (p.tp % p.expert_parallel != 0 || m.experts % p.expert_parallel != 0)
      map.fail(base + ".expert_parallel",
               fmt::format("{} does not divide tp ({}) and the {} experts", p.expert_parallel, p.tp, m.experts),
               "choose a divisor of both");
  }
  if (catalog.has_model(p.model) && catalog.gpus().count(p.gpu)) {
    const ModelSpec& m = catalog.model(p.model);
    const bool nvfp4 =
        (p.precision == "auto" ? m.precision : p.precision) == "nvfp4" || m.expert_precision == "nvfp4" ||
        m.ffn_precision == "nvfp4" || m.lm_head_precision == "nvfp4";
    if (nvfp4 && catalog.gpu(p.gpu).fp4_tflops <= 0)
      map.fail(base + (p.precision == "nvfp4" ? ".precision" : ".model"),
               fmt::format("nvfp4 GEMMs run on FP4 tensor cores, which {} does not have (no fp4_tflops in the "
                           "catalog)",
                           p.gpu),
               "use a Blackwell GPU (b200), or precision fp8 / bf16");
  }
  if (p.moe_dispatch != "bf16" &&
      (p.attention_dp <= 1 || (catalog.has_model(p.model) && catalog.model(p.model).experts == 0)))
    map.fail(base + ".moe_dispatch", "only a MoE model's layers dispatch tokens between attention-DP ranks",
             "leave moe_dispatch at bf16, or set attention_dp > 1 on a MoE model");
  if (p.attention_dp > 1) {
    if (p.engine.scheduler == "basic")
      map.fail(base + ".attention_dp", "the basic scheduler has no KV cache or per-token timing to split into ranks",
               "use engine.scheduler vllm or sglang, or leave attention_dp at 1");
    if (catalog.has_model(p.model)) {
      const ModelSpec& m = catalog.model(p.model);
      if (m.experts > 0 && m.experts % (p.expert_parallel * p.attention_dp) != 0)
        map.fail(base + ".attention_dp",
                 fmt::format("the ranks share {}'s {} experts, split into expert_parallel x attention_dp = {} "
                             "groups, which does not divide them",
                             p.model, m.experts, p.expert_parallel * p.attention_dp),
                 "choose attention_dp x expert_parallel dividing the expert count");
      // the MoE dispatch crosses nodes where the group outgrows one (roofline prices the share
      // bound for other nodes over the GPU's network link)
      const int group = p.attention_dp * p.tp;
      if (m.experts > 0 && catalog.gpus().count(p.gpu)) {
        const GpuSpec& g = catalog.gpu(p.gpu);
        if (!g.gpus_per_node)
          map.fail(base + ".attention_dp",
                   fmt::format("the MoE dispatch over attention_dp x tp = {} GPUs must know which of them share a "
                               "node, and the catalog gives {} no gpus_per_node",
                               group, p.gpu),
                   "add gpus_per_node (and internode_gbps, each GPU's network bandwidth to other nodes in GB/s) "
                   "to the GPU in a --catalog folder's gpus.yaml");
        else if (group > *g.gpus_per_node && !g.internode_gbps)
          map.fail(base + ".attention_dp",
                   fmt::format("the {} GPUs of attention_dp x tp span nodes of {}, and the catalog gives {} no "
                               "internode_gbps to price the MoE dispatch between them",
                               group, *g.gpus_per_node, p.gpu),
                   "add internode_gbps to the GPU in a --catalog folder's gpus.yaml, or keep attention_dp x tp "
                   "within a node");
      }
    }
  }
  if (p.timing.model == "kernel") {
    const auto& k = p.timing.kernel;
    const std::string key = base + (k.tables.empty() ? ".timing.kernel.system" : ".timing.kernel.tables");
    KernelTableLocation where;
    try {
      where = locate_kernel_tables(k.system, k.database, k.tables, p.gpu,
                                   [&](const std::string& path) { return resolve_path(base_dir, path); });
    } catch (const std::runtime_error& e) {
      map.fail(key, e.what(), "");
    }
    if (!std::filesystem::is_directory(where.dir))
      map.fail(key, fmt::format("folder '{}' does not exist", where.dir),
               "check the path (relative paths start at the scenario's folder)");
  }
  if (p.timing.model == "roofline") {
    try {
      roofline_efficiency(p.timing.roofline.efficiency, base_dir);
    } catch (const ConfigError& e) {
      map.fail(base + ".timing.roofline.efficiency", e.what(), "");
    }
  }
  validate_speculative(p, base + ".speculative", map, catalog);
  if (p.kv_offload.enabled()) {
    if (p.engine.scheduler != "vllm" && p.engine.scheduler != "sglang")
      map.fail(base + ".kv_offload.host_gbytes",
               fmt::format("engine scheduler '{}' has no prefix cache to offload", p.engine.scheduler),
               "use engine.scheduler vllm or sglang, or set host_gbytes to 0");
    if (!p.engine.enable_prefix_caching)
      map.fail(base + ".kv_offload.host_gbytes", "KV offloading keeps evicted prefix-cache blocks, and prefix caching is off",
               "set engine.enable_prefix_caching: true, or host_gbytes to 0");
    if (kv_offload_costs(p, catalog).host_blocks < 1)
      map.fail(base + ".kv_offload.host_gbytes",
               fmt::format("{:g} GB holds not one KV block of {:.0f} bytes", p.kv_offload.host_gbytes,
                           kv_offload_costs(p, catalog).block_bytes),
               "give it more memory or set it to 0");
  }
  try {
    kv_capacity(p, catalog);
  } catch (const ConfigError& e) {
    map.fail(base + ".tp", e.what(), "");
  }
  if (role_of(p) != WorkerRole::kAggregated &&
      !SchedulerRegistry::instance().create(p.engine.scheduler, SchedulerContext{p, 0, 1})->supports_disaggregation())
    map.fail(base + ".engine.scheduler",
             fmt::format("scheduler '{}' cannot serve the {} role (it has no KV hand-off)", p.engine.scheduler, p.role),
             "use scheduler vllm or sglang, or role: aggregated");
}

namespace {

std::shared_ptr<const WorkerPlacement> validate(const ScenarioConfig& s, const config::SourceMap& map,
                                                const std::string& base_dir, std::vector<std::string>& warnings) {
  validate_scale(s, map);
  const auto& w = s.workload;
  check_registered<TraceRegistry>(map, "workload.source", w.source);
  if (w.source == "synthetic") {
    if (!w.path.empty())
      map.fail("workload.path", "a synthetic workload reads no file",
               "remove workload.path, or choose a file format in workload.source");
    const auto& syn = w.synthetic;
    const auto& a = syn.arrival;
    if ((a.schedule == "steps" || a.schedule == "ramps")) {
      if (a.points.empty())
        map.fail("workload.synthetic.arrival.points", fmt::format("schedule '{}' needs points", a.schedule),
                 "add a list of {at, rate} with the first at 0s");
      if (a.points.front().at.seconds != 0)
        map.fail("workload.synthetic.arrival.points.0.at", "the first point must be at 0s",
                 "start the schedule at 0s");
      for (size_t i = 1; i < a.points.size(); ++i)
        if (a.points[i].at.seconds <= a.points[i - 1].at.seconds)
          map.fail(fmt::format("workload.synthetic.arrival.points.{}.at", i),
                   "points must be in strictly increasing time order", "sort the points by 'at'");
    } else if (!a.points.empty()) {
      map.fail("workload.synthetic.arrival.points",
               fmt::format("points are used only by the steps and ramps schedules, not '{}'", a.schedule),
               "remove points or set schedule: steps or ramps");
    }
    if (a.schedule != "steps" && a.schedule != "ramps" && a.rate <= 0)
      map.fail("workload.synthetic.arrival.rate", "the arrival rate must be positive",
               "set rate in requests per second");
    validate_lengths(map, "workload.synthetic.input_length", syn.input_length, base_dir);
    validate_lengths(map, "workload.synthetic.output_length", syn.output_length, base_dir);
    if (syn.sessions.enabled)
      validate_lengths(map, "workload.synthetic.sessions.turns", syn.sessions.turns, base_dir);
    if (syn.agent.enabled) {
      if (!syn.sessions.enabled)
        map.fail("workload.synthetic.agent.enabled", "agent sessions are sessions: their turns and think times come "
                 "from workload.synthetic.sessions",
                 "set workload.synthetic.sessions.enabled: true (and its turns), or agent.enabled: false");
      validate_lengths(map, "workload.synthetic.agent.tool_output_length", syn.agent.tool_output_length, base_dir);
      validate_lengths(map, "workload.synthetic.agent.fanout", syn.agent.fanout, base_dir);
      validate_lengths(map, "workload.synthetic.agent.subagent_input_length", syn.agent.subagent_input_length, base_dir);
    }
    if (syn.prefix.groups > 0 && syn.prefix.prefix_tokens <= 0)
      map.fail("workload.synthetic.prefix.prefix_tokens", "shared-prefix groups need a prefix length",
               "set prefix_tokens > 0, or groups: 0");
  } else {
    if (w.path.empty())
      map.fail("workload.path", fmt::format("source '{}' reads a trace file", w.source),
               "set workload.path to the trace file");
    std::string p = resolve_path(base_dir, w.path);
    if (!std::filesystem::exists(p))
      map.fail("workload.path", fmt::format("trace file '{}' does not exist", p),
               "check the path (relative paths start at the scenario file's folder)");
  }
  if (w.closed_loop.concurrency > 0 && w.closed_loop.sessions > 0)
    map.fail("workload.closed_loop.sessions", "a closed loop bounds either requests or sessions in flight, not both",
             "set closed_loop.concurrency: 0 to bound sessions, or sessions: 0 to bound requests");
  if (w.end && w.end->seconds <= w.start.seconds)
    map.fail("workload.end", "the window end must be after its start", "raise end or lower start");

  check_registered<RouterRegistry>(map, "router.policy", s.router.policy);
  for (size_t i = 1; i < s.pools.size(); ++i)
    if (s.pools[i].engine.block_size != s.pools[0].engine.block_size)
      map.fail(fmt::format("pools.{}.engine.block_size", i),
               "every pool must use the same KV block size (the router indexes blocks by it)",
               fmt::format("set block_size: {} as in pools.0", s.pools[0].engine.block_size));
  if (s.pools.empty()) map.fail("pools", "a scenario needs at least one worker pool", "add a pool");
  std::set<std::string> names;
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const auto& p = s.pools[i];
    std::string base = fmt::format("pools.{}", i);
    if (!names.insert(p.name).second)
      map.fail(base + ".name", fmt::format("pool name '{}' is used twice", p.name), "give each pool its own name");
    validate_pool(p, base, map, base_dir);
  }
  auto placement = validate_disaggregation(s, map);
  validate_kv_storage(s, map);
  validate_models(s, map, warnings);
  validate_planner(s, map);
  return placement;
}

LoadedScenario finish_load(config::Document& doc, const std::vector<std::string>& overrides,
                           const std::string& base_dir) {
  // a scenario's own catalog/ folder joins the catalog path (and so the runs it starts)
  if (std::filesystem::is_directory(base_dir + "/catalog")) add_catalog_folder(base_dir + "/catalog");
  if (!overrides.empty()) {
    const YAML::Node defaults = YAML::Load(config::write_yaml(ScenarioConfig{}, false));
    for (const auto& o : overrides) doc.apply_override(o, defaults);
  }
  config::SourceMap map(doc.name());
  LoadedScenario out;
  out.config = config::read_root<ScenarioConfig>(doc, map);
  for (size_t i = 0; i < out.config.pools.size(); ++i) {
    const std::string key = fmt::format("pools.{}.engine.enable_prefix_caching", i);
    // given in the file or by --set (both are in the document by now), not defaulted
    const bool given = doc.given(key);
    try {
      for (std::string& note : apply_hybrid_engine_rules(out.config.pools[i], Catalog::builtin(), given))
        out.warnings.push_back(fmt::format("pools.{}: {}", i, note));
    } catch (const ConfigError& e) {
      map.fail(key, e.what(), "leave enable_prefix_caching unset, or set it false");
    }
  }
  out.source_name = doc.name();
  out.base_dir = base_dir;
  out.placement = validate(out.config, map, base_dir, out.warnings);
  out.effective_yaml = config::write_yaml(out.config, false);
  return out;
}

}  // namespace

LoadedScenario load_scenario_file(const std::string& path, const std::vector<std::string>& overrides,
                                  std::optional<std::uint64_t> seed_override) {
  config::Document doc = config::Document::from_file(path);
  std::vector<std::string> all = overrides;
  if (seed_override) all.push_back(fmt::format("seed={}", *seed_override));
  std::string dir = std::filesystem::path(path).parent_path().string();
  return finish_load(doc, all, dir.empty() ? "." : dir);
}

LoadedScenario load_scenario_string(const std::string& yaml, const std::string& name,
                                    const std::vector<std::string>& overrides, const std::string& base_dir) {
  config::Document doc = config::Document::from_string(yaml, name);
  return finish_load(doc, overrides, base_dir);
}

KvStorageLayout kv_storage_layout(const ScenarioConfig& s) {
  KvStorageLayout layout;
  const KvStorageConfig& k = s.kv_storage;
  if (!k.enabled()) return layout;
  std::int64_t gpus_before = 0;
  for (const PoolConfig& p : s.pools)
    for (int slot = 0; slot < worker_slots(p); ++slot) {
      const bool takes_part = p.kv_offload.enabled();
      if (takes_part && layout.block_bytes == 0) {
        layout.block_bytes = kv_offload_costs(p, Catalog::builtin()).block_bytes;
        layout.block_tokens = p.engine.block_size;
      }
      layout.worker_node.push_back(takes_part ? static_cast<std::int32_t>(gpus_before / k.gpus_per_node) : -1);
      gpus_before += p.gpus_per_worker();
    }
  if (layout.block_bytes <= 0) return layout;
  layout.spec.nodes = static_cast<std::int32_t>((gpus_before + k.gpus_per_node - 1) / k.gpus_per_node);
  layout.spec.disk_blocks_per_node = static_cast<std::int64_t>(k.disk.gbytes * 1e9 / layout.block_bytes);
  layout.spec.remote_blocks = static_cast<std::int64_t>(k.remote.gbytes * 1e9 / layout.block_bytes);
  return layout;
}

}  // namespace servesim
