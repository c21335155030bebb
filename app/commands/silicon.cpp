#include "app/commands/silicon.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>
#include <tuple>
#include <vector>

#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <set>
#include <spdlog/spdlog.h>

#include "core/csv_reader.h"
#include "core/error.h"
#include "models/catalog.h"
#include "models/timing/kernel_tables.h"
#include "models/timing/timing_model.h"

namespace servesim {

namespace {

// An integer column that may be empty (columns of the other mode): `fallback` then.
int int_or(const CsvReader& csv, size_t col, int fallback) {
  if (csv.empty(col)) return fallback;
  const double v = csv.number(col);
  if (v < 0 || v != std::floor(v))
    throw InputError(fmt::format("{}:{}: expected a non-negative integer (got {})", csv.path(), csv.line(),
                                 std::string(csv.field(col))));
  return static_cast<int>(v);
}

// "silicon_concurrency=16" inside the free-text source column.
std::optional<int> source_concurrency(std::string_view source) {
  const std::string_view key = "silicon_concurrency=";
  const size_t at = source.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  return std::atoi(std::string(source.substr(at + key.size())).c_str());
}

}  // namespace

std::vector<SiliconRow> read_silicon_csv(const std::string& path) {
  CsvReader csv(path);
  auto col = [&](const char* name) { return csv.column(name); };
  const size_t id = col("id"), source = col("silicon_data_source"), backend = col("backend"),
               version = col("backend_version"),
               model = col("model_path"), system = col("system"), precision = col("precision"), mode = col("mode"),
               isl = col("isl"), osl = col("osl"), gemm = col("gemm_quant_mode"),
               tp = col("tp_size"), pp = col("pp_size"), adp = col("attention_dp_size"),
               p_workers = col("prefill_num_workers"), p_tp = col("prefill_tp_size"), p_pp = col("prefill_pp_size"),
               p_adp = col("prefill_attention_dp_size"), d_workers = col("decode_num_workers"),
               d_tp = col("decode_tp_size"), d_pp = col("decode_pp_size"), d_adp = col("decode_attention_dp_size"),
               ttft = col("silicon_ttft_ms"), tpot = col("silicon_tpot_ms"), ep = col("moe_ep_size"),
               p_ep = col("prefill_moe_ep_size"), d_ep = col("decode_moe_ep_size");
  // moe_tp columns are optional: older tables lack them
  const auto opt_col = [&](const char* name) { return csv.has_column(name) ? std::optional(csv.column(name)) : std::nullopt; };
  const auto moe_tp = opt_col("moe_tp_size"), p_moe_tp = opt_col("prefill_moe_tp_size"),
             d_moe_tp = opt_col("decode_moe_tp_size");
  const auto batch = opt_col("batch_size"), p_batch = opt_col("prefill_batch_size"),
             d_batch = opt_col("decode_batch_size");
  std::vector<SiliconRow> rows;
  while (csv.next()) {
    SiliconRow r;
    r.line = csv.line();
    r.id = csv.field(id);
    r.backend = csv.field(backend);
    r.backend_version = csv.field(version);
    r.model_path = csv.field(model);
    r.system = csv.field(system);
    r.precision = csv.field(precision);
    r.mode = csv.field(mode);
    r.gemm_quant_mode = csv.field(gemm);
    r.isl = int_or(csv, isl, 0);
    r.osl = int_or(csv, osl, 0);
    if (r.isl < 1 || r.osl < 1)
      throw InputError(fmt::format("{}:{}: isl and osl must be positive integers", path, r.line));
    if (r.mode != "agg" && r.mode != "disagg")
      throw InputError(fmt::format("{}:{}: mode must be agg or disagg (got '{}')", path, r.line, r.mode));
    r.tp = int_or(csv, tp, 0);
    r.pp = int_or(csv, pp, 1);
    r.attention_dp = int_or(csv, adp, 1);
    r.prefill_workers = int_or(csv, p_workers, 0);
    r.prefill_tp = int_or(csv, p_tp, 0);
    r.prefill_pp = int_or(csv, p_pp, 1);
    r.prefill_attention_dp = int_or(csv, p_adp, 1);
    r.decode_workers = int_or(csv, d_workers, 0);
    r.decode_tp = int_or(csv, d_tp, 0);
    r.decode_pp = int_or(csv, d_pp, 1);
    r.decode_attention_dp = int_or(csv, d_adp, 1);
    // 0 in some rows means "not used": one expert group
    r.moe_ep = std::max(1, int_or(csv, ep, 1));
    r.prefill_moe_ep = std::max(1, int_or(csv, p_ep, 1));
    r.decode_moe_ep = std::max(1, int_or(csv, d_ep, 1));
    const auto count_or_0 = [&](const std::optional<size_t>& c) { return c ? std::max(0, int_or(csv, *c, 0)) : 0; };
    r.moe_tp = count_or_0(moe_tp);
    r.prefill_moe_tp = count_or_0(p_moe_tp);
    r.decode_moe_tp = count_or_0(d_moe_tp);
    r.batch_size = count_or_0(batch);
    r.prefill_batch_size = count_or_0(p_batch);
    r.decode_batch_size = count_or_0(d_batch);
    // The client's concurrency: silicon_concurrency=N in the source notes. Rows without it (the
    // Dynamo configuration runs, 4000 x 1000) list only per-worker batch sizes, which in that
    // family are not the client's concurrency (its gpt-oss rows give both: concurrency = batch x
    // TP), and taken as such they predict TPOT 2-4x the measured: they stay at 0 and are reported.
    const auto c = source_concurrency(csv.field(source));
    r.concurrency = c ? *c : 0;
    r.ttft_ms = csv.number(ttft);
    r.tpot_ms = csv.number(tpot);
    if (!(r.ttft_ms > 0) || !(r.tpot_ms > 0))
      throw InputError(fmt::format("{}:{}: silicon_ttft_ms and silicon_tpot_ms must be positive", path, r.line));
    rows.push_back(std::move(r));
  }
  return rows;
}

SiliconFilter parse_silicon_filter(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw ConfigError(fmt::format("--filter '{}': expected COLUMN=VALUE[|VALUE...], e.g. backend=vllm or "
                                  "model_path=Qwen/Qwen3-32B|meta-llama/Llama-3.1-70B",
                                  text));
  SiliconFilter f{text.substr(0, eq), {}};
  std::string rest = text.substr(eq + 1);
  size_t start = 0;
  for (;;) {
    const size_t bar = rest.find('|', start);
    f.values.push_back(rest.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  static const std::set<std::string> columns{"id",   "backend",         "backend_version", "model_path", "system",
                                              "precision", "mode", "isl", "osl", "gemm_quant_mode",
                                              "concurrency", "tp", "attention_dp", "half"};
  if (!columns.count(f.column))
    throw ConfigError(fmt::format("--filter '{}': unknown column '{}'; filter on one of: {}", text, f.column,
                                  fmt::join(columns, ", ")));
  return f;
}

bool passes(const SiliconRow& r, const std::vector<SiliconFilter>& filters) {
  for (const auto& f : filters) {
    // half: odd or even line number, a fixed split of the table for fitting and testing
    const std::string v = f.column == "id"                ? r.id
                          : f.column == "half"            ? std::string(r.line % 2 ? "odd" : "even")
                          : f.column == "backend"         ? r.backend
                          : f.column == "backend_version" ? r.backend_version
                          : f.column == "model_path"      ? r.model_path
                          : f.column == "system"          ? r.system
                          : f.column == "precision"       ? r.precision
                          : f.column == "mode"            ? r.mode
                          : f.column == "isl"             ? std::to_string(r.isl)
                          : f.column == "osl"             ? std::to_string(r.osl)
                          : f.column == "gemm_quant_mode" ? r.gemm_quant_mode
                          : f.column == "concurrency"     ? std::to_string(r.concurrency)
                          : f.column == "attention_dp"    ? std::to_string(std::max(1, r.attention_dp))
                                                          : std::to_string(r.tp);
    bool any = false;
    for (const auto& want : f.values) any = any || v == want;
    if (!any) return false;
  }
  return true;
}

namespace {

// timing.kernel's choice of tables for a row: the row's system of the database, or the folder given
std::string kernel_tables_yaml(const SiliconRunSettings& s, const std::string& system, const std::string& backend,
                               const std::string& version) {
  const std::string tables = s.kernel_tables.empty()
                                 ? fmt::format("system: {}, database: '{}'", system, s.kernel_database)
                                 : fmt::format("tables: '{}'", s.kernel_tables);
  return fmt::format("{}, backend: {}, backend_version: '{}', moe: {}, moe_distribution: {}", tables, backend, version,
                     s.moe, s.moe_distribution);
}

std::string pool_yaml(const std::string& name, const std::string& role, int replicas, int tp, int ep,
                      const std::string& model, const std::string& precision, const std::string& gpu,
                      const EnginePreset& e, int max_num_seqs, const SiliconRunSettings& s,
                      const std::string& kernel_tables, int attention_dp = 1) {
  const double overhead = s.overhead_ms ? *s.overhead_ms : e.iteration_overhead_ms;
  std::string timing = s.timing == "kernel"
                           ? fmt::format("{{model: kernel, kernel: {{{}, overhead_ms: {}}}}}", kernel_tables, overhead)
                           : fmt::format("{{model: roofline, roofline: {{efficiency: {}}}}}", s.efficiency);
  return fmt::format(
      "  - name: {}\n    role: {}\n    replicas: {}\n    tp: {}\n    expert_parallel: {}\n{}    model: {}\n"
      "    gpu: {}\n    precision: {}\n    engine: {{scheduler: {}, block_size: {}, max_num_batched_tokens: {}, max_num_seqs: {}, "
      "gpu_memory_utilization: {}, enable_chunked_prefill: {}}}\n    timing: {}\n",
      name, role, replicas, tp, ep, attention_dp > 1 ? fmt::format("    attention_dp: {}\n", attention_dp) : "", model,
      gpu, precision, e.scheduler, e.block_size, e.max_num_batched_tokens, max_num_seqs, e.gpu_memory_utilization,
      e.enable_chunked_prefill ? "true" : "false", timing);
}

std::string start_yaml(const std::string& start, double ramp_s) {
  if (start == "burst") return fmt::format("desync: {:.6f}s", ramp_s);
  if (start == "ramp") return fmt::format("ramp: {:.6f}s, ramp_phases: random", ramp_s);
  if (start == "lockstep") return "desync: 0s";
  throw ConfigError(fmt::format("check-silicon start '{}' is not one of burst, ramp, lockstep", start));
}

}  // namespace

SiliconDeployment silicon_deployment(const SiliconRow& r, const SiliconRunSettings& s) {
  SiliconDeployment d;
  const Catalog& catalog = Catalog::builtin();
  if (const auto gpu = Catalog::builtin().gpu_of_system(r.system)) {
    d.gpu = *gpu;
  } else {
    d.unsupported = fmt::format("system '{}' has no GPU in the catalog (models/catalog/gpus.yaml; servesim --list)",
                                r.system.empty() ? "(empty)" : r.system);
    return d;
  }
  // kernel timing prices the system whose tables it reads: another system's rows are not its to model
  if (s.timing == "kernel" && !s.kernel_tables.empty()) {
    const std::string tables_system = std::filesystem::path(s.kernel_tables).filename().string();
    const auto tables_gpu = Catalog::builtin().gpu_of_system(tables_system);
    if (tables_gpu && tables_gpu != d.gpu) {
      d.unsupported = fmt::format("system {}: the kernel tables are {}'s (--tables {})", r.system, tables_system,
                                  s.kernel_tables);
      return d;
    }
  }
  for (const auto& [name, m] : catalog.models())
    if (m.is_checkpoint(r.model_path)) d.catalog_model = name;
  if (d.catalog_model.empty()) {
    d.unsupported = fmt::format("model {} is not in the catalog (models/catalog/models.yaml)", r.model_path);
    return d;
  }
  // The GEMM format: gemm_quant_mode where given, else the row's precision, else (both empty:
  // served unquantised) the checkpoint's own.
  const ModelSpec& spec = catalog.model(d.catalog_model);
  const std::string q = !r.gemm_quant_mode.empty() ? r.gemm_quant_mode
                        : !r.precision.empty()     ? r.precision
                                                   : spec.precision;
  if (q == "fp8" || q == "fp8_block") d.precision = q;
  else if (q == "bf16" || q == "bfloat16" || q == "fp16" || q == "float16") d.precision = "bf16";
  // an FP4 row of a checkpoint whose experts ship in MXFP4 (gpt-oss) serves it as published: the
  // experts MXFP4 (a Hopper GPU has no FP4 units and runs them as w4a16), the rest bf16
  else if ((q == "nvfp4" || q == "mxfp4" || q == "fp4") && spec.expert_precision == "mxfp4")
    d.precision = spec.precision;
  // so does an NVFP4 row of an export whose routed experts alone are NVFP4 (its attention, dense
  // layers and shared experts bf16: deployed as nvfp4 throughout they would be priced at FP4)
  else if ((q == "nvfp4" || q == "fp4") && spec.expert_precision == "nvfp4" && catalog.gpu(d.gpu).fp4_tflops > 0)
    d.precision = spec.precision;
  else if (q == "nvfp4" && catalog.gpu(d.gpu).fp4_tflops > 0)
    d.precision = "nvfp4";
  else if (q == "nvfp4") {
    d.unsupported = fmt::format("nvfp4 GEMMs on {}, which has no FP4 tensor cores", d.gpu);
    return d;
  } else {
    d.unsupported = fmt::format("precision {} (no GEMM format for it: bf16, fp8, fp8_block and nvfp4 are modelled, "
                                "and fp4 rows of checkpoints with MXFP4 experts)",
                                q);
    return d;
  }
  // A framework version's own entry (framework@version) where the catalog has one.
  const std::string versioned = r.backend + "@" + r.backend_version;
  if (!catalog.engines().count(versioned) && !catalog.engines().count(r.backend)) {
    d.unsupported = fmt::format("backend {} has no engine defaults (models/catalog/engines.yaml)", r.backend);
    return d;
  }
  d.engine = catalog.engines().count(versioned) ? versioned : r.backend;
  EnginePreset e = catalog.engine(d.engine);
  if (s.max_num_batched_tokens) {
    if (*s.max_num_batched_tokens < 1) throw ConfigError("--max-num-batched-tokens must be 1 or more");
    e.max_num_batched_tokens = *s.max_num_batched_tokens;
  }
  d.max_num_batched_tokens = e.max_num_batched_tokens;
  const bool agg = r.mode == "agg";
  if (agg ? r.pp > 1 : (r.prefill_pp > 1 || r.decode_pp > 1)) {
    d.unsupported = "pipeline parallelism (pp > 1) is not modelled";
    return d;
  }
  if (!agg && (r.prefill_attention_dp > 1 || r.decode_attention_dp > 1)) {
    d.unsupported = "attention data parallelism (attention_dp > 1) in disaggregated rows is not modelled";
    return d;
  }
  // attention DP: moe_ep spans the ranks' tp x attention_dp GPUs; within a rank's tp GPUs the
  // experts split moe_ep / attention_dp ways
  const int dp = agg ? std::max(1, r.attention_dp) : 1;
  if (dp > 1 && (spec.experts == 0 || r.moe_ep % dp != 0)) {
    d.unsupported = fmt::format("attention_dp {} with moe_ep {} ({} experts) is not a layout servesim models", dp,
                                r.moe_ep, spec.experts);
    return d;
  }
  const int agg_ep = dp > 1 ? r.moe_ep / dp : r.moe_ep;
  for (auto [ep, tp] : {std::pair(agg_ep, r.tp), std::pair(r.prefill_moe_ep, r.prefill_tp),
                        std::pair(r.decode_moe_ep, r.decode_tp)})
    if (ep > 1 && (spec.experts == 0 || tp % ep != 0 || spec.experts % ep != 0)) {
      d.unsupported = fmt::format("expert parallelism {} over tp {} ({} experts) is not a layout servesim models", ep,
                                  tp, spec.experts);
      return d;
    }
  // an MoE model's expert layers split over moe_tp x moe_ep = tp GPUs (dense rows list moe_tp 1)
  using Layout = std::tuple<int, int, int>;
  const std::vector<Layout> layouts = agg ? std::vector<Layout>{{r.moe_tp, agg_ep, r.tp}}
                                          : std::vector<Layout>{{r.prefill_moe_tp, r.prefill_moe_ep, r.prefill_tp},
                                                                {r.decode_moe_tp, r.decode_moe_ep, r.decode_tp}};
  for (auto [moe_tp, ep, tp] : layouts)
    if (spec.experts > 0 && moe_tp > 0 && tp > 0 && moe_tp * ep != tp) {
      d.unsupported = fmt::format("MoE layout moe_tp {} x moe_ep {} != tp {} is not a layout servesim models", moe_tp,
                                  ep, tp);
      return d;
    }
  if (r.concurrency < 1) {
    d.unsupported = "the row gives no client concurrency (silicon_concurrency=N), only per-worker batch sizes";
    return d;
  }
  if (agg ? r.tp < 1 : (r.prefill_tp < 1 || r.decode_tp < 1)) {
    d.unsupported = "the row lists no TP size";
    return d;
  }
  if (!agg && (r.prefill_workers < 1 || r.decode_workers < 1)) {
    d.unsupported = "the row lists no prefill or decode worker counts (prefill_num_workers, decode_num_workers)";
    return d;
  }
  // a number: every engine admits that many requests at most (a client or server cap the row
  // does not list, found by Little's law on its TTFT and TPOT)
  int fixed_batch = 0;
  if (s.max_batch != "engine" && s.max_batch != "row") {
    const auto [end, ec] = std::from_chars(s.max_batch.data(), s.max_batch.data() + s.max_batch.size(), fixed_batch);
    if (ec != std::errc() || end != s.max_batch.data() + s.max_batch.size() || fixed_batch < 1)
      throw ConfigError(fmt::format("check-silicon max batch '{}' is not engine, row or a positive number", s.max_batch));
  }
  if (s.extra_clients < 0) throw ConfigError("--extra-clients must be 0 or more");
  // each engine's batch limit: the framework's default, or the one the row was measured with
  auto batch_limit = [&](int row_batch) {
    return fixed_batch > 0 ? fixed_batch : s.max_batch == "row" ? row_batch : e.max_num_seqs;
  };
  const int agg_limit = batch_limit(r.batch_size), prefill_limit = batch_limit(r.prefill_batch_size),
            decode_limit = batch_limit(r.decode_batch_size);
  if (agg ? agg_limit < 1 : (prefill_limit < 1 || decode_limit < 1)) {
    d.unsupported = agg ? "--max-batch row: the row gives no batch_size"
                        : "--max-batch row: the row gives no prefill_batch_size or decode_batch_size";
    return d;
  }
  d.max_num_seqs = agg ? agg_limit : decode_limit;
  d.client_concurrency = r.concurrency + s.extra_clients;
  d.requests = static_cast<std::int64_t>(d.client_concurrency) * s.rounds;
  // The client keeps `concurrency` requests in flight; arrivals are generated fast enough that
  // the closed loop, not the generator, sets the pace.
  const double duration_s = static_cast<double>(d.requests) / 1000.0 + 10;
  // Real clients' requests drift out of lockstep (network and tokenizer jitter of more than an
  // iteration); a deterministic closed loop started at once would prefill them together in every
  // round. Spreading starts (or the first wave's successors) over one request's estimated
  // duration reaches the steady state of randomly phased requests.
  PoolConfig probe;
  probe.gpu = d.gpu;
  probe.model = d.catalog_model;
  probe.precision = d.precision;
  probe.tp = agg ? r.tp : r.decode_tp;
  probe.expert_parallel = agg ? agg_ep : r.decode_moe_ep;
  probe.attention_dp = dp;
  e.apply(probe.engine, probe.gpu, Catalog::builtin().gpu(probe.gpu));
  probe.timing.model = s.timing;
  d.kernel_backend = s.kernel_backend == "row" ? r.backend : s.kernel_backend;
  if (s.kernel_tables.empty()) {
    probe.timing.kernel.system = r.system;
    probe.timing.kernel.database = s.kernel_database;
  } else {
    probe.timing.kernel.tables = s.kernel_tables;
  }
  probe.timing.kernel.backend = d.kernel_backend;
  probe.timing.kernel.moe = s.moe;
  probe.timing.kernel.moe_distribution = s.moe_distribution;
  // Kernel timing: the tables of the version nearest the row's (its own backend's only: another
  // backend's version numbers say nothing of the row's), or of the next nearest where that one
  // did not measure what the row needs (a shape, a format)
  std::vector<std::string> versions{""};
  std::string tables_dir;
  if (s.timing == "kernel") {
    try {
      const auto& k = probe.timing.kernel;
      auto as_is = [](const std::string& p) { return p; };
      tables_dir = locate_kernel_tables(k.system, k.database, k.tables, probe.gpu, as_is).dir;
      versions = table_versions_by_nearness(tables_dir, d.kernel_backend,
                                            d.kernel_backend == r.backend ? r.backend_version : "");
      if (versions.empty()) versions = {""};
    } catch (const std::exception&) {
      // the probe below names what is missing
    }
  }
  probe.timing.kernel.overhead_ms = s.overhead_ms ? *s.overhead_ms : e.iteration_overhead_ms;
  probe.timing.roofline.efficiency = s.efficiency;
  // the probe only sizes the ramp: its lookups outside the tables are the row's run to report
  const auto log_level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);
  struct Restore {
    spdlog::level::level_enum level;
    ~Restore() { spdlog::set_level(level); }
  } restore{log_level};
  std::unique_ptr<TimingModel> timing;
  std::string nearest_error;
  for (const std::string& version : versions) {
    probe.timing.kernel.backend_version = version;
    try {
      // rows of many shapes share these tables: every shape read once, not again for each new one
      if (!tables_dir.empty())
        KernelTables::shared(tables_dir, d.kernel_backend, version,
                             KernelTables::Parts::for_model(Catalog::builtin().deployed_model(probe),
                                                            probe.timing.kernel.moe == "table"));
      timing = TimingRegistry::instance().create(s.timing, TimingContext{probe});
      d.kernel_version = version;
      break;
    } catch (const std::exception& ex) {
      if (nearest_error.empty()) nearest_error = ex.what();
    }
  }
  if (!timing) {
    d.unsupported = fmt::format("the timing model cannot cost this deployment: {}", nearest_error);
    return d;
  }
  // one request's decode time at the row's concurrency; under attention DP a rank's share of the
  // requests, its MoE layers seeing every rank's tokens (as the engine prices its steps)
  BatchShape step;
  step.decode_seqs = std::max(1, std::min(d.max_num_seqs, r.concurrency / (agg ? dp : r.decode_workers)));
  step.decode_context_tokens = static_cast<std::int64_t>(step.decode_seqs) * (r.isl + r.osl / 2);
  if (dp > 1) {
    step.moe_group_ranks = dp;
    step.moe_group_tokens = step.computed_tokens() * dp;
  }
  const double ramp_s = ns_to_s(timing->iteration_ns(step)) * r.osl;
  d.client_start = s.start ? *s.start : e.client_start;
  if (s.desync_ms && d.client_start != "burst")
    throw ConfigError(fmt::format("check-silicon --desync-ms sets a burst start's spread, but this row's client "
                                  "starts {} (add --start burst)",
                                  d.client_start));
  std::string y = fmt::format(
      "# check-silicon: row {} of the silicon table\nname: silicon_check\nseed: {}\n"
      "frontend: {{request_latency: {}ms{}}}\n"
      "workload:\n  source: synthetic\n  max_requests: {}\n  closed_loop: {{concurrency: {}, {}}}\n"
      "  synthetic:\n    duration: {}s\n    arrival: {{process: constant, rate: 1000}}\n"
      "    input_length: {{dist: fixed, value: {}}}\n    output_length: {{dist: fixed, value: {}}}\n",
      r.id, s.seed, s.request_latency_ms ? *s.request_latency_ms : e.request_latency_ms,
      s.frontend_ms_per_request > 0 || s.frontend_ms_per_1k_tokens > 0
          ? fmt::format(", processing: {{per_request: {}ms, per_1k_input_tokens: {}ms}}", s.frontend_ms_per_request,
                        s.frontend_ms_per_1k_tokens)
          : std::string(),
      d.requests, d.client_concurrency,
      start_yaml(d.client_start, d.client_start == "burst" && s.desync_ms ? *s.desync_ms / 1e3 : ramp_s),
      duration_s, r.isl, r.osl);
  const std::string kernel_yaml = kernel_tables_yaml(s, r.system, d.kernel_backend, d.kernel_version);
  if (agg) {
    y += "router: {policy: least_loaded}\npools:\n";
    y += pool_yaml("agg", "aggregated", 1, r.tp, agg_ep, d.catalog_model, d.precision, d.gpu, e, agg_limit, s, kernel_yaml,
                   dp);
    d.gpus = r.tp * dp;
  } else {
    // every prompt is prefilled remotely, as the measured deployments do
    y += "router: {policy: least_loaded, max_local_prefill_length: 0}\npools:\n";
    y += pool_yaml("prefill", "prefill", r.prefill_workers, r.prefill_tp, r.prefill_moe_ep, d.catalog_model,
                   d.precision, d.gpu, e, prefill_limit, s, kernel_yaml);
    y += pool_yaml("decode", "decode", r.decode_workers, r.decode_tp, r.decode_moe_ep, d.catalog_model, d.precision,
                   d.gpu, e, decode_limit, s, kernel_yaml);
    d.gpus = r.prefill_workers * r.prefill_tp + r.decode_workers * r.decode_tp;
  }
  d.scenario_yaml = std::move(y);
  return d;
}

}  // namespace servesim
