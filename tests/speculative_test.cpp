// Speculative decoding (pools[].speculative): a step verifies k draft tokens plus one per decoding
// sequence and emits 1 to k + 1 of them; the draft's passes and the wider verification are
// priced; acceptance follows the configured per-position rates. Checked against hand arithmetic
// (polynomial timing), the roofline's own prices, counting, and the configured rates.
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "models/catalog.h"
#include "models/speculative.h"
#include "models/timing/roofline.h"
#include "planner/capacity.h"
#include "scenario/scenario.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using H5 = testing::H5File;

std::string trace_of(testing::TempDir& dir, int n, int in, int out) {
  std::string rows;
  for (int i = 0; i < n; ++i)
    rows += fmt::format(R"({{"timestamp": 0, "input_length": {}, "output_length": {}}})", in, out) + "\n";
  return dir.write(fmt::format("t{}_{}_{}.jsonl", n, in, out), rows);
}

// One worker, polynomial timing: 10 ms a step, 0.1 ms a prompt (or extra verified) token, 1 ms a
// decoding sequence.
std::string poly_worker(const std::string& trace, const std::string& speculative) {
  return fmt::format(R"(
name: spec
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - name: w
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {{num_gpu_blocks: 100, block_size: 16}}
    timing: {{model: polynomial, polynomial: {{constant_ms: 10, per_prefill_token_ms: 0.1, per_decode_seq_ms: 1}}}}
    speculative: {}
)",
                     trace, speculative);
}

struct SpecRun {
  std::vector<double> ttft, e2e, output;
  double accepted_length = 0, output_total = 0;
};

SpecRun run(testing::TempDir& dir, const std::string& name, const std::string& yaml, const std::string& extra = "") {
  const std::string out = dir.file(name + ".h5");
  auto r = testing::run_servesim("run " + dir.write(name + ".yaml", yaml) + " -q -o " + out + extra);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  H5 f(out);
  auto col = [&](const char* c) { return testing::read_double_column(f.id, "/requests", c); };
  SpecRun x{col("ttft_s"), col("e2e_s"), col("output_tokens")};
  x.output_total = testing::read_double_column(f.id, "/summary", "output_tokens_total").at(0);
  const auto fields = testing::compound_fields(f.id, "/summary");
  if (std::find(fields.begin(), fields.end(), "spec_mean_acceptance_length") != fields.end())
    x.accepted_length = testing::read_double_column(f.id, "/summary", "spec_mean_acceptance_length").at(0);
  return x;
}

TEST(Speculative, StepsEmitTheAcceptedTokensAndCostTheVerificationAndTheDraft) {
  testing::TempDir dir;
  const std::string spec =
      "{method: draft_model, draft_model: qwen3-0.6b, num_speculative_tokens: 2, acceptance_rates: [RATES], draft_step: 2ms}";
  auto with = [&](const std::string& rates) { return std::string(spec).replace(spec.find("RATES"), 5, rates); };
  // prefill: 10 + 64 x 0.1 = 16.4 ms (the draft step runs only with decodes). A step verifies 3
  // tokens: 10 + 1 + 2 x 0.1 = 11.2 ms, and drafts 2 x 2 ms: 15.2 ms.
  const std::string t13 = trace_of(dir, 1, 64, 13);
  SpecRun all = run(dir, "all", poly_worker(t13, with("1, 1")));
  EXPECT_NEAR(all.ttft.at(0), 0.0164, 1e-9);
  EXPECT_NEAR(all.e2e.at(0), 0.0164 + 4 * 0.0152, 1e-9);  // 12 tokens after the first, 3 a step
  EXPECT_DOUBLE_EQ(all.accepted_length, 3.0);
  SpecRun none = run(dir, "none", poly_worker(t13, with("0, 0")));
  EXPECT_NEAR(none.e2e.at(0), 0.0164 + 12 * 0.0152, 1e-9);  // one a step, at the same cost
  EXPECT_DOUBLE_EQ(none.accepted_length, 1.0);
  SpecRun plain = run(dir, "plain", poly_worker(t13, "{}"));
  EXPECT_NEAR(plain.e2e.at(0), 0.0164 + 12 * 0.011, 1e-9);  // 10 + 1 ms, no draft
  // 13 tokens after the first: 3, 3, 3, 3 and a last step capped at 1; every token counted once
  SpecRun capped = run(dir, "capped", poly_worker(trace_of(dir, 1, 64, 14), with("1, 1")));
  EXPECT_NEAR(capped.e2e.at(0), 0.0164 + 5 * 0.0152, 1e-9);
  EXPECT_EQ(capped.output.at(0), 14);
  EXPECT_EQ(capped.output_total, 14);
}

TEST(Speculative, AcceptanceFollowsTheConfiguredRatesAndTokensAreConserved) {
  testing::TempDir dir;
  // rates 0.5, 0.25: a step keeps 0, 1 or 2 draft tokens with probabilities 0.5, 0.25, 0.25, so
  // 1.75 tokens a step on average (standard error over ~6,000 steps: 0.011)
  const std::string yaml = fmt::format(R"(
name: spec_rates
seed: 3
workload:
  synthetic:
    duration: 30s
    arrival: {{process: poisson, rate: 20}}
    input_length: {{dist: uniform, min: 100, max: 2000}}
    output_length: {{dist: uniform, min: 1, max: 600}}
pools:
  - name: w
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {{num_gpu_blocks: 900}}
    speculative: {{method: ngram, num_speculative_tokens: 2, acceptance_rates: [0.5, 0.25]}}
)");
  const std::string out = dir.file("rates.h5");
  auto r = testing::run_servesim("run " + dir.write("rates.yaml", yaml) + " -q -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5 f(out);
  auto sum = [&](const char* ds, const char* c) {
    auto v = testing::read_double_column(f.id, ds, c);
    return std::accumulate(v.begin(), v.end(), 0.0);
  };
  auto summary = [&](const char* c) { return testing::read_double_column(f.id, "/summary", c).at(0); };
  EXPECT_NEAR(summary("spec_mean_acceptance_length"), 1.75, 0.04);
  EXPECT_NEAR(summary("spec_acceptance_rate"), 0.375, 0.02);
  EXPECT_EQ(summary("spec_draft_tokens"), 2 * summary("spec_verify_steps"));
  // every request completed with exactly its tokens (the frontend checks each one), under KV
  // pressure that preempted some mid-burst
  EXPECT_EQ(summary("requests_unfinished"), 0);
  EXPECT_GT(summary("preemptions"), 0);
  EXPECT_EQ(summary("output_tokens_total"), sum("/requests", "output_tokens"));
  // the same seed gives the same run, bit for bit
  const std::string again = dir.file("again.h5");
  ASSERT_EQ(testing::run_servesim("run " + dir.file("rates.yaml") + " -q -o " + again).exit_code, 0);
  H5 g(again);
  EXPECT_EQ(testing::read_raw(f.id, "/requests"), testing::read_raw(g.id, "/requests"));
}

// Each sequence of a batch draws its own acceptance. 256 equal requests start together on a
// worker whose every iteration costs 10 ms (ngram drafts are free): request i takes N_i steps
// to emit its 199 tokens after the first, each step adding 1 or 2 (rate 0.5), so (e2e - ttft) /
// 10 ms = N_i. The N_i are independent draws of the steps to reach 199 (mean and variance from
// the exact distribution below); draws shared by the batch would make them all equal.
TEST(Speculative, TheSequencesOfABatchAcceptIndependently) {
  testing::TempDir dir;
  constexpr int kRequests = 256, kTokens = 199;
  const std::string yaml = fmt::format(R"(
name: spec_independent
seed: 5
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - name: w
    model: llama-3.1-8b
    gpu: h100_sxm
    engine: {{num_gpu_blocks: 6000, block_size: 16, max_num_batched_tokens: 16384}}
    timing: {{model: polynomial, polynomial: {{constant_ms: 10}}}}
    speculative: {{method: ngram, num_speculative_tokens: 1, acceptance_rates: [0.5]}}
)",
                                       trace_of(dir, kRequests, 64, kTokens + 1));
  SpecRun x = run(dir, "independent", yaml);
  ASSERT_EQ(x.e2e.size(), static_cast<size_t>(kRequests));
  std::vector<double> steps;
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_NEAR(x.ttft[i], 0.010, 1e-9);  // every prompt in the first iteration
    const double n = (x.e2e[i] - x.ttft[i]) / 0.010;
    EXPECT_NEAR(n, std::round(n), 1e-6);
    steps.push_back(std::round(n));
  }
  // the exact distribution of N: at[n][t], the probability of t tokens, still below kTokens, after
  // n steps of 1 or 2; a step that reaches kTokens ends the sequence at n
  std::vector<std::vector<double>> at(kTokens + 1, std::vector<double>(kTokens + 2, 0.0));
  at[0][0] = 1;
  double mean = 0, second = 0;
  for (int n = 1; n <= kTokens; ++n)
    for (int t = 0; t < kTokens; ++t) {  // below the target before step n
      for (int add : {1, 2}) {
        const double p = 0.5 * at[n - 1][t];
        if (t + add >= kTokens) {
          mean += n * p;
          second += n * n * p;
        } else {
          at[n][t + add] += p;
        }
      }
    }
  const double variance = second - mean * mean;  // about 199 x 0.25 / 1.5^3 = 14.7
  const double m = std::accumulate(steps.begin(), steps.end(), 0.0) / kRequests;
  double ss = 0;
  for (double n : steps) ss += (n - m) * (n - m);
  const double v = ss / (kRequests - 1);
  EXPECT_NEAR(m, mean, 4 * std::sqrt(variance / kRequests));
  // the sample variance of 256 draws: within 0.65 and 1.35 times the variance (about 4 standard
  // errors of the chi-square's, 0.089)
  EXPECT_GT(v, 0.65 * variance);
  EXPECT_LT(v, 1.35 * variance);
}

// A sequence's draws and the worker's per-step totals, by hand: rates [1, 0] keep one draft token
// every step (2 tokens a step), so 5 tokens take 3 steps (2, 4, 6).
TEST(Speculative, StepTotalsAddEachSequencesDrawsAndTakeBackTheStepsItLeaves) {
  SpeculativeConfig c;
  c.method = "ngram";
  c.num_speculative_tokens = 2;
  c.acceptance_rates = {1, 0};
  SpeculativeDecoding spec(c, nullptr, 0);
  SequenceDraws a, b;
  a.draw(spec, 1, 5);
  ASSERT_EQ(a.steps(), 3);
  EXPECT_EQ(a.tokens(0), 0);
  EXPECT_EQ(a.tokens(3), 6);
  EXPECT_EQ(a.first_step_reaching(3), 2);
  EXPECT_EQ(a.first_step_reaching(0), 0);
  EXPECT_EQ(a.first_step_reaching(7), 4);  // beyond its draws
  EXPECT_THROW(a.tokens(4), InvariantError);
  b.draw(spec, 2, 2);  // one step
  StepTokens totals;
  totals.add(10, a, 1, +1);  // a's steps fall on 10, 11, 12
  totals.add(11, b, 1, +1);  // b's on 11
  EXPECT_EQ(totals.at(9), 0);
  EXPECT_EQ(totals.at(10), 2);
  EXPECT_EQ(totals.at(11), 4);
  EXPECT_EQ(totals.at(12), 2);
  totals.add(10, a, 3, -1);  // a leaves before its third step (worker step 12)
  EXPECT_EQ(totals.at(12), 0);
  totals.forget_before(12);
  EXPECT_EQ(totals.at(11), 0);  // forgotten
  EXPECT_THROW(totals.add(10, a, 1, +1), InvariantError);
  totals.add(20, b, 1, +1);
  totals.clear();  // an engine reset: its step count goes on
  EXPECT_EQ(totals.at(20), 0);
  EXPECT_THROW(totals.add(10, a, 1, +1), InvariantError);
  totals.add(30, a, 1, +1);
  EXPECT_EQ(totals.at(32), 2);
}

// A decode-only view with the roofline: one request, its steps priced by the same model the
// engine uses. With every draft accepted and k = 2, TPOT is (verify 3 tokens + draft) / 3 per
// step against one plain step per token.
TEST(Speculative, RooflineTpotDropsByTheFactorItsPricesGive) {
  testing::TempDir dir;
  const int in = 1000, out = 301;
  const std::string trace = trace_of(dir, 1, in, out);
  auto yaml = [&](const std::string& spec) {
    return fmt::format(R"(
name: spec_roofline
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - {{name: w, model: llama-3.1-70b, gpu: h100_sxm, tp: 4, speculative: {}}}
)",
                       trace, spec);
  };
  SpecRun plain = run(dir, "plain", yaml("{}"));
  SpecRun spec = run(dir, "spec", yaml("{method: draft_model, draft_model: llama-3.1-8b, num_speculative_tokens: 2, "
                                   "acceptance_rates: [1, 1]}"));
  PoolConfig pool;
  pool.model = "llama-3.1-70b";
  pool.tp = 4;
  const Catalog& c = Catalog::builtin();
  RooflineTiming target(c.deployed_model(pool), c.gpu("h100_sxm"), 4, roofline_efficiency("default"));
  PoolConfig draft_pool = pool;
  draft_pool.model = "llama-3.1-8b";
  RooflineTiming draft(c.deployed_model(draft_pool), c.gpu("h100_sxm"), 4, roofline_efficiency("default"));
  TimeNs plain_ns = 0, spec_ns = 0;
  for (int e = 1; e < out; ++e) {  // a plain step per token, reading the prompt and e tokens
    BatchShape b;
    b.decode_seqs = 1;
    b.decode_context_tokens = in + e;
    plain_ns += target.iteration_ns(b);
  }
  for (int e = 1; e < out; e += 3) {  // a step per 3 tokens: verify 3, draft twice
    BatchShape b;
    b.decode_seqs = 1;
    b.decode_context_tokens = in + e;
    b.decode_query_tokens = 3;
    spec_ns += target.iteration_ns(b) + 2 * (draft.iteration_ns(BatchShape{0, 0, 0, 1, in + e}) - draft.overhead_ns());
  }
  const double tpot_plain = (plain.e2e[0] - plain.ttft[0]) / (out - 1), tpot_spec = (spec.e2e[0] - spec.ttft[0]) / (out - 1);
  EXPECT_NEAR(tpot_plain, ns_to_s(plain_ns) / (out - 1), 1e-12);
  EXPECT_NEAR(tpot_spec, ns_to_s(spec_ns) / (out - 1), 1e-12);
  EXPECT_LT(tpot_spec, 0.6 * tpot_plain);  // the 70B model's weight reads are shared by 3 tokens
  EXPECT_DOUBLE_EQ(spec.accepted_length, 3.0);
}

TEST(Speculative, MeanAcceptanceLengthGivesAConstantPerPositionProbability) {
  const std::vector<double> r = rates_for_mean_length(2.5, 3);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_NEAR(r[0] + r[1] + r[2], 1.5, 1e-12);
  EXPECT_NEAR(r[1], r[0] * r[0], 1e-12);
  EXPECT_NEAR(r[2], r[0] * r[0] * r[0], 1e-12);
  EXPECT_EQ(rates_for_mean_length(4, 3), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(rates_for_mean_length(1, 2), (std::vector<double>{0, 0}));
  SpeculativeConfig c;
  c.method = "ngram";
  c.num_speculative_tokens = 3;
  c.mean_acceptance_length = 2.5;
  SpeculativeDecoding s(c, nullptr, 0);
  EXPECT_NEAR(s.mean_acceptance_length(), 2.5, 1e-12);
  EXPECT_EQ(s.accepted(0.0), 3);
  EXPECT_EQ(s.accepted(r[0] - 1e-9), 1 + (r[0] - 1e-9 < r[1]) + (r[0] - 1e-9 < r[2]));
  EXPECT_EQ(s.accepted(0.999999), 0);
}

// The draft's memory comes out of the KV cache; an MTP/EAGLE layer is one decoder layer of the model.
TEST(Speculative, DraftWeightsAndKvShareTheGpu) {
  const Catalog& c = Catalog::builtin();
  PoolConfig pool;
  pool.model = "llama-3.1-70b";
  pool.tp = 4;
  const KvCapacity plain = kv_capacity(pool, c);
  pool.speculative.method = "draft_model";
  pool.speculative.draft_model = "llama-3.1-8b";
  pool.speculative.num_speculative_tokens = 2;
  const KvCapacity spec = kv_capacity(pool, c);
  const ModelSpec target = c.model("llama-3.1-70b"), draft = c.model("llama-3.1-8b");
  EXPECT_DOUBLE_EQ(spec.draft_bytes, 8.03e9 * 2);
  const double block_bytes = (target.kv_bytes_per_token() + draft.kv_bytes_per_token()) * 16;
  EXPECT_EQ(spec.blocks, static_cast<std::int64_t>((plain.kv_bytes - spec.draft_bytes) / block_bytes));
  pool.speculative.method = "mtp";
  pool.speculative.draft_model.clear();
  const std::optional<ModelSpec> mtp = draft_model_spec(pool, c);
  ASSERT_TRUE(mtp);
  EXPECT_EQ(mtp->layers, 1);
  EXPECT_NEAR(mtp->params_b, (70.6 - 2.0 * 128256 * 8192 / 1e9) / 80, 1e-12);
  EXPECT_DOUBLE_EQ(mtp->kv_bytes_per_token(), target.kv_bytes_per_token() / 80);
}

// The planner's capacity: a speculative step (verification, draft) as the ITL it expects, and the
// mean acceptance length in tokens per step.
TEST(Speculative, PlannerCapacityUsesTheMeanAcceptanceLength) {
  const std::string yaml = R"(
name: spec_planner
workload: {synthetic: {duration: 1s, arrival: {process: poisson, rate: 1}}}
pools:
  - name: w
    model: llama-3.1-8b
    gpu: h100_sxm
    speculative: {method: ngram, num_speculative_tokens: 3, acceptance_rates: [0.9, 0.6, 0.3]}
)";
  auto s = load_scenario_string(yaml, "p.yaml");
  TimingCapacityModel cap(planner_scope(s.config), ".");
  const Catalog& c = Catalog::builtin();
  RooflineTiming t(c.deployed_model(s.config.pools[0]), c.gpu("h100_sxm"), 1, roofline_efficiency("default"));
  BatchShape b{0, 0, 0, 32, 32 * 2000, 4};
  const double step_s = ns_to_s(t.iteration_ns(b));
  EXPECT_NEAR(cap.expected_itl_s(0, 32, 2000), step_s, 1e-12);
  // the most sequences whose step stays within a target just above this one's: 32
  EXPECT_NEAR(cap.decode_tokens_per_s(0, 2000, step_s * (1 + 1e-9)), 32 * 2.8 / step_s, 1e-6);
}

TEST(Speculative, InconsistentSettingsAreRefusedByName) {
  testing::TempDir dir;
  const std::string trace = trace_of(dir, 1, 64, 8);
  auto refused = [&](const std::string& name, const std::string& spec, const std::string& key, const std::string& what) {
    auto r = testing::run_servesim("validate " + dir.write(name + ".yaml", poly_worker(trace, spec)));
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_THAT(r.out, HasSubstr(key)) << name;
    EXPECT_THAT(r.out, HasSubstr(what)) << name;
  };
  refused("rising", "{method: ngram, num_speculative_tokens: 2, acceptance_rates: [0.5, 0.6]}",
          "pools.0.speculative.acceptance_rates.1", "above the rate before it");
  refused("count", "{method: ngram, num_speculative_tokens: 3, acceptance_rates: [0.5, 0.4]}",
          "pools.0.speculative.acceptance_rates", "2 rates for 3 draft tokens");
  refused("both", "{method: ngram, num_speculative_tokens: 2, acceptance_rates: [0.5, 0.4], mean_acceptance_length: 2}",
          "pools.0.speculative.acceptance_rates", "not both");
  refused("long", "{method: ngram, num_speculative_tokens: 2, mean_acceptance_length: 3.5}",
          "pools.0.speculative.mean_acceptance_length", "at most 3");
  refused("none", "{num_speculative_tokens: 2}", "pools.0.speculative.method", "method is none");
  refused("nodraft", "{method: draft_model, num_speculative_tokens: 2, mean_acceptance_length: 2}",
          "pools.0.speculative.draft_model", "needs a draft_model");
  refused("unknown", "{method: draft_model, draft_model: gpt-9, num_speculative_tokens: 2, mean_acceptance_length: 2}",
          "pools.0.speculative.draft_model", "unknown model 'gpt-9'");
  // polynomial coefficients describe the target only: a draft needs its step time
  refused("unpriced", "{method: mtp, num_speculative_tokens: 1, mean_acceptance_length: 1.5}",
          "pools.0.speculative.draft_step", "cannot price");
}

}  // namespace
}  // namespace servesim
