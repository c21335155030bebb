// `servesim calibrate` and `servesim check-silicon`, end to end through the CLI: a round trip on
// synthetic kernel tables made from known efficiency factors, the splitwise-sim fit's held-out
// error, and check-silicon on a fixture of real measured rows plus a regression bound on the
// real vLLM Llama-3.1-70B rows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "app/commands/silicon.h"
#include "core/error.h"
#include "models/catalog.h"
#include "models/timing/roofline.h"
#include "scenario/scenario.h"
#include "test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using testing::H5File;
using testing::read_double_column;
using testing::read_string_column;

const std::string kTables = testing::data_file("aiconfigurator/h100_sxm");
const std::string kSilicon = testing::data_file("aiconfigurator/silicon_h100_sxm.csv.gz");
const std::string kFixture = std::string(SERVESIM_SOURCE_DIR) + "/tests/data/silicon_h100_sxm_fixture.csv";

void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

// An aiconfigurator-layout table folder whose every latency is the roofline's under `truth`.
void synthetic_tables(const std::string& dir, const RooflineEfficiency& truth) {
  const GpuSpec& gpu = Catalog::builtin().gpu("h100_sxm");
  const RooflineKernels k{gpu, truth};
  std::ostringstream gemm;
  gemm << "framework,version,device,op_name,kernel_source,gemm_dtype,m,n,k,latency\n";
  for (double m : {1, 4, 16, 64, 256, 1024, 4096, 16384})
    for (double n : {512, 2048, 8192, 28672})
      for (double kk : {512, 4096, 8192})
        gemm << fmt::format("VLLM,0,H100,gemm,linear,bfloat16,{},{},{},{:.9g}\n", m, n, kk,
                            k.gemm_s(m, n, kk, "bf16") * 1e3);
  testing::write_gz(dir + "/gemm/vllm/0/gemm_perf.csv.gz", gemm.str());
  const std::string head =
      "framework,version,device,op_name,kernel_source,batch_size,isl,num_heads,num_key_value_heads,head_dim,"
      "beam_width,attn_dtype,kv_cache_dtype,step,window_size,latency\n";
  std::ostringstream ctx, gen;
  ctx << head;
  gen << head;
  for (int b : {1, 4, 16, 64})
    for (int isl : {16, 128, 1024, 4096, 16384}) {
      ctx << fmt::format("VLLM,0,H100,context_attention,fa3,{},{},32,8,128,1,bfloat16,bfloat16,0,0,{:.9g}\n", b, isl,
                         k.context_attention_s(b, isl, 32, 128) * 1e3);
      gen << fmt::format("VLLM,0,H100,generation_attention,fa3,{},1,32,8,128,1,bfloat16,bfloat16,{},0,{:.9g}\n", b,
                         isl - 1, k.generation_attention_s(b, isl, 8, 128, 2.0) * 1e3);
    }
  testing::write_gz(dir + "/attention/vllm/0/context_attention_perf.csv.gz", ctx.str());
  testing::write_gz(dir + "/attention/vllm/0/generation_attention_perf.csv.gz", gen.str());
  std::ostringstream ar, nccl;
  ar << "framework,version,device,op_name,kernel_source,allreduce_dtype,num_gpus,message_size,latency,backend\n";
  nccl << "framework,version,device,op_name,kernel_source,nccl_dtype,num_gpus,message_size,latency\n";
  for (int g : {2, 4, 8})
    for (double e = 1024; e <= 64.0 * 1024 * 1024; e *= 4) {
      const double ms = k.allreduce_s(e * 2, g) * 1e3;
      ar << fmt::format("vLLM,0,H100,all_reduce,vLLM_custom_graph,bfloat16,{},{},{:.9g},vllm_graph\n", g, e, ms);
      nccl << fmt::format("TRTLLM,0,H100,all_reduce,NCCL,half,{},{},{:.9g}\n", g, e, ms);
    }
  write_text(dir + "/comm/vllm/0/custom_allreduce_perf.csv", ar.str());
  write_text(dir + "/comm/nccl/0/nccl_perf.csv", nccl.str());
}

TEST(Calibrate, RecoversKnownEfficienciesFromSyntheticTables) {
  testing::TempDir dir;
  RooflineEfficiency truth;
  truth.compute_efficiency = 0.62;
  truth.memory_efficiency = 0.74;
  truth.kernel_latency_us = 4.5;
  truth.attention_efficiency = 0.41;
  truth.attention_latency_us = 12;
  truth.allreduce_latency_us = 6;
  truth.allreduce_step_latency_us = 0.8;
  truth.allreduce_bandwidth_efficiency = 0.7;
  synthetic_tables(dir.file("sys"), truth);
  const std::string out = dir.file("fit.yaml");
  auto r = testing::run_servesim("calibrate --tables " + dir.file("sys") + " --name synth -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  YAML::Node e = YAML::LoadFile(out)["synth"];
  ASSERT_TRUE(e) << r.out;
  auto near = [&](const char* key, double want) {
    EXPECT_NEAR(e[key].as<double>(), want, 0.02 * want) << key << "\n" << r.out;
  };
  near("compute_efficiency", truth.compute_efficiency);
  near("memory_efficiency", truth.memory_efficiency);
  near("kernel_latency_us", truth.kernel_latency_us);
  near("attention_efficiency", truth.attention_efficiency);
  near("attention_latency_us", truth.attention_latency_us);
  near("allreduce_latency_us", truth.allreduce_latency_us);
  near("allreduce_step_latency_us", truth.allreduce_step_latency_us);
  near("allreduce_bandwidth_efficiency", truth.allreduce_bandwidth_efficiency);
  // the tables are the model: every class fits exactly, the kernel model interpolates them
  EXPECT_THAT(r.out, HasSubstr("gemm (bfloat16)"));
  EXPECT_THAT(r.out, HasSubstr("kernel model, held out"));
}

TEST(Calibrate, BadInvocationsAreClearErrors) {
  testing::TempDir dir;
  auto none = testing::run_servesim("calibrate");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.out, HasSubstr("exactly one of --system NAME or --tables DIR"));
  auto missing = testing::run_servesim("calibrate --tables " + dir.file("nope"));
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_THAT(missing.out, HasSubstr("kernel table folder not found"));
}

// Held-out error of a figure printed by calibrate ("  <label>   points  MAPE% ...").
double printed_mape(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  if (at == std::string::npos) return NAN;
  std::istringstream line(out.substr(at + label.size(), out.find('\n', at) - at - label.size()));
  long points = 0;
  double mape_percent = 0;
  char percent = 0;
  if (!(line >> points >> mape_percent >> percent) || percent != '%') return NAN;
  return mape_percent / 100;
}

TEST(Calibrate, TheKernelModelHoldsOutWithinFivePercentInsideOneKernel) {
  auto r = testing::run_servesim("calibrate --tables " + kTables);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // regression bounds on the issue's 5% target: 4.7% within one kernel, 5.2% with the block-fp8
  // predictions across vLLM's kernel switches, when this was written
  EXPECT_LT(printed_mape(r.out, "all tables, within one kernel"), 0.05) << r.out;
  EXPECT_LT(printed_mape(r.out, "all tables, and across kernel switches"), 0.055) << r.out;
  EXPECT_GT(printed_mape(r.out, "across a kernel switch"), 0.2) << r.out;
  // each table is read with the interpolant that holds out better
  for (const char* line : {"context attention ", "generation attention ", "all-reduce ", "gemm bfloat16 "}) {
    const size_t at = r.out.rfind(line);  // the comparison table comes last
    ASSERT_NE(at, std::string::npos) << line;
    std::istringstream cols(r.out.substr(at + std::string(line).size()));
    double linear = 0, cubic = 0;
    char pct = 0;
    ASSERT_TRUE(cols >> linear >> pct >> cubic >> pct) << line;
    const bool attention_or_comm = std::string(line) != "gemm bfloat16 ";
    EXPECT_EQ(cubic < linear, attention_or_comm) << line << linear << " " << cubic;
  }
}

// --system names the GPU whose peaks the fit divides by: B200's NVFP4 GEMMs fitted against its
// FP4 peak (against an H100's, which has none, the fit would be infinite)
TEST(Calibrate, ASystemsTablesAreFittedOnItsOwnGpu) {
  testing::TempDir dir;
  auto r = testing::run_servesim("calibrate --system b200_sxm --backend vllm --precision nvfp4 -o " +
                                 dir.file("b200.yaml") + " --name b200_vllm_nvfp4");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("(vllm 0.24.0 kernels, nvfp4 GEMMs) on b200\n"));
  // 16.5% when this was written: the roofline's one efficiency over FlashInfer's NVFP4 kernels
  EXPECT_LT(printed_mape(r.out, "gemm (nvfp4)"), 0.25) << r.out;
  r = testing::run_servesim("calibrate --system h100_sxm --precision nvfp4 -o " + dir.file("h100.yaml") + " --name x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("no nvfp4 GEMM table"));
}

TEST(Calibrate, SplitwiseLlama2DecodeIsReproducedOnAHeldOutTpDegree) {
  const std::string sw = testing::data_file("splitwise_sim/perf_model.csv.gz");
  auto r = testing::run_servesim("calibrate --splitwise " + sw + " --model llama-2-70b --test-tp 4");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // the issue's 15% target on both; measured 7.2% (decode) and 10.6% (prefill) on TP 4
  EXPECT_LT(printed_mape(r.out, "held out: decode per iteration"), 0.15) << r.out;
  EXPECT_LT(printed_mape(r.out, "held out: prefill (batch x prompt)"), 0.15) << r.out;
  // the one broken configuration (faster than half its batch) is named and left out, not fitted
  EXPECT_NE(r.out.find("left out: TP 2 batch 64 x 512 tokens"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("left out: TP 4"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("left out: TP 8"), std::string::npos) << r.out;
}

TEST(CheckSilicon, RowsBecomeTheDeploymentsTheyList) {
  auto rows = read_silicon_csv(kFixture);
  ASSERT_EQ(rows.size(), 8u);
  SiliconRunSettings s;
  s.timing = "roofline";  // no tables needed to build the scenario
  std::map<std::string, SiliconDeployment> by_model;
  int unsupported = 0;
  for (const auto& r : rows) {
    SiliconDeployment d = silicon_deployment(r, s);
    if (!d.unsupported.empty()) {
      ++unsupported;
      continue;
    }
    LoadedScenario sc = load_scenario_string(d.scenario_yaml, "row");
    const auto& cfg = sc.config;
    EXPECT_EQ(cfg.workload.closed_loop.concurrency, r.concurrency);
    EXPECT_EQ(*cfg.workload.max_requests, static_cast<std::int64_t>(r.concurrency) * s.rounds);
    EXPECT_EQ(cfg.workload.synthetic.input_length.value, r.isl);
    EXPECT_EQ(cfg.workload.synthetic.output_length.value, r.osl);
    ASSERT_EQ(cfg.pools.size(), 1u);
    EXPECT_EQ(cfg.pools[0].tp, r.tp);
    EXPECT_EQ(cfg.pools[0].engine.scheduler, Catalog::builtin().engine(r.backend).scheduler);
    EXPECT_EQ(cfg.pools[0].engine.block_size, Catalog::builtin().engine(r.backend).block_size);
    // the client phases its requests as the framework's measured client did (engines.yaml)
    const std::string start = Catalog::builtin().engine(d.engine).client_start;
    EXPECT_EQ(cfg.workload.closed_loop.desync.seconds > 0, start == "burst") << d.engine;
    EXPECT_EQ(cfg.workload.closed_loop.ramp.seconds, 0.0) << d.engine;
    by_model[d.catalog_model + "/" + d.precision + "/" + d.engine] = d;
  }
  EXPECT_EQ(unsupported, 2);
  EXPECT_TRUE(by_model.count("llama-3.1-70b/fp8/vllm"));       // gemm_quant_mode fp8
  // gpt-oss-120b from its config.json: the row's fp8 GEMMs for the dense layers (its experts stay MXFP4)
  EXPECT_TRUE(by_model.count("openai/gpt-oss-120b/fp8/trtllm"));
  EXPECT_TRUE(by_model.count("qwen3-32b/bf16/vllm@0.12.0"));   // no precision given: the checkpoint's
  EXPECT_TRUE(by_model.count("qwen3-32b/bf16/sglang"));
  // an MoE row: the row's GEMM format (fp8, not the checkpoint's fp8_block), experts over 4 GPUs,
  // and the framework version's own engine entry
  ASSERT_TRUE(by_model.count("minimax-m2.5/fp8/vllm@0.18.0"));
  EXPECT_EQ(load_scenario_string(by_model["minimax-m2.5/fp8/vllm@0.18.0"].scenario_yaml, "moe")
                .config.pools[0].expert_parallel,
            4);
  // SGLang's measured TTFT is that of requests in step; vLLM's of requests drifting apart
  EXPECT_EQ(load_scenario_string(by_model["qwen3-32b/bf16/sglang"].scenario_yaml, "sglang")
                .config.workload.closed_loop.desync.seconds,
            0.0);
  EXPECT_GT(load_scenario_string(by_model["llama-3.1-70b/fp8/vllm"].scenario_yaml, "vllm")
                .config.workload.closed_loop.desync.seconds,
            0.0);

  // a disaggregated row: prefill and decode pools with the listed workers, every prompt remote
  SiliconRow d = rows[1];
  d.mode = "disagg";
  d.concurrency = 64;
  d.prefill_workers = 2;
  d.prefill_tp = 2;
  d.decode_workers = 1;
  d.decode_tp = 4;
  SiliconDeployment dd = silicon_deployment(d, s);
  ASSERT_TRUE(dd.unsupported.empty()) << dd.unsupported;
  EXPECT_EQ(dd.gpus, 8);
  const auto& cfg = load_scenario_string(dd.scenario_yaml, "disagg").config;
  ASSERT_EQ(cfg.pools.size(), 2u);
  EXPECT_EQ(cfg.pools[0].role, "prefill");
  EXPECT_EQ(cfg.pools[0].replicas, 2);
  EXPECT_EQ(cfg.pools[1].role, "decode");
  EXPECT_EQ(cfg.pools[1].tp, 4);
  EXPECT_EQ(cfg.router.max_local_prefill_length, 0);

  // another checkpoint of a catalog architecture (DeepSeek-R1 has DeepSeek-V3's) is matched to
  // it; a disaggregated row without worker counts says so
  SiliconRow r1 = d;
  r1.model_path = "deepseek-ai/DeepSeek-R1";
  r1.prefill_workers = 0;
  SiliconDeployment rd = silicon_deployment(r1, s);
  EXPECT_EQ(rd.catalog_model, "deepseek-v3");
  EXPECT_THAT(rd.unsupported, HasSubstr("no prefill or decode worker counts"));
}

TEST(CheckSilicon, FiltersAreCheckedAndApplied) {
  EXPECT_THROW(parse_silicon_filter("backend"), ConfigError);
  EXPECT_THROW(parse_silicon_filter("colour=red"), ConfigError);
  auto rows = read_silicon_csv(kFixture);
  auto f = parse_silicon_filter("backend=vllm|sglang");
  int pass = 0;
  for (const auto& r : rows) pass += passes(r, {f, parse_silicon_filter("model_path=meta-llama/Llama-3.1-70B")});
  EXPECT_EQ(pass, 2);
  testing::TempDir dir;
  const std::string bad = dir.write("bad.csv", "id,backend\nx,vllm\n");
  EXPECT_THROW(read_silicon_csv(bad), InputError);  // names the missing column
}

// How the client starts, run for real: the vLLM Llama-3.1-70B row of 8192-token prompts at
// concurrency 4 (each prompt fills a whole 8192-token iteration, so arrivals that coincide queue).
TEST(CheckSilicon, StartModesSetHowTheClosedLoopBegins) {
  auto rows = read_silicon_csv(kFixture);
  const SiliconRow& row = rows[6];
  ASSERT_EQ(row.isl, 8192);
  ASSERT_EQ(row.concurrency, 4);
  SiliconRunSettings s;
  s.timing = "roofline";
  testing::TempDir dir;
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> runs;  // arrival, ttft
  for (const std::string start : {"burst", "ramp", "lockstep"}) {
    s.start = start;
    SiliconDeployment d = silicon_deployment(row, s);
    ASSERT_TRUE(d.unsupported.empty()) << d.unsupported;
    const auto& loop = load_scenario_string(d.scenario_yaml, start).config.workload.closed_loop;
    EXPECT_EQ(loop.concurrency, 4);
    EXPECT_EQ(loop.ramp.seconds > 0, start == "ramp") << start;
    EXPECT_EQ(loop.desync.seconds > 0, start == "burst") << start;
    const std::string yaml = dir.write(start + ".yaml", d.scenario_yaml), out = dir.file(start + ".h5");
    auto r = testing::run_servesim("run " + yaml + " -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    H5File f(out);
    runs[start] = {read_double_column(f.id, "/requests", "arrival_s"), read_double_column(f.id, "/requests", "ttft_s")};
    ASSERT_EQ(runs[start].first.size(), 40u);
  }
  const auto& [burst_arrival, burst_ttft] = runs["burst"];
  const auto& [ramp_arrival, ramp_ttft] = runs["ramp"];
  const auto& [lock_arrival, lock_ttft] = runs["lockstep"];
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(burst_arrival[i], 0.0);
    EXPECT_EQ(lock_arrival[i], 0.0);
  }
  // ramp: the first wave already at distinct phases
  EXPECT_EQ(std::set<double>(ramp_arrival.begin(), ramp_arrival.begin() + 4).size(), 4u);
  // the first wave of a burst queues: the four prompts finish one iteration after another
  std::vector<double> wave(lock_ttft.begin(), lock_ttft.begin() + 4);
  std::sort(wave.begin(), wave.end());
  EXPECT_GT(wave[3], 3 * wave[0]);
  // lockstep: no jitter, so from the second round on every round repeats the one before it
  for (size_t i = 8; i < 40; ++i) EXPECT_NEAR(lock_ttft[i], lock_ttft[i - 4], 1e-9) << i;
  // burst: the first wave's successors drift to random phases, where these prompts (0.37 s each,
  // one per 11 s request) rarely meet; lockstep keeps them queued behind each other
  auto after_first_wave = [](const std::vector<double>& v) {
    return std::accumulate(v.begin() + 4, v.end(), 0.0) / static_cast<double>(v.size() - 4);
  };
  EXPECT_LT(after_first_wave(burst_ttft), 0.75 * after_first_wave(lock_ttft));
  EXPECT_LT(after_first_wave(ramp_ttft), 0.75 * after_first_wave(lock_ttft));
  s.start = "sideways";
  EXPECT_THROW(silicon_deployment(row, s), ConfigError);
}

// --max-batch row --extra-clients 1: the engine admits the row's batch_size, and the client keeps
// one request more in flight, so one always waits for a slot. Little's law on the closed loop
// (c + 1 requests in the system, c of them in service, no think time) gives the mean wait exactly:
// W = E / c, E the mean time in service.
TEST(CheckSilicon, ARequestBeyondTheBatchLimitWaitsWhatLittlesLawSays) {
  auto rows = read_silicon_csv(kFixture);
  SiliconRow row = rows[5];  // vLLM Llama-3.1-70B, 1024/1024 tokens at concurrency 4, batch_size 4
  ASSERT_EQ(row.concurrency, 4);
  ASSERT_EQ(row.batch_size, 4);
  SiliconRunSettings s;
  s.timing = "roofline";
  s.start = "ramp";
  s.rounds = 40;
  s.request_latency_ms = 0;
  s.max_batch = "row";
  testing::TempDir dir;
  auto waits = [&](int extra) {
    s.extra_clients = extra;
    SiliconDeployment d = silicon_deployment(row, s);
    EXPECT_TRUE(d.unsupported.empty()) << d.unsupported;
    EXPECT_EQ(d.client_concurrency, 4 + extra);
    EXPECT_EQ(d.max_num_seqs, 4);
    const auto& cfg = load_scenario_string(d.scenario_yaml, "row").config;
    EXPECT_EQ(cfg.workload.closed_loop.concurrency, 4 + extra);
    EXPECT_EQ(cfg.pools[0].engine.max_num_seqs, 4);
    const std::string out = dir.file(fmt::format("extra{}.h5", extra));
    auto r = testing::run_servesim("run " + dir.write(fmt::format("extra{}.yaml", extra), d.scenario_yaml) + " -o " + out);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    H5File f(out);
    const auto queue = read_double_column(f.id, "/requests", "queue_s");
    const auto e2e = read_double_column(f.id, "/requests", "e2e_s");
    EXPECT_EQ(queue.size(), static_cast<size_t>((4 + extra) * 40));
    double wait = 0, service = 0;
    for (size_t i = 0; i < queue.size(); ++i) {
      wait += queue[i];
      service += e2e[i] - queue[i];
    }
    return std::pair(wait / static_cast<double>(queue.size()), service / static_cast<double>(queue.size()));
  };
  const auto [wait, service] = waits(1);
  EXPECT_NEAR(wait / (service / 4), 1.0, 0.05) << wait << " " << service;
  const auto [no_wait, service0] = waits(0);  // without the extra request nothing waits for a slot
  EXPECT_LT(no_wait, 0.05 * service0 / 4);
  // a row without the batch size asked for is listed, not guessed
  row.batch_size = 0;
  EXPECT_THAT(silicon_deployment(row, s).unsupported, HasSubstr("gives no batch_size"));
  s.max_batch = "3";  // a number: every engine admits that many, whatever the row says
  EXPECT_EQ(silicon_deployment(row, s).max_num_seqs, 3);
  EXPECT_EQ(load_scenario_string(silicon_deployment(row, s).scenario_yaml, "row").config.pools[0].engine.max_num_seqs, 3);
  for (const char* bad : {"largest", "0", "-2", "3x", ""}) {
    s.max_batch = bad;
    EXPECT_THROW(silicon_deployment(row, s), ConfigError) << bad;
  }
  s.max_batch = "engine";
  s.extra_clients = -1;
  EXPECT_THROW(silicon_deployment(row, s), ConfigError);
}

// The client, frontend and engine settings the TTFT investigation tries reach the row's
// scenario as asked: a burst's spread (--desync-ms), the frontend's processing time and the
// token budget (--max-num-batched-tokens).
TEST(CheckSilicon, DesyncAndFrontendProcessingReachTheRowsScenario) {
  auto rows = read_silicon_csv(kFixture);
  const SiliconRow& row = rows[6];
  SiliconRunSettings s;
  s.timing = "roofline";
  s.start = "burst";
  const auto config = [&] {
    SiliconDeployment d = silicon_deployment(row, s);
    EXPECT_TRUE(d.unsupported.empty()) << d.unsupported;
    return load_scenario_string(d.scenario_yaml, "row").config;
  };
  const ScenarioConfig plain = config();
  EXPECT_GT(plain.workload.closed_loop.desync.seconds, 1.0);  // one request's decode time
  EXPECT_EQ(plain.frontend.processing.per_request.seconds, 0.0);
  EXPECT_EQ(plain.frontend.processing.per_1k_input_tokens.seconds, 0.0);
  s.desync_ms = 40;
  s.frontend_ms_per_request = 2;
  s.frontend_ms_per_1k_tokens = 3.5;
  const ScenarioConfig set = config();
  EXPECT_DOUBLE_EQ(set.workload.closed_loop.desync.seconds, 0.040);
  EXPECT_DOUBLE_EQ(set.frontend.processing.per_request.seconds, 0.002);
  EXPECT_DOUBLE_EQ(set.frontend.processing.per_1k_input_tokens.seconds, 0.0035);
  EXPECT_EQ(set.frontend.processing.processes, 1);
  EXPECT_EQ(set.pools[0].engine.max_num_batched_tokens, 8192);  // the framework's
  s.max_num_batched_tokens = 2048;
  EXPECT_EQ(config().pools[0].engine.max_num_batched_tokens, 2048);
  EXPECT_EQ(silicon_deployment(row, s).max_num_batched_tokens, 2048);
  s.start = "lockstep";  // a spread for a start that has none is an error, not ignored
  EXPECT_THROW(silicon_deployment(row, s), ConfigError);
  s.desync_ms.reset();
  s.max_num_batched_tokens = 0;
  EXPECT_THROW(silicon_deployment(row, s), ConfigError);
}

// An NVFP4 row of an export whose routed experts alone are NVFP4 (NVIDIA's MiniMax-M2.5) deploys
// the checkpoint as published, its attention bf16: as `precision: nvfp4` every GEMM would be FP4.
// On a GPU without FP4 units the row is listed, not run.
TEST(CheckSilicon, AnNvfp4RowOfAnExpertsOnlyExportServesItAsPublished) {
  SiliconRow row = read_silicon_csv(kFixture)[4];  // MiniMax-M2.5, vLLM 0.18, fp8
  row.model_path = "nvidia/MiniMax-M2.5-NVFP4";
  row.precision = "nvfp4";
  row.gemm_quant_mode = "";
  row.system = "b200_sxm";
  SiliconRunSettings s;
  s.timing = "roofline";
  const SiliconDeployment d = silicon_deployment(row, s);
  ASSERT_TRUE(d.unsupported.empty()) << d.unsupported;
  EXPECT_EQ(d.catalog_model, "nvidia/MiniMax-M2.5-NVFP4");
  EXPECT_EQ(d.precision, "bf16");
  const ScenarioConfig config = load_scenario_string(d.scenario_yaml, "row").config;
  const ModelSpec m = Catalog::builtin().deployed_model(config.pools.at(0));
  EXPECT_EQ(m.precision, "bf16");
  EXPECT_EQ(m.expert_precision, "nvfp4");
  row.system = "h100_sxm";
  EXPECT_THAT(silicon_deployment(row, s).unsupported, HasSubstr("nvfp4 GEMMs on h100_sxm, which has no FP4 tensor cores"));
}

TEST(CheckSilicon, FixtureRunsEndToEndWithTheKernelModel) {
  testing::TempDir dir;
  const std::string out = dir.file("check.h5");
  auto r = testing::run_servesim("check-silicon " + kFixture + " -j 2 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("attention data parallelism (attention_dp > 1) in disaggregated rows is not modelled"));
  // gpt-oss-120b is in the catalog (its config.json), but TensorRT-LLM's MXFP4 MoE table did not
  // measure this row's layout, and MXFP4 experts have no GEMM table to fall back on
  EXPECT_THAT(r.out, HasSubstr("no w4a16_mxfp4 MoE table for 128 experts top-4 (hidden 2880, FFN 2880) at moe_tp 4"));
  EXPECT_THAT(r.out, HasSubstr("no client concurrency"));
  H5File f(out);
  ASSERT_GE(f.id, 0);
  EXPECT_EQ(testing::dataset_rows(f.id, "/rows"), 8u);
  auto status = read_string_column(f.id, "/rows", "status");
  auto measured = read_double_column(f.id, "/rows", "measured_tpot_ms");
  auto predicted = read_double_column(f.id, "/rows", "predicted_tpot_ms");
  auto error = read_double_column(f.id, "/rows", "tpot_error");
  auto done = read_double_column(f.id, "/rows", "requests_completed");
  auto conc = read_double_column(f.id, "/rows", "concurrency");
  auto backend = read_string_column(f.id, "/rows", "backend");
  auto engine = read_string_column(f.id, "/rows", "engine");
  auto start = read_string_column(f.id, "/rows", "client_start");
  auto kernel_backend = read_string_column(f.id, "/rows", "kernel_backend");
  auto kernel_version = read_string_column(f.id, "/rows", "kernel_version");
  int ok = 0;
  for (size_t i = 0; i < status.size(); ++i) {
    if (status[i] != "ok") {
      EXPECT_EQ(status[i], "unsupported");
      EXPECT_TRUE(std::isnan(predicted[i]));
      continue;
    }
    ++ok;
    // each row records the client start it ran with: its framework's (engines.yaml)
    EXPECT_EQ(start[i], backend[i] == "sglang" ? "lockstep" : "burst") << engine[i];
    EXPECT_NEAR(error[i], predicted[i] / measured[i] - 1, 1e-12);
    // priced with its own backend's tables, at the version the repository has (the newest)
    EXPECT_EQ(kernel_backend[i], backend[i]);
    EXPECT_EQ(kernel_version[i], backend[i] == "sglang" ? "0.5.14" : "0.24.0") << backend[i];
    EXPECT_EQ(done[i], 10 * conc[i]);  // every request of the closed loop finished (10 rounds)
    EXPECT_LT(std::abs(error[i]), 0.5) << i;
  }
  EXPECT_EQ(ok, 5);
  // grouped by framework version too: (sglang 0.5.1, qwen3), (vllm -, llama), (vllm 0.12, qwen3), (vllm 0.18, minimax)
  auto groups = read_string_column(f.id, "/groups", "backend");
  EXPECT_EQ(groups, (std::vector<std::string>{"sglang", "vllm", "vllm", "vllm"}));
  EXPECT_EQ(read_string_column(f.id, "/groups", "backend_version"),
            (std::vector<std::string>{"0.5.1.post1", "", "0.12.0", "0.18.0"}));
  // the same table as CSV
  std::ifstream csv(dir.file("check.csv"));
  std::string header;
  std::getline(csv, header);
  EXPECT_THAT(header, HasSubstr("measured_ttft_ms,predicted_ttft_ms,ttft_error,measured_tpot_ms,predicted_tpot_ms"));
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 8);
}

// Where the version nearest a row's did not measure what the row needs, the row is priced with
// the next nearest: SGLang 0.5.1's Qwen3-32B row, in a database whose SGLang 0.5.0 has only a
// GEMM table of fp8 rows, runs on 0.5.14's tables.
TEST(CheckSilicon, ARowTheNearestVersionCannotPriceRunsOnTheNextNearest) {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  const fs::path root(dir.path()), real(testing::data_file("aiconfigurator/systems"));
  fs::create_symlink(real / "h100_sxm.yaml", root / "h100_sxm.yaml");
  const fs::path tables = root / "data" / "h100_sxm", real_tables = real / "data" / "h100_sxm";
  for (const auto& op : fs::directory_iterator(real_tables))
    if (op.path().filename() != "gemm") {
      fs::create_directories(tables);
      fs::create_symlink(op.path(), tables / op.path().filename());
    }
  fs::create_directories(tables / "gemm" / "sglang");
  fs::create_symlink(real_tables / "gemm" / "sglang" / "0.5.14", tables / "gemm" / "sglang" / "0.5.14");
  std::string fp8_only = "framework,version,device,op_name,kernel_source,gemm_dtype,m,n,k,latency\n";
  for (int m : {1, 4096})
    for (int n : {1024, 65536})
      for (int k : {1024, 65536}) fp8_only += fmt::format("SGLANG,0.5.0,H100,gemm,fp8,fp8,{},{},{},1\n", m, n, k);
  testing::write_gz((tables / "gemm" / "sglang" / "0.5.0" / "gemm_perf.csv.gz").string(), fp8_only);
  const std::string out = dir.file("check.h5");
  auto r = testing::run_servesim("check-silicon " + kFixture + " --database " + root.string() +
                                 " --filter backend=sglang --filter backend_version=0.5.1.post1 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5File f(out);
  ASSERT_GE(f.id, 0);
  auto status = read_string_column(f.id, "/rows", "status");
  auto kernel_version = read_string_column(f.id, "/rows", "kernel_version");
  ASSERT_FALSE(status.empty());
  for (size_t i = 0; i < status.size(); ++i) {
    EXPECT_EQ(status[i], "ok");
    EXPECT_EQ(kernel_version[i], "0.5.14");
  }
}

// check-silicon over the real H100 rows that pass `filters`, which must form one (backend, version,
// model, mode) group: that group's row count and TTFT and TPOT MAPE.
struct GroupFigures {
  double rows = 0, ttft_mape = 0, tpot_mape = 0;
};
GroupFigures check_one_group(const std::string& filters) {
  testing::TempDir dir;
  const std::string out = dir.file("check.h5");
  // each row priced with its own backend's kernel tables (the repository's performance database)
  auto r = testing::run_servesim("check-silicon " + kSilicon + " " + filters + " -j 2 -o " + out);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  H5File f(out);
  auto rows = read_double_column(f.id, "/groups", "rows");
  EXPECT_EQ(rows.size(), 1u) << r.out;
  if (rows.size() != 1) return {};
  return {rows[0], read_double_column(f.id, "/groups", "ttft_mape")[0],
          read_double_column(f.id, "/groups", "tpot_mape")[0]};
}

// SGLang's rows run with its client_start (lockstep) and fitted overheads from the odd lines: a
// regression bound on the held-out even lines of SGLang 0.5.1 (TP 2, 4 and 8).
TEST(CheckSilicon, SglangHeldOutRowsStayWithinTheirMeasuredError) {
  const GroupFigures g =
      check_one_group("--filter backend=sglang --filter backend_version=0.5.1.post1 --filter half=even");
  EXPECT_EQ(g.rows, 39);
  // the issue's targets (10% TPOT, 15% TTFT) as bounds around the measured 4.5% and 10.2% (SGLang
  // 0.5.14's kernel tables); started as a burst that drifts to random phases (--start burst), the
  // odd rows miss TTFT by 26.2%
  EXPECT_LT(g.tpot_mape, 0.10);
  EXPECT_LT(g.ttft_mape, 0.15);
}

TEST(CheckSilicon, VllmLlama70bRowsStayWithinTheirMeasuredError) {
  const GroupFigures g = check_one_group("--filter backend=vllm --filter model_path=meta-llama/Llama-3.1-70B");
  EXPECT_EQ(g.rows, 45);
  // loose regression bounds around the measured 3.6% (TPOT) and 26% (TTFT)
  EXPECT_LT(g.tpot_mape, 0.08);
  EXPECT_LT(g.ttft_mape, 0.40);
}

// TensorRT-LLM's rows priced with TensorRT-LLM's own kernel tables (1.3.0rc20 from the performance
// database; the rows measured 1.0.0rc3) and the overhead fitted with them on the odd lines.
TEST(CheckSilicon, TrtllmLlama8bHeldOutRowsStayWithinTheirMeasuredError) {
  const GroupFigures g = check_one_group(
      "--filter backend=trtllm --filter model_path=meta-llama/Llama-3.1-8B-Instruct --filter half=even");
  EXPECT_EQ(g.rows, 89);
  // the issue's TensorRT-LLM TPOT target (10%) around the measured 7.1%; TTFT is far off (43.1%
  // measured: the client's start is not in the table) and bounded loosely
  EXPECT_LT(g.tpot_mape, 0.10);
  EXPECT_LT(g.ttft_mape, 0.55);
}

// An MoE model priced with its own framework's kernel tables: vLLM 0.18 MiniMax-M2.5 (256 experts,
// top 8, expert parallelism 4), the held-out half of its rows (the engine entry was fitted on the
// other half of all vLLM 0.18 rows, gpt-oss's too). The rows say fp8 and the MoE table measured
// the shape block-scaled: its experts are priced from that table (as GEMMs, TPOT was 22.1% off).
TEST(CheckSilicon, VllmMoeHeldOutRowsStayWithinTheirMeasuredError) {
  const GroupFigures g =
      check_one_group("--filter model_path=MiniMaxAI/MiniMax-M2.5 --filter attention_dp=1 --filter half=even");
  EXPECT_EQ(g.rows, 8);
  // the issue's MoE TPOT target (10%) around the measured 8.0%; TTFT measured 12.6%
  EXPECT_LT(g.tpot_mape, 0.10);
  EXPECT_LT(g.ttft_mape, 0.16);
}

// The same model's attention-DP rows (4 ranks of TP 4, moe_ep 16: 16 GPUs on two nodes), held out:
// every TPOT is under-predicted (the dispatch is priced from NCCL's all-to-all on 8 GPUs, one
// node; counted as an extrapolation), and the rows repeat the TP 4 / EP 4 ones
// (tools/silicon_twins.py). Bounds around the measured 42.3% and 35.7%: a regression check, not a
// target met.
TEST(CheckSilicon, VllmMoeAttentionDpHeldOutRowsStayWithinTheirMeasuredError) {
  const GroupFigures g =
      check_one_group("--filter model_path=MiniMaxAI/MiniMax-M2.5 --filter attention_dp=4 --filter half=even");
  EXPECT_EQ(g.rows, 7);
  EXPECT_LT(g.tpot_mape, 0.50);
  EXPECT_LT(g.ttft_mape, 0.45);
}

// gpt-oss-120b on vLLM 0.18 (TP 2, 4 and 8; sliding-window layers and MXFP4 experts, priced from
// vLLM's windowed attention rows and its w4a16_mxfp4 MoE tables), the held-out half: within the
// issue's MoE TPOT target (10%) around the measured 9.0%; TTFT measured 25.7%.
TEST(CheckSilicon, VllmGptOssHeldOutRowsStayWithinTheirMeasuredError) {
  const GroupFigures g = check_one_group(
      "--filter model_path=openai/gpt-oss-120b --filter backend_version=0.18.0 --filter half=even");
  EXPECT_EQ(g.rows, 28);
  EXPECT_LT(g.tpot_mape, 0.10);
  EXPECT_LT(g.ttft_mape, 0.32);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// What calibrate writes is usable without copying it into the catalog: by path from a scenario
// (relative to the scenario's folder), or by name from a folder on SERVESIM_CATALOG_PATH.
TEST(CatalogPath, ACalibratedFileIsUsableByPathAndByName) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("mycat/efficiency"));
  const std::string out = dir.file("mycat/efficiency/slow_h100.yaml");
  auto r = testing::run_servesim("calibrate --splitwise " + testing::data_file("splitwise_sim/perf_model.csv.gz") +
                                 " --model llama-2-70b --name slow_h100 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto scenario = [&](const std::string& efficiency) {
    return dir.write("s.yaml", fmt::format(R"(
workload: {{synthetic: {{duration: 20s, arrival: {{rate: 2}}, input_length: {{dist: fixed, value: 1000}}, output_length: {{dist: fixed, value: 50}}}}}}
pools: [{{model: llama-3.1-8b, gpu: h100_sxm, timing: {{model: roofline, roofline: {{efficiency: {}}}}}}}]
)",
                                           efficiency));
  };
  auto itl = [&](const std::string& env, const std::string& efficiency) {
    const std::string h5 = dir.file("s.h5");
    auto run = testing::run_command(env + " " + std::string(SERVESIM_BIN) + " run " + scenario(efficiency) + " -q -o " + h5);
    EXPECT_EQ(run.exit_code, 0) << efficiency << ": " << run.out;
    testing::H5File f(h5);
    return testing::read_double_column(f.id, "/summary", "itl_mean_s").at(0);
  };
  const double by_path = itl("", "mycat/efficiency/slow_h100.yaml");
  const double by_name = itl("SERVESIM_CATALOG_PATH=" + dir.file("mycat"), "slow_h100");
  const double builtin = itl("", "default");
  EXPECT_EQ(by_path, by_name);
  EXPECT_NE(by_path, builtin);
  // not on the path: a clear error naming the key, the search path and the file form
  auto missing = testing::run_servesim("validate " + scenario("slow_h100"));
  EXPECT_EQ(missing.exit_code, 2) << missing.out;
  EXPECT_THAT(missing.out, ::testing::HasSubstr("timing.roofline.efficiency"));
  EXPECT_THAT(missing.out, ::testing::HasSubstr("SERVESIM_CATALOG_PATH"));
  auto no_file = testing::run_servesim("validate " + scenario("nowhere.yaml"));
  EXPECT_EQ(no_file.exit_code, 2) << no_file.out;
  EXPECT_THAT(no_file.out, ::testing::HasSubstr("does not exist"));
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// GPUs, models and engines come from the whole catalog path too: --catalog DIR, SERVESIM_CATALOG_PATH,
// or a catalog/ folder beside the scenario; a name defined twice on the path is an error.
TEST(CatalogPath, AFolderAddsAGpuByFlagByEnvironmentAndBesideTheScenario) {
  testing::TempDir dir;
  YAML::Node builtin = YAML::LoadFile(std::string(SERVESIM_SOURCE_DIR) + "/models/catalog/gpus.yaml");
  YAML::Node mine;
  mine["my_gpu"] = builtin["h100_sxm"];
  YAML::Emitter e;
  e << mine;
  std::filesystem::create_directories(dir.file("cat"));
  std::filesystem::create_directories(dir.file("beside/catalog"));
  std::filesystem::create_directories(dir.file("dup"));
  dir.write("cat/gpus.yaml", e.c_str());
  dir.write("beside/catalog/gpus.yaml", e.c_str());
  YAML::Node dup;
  dup["h100_sxm"] = builtin["h100_sxm"];
  YAML::Emitter d;
  d << dup;
  dir.write("dup/gpus.yaml", d.c_str());
  const char* yaml = R"(
workload: {synthetic: {duration: 10s, arrival: {rate: 1}, input_length: {dist: fixed, value: 100}, output_length: {dist: fixed, value: 10}}}
pools: [{model: llama-3.1-8b, gpu: my_gpu}]
)";
  const std::string plain = dir.write("s.yaml", yaml), beside = dir.write("beside/s.yaml", yaml);
  auto r = testing::run_servesim("validate " + plain);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, ::testing::HasSubstr("unknown GPU 'my_gpu'"));
  r = testing::run_servesim("--catalog " + dir.file("cat") + " validate " + plain);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = testing::run_servesim("validate " + plain + " --catalog " + dir.file("cat"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = testing::run_command("SERVESIM_CATALOG_PATH=" + dir.file("cat") + " " + std::string(SERVESIM_BIN) + " validate " + plain);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = testing::run_servesim("run " + beside + " -q -o " + dir.file("beside.h5"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = testing::run_servesim("--catalog " + dir.file("dup") + " validate " + plain);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, ::testing::HasSubstr("already defined"));
  r = testing::run_command("SERVESIM_CATALOG_PATH=" + dir.file("nowhere") + " " + std::string(SERVESIM_BIN) + " validate " + plain);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, ::testing::HasSubstr("not a folder"));
}

}  // namespace
}  // namespace servesim
