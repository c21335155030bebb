// servesim: the command-line entry point.
#include <CLI/CLI.hpp>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#endif

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <new>
#include <thread>

#include "app/commands/calibrate_command.h"
#include "app/commands/check_silicon_command.h"
#include "app/commands/sweep_command.h"
#include "app/commands/sweep_mpi.h"
#include "app/commands/sweep_space.h"
#include "app/suite/suite_command.h"
#include "cluster/run.h"
#include "live/live_run.h"
#include "core/error.h"
#include "models/catalog.h"
#include "models/engine_scheduler.h"
#include "models/speculative.h"
#include "models/timing/kernel_tables.h"
#include "models/timing/timing_model.h"
#include "planner/load_predictor.h"
#include "planner/planner_policy.h"
#include "router/router_policy.h"
#include "scenario/scenario.h"
#include "servesim/version.h"
#include "traces/trace_source.h"

namespace {

using namespace servesim;

template <class Reg>
void print_registry(std::ostream& out) {
  std::string kind = Reg::kind();
  kind = kind.back() == 'y' ? kind.substr(0, kind.size() - 1) + "ies" : kind + "s";
  out << kind << ":\n";
  for (const auto& e : Reg::instance().list()) out << fmt::format("  {:<16} {}\n", e.name, e.description);
}

void check_registries() {
  TraceRegistry::instance().check();
  RouterRegistry::instance().check();
  TimingRegistry::instance().check();
  SchedulerRegistry::instance().check();
  PredictorRegistry::instance().check();
  PlannerPolicyRegistry::instance().check();
  SweepStrategyRegistry::instance().check();
}

int print_timing(const PoolConfig& pool, bool breakdown) {
  const std::string& gpu = pool.gpu;
  const std::string& model = pool.model;
  const std::string& timing_model = pool.timing.model;
  const int tp = pool.tp;
  const Catalog& c = Catalog::builtin();
  const ModelSpec m = c.deployed_model(pool);
  const GpuSpec& g = c.gpu(gpu);
  KvCapacity cap = kv_capacity(pool, c);
  auto t = TimingRegistry::instance().create(timing_model, TimingContext{pool});
  if (pool.attention_dp > 1)
    std::cout << fmt::format("{} on {} attention-DP ranks of {} x {} ({} timing; per rank, every rank as loaded)\n",
                             model, pool.attention_dp, tp, g.description, timing_model);
  else
    std::cout << fmt::format("{} on {} x {} ({} timing)\n", model, tp, g.description, timing_model);
  // a batch as one rank's, the others as loaded (their tokens reach the shared experts)
  auto as_rank = [&](BatchShape b) {
    b.moe_group_ranks = pool.attention_dp;
    b.moe_group_tokens = b.computed_tokens() * pool.attention_dp;
    return b;
  };
  if (timing_model == "kernel") {
    // the same resolution the timing model made (the tables are cached: this reads nothing again)
    const auto& k = pool.timing.kernel;
    const KernelTableLocation where = locate_kernel_tables(k.system, k.database, k.tables, gpu,
                                                           [](const std::string& p) { return p; });
    const auto tables = KernelTables::shared(where.dir, k.backend, k.backend_version,
                                             KernelTables::Parts::for_deployment(m, tp, k.moe == "table"));
    std::cout << fmt::format("kernel tables: system {}, backend {} {} ({})\n", where.system, k.backend, tables->version,
                             where.dir);
    for (const auto& [table, source] : tables->sources)
      std::cout << fmt::format("  {:<21} {}{}\n", table, source.file,
                               source.note.empty() ? "" : fmt::format(" ({})", source.note));
  }
  std::cout << cap.ledger.text();
  std::cout << fmt::format("weights {:.1f} GiB, KV {:.0f} KiB/token, KV cache {:.1f} GiB = {} blocks of {} tokens "
                           "({:.0f}k tokens)\n",
                           cap.weight_bytes / 1073741824.0, m.kv_bytes_per_token() / 1024.0, cap.kv_bytes / 1073741824.0,
                           cap.blocks, pool.engine.block_size, cap.blocks * pool.engine.block_size / 1000.0);
  if (m.windowed_layers() > 0)
    std::cout << fmt::format("sliding window: {} of {} layers attend to the last {} tokens; the KV per token counts the "
                             "other {} (docs/limits.md)\n",
                             m.windowed_layers(), m.layers, m.sliding_window, m.full_attention_layers());
  if (m.sparse_topk > 0)
    std::cout << fmt::format("sparse attention (DSA): each query attends to the {} tokens a {}-head indexer picks; the "
                             "KV per token holds the MLA latent ({:.0f} B) and the indexer's key ({:.0f} B), per "
                             "layer\n",
                             m.sparse_topk, m.indexer_heads, m.attention_kv_bytes_per_token() / m.layers,
                             m.indexer_kv_bytes_per_token() / m.layers);
  if (m.linear_layers > 0)
    std::cout << fmt::format("linear attention ({}): {} of {} layers keep a recurrent state of {:.2f} MiB per "
                             "sequence and GPU ({} B per layer) instead of KV; a running sequence holds {} blocks "
                             "for it beside its tokens' ({} sequences fill the cache with no tokens)\n",
                             m.linear_mixer == "mamba2" ? "Mamba2" : "Gated DeltaNet", m.linear_layers, m.layers,
                             m.linear_layers * m.linear_state_bytes_per_layer(tp) / 1048576.0,
                             m.linear_state_bytes_per_layer(tp), cap.state_blocks_per_sequence,
                             cap.blocks / std::max<std::int64_t>(1, cap.state_blocks_per_sequence));
  if (pool.lora.enabled()) {
    const double slot = lora_bytes_per_gpu(m, pool.lora.max_lora_rank, tp);
    std::cout << fmt::format("LoRA slots {} x {:.1f} MiB per GPU (rank {}) = {:.2f} GiB of the worker's memory; a load "
                             "at that rank {:.2f} ms, a read of its weights {:.3f} ms\n",
                             pool.lora.max_loras, slot / 1048576.0, pool.lora.max_lora_rank,
                             cap.lora_bytes / 1073741824.0,
                             (pool.lora.load_latency.seconds + slot / (pool.lora.host_gbyte_per_s * 1e9)) * 1e3,
                             slot / (g.hbm_gbps * 1e9) * 1e3);
  }
  std::cout << fmt::format("weights / HBM bandwidth: {:.2f} ms\n", cap.weight_bytes / tp / (g.hbm_gbps * 1e9) * 1e3);
  // --breakdown: a column per part of the iteration (ms), as the timing model divides it
  const std::vector<TimingModel::Part> part_names = breakdown ? t->parts(BatchShape{}) : std::vector<TimingModel::Part>{};
  std::string parts_header;
  for (const auto& p : part_names) parts_header += fmt::format(" {:>12}", p.name);
  auto parts_columns = [&](const BatchShape& b) {
    std::string out;
    if (breakdown)
      for (const auto& p : t->parts(b)) out += fmt::format(" {:>12.3f}", p.ms);
    return out;
  };
  std::cout << "prefill (one prompt, no cache)\n  input tokens   latency ms   tokens/s" << parts_header << "\n";
  for (int n : {128, 512, 1024, 2048, 4096, 8192, 16384}) {
    BatchShape b;
    b.prefill_seqs = 1;
    b.prefill_tokens = n;
    b.prefill_attention_pairs = n * (n + 1.0) / 2;
    double ms = ns_to_s(t->iteration_ns(as_rank(b))) * 1e3;
    std::cout << fmt::format("  {:>12} {:>12.2f} {:>10.0f}", n, ms, n / ms * 1e3) << parts_columns(as_rank(b)) << "\n";
  }
  std::cout << "decode (one iteration, 1024-token contexts)\n  batch   latency ms   tokens/s" << parts_header << "\n";
  // the breakdown's finer steps show where the small batches' fixed costs lie
  const std::vector<int> batches = breakdown ? std::vector<int>{1, 2, 4, 8, 16, 32, 64, 128, 256}
                                             : std::vector<int>{1, 8, 32, 64, 128, 256};
  for (int n : batches) {
    BatchShape b;
    b.decode_seqs = n;
    b.decode_context_tokens = 1024LL * n;
    double ms = ns_to_s(t->iteration_ns(as_rank(b))) * 1e3;
    std::cout << fmt::format("  {:>5} {:>12.2f} {:>10.0f}", n, ms, n / ms * 1e3) << parts_columns(as_rank(b)) << "\n";
  }
  if (timing_model == "kernel")
    std::cout << fmt::format("lookups outside the measured tables (extrapolated, counted once per shape): {}\n",
                             t->extrapolations());
  return 0;
}

// The recorder's row buffers and HDF5's chunk and conversion buffers are allocated and freed on
// every flush, megabytes each: past glibc's default thresholds (128 KiB) each one is a fresh
// mmap or a heap trimmed and regrown, whose pages fault in again every time (12% of a 100k-request
// run). Kept in the heap up to 32 MiB and trimmed past 64 MiB free (never, where
// offer_heap_to_huge_pages applies), they are reused instead; peak RSS grows by under 1 MB on the
// benchmark runs.
void keep_large_buffers_mapped() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

// The few threads servesim starts (reading kernel tables, the live server's) allocate from the
// main heap rather than an arena each: a new arena's pages come 4 KiB at a time, each a fault (on
// a virtual machine an exit to the hypervisor), while the main heap's come in huge pages
// (offer_heap_to_huge_pages). A kernel-timed run's start-up took a third fewer page faults and
// 10% less wall time; the readers allocate little (a table's grids grow by doubling), so they
// seldom wait for the heap's lock.
void one_heap_for_all_threads() {
#ifdef __GLIBC__
  mallopt(M_ARENA_MAX, 1);
#endif
}

// A run probes its tables at random (each worker's KV blocks and key map, the router's index,
// sequences, requests): with 4 KiB pages a 64-worker run's tens of MB of them need far more TLB
// entries than the CPU has, and every first touch of a page is a fault (on a virtual machine, an
// exit to the hypervisor). Debian's transparent-huge-page mode gives 2 MiB pages only to memory
// that asks (madvise), and glibc asks only under GLIBC_TUNABLES=glibc.malloc.hugetlb=1, set
// before the process starts. So the heap is grown once by kHeapRangeBytes of address space
// (untouched, so not resident), that range asks for huge pages, and the heap is never trimmed
// below it: what the run allocates from it is backed by them where the kernel has them. Results
// are unchanged (only where bytes lie); 64 workers' runs are about a quarter faster, one worker's
// about 10%, peak RSS 1-8 MB more (bench/README.md, round three). Skipped where the range would
// count against a limit: a bounded address space (ulimit -v) or strict overcommit accounting.
void offer_heap_to_huge_pages() {
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  constexpr size_t kHeapRangeBytes = size_t{512} << 20, kDefaultTopPadBytes = size_t{128} << 10;
  constexpr std::uintptr_t kPageBytes = 4096;
  if (rlimit as{}; getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) return;
  if (std::FILE* f = std::fopen("/proc/sys/vm/overcommit_memory", "r")) {
    const int mode = std::fgetc(f);
    std::fclose(f);
    if (mode == '2') return;
  }
  mallopt(M_TRIM_THRESHOLD, -1);  // never trimmed: regrown heap would be a new range, in small pages
  mallopt(M_TOP_PAD, static_cast<int>(kHeapRangeBytes));
  const auto from = reinterpret_cast<std::uintptr_t>(sbrk(0)) & ~(kPageBytes - 1);
  void* volatile block = std::malloc(1 << 20);  // grows the heap by it and the pad (volatile: not elided)
  std::free(block);
  const auto to = reinterpret_cast<std::uintptr_t>(sbrk(0));
  mallopt(M_TOP_PAD, static_cast<int>(kDefaultTopPadBytes));  // later growth as usual
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);  // a hint
#endif
}

// SystemC's pool for its small objects takes blocks from malloc and uses them unchecked, so a run
// that exhausts its memory there crashed (a bounded address space, 10,000 workers) instead of
// reporting it; SystemC reads this variable at its pool's first use and then takes those objects
// from operator new, which throws std::bad_alloc, reported by main. The pool serves SystemC's
// elaboration only (92 objects in a Mooncake run), so the run's speed is the same. A value the
// user set is kept.
void systemc_allocations_throw() { setenv("SYSTEMC_MEMPOOL_DONT_USE", "1", 0); }

void before_the_libraries_start(int, char**, char**) {
  keep_large_buffers_mapped();
  one_heap_for_all_threads();
  offer_heap_to_huge_pages();
  systemc_allocations_throw();
}
// Before the shared libraries' static initialisers, whose allocations then come from the heap as
// set up above: SystemC's alone zero-fills a 3 MiB buffer, 768 page faults in a fresh mapping and
// two in the huge-page heap (--version: 1,800 -> 1,200-1,600 faults, 34 -> 31 ms). An executable's
// .preinit_array runs then (ELF); a sanitizer's runtime starts from it too, so a sanitized build
// sets the heap up in main instead.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SERVESIM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SERVESIM_SANITIZED 1
#endif
#endif
#ifndef SERVESIM_SANITIZED
__attribute__((section(".preinit_array"), used)) void (*const before_the_libraries_start_first)(int, char**, char**) =
    before_the_libraries_start;
#endif

int run_main(int argc, char** argv) {
#ifdef SERVESIM_SANITIZED
  before_the_libraries_start(argc, argv, nullptr);
#endif
  CLI::App app{"servesim: a SystemC co-simulation testbed for LLM serving clusters"};
  app.set_version_flag("--version", std::string(kVersion) + " (" + kGitCommit + ")");
  app.require_subcommand(0, 1);
  bool list = false;
  app.add_flag("--list", list, "list every registered trace format, router policy, engine scheduler and timing model");
  std::vector<std::string> catalogs;
  app.add_option("--catalog", catalogs,
                 "a folder laid out as models/catalog (gpus.yaml, models.yaml, engines.yaml, efficiency*.yaml) "
                 "searched after the built-in catalog; repeatable; also SERVESIM_CATALOG_PATH")
      ->check(CLI::ExistingDirectory);
  app.fallthrough();

  std::string scenario_path, output;
  std::vector<std::string> overrides;
  std::optional<std::uint64_t> seed;
  bool quiet = false, dump = false;

  auto* run = app.add_subcommand("run", "run one scenario and print its summary");
  run->add_option("scenario", scenario_path, "scenario YAML file")->required();
  run->add_option("--set", overrides, "override a key: --set workload.max_requests=1000 (repeatable)");
  run->add_option("-o,--output", output, "HDF5 output file (default results/<scenario name>.h5)");
  run->add_option("--seed", seed, "override the scenario's seed");
  run->add_flag("-q,--quiet", quiet, "no progress line");
  run->add_flag("--dump-config", dump, "print the effective, fully defaulted scenario as YAML and exit");

  auto* validate = app.add_subcommand("validate", "check a scenario without running it");
  validate->add_option("scenario", scenario_path, "scenario YAML file")->required();
  validate->add_option("--set", overrides, "override a key (repeatable)");
  validate->add_flag("--dump-config", dump, "also print the effective, fully defaulted scenario as YAML");

  PoolConfig timing_pool;
  auto* timing = app.add_subcommand("timing", "print prefill and decode latencies of a model on a GPU");
  timing->add_option("--gpu", timing_pool.gpu, "catalog GPU")->capture_default_str();
  timing->add_option("--model", timing_pool.model, "catalog model")->capture_default_str();
  timing->add_option("--tp", timing_pool.tp, "tensor-parallel degree")->capture_default_str()->check(CLI::PositiveNumber);
  timing->add_option("--expert-parallel", timing_pool.expert_parallel,
                     "MoE: experts split over this many of the tp GPUs")
      ->capture_default_str()->check(CLI::PositiveNumber);
  timing->add_option("--attention-dp", timing_pool.attention_dp,
                     "attention data-parallel ranks of tp GPUs each: the ledger is a rank's, and each batch below "
                     "is one rank's with every rank as loaded (their MoE layers shared)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  timing->add_option("--precision", timing_pool.precision, "auto | bf16 | fp8 | fp8_block | nvfp4")
      ->capture_default_str()->check(CLI::IsMember({"auto", "bf16", "fp8", "fp8_block", "nvfp4"}));
  timing->add_option("--kv-cache-dtype", timing_pool.kv_cache_dtype, "auto | bf16 | fp8")
      ->capture_default_str()->check(CLI::IsMember({"auto", "bf16", "fp8"}));
  timing->add_option("--timing", timing_pool.timing.model, "timing model (servesim --list)")->capture_default_str();
  timing->add_option("--table", timing_pool.timing.table.path, "CSV for --timing table");
  timing->add_option("--system", timing_pool.timing.kernel.system,
                     "--timing kernel: system of the performance database (h100_sxm | h200_sxm | b200_sxm; default: --gpu's; without --gpu it sets the GPU too)");
  timing->add_option("--backend", timing_pool.timing.kernel.backend, "--timing kernel: whose kernels (vllm | sglang | trtllm)")
      ->capture_default_str();
  timing->add_option("--backend-version", timing_pool.timing.kernel.backend_version,
                     "--timing kernel: the backend's table version (default: the newest)");
  timing->add_option("--database", timing_pool.timing.kernel.database,
                     "--timing kernel: aiconfigurator's systems/ folder (default: data/aiconfigurator/systems)");
  timing->add_option("--tables", timing_pool.timing.kernel.tables,
                     "--timing kernel: one folder of kernel tables instead of --system");
  timing->add_option("--efficiency", timing_pool.timing.roofline.efficiency, "roofline efficiency entry")
      ->capture_default_str();
  timing->add_option("--overhead-ms", timing_pool.timing.kernel.overhead_ms, "kernel: per-iteration overhead")
      ->capture_default_str();
  bool timing_breakdown = false;
  timing->add_flag("--breakdown", timing_breakdown,
                   "a column per part of each iteration (ms): GEMMs, attention, all-reduce, all-to-all, elementwise, "
                   "overhead, as the timing model divides it");
  std::string timing_engine;
  timing->add_option("--engine", timing_engine,
                     "engine preset (engines.yaml: vllm, sglang, trtllm, framework@version): its block size, token "
                     "budget, sequences, memory fraction and memory rule");
  timing->add_option("--max-num-seqs", timing_pool.engine.max_num_seqs, "sequences per iteration (sizes the sampler)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  timing->add_option("--max-num-batched-tokens", timing_pool.engine.max_num_batched_tokens, "token budget per iteration")
      ->capture_default_str()->check(CLI::PositiveNumber);
  timing->add_option("--gpu-memory-utilization", timing_pool.engine.gpu_memory_utilization,
                     "fraction of GPU memory the engine may use (see the memory rule)")
      ->capture_default_str()->check(CLI::Range(0.05, 1.0));
  timing->add_option("--memory-rule", timing_pool.engine.memory_rule, "vllm_v1 | sglang_static | trtllm_free_fraction")
      ->capture_default_str()->check(CLI::IsMember(memory_rule_names()));
  int timing_max_loras = 0;
  timing->add_option("--max-loras", timing_max_loras, "LoRA slots to reserve (0 = no LoRA)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  timing->add_option("--max-lora-rank", timing_pool.lora.max_lora_rank, "rank the LoRA slots are sized for")
      ->capture_default_str()->check(CLI::PositiveNumber);

  std::string sweep_path;
  SweepOptions sweep_options;
  auto* sweep = app.add_subcommand("sweep", "run many trials of a scenario over a search space, rank and Pareto them");
  sweep->add_option("sweep", sweep_path, "sweep YAML file")->required();
  sweep->add_option("-o,--output", sweep_options.output,
                    "HDF5 output (default results/<sweep name>.h5; trial runs in <output stem>.trials/)");
  sweep->add_option("-j,--jobs", sweep_options.jobs, "trials run in parallel")->check(CLI::PositiveNumber);
  sweep->add_flag("--resume", sweep_options.resume, "reuse trial runs already in the trial folder");
  sweep->add_flag("--dry-run", sweep_options.dry_run, "print the first batch of trials and exit");

  std::string suite_path;
  SuiteOptions suite_options;
  auto* suite = app.add_subcommand("suite", "run a suite of scenarios and check their recorded expectations");
  suite->add_option("suite", suite_path, "suite YAML file (scenarios/suites/)")->required();
  suite->add_option("-o,--output", suite_options.output,
                    "HDF5 output (default results/<suite name>.h5; run files in <output stem>.runs/)");
  suite->add_option("-j,--jobs", suite_options.jobs, "runs in parallel")->check(CLI::PositiveNumber);
  suite->add_flag("--update", suite_options.update,
                  "rewrite the suite file's recorded values from these results (review the diff)");
  suite->add_flag("--markdown", suite_options.markdown,
                  "print the recorded values as markdown tables (what scripts/regen_docs.sh puts in the README); runs nothing");

  CalibrateOptions calib;
  auto* calibrate = app.add_subcommand(
      "calibrate", "fit the roofline model's efficiencies to measured kernel tables (or splitwise-sim times)");
  calibrate->add_option("--system", calib.system, "system of the performance database, e.g. h200_sxm");
  calibrate->add_option("--database", calib.database,
                        "aiconfigurator's systems/ folder for --system (default: data/aiconfigurator/systems)");
  calibrate->add_option("--tables", calib.tables, "instead of --system: a kernel table folder, e.g. data/aiconfigurator/h100_sxm");
  calibrate->add_option("--backend,--framework", calib.backend, "whose kernels: vllm | sglang | trtllm")->capture_default_str();
  calibrate->add_option("--backend-version", calib.backend_version, "the backend's table version (default: the newest)");
  calibrate->add_option("--splitwise", calib.splitwise, "splitwise-sim perf_model.csv.gz instead of kernel tables");
  calibrate->add_option("--splitwise-model", calib.splitwise_model, "model name in that file")->capture_default_str();
  calibrate->add_option("--splitwise-hardware", calib.splitwise_hardware, "hardware name in that file")
      ->capture_default_str();
  calibrate->add_option("--test-tp", calib.test_tp, "splitwise: TP degrees held out of the fit")->capture_default_str();
  calibrate->add_option("--model", calib.model, "catalog model (splitwise)")->capture_default_str();
  calibrate->add_option("--gpu", calib.gpu, "catalog GPU")->capture_default_str();
  calibrate->add_option("--precision", calib.precision, "GEMM format to fit: bf16 | fp8 | fp8_block | nvfp4 (B200)")
      ->capture_default_str()->check(CLI::IsMember({"bf16", "fp8", "fp8_block", "nvfp4"}));
  calibrate->add_option("--name", calib.name, "write the fit as this catalog efficiency entry");
  calibrate->add_option("-o,--output", calib.output, "YAML file (default models/catalog/efficiency/<name>.yaml)");
  calibrate->add_option("--overhead-ms", calib.overhead_ms, "tables: per-iteration overhead to record")
      ->capture_default_str();

  CheckSiliconOptions silicon;
  silicon.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto* check = app.add_subcommand(
      "check-silicon", "predicted vs measured TTFT/TPOT for each row of a measured serving table (closed-loop runs)");
  check->add_option("csv", silicon.csv, "measured table, e.g. data/aiconfigurator/silicon_h100_sxm.csv.gz")
      ->required();
  check->add_option("--filter", silicon.filters,
                    "COLUMN=VALUE[|VALUE...] on id, backend, backend_version, model_path, system, precision, mode, "
                    "isl, osl, gemm_quant_mode, concurrency, tp, attention_dp, half (odd|even line: a fixed split) (repeatable; "
                    "all must hold)");
  check->add_option("-o,--output", silicon.output, "HDF5 table (the CSV goes next to it)")->capture_default_str();
  check->add_option("-j,--jobs", silicon.jobs, "rows run in parallel (default: one per core)")->check(CLI::PositiveNumber);
  check->add_option("--timing", silicon.settings.timing, "kernel | roofline")
      ->capture_default_str()->check(CLI::IsMember({"kernel", "roofline"}));
  check->add_option("--database", silicon.settings.kernel_database,
                    "--timing kernel: aiconfigurator's systems/ folder; each row reads its system's tables "
                    "(default: data/aiconfigurator/systems)");
  check->add_option("--tables", silicon.settings.kernel_tables,
                    "--timing kernel: one kernel table folder for every row instead of --database");
  check->add_option("--kernel-backend", silicon.settings.kernel_backend,
                    "--timing kernel: whose kernels price a row: row (its own backend's) | vllm | sglang | trtllm")
      ->capture_default_str()->check(CLI::IsMember({"row", "vllm", "sglang", "trtllm"}));
  check->add_option("--moe", silicon.settings.moe,
                    "--timing kernel: MoE experts from the backend's measured MoE layers (table) or as GEMMs (gemm)")
      ->capture_default_str()->check(CLI::IsMember({"table", "gemm"}));
  check->add_option("--moe-distribution", silicon.settings.moe_distribution,
                    "--timing kernel: the MoE table's token routing (balanced | power_law_1.01 | power_law_1.2)")
      ->capture_default_str()->check(CLI::IsMember({"balanced", "power_law_1.01", "power_law_1.2"}));
  check->add_option("--efficiency", silicon.settings.efficiency, "roofline efficiency entry (for --timing roofline)")
      ->capture_default_str();
  check->add_option("--rounds", silicon.settings.rounds, "requests per row = concurrency x rounds")
      ->capture_default_str()->check(CLI::PositiveNumber);
  check->add_option("--start", silicon.settings.start,
                    "how the client phases its requests (default: the framework's client_start in engines.yaml): "
                    "burst: all at once, as benchmark clients start, their successors at random phases | "
                    "ramp: random phases from the start (steady state only) | lockstep: all at once, successors "
                    "without jitter, so the first wave's pattern repeats every round")
      ->check(CLI::IsMember({"burst", "ramp", "lockstep"}));
  check->add_option("--max-batch", silicon.settings.max_batch,
                    "each engine's max_num_seqs: engine (the framework's default in engines.yaml) | row (the row's "
                    "batch_size, prefill_batch_size, decode_batch_size) | N (every engine at most N)")
      ->capture_default_str();
  check->add_option("--max-num-batched-tokens", silicon.settings.max_num_batched_tokens,
                    "each engine's token budget per iteration (default: the framework's in engines.yaml)")
      ->check(CLI::PositiveNumber);
  check->add_option("--extra-clients", silicon.settings.extra_clients,
                    "requests the client keeps in flight beyond the row's concurrency (with --max-batch row: "
                    "that many wait for a batch slot)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  check->add_option("--overhead-ms", silicon.settings.overhead_ms,
                    "per-iteration overhead for --timing kernel (default: the framework's in engines.yaml)");
  check->add_option("--request-latency-ms", silicon.settings.request_latency_ms,
                    "frontend latency per request (default: the framework's in engines.yaml)");
  check->add_option("--desync-ms", silicon.settings.desync_ms,
                    "--start burst: each later request waits a uniform random delay in [0, this) instead of "
                    "[0, one request's decode time)")
      ->check(CLI::NonNegativeNumber);
  check->add_option("--frontend-ms-per-request", silicon.settings.frontend_ms_per_request,
                    "the frontend's one process busy this long per request, so a burst reaches the engine "
                    "spread out (frontend.processing.per_request)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  check->add_option("--frontend-ms-per-1k-tokens", silicon.settings.frontend_ms_per_1k_tokens,
                    "the frontend's one process busy this long per 1,000 prompt tokens "
                    "(frontend.processing.per_1k_input_tokens)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  check->add_option("--timeout", silicon.timeout_s, "seconds per row run")->capture_default_str();

  live::LiveOptions live_options;
  auto* live_cmd = app.add_subcommand(
      "live", "serve a scenario's simulated cluster live: OpenAI-compatible API, /metrics, KV events (docs/live.md)");
  live_cmd->add_option("scenario", scenario_path, "scenario YAML file")->required();
  live_cmd->add_option("--set", overrides, "override a key (repeatable)");
  live_cmd->add_option("--host", live_options.server.host, "address to listen on")->capture_default_str();
  live_cmd->add_option("--port", live_options.server.port, "HTTP port (0: any free port, printed at start)")
      ->capture_default_str()->check(CLI::Range(0, 65535));
  live_cmd->add_option("--speedup", live_options.speedup,
                       "simulated seconds per wall second (1 = real time)")->capture_default_str();
  live_cmd->add_option("-o,--output", output, "HDF5 output file, written at exit (default results/<name>.live.h5)");
  live_cmd->add_option("--api-key", live_options.server.api_key, "require 'Authorization: Bearer KEY' on /v1/*");
  live_cmd->add_option("--kv-events", live_options.kv.endpoint,
                       "publish vLLM-format KV events on this ZeroMQ endpoint, e.g. tcp://127.0.0.1:5557");
  live_cmd->add_option("--kv-events-replay", live_options.kv.replay_endpoint,
                       "ZeroMQ ROUTER endpoint answering replay requests for buffered KV event batches");
  live_cmd->add_flag("--kv-events-map-format", live_options.kv.map_format,
                     "encode events as maps tagged by \"type\" (newest vLLM) instead of arrays");
  live_cmd->add_flag("--replay-workload", live_options.replay_workload,
                     "also play the scenario's workload as background traffic");
  live_cmd->add_option("--duration", live_options.duration_s, "stop after this many wall seconds (default: at SIGINT/SIGTERM)");
  live_cmd->add_option("--max-body-bytes", live_options.server.max_body_bytes, "largest request body")
      ->capture_default_str();
  live_cmd->add_option("--max-concurrent", live_options.server.max_concurrent, "API requests in flight (more: 429)")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  live_cmd->add_option("--max-prompt-tokens", live_options.server.limits.max_prompt_tokens, "longest prompt (more: 400)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  live_cmd->add_option("--max-tokens-limit", live_options.server.limits.max_tokens, "largest max_tokens a request may ask")
      ->capture_default_str()->check(CLI::PositiveNumber);
  live_cmd->add_option("--default-max-tokens", live_options.server.limits.default_max_tokens,
                       "output tokens of a request that gives no max_tokens")
      ->capture_default_str()->check(CLI::PositiveNumber);
  live_cmd->add_option("--lag-warn", live_options.lag_warn_s, "warn when the simulation lags the wall clock by this many seconds")
      ->capture_default_str();
  live_cmd->add_option("--per-worker-ports", live_options.per_worker_ports,
                       "worker i also serves its own vLLM-like endpoint (completions, /metrics, /health) on BASE + i, "
                       "for an outside router")
      ->check(CLI::Range(1, 65535));
  live_cmd->add_option("--ready-file", live_options.ready_file, "write the listening port here once serving");

  std::vector<std::string> report_files;
  std::string report_dir;
  auto* report = app.add_subcommand("report", "HTML report with figures of a run or sweep file (Python tools)");
  report->add_option("file", report_files, "run or sweep HDF5 file")->required()->expected(1);
  report->add_option("-o,--output", report_dir, "folder for report.html and the figures (default <file>_report)");
  auto* compare = app.add_subcommand("compare", "the report's figures for several runs overlaid, summaries side by side");
  compare->add_option("files", report_files, "run HDF5 files")->required()->expected(1, -1);
  compare->add_option("-o,--output", report_dir, "folder (default results/compare)");

  CLI11_PARSE(app, argc, argv);
  check_registries();
  for (const auto& dir : catalogs) add_catalog_folder(dir);

  if (list) {
    print_registry<TraceRegistry>(std::cout);
    print_registry<RouterRegistry>(std::cout);
    print_registry<SchedulerRegistry>(std::cout);
    print_registry<TimingRegistry>(std::cout);
    print_registry<PredictorRegistry>(std::cout);
    print_registry<PlannerPolicyRegistry>(std::cout);
    print_registry<SweepStrategyRegistry>(std::cout);
    std::cout << "speculative decoding methods (pools[].speculative.method):\n";
    for (const auto& [name, what] : speculative_methods()) std::cout << fmt::format("  {:<16} {}\n", name, what);
    std::cout << fmt::format("sweep across MPI ranks: {}\n",
                             SweepRanks::built_with_mpi() ? "yes (mpirun -n N servesim sweep ...)" : "no (built without MPI)");
    std::cout << "memory rules (pools[].engine.memory_rule):\n";
    for (const MemoryRule& r : memory_rules()) std::cout << fmt::format("  {:<20} {}\n", r.name, r.description);
    std::cout << "GPUs (catalog):\n";
    for (const auto& [name, g] : Catalog::builtin().gpus())
      std::cout << fmt::format("  {:<16} {} ({:g} GiB, {:g} GB/s, {:g} TFLOP/s bf16)\n", name, g.description,
                               g.memory_gib, g.hbm_gbps, g.bf16_tflops);
    std::cout << "models (catalog):\n";
    for (const auto& [name, m] : Catalog::builtin().models())
      std::cout << fmt::format(
          "  {:<16} {} ({:g}B params{}{}){}\n", name, m.hf_id, m.params_b,
          m.experts ? fmt::format(", {} {}experts top-{}", m.experts,
                                  m.expert_precision.empty() ? "" : m.expert_precision + " ", m.top_k)
                    : "",
          m.windowed_layers() ? fmt::format(", {} of {} layers over a {}-token window", m.windowed_layers(), m.layers,
                                            m.sliding_window)
          : m.sparse_topk     ? fmt::format(", sparse attention over the top {} tokens", m.sparse_topk)
                              : "",
          m.same_architecture.empty() ? "" : fmt::format("; also {}", fmt::join(m.same_architecture, ", ")));
    return 0;
  }
  if (timing->parsed()) {
    // the kernel tables' options choose kernel timing; with another timing model they are an error
    const bool kernel_options = timing->count("--system") + timing->count("--backend") +
                                    timing->count("--backend-version") + timing->count("--database") +
                                    timing->count("--tables") > 0;
    if (kernel_options && timing->count("--timing") == 0) timing_pool.timing.model = "kernel";
    if (kernel_options && timing_pool.timing.model != "kernel")
      throw ConfigError(fmt::format("--system, --backend, --backend-version, --database and --tables choose kernel "
                                    "tables, which --timing {} does not read. Fix: drop them or use --timing kernel",
                                    timing_pool.timing.model));
    // --system names the GPU too, unless --gpu says otherwise
    if (!timing_pool.timing.kernel.system.empty() && timing->count("--gpu") == 0) {
      const auto gpu = Catalog::builtin().gpu_of_system(timing_pool.timing.kernel.system);
      if (!gpu)
        throw ConfigError(fmt::format("--system {}: no catalog GPU of that name (servesim --list). Fix: pass --gpu",
                                      timing_pool.timing.kernel.system));
      timing_pool.gpu = *gpu;
    }
    if (!timing_engine.empty()) {
      // the preset's settings, then any option given on the command line on top
      EngineConfig given = timing_pool.engine;
      Catalog::builtin().engine(timing_engine).apply(timing_pool.engine, timing_pool.gpu,
                                                     Catalog::builtin().gpu(timing_pool.gpu));
      auto keep = [&](const char* option, auto EngineConfig::*field) {
        if (timing->count(option) > 0) timing_pool.engine.*field = given.*field;
      };
      keep("--max-num-seqs", &EngineConfig::max_num_seqs);
      keep("--max-num-batched-tokens", &EngineConfig::max_num_batched_tokens);
      keep("--gpu-memory-utilization", &EngineConfig::gpu_memory_utilization);
      keep("--memory-rule", &EngineConfig::memory_rule);
    }
    if (timing_max_loras > 0) {
      timing_pool.lora.max_loras = timing_max_loras;
      timing_pool.lora.adapters.push_back({"adapter", 0, 1});
    }
    // a hybrid linear-attention model's block size and prefix caching, as a scenario's pool gets them
    for (const std::string& note : apply_hybrid_engine_rules(timing_pool, Catalog::builtin(), false))
      std::cout << note << "\n";
    // the checks a scenario's pool passes (FP4 units for nvfp4, heads and experts that split, ...)
    validate_pool(timing_pool, "pool", config::SourceMap("servesim timing"), ".");
    return print_timing(timing_pool, timing_breakdown);
  }
  if (report->parsed() || compare->parsed()) {
    // the figures are drawn by tools/report.py with Debian's python3-matplotlib and friends
    std::vector<std::string> args{"/usr/bin/python3", std::string(SERVESIM_SOURCE_DIR) + "/tools/report.py",
                                  report->parsed() ? "report" : "compare"};
    args.insert(args.end(), report_files.begin(), report_files.end());
    if (!report_dir.empty()) args.insert(args.end(), {"-o", report_dir});
    std::vector<char*> argv_py;
    for (auto& a : args) argv_py.push_back(a.data());
    argv_py.push_back(nullptr);
    std::fflush(stdout);
    execv(argv_py[0], argv_py.data());
    throw std::runtime_error(fmt::format("cannot run {} (install python3 with python3-h5py, python3-pandas and "
                                         "python3-matplotlib): {}",
                                         args[0], std::strerror(errno)));
  }
  if (calibrate->parsed()) {
    // --system names the GPU too (its peaks are what the fit divides by), unless --gpu says otherwise
    if (!calib.system.empty() && calibrate->count("--gpu") == 0) {
      const auto gpu = Catalog::builtin().gpu_of_system(calib.system);
      if (!gpu)
        throw ConfigError(
            fmt::format("--system {}: no catalog GPU of that name (servesim --list). Fix: pass --gpu", calib.system));
      calib.gpu = *gpu;
    }
    return run_calibrate(calib);
  }
  if (check->parsed()) {
    silicon.progress = isatty(STDERR_FILENO);
    if (!silicon.settings.kernel_tables.empty()) {
      if (!silicon.settings.kernel_database.empty())
        throw ConfigError("check-silicon: --tables and --database are two ways to name the kernel tables. Fix: keep one");
      silicon.settings.kernel_tables = std::filesystem::absolute(silicon.settings.kernel_tables).lexically_normal();
    } else {
      if (silicon.settings.kernel_database.empty()) silicon.settings.kernel_database = default_perf_database();
      silicon.settings.kernel_database = std::filesystem::absolute(silicon.settings.kernel_database).lexically_normal();
    }
    return run_check_silicon(silicon);
  }
  if (suite->parsed()) {
    suite_options.progress = isatty(STDERR_FILENO);
    return run_suite(suite_path, suite_options);
  }
  if (sweep->parsed()) {
    sweep_options.progress = isatty(STDERR_FILENO);
    return run_sweep(sweep_path, sweep_options);
  }
  if (live_cmd->parsed()) {
    LoadedScenario scenario = load_scenario_file(scenario_path, overrides, seed);
    live_options.output_path = output.empty() ? fmt::format("results/{}.live.h5", scenario.config.name) : output;
    if (output == "none") live_options.output_path.clear();
    return live::run_live(scenario, live_options);
  }
  if (!run->parsed() && !validate->parsed()) {
    std::cout << app.help();
    return 0;
  }

  LoadedScenario scenario = load_scenario_file(scenario_path, overrides, seed);
  for (const auto& w : scenario.warnings) std::fprintf(stderr, "servesim: warning: %s\n", w.c_str());
  if (dump) std::cout << config::write_yaml(scenario.config, true);
  if (validate->parsed()) {
    if (!dump) {
      std::cout << fmt::format("{}: valid ({} pools, workload '{}')\n", scenario_path, scenario.config.pools.size(),
                               scenario.config.workload.source);
      for (const PoolConfig& pool : scenario.config.pools) {
        const KvCapacity cap = kv_capacity(pool, Catalog::builtin());
        std::cout << fmt::format("pool '{}': {} blocks of {} tokens per worker\n", pool.name, cap.blocks,
                                 pool.engine.block_size)
                  << (pool.engine.num_gpu_blocks ? "  (engine.num_gpu_blocks given)\n" : cap.ledger.text());
      }
    }
    return 0;
  }
  if (dump) return 0;

  if (output.empty()) output = fmt::format("results/{}.h5", scenario.config.name);
  RunOptions options{output, !quiet && isatty(STDERR_FILENO)};
  RunResult result = run_scenario(scenario, options);
  std::cout << fmt::format("scenario    {} (seed {})\n", scenario.config.name, scenario.config.seed)
            << result.summary_table << fmt::format("results     {}\n", output);
  return result.stop_signal ? 128 + result.stop_signal : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const servesim::ConfigError& e) {
    std::fprintf(stderr, "servesim: configuration error: %s\n", e.what());
    return 2;
  } catch (const servesim::InputError& e) {
    std::fprintf(stderr, "servesim: input error: %s\n", e.what());
    return 3;
  } catch (const servesim::OutputError& e) {
    std::fprintf(stderr, "servesim: output error: %s\n", e.what());
    return 5;
  } catch (const servesim::InvariantError& e) {
    std::fprintf(stderr, "servesim: internal error (a simulation invariant failed; please report it): %s\n", e.what());
    return 4;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "servesim: out of memory: the run needed more than this process may use (the machine's memory, a "
                 "container's limit or ulimit -v). Fix: more memory, a shorter workload (workload.max_requests), "
                 "or fewer workers or requests in flight\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "servesim: error: %s\n", e.what());
    return 1;
  }
}
