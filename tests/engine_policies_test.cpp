// Each framework's own capacity and preemption rules, and what a disaggregated hand-off sends:
// TensorRT-LLM's GUARANTEED_NO_EVICT admits a request only when it can run to its last token, so
// nothing is preempted; vLLM's recompute preemption takes the newest running request (LIFO) or,
// as a knob, the oldest (FIFO); kv_transfer.blocks sends the blocks the decode worker lacks or
// the whole prompt.
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using H5 = testing::H5File;

struct Rows {
  std::vector<double> id, start, end, preemptions, transfer_bytes;
};

Rows read_rows(const std::string& path) {
  H5 f(path);
  auto col = [&](const char* c) { return testing::read_double_column(f.id, "/requests", c); };
  Rows r;
  r.id = col("id");
  auto arrival = col("arrival_s"), queue = col("queue_s"), e2e = col("e2e_s");
  for (size_t i = 0; i < arrival.size(); ++i) {
    r.start.push_back(arrival[i] + queue[i]);
    r.end.push_back(arrival[i] + e2e[i]);
  }
  r.preemptions = col("preemptions");
  r.transfer_bytes = col("transfer_bytes");
  return r;
}

// Requests running at once, at most (from first admission to the end; no preemption: exact).
int peak_running(const Rows& r) {
  int peak = 0;
  for (size_t i = 0; i < r.start.size(); ++i) {
    int n = 0;
    for (size_t j = 0; j < r.start.size(); ++j) n += r.start[j] <= r.start[i] && r.start[i] < r.end[j];
    peak = std::max(peak, n);
  }
  return peak;
}

// `n` requests at t = 0, prompts of `in` tokens without shared prefixes, outputs of `out`.
std::string burst(testing::TempDir& dir, int n, int in, int out) {
  std::string rows;
  for (int i = 0; i < n; ++i)
    rows += fmt::format(R"({{"timestamp": 0, "input_length": {}, "output_length": {}}})", in, out) + "\n";
  return dir.write("burst.jsonl", rows);
}

std::string one_worker(const std::string& trace, int blocks, const std::string& engine) {
  return fmt::format(R"(
name: policies
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - name: w
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {{num_gpu_blocks: {}, block_size: 16, watermark: 0, {}}}
)",
                     trace, blocks, engine);
}

TEST(EnginePolicies, GuaranteedNoEvictAdmitsOnlyWhatCanFinishAndNeverPreempts) {
  testing::TempDir dir;
  // each request holds 64 + 96 = 160 tokens = 10 blocks at its end; the cache has 20
  const std::string trace = burst(dir, 12, 64, 96);
  std::map<std::string, Rows> runs;
  for (const std::string policy : {"guaranteed_no_evict", "max_utilization"}) {
    const std::string out = dir.file(policy + ".h5");
    auto r = testing::run_servesim("run " + dir.write("s.yaml", one_worker(trace, 20, "capacity_policy: " + policy)) +
                                   " -q -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    runs[policy] = read_rows(out);
  }
  const Rows& safe = runs["guaranteed_no_evict"];
  ASSERT_EQ(safe.id.size(), 12u);
  for (double p : safe.preemptions) EXPECT_EQ(p, 0);
  EXPECT_EQ(peak_running(safe), 2);  // 20 blocks / 10 per request, by hand
  const Rows& greedy = runs["max_utilization"];
  double preempted = 0;
  for (double p : greedy.preemptions) preempted += p;
  EXPECT_GT(preempted, 0);  // it admits on the first chunk's blocks and runs out as outputs grow
}

TEST(EnginePolicies, RecomputePreemptionTakesTheNewestOrTheOldest) {
  testing::TempDir dir;
  // four requests admitted together (1 block each at first) outgrow 24 blocks: 4 x (16 + 200) tokens
  const std::string trace = burst(dir, 4, 16, 200);
  std::map<std::string, std::vector<double>> preempted;  // by request id
  for (const std::string order : {"lifo", "fifo"}) {
    const std::string out = dir.file(order + ".h5");
    auto r = testing::run_servesim("run " + dir.write("s.yaml", one_worker(trace, 24, "preemption: " + order)) +
                                   " -q -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    Rows rows = read_rows(out);
    preempted[order].assign(4, 0);
    for (size_t i = 0; i < rows.id.size(); ++i) preempted[order][static_cast<size_t>(rows.id[i])] = rows.preemptions[i];
  }
  // LIFO: the first admitted is never the victim; FIFO: it is the first one
  EXPECT_EQ(preempted["lifo"][0], 0);
  EXPECT_GT(preempted["lifo"][3], 0);
  EXPECT_GT(preempted["fifo"][0], 0);
  EXPECT_EQ(preempted["fifo"][3], 0);
}

TEST(EnginePolicies, TheHandOffSendsTheMissingBlocksOrTheWholePrompt) {
  testing::TempDir dir;
  // the same 1,000-token prompt twice, 10 s apart: the decode worker caches it the first time
  const std::string trace = dir.write(
      "t.jsonl", R"({"timestamp": 0, "input_length": 1000, "output_length": 8, "hash_ids": [1, 2]}
{"timestamp": 10000, "input_length": 1000, "output_length": 8, "hash_ids": [1, 2]}
)");
  std::map<std::string, std::vector<double>> bytes;
  for (const std::string mode : {"destination_missing", "full_prompt"}) {
    const std::string yaml = fmt::format(R"(
name: handoff
workload: {{source: mooncake_jsonl, path: {}, hash_block_tokens: 512}}
kv_transfer: {{blocks: {}}}
router: {{policy: round_robin}}
pools:
  - {{name: p, role: prefill, model: llama-3.1-8b}}
  - {{name: d, role: decode, model: llama-3.1-8b}}
)",
                                         trace, mode);
    const std::string out = dir.file(mode + ".h5");
    auto r = testing::run_servesim("run " + dir.write("s.yaml", yaml) + " -q -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    Rows rows = read_rows(out);
    bytes[mode].assign(2, 0);
    for (size_t i = 0; i < rows.id.size(); ++i) bytes[mode][static_cast<size_t>(rows.id[i])] = rows.transfer_bytes[i];
  }
  // Llama-3.1-8B: 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes = 128 KiB per token; 16-token blocks
  const double block = 32 * 8 * 128 * 2 * 2 * 16.0;
  EXPECT_EQ(bytes["full_prompt"][0], 63 * block);  // ceil(1000 / 16) blocks, each time
  EXPECT_EQ(bytes["full_prompt"][1], 63 * block);
  EXPECT_EQ(bytes["destination_missing"][0], 63 * block);
  // the second time the decode worker holds the 62 full blocks: only the partial last one moves
  EXPECT_EQ(bytes["destination_missing"][1], 1 * block);
}

// Every decode token's gap is counted from its own sequence's previous token, so the gaps of a
// request add up to its decode time exactly: the ITL mean over all tokens is
// sum(finish - first token) / sum(output tokens - 1), whatever stalls the decodes (SGLang's
// prefill-only iterations, recompute preemptions).
TEST(EnginePolicies, InterTokenGapsAddUpToEachRequestsDecodeTime) {
  testing::TempDir dir;
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"sglang", "scheduler: sglang"},
      {"vllm_preempting", "scheduler: vllm, num_gpu_blocks: 300"},
  };
  for (const auto& [name, engine] : runs) {
    const std::string yaml = fmt::format(R"(
name: itl_{}
seed: 2
workload:
  synthetic:
    duration: 60s
    arrival: {{process: poisson, rate: 6}}
    input_length: {{dist: uniform, min: 200, max: 3000}}
    output_length: {{dist: uniform, min: 2, max: 300}}
pools:
  - {{name: w, model: llama-3.1-8b, gpu: h100_sxm, engine: {{{}}}}}
)",
                                         name, engine);
    const std::string out = dir.file(name + ".h5");
    auto r = testing::run_servesim("run " + dir.write(name + ".yaml", yaml) + " -q -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    H5 f(out);
    auto col = [&](const char* c) { return testing::read_double_column(f.id, "/requests", c); };
    auto ttft = col("ttft_s"), e2e = col("e2e_s"), output = col("output_tokens"), pre = col("preemptions");
    double decode_s = 0, gaps = 0, preempted = 0;
    for (size_t i = 0; i < ttft.size(); ++i) {
      decode_s += e2e[i] - ttft[i];
      gaps += output[i] - 1;
      preempted += pre[i];
    }
    if (name == "vllm_preempting") {
      EXPECT_GT(preempted, 0);  // the stall it must count
    }
    const double itl_mean = testing::read_double_column(f.id, "/summary", "itl_mean_s").at(0);
    EXPECT_NEAR(itl_mean, decode_s / gaps, 1e-9 * decode_s / gaps) << name;
    // the token-level ITL tail now sees the stalls the per-request TPOT sees
    const double itl_p99 = testing::read_double_column(f.id, "/summary", "itl_p99_s").at(0);
    EXPECT_GT(itl_p99, testing::read_double_column(f.id, "/summary", "itl_p50_s").at(0)) << name;
  }
}

// Three 256-token prompts (16 blocks each) with 48-token outputs (19 blocks at the end) in 40
// blocks, prefilled 64 tokens an iteration. Requests 0 and 1 fit together to their ends (38).
// first_chunk admits request 2 once its first 4-block chunk fits beside them (after request 1's
// prefill, 7 blocks are free), so the three outgrow the cache and someone is preempted.
// full_prompt waits until 16 blocks are free, that is until request 0 ends: the three never
// outgrow the cache, and nothing is preempted.
TEST(EnginePolicies, FullPromptAdmissionWaitsForTheWholePrompt) {
  testing::TempDir dir;
  const std::string trace = burst(dir, 3, 256, 48);
  std::map<std::string, Rows> runs;
  for (const std::string rule : {"first_chunk", "full_prompt"}) {
    const std::string out = dir.file(rule + ".h5");
    const std::string engine = "max_num_batched_tokens: 64, max_num_seqs: 8, admission: " + rule;
    auto r = testing::run_servesim("run " + dir.write("s.yaml", one_worker(trace, 40, engine)) + " -q -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    runs[rule] = read_rows(out);
    ASSERT_EQ(runs[rule].id.size(), 3u);
  }
  auto by_id = [](const Rows& r, const std::vector<double>& column, int id) {
    for (size_t i = 0; i < r.id.size(); ++i)
      if (r.id[i] == id) return column[i];
    return -1.0;
  };
  const Rows& whole = runs["full_prompt"];
  for (double p : whole.preemptions) EXPECT_EQ(p, 0);
  EXPECT_GE(by_id(whole, whole.start, 2), by_id(whole, whole.end, 0));  // admitted once request 0 ended
  EXPECT_LT(by_id(whole, whole.start, 1), by_id(whole, whole.end, 0));  // 1 ran beside 0
  const Rows& chunk = runs["first_chunk"];
  double preempted = 0;
  for (double p : chunk.preemptions) preempted += p;
  EXPECT_GT(preempted, 0);
  EXPECT_LT(by_id(chunk, chunk.start, 2), by_id(chunk, chunk.end, 0));  // admitted while 0 and 1 ran
}

TEST(EnginePolicies, PoliciesOutsideTheirSchedulerAreRefused) {
  testing::TempDir dir;
  const std::string trace = burst(dir, 1, 16, 4);
  auto r = testing::run_servesim(
      "validate " + dir.write("a.yaml", one_worker(trace, 20, "scheduler: sglang, capacity_policy: guaranteed_no_evict")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("pools.0.engine.capacity_policy"));
  r = testing::run_servesim("validate " + dir.write("b.yaml", one_worker(trace, 20, "scheduler: sglang, preemption: fifo")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("pools.0.engine.preemption"));
  r = testing::run_servesim("validate " + dir.write("c.yaml", one_worker(trace, 20, "scheduler: basic, admission: full_prompt")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("pools.0.engine.admission"));
}

}  // namespace
}  // namespace servesim
