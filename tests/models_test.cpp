// Several models in one cluster: a request goes only to pools serving its model; one asking for
// a model nobody serves is rejected, recorded and counted, never served by another model.
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using H5 = testing::H5File;

const char* kTwoModels = R"(
name: two_models
seed: 4
workload:
  synthetic:
    duration: 120s
    arrival: {process: poisson, rate: 8}
    input_length: {dist: uniform, min: 200, max: 2000}
    output_length: {dist: uniform, min: 20, max: 200}
    models: [{name: llama-3.1-8b, weight: 3}, {name: llama-3.1-70b, weight: 1}]
router: {policy: least_loaded}
pools:
  - {name: small, replicas: 2, model: llama-3.1-8b, gpu: h100_sxm}
  - {name: big, replicas: 2, model: llama-3.1-70b, gpu: h100_sxm, tp: 4}
)";

TEST(Models, RequestsGoOnlyToThePoolsServingTheirModel) {
  testing::TempDir dir;
  auto r = testing::run_servesim("run " + dir.write("m.yaml", kTwoModels) + " -o " + dir.file("m.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5 f(dir.file("m.h5"));
  EXPECT_EQ(testing::read_string_attribute(f.id, "/meta", "served_models"), "llama-3.1-8b\nllama-3.1-70b");
  auto model = testing::read_double_column(f.id, "/requests", "model");
  auto worker = testing::read_double_column(f.id, "/requests", "decode_worker");
  std::map<int, int> per_model;
  for (size_t i = 0; i < model.size(); ++i) {
    ++per_model[static_cast<int>(model[i])];
    // workers 0-1 are the 8B pool's, 2-3 the 70B pool's
    if (model[i] == 0) EXPECT_LT(worker[i], 2) << i;
    else EXPECT_GE(worker[i], 2) << i;
  }
  ASSERT_EQ(per_model.size(), 2u);
  // the 3:1 mix, within 5 binomial standard deviations
  const double n = static_cast<double>(model.size()), p = 0.75;
  EXPECT_NEAR(per_model[0], n * p, 5 * std::sqrt(n * p * (1 - p)));
  auto summary = [&](const std::string& k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
  EXPECT_EQ(summary("model_llama-3.1-8b_requests"), per_model[0]);
  EXPECT_EQ(summary("model_llama-3.1-70b_requests"), per_model[1]);
  EXPECT_EQ(summary("model_llama-3.1-8b_requests_completed") + summary("model_llama-3.1-70b_requests_completed"),
            summary("requests_completed"));
  // the 70B model is slower per token: its requests take longer end to end
  EXPECT_GT(summary("model_llama-3.1-70b_e2e_mean_s"), summary("model_llama-3.1-8b_e2e_mean_s"));
  EXPECT_THAT(r.out, HasSubstr("model       llama-3.1-70b: "));
}

TEST(Models, ARequestForAModelNobodyServesIsRejectedAndCounted) {
  testing::TempDir dir;
  std::string rows;
  const char* names[] = {"llama-3.1-8b", "mistral-7b", "", "llama-3.1-70b"};
  for (int i = 0; i < 40; ++i) {
    std::string name = names[i % 4];
    rows += fmt::format(R"({{"timestamp": {}, "input_length": 300, "output_length": 20{}}})", i * 200,
                        name.empty() ? "" : fmt::format(R"(, "model": "{}")", name)) + "\n";
  }
  const std::string trace = dir.write("t.jsonl", rows);
  const std::string yaml = fmt::format(R"(
name: rejects
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - {{name: small, replicas: 1, model: llama-3.1-8b, gpu: h100_sxm}}
  - {{name: big, replicas: 1, model: llama-3.1-70b, gpu: h100_sxm, tp: 4}}
)",
                                       trace);
  auto r = testing::run_servesim("run " + dir.write("r.yaml", yaml) + " -o " + dir.file("r.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("rejected    10 requests named a model no pool serves"));
  H5 f(dir.file("r.h5"));
  auto status = testing::read_double_column(f.id, "/requests", "status");
  auto reason = testing::read_double_column(f.id, "/requests", "reject_reason");
  auto worker = testing::read_double_column(f.id, "/requests", "decode_worker");
  auto model = testing::read_double_column(f.id, "/requests", "model");
  int rejected = 0, completed = 0;
  for (size_t i = 0; i < status.size(); ++i) {
    if (status[i] == 5) {  // rejected: never routed
      ++rejected;
      EXPECT_EQ(reason[i], 1);
      EXPECT_EQ(worker[i], -1);
    } else {
      ++completed;
      EXPECT_EQ(status[i], 1);
      EXPECT_EQ(reason[i], 0);
      EXPECT_EQ(worker[i] >= 1, model[i] == 1) << i;  // the 70B requests on the 70B worker only
    }
  }
  EXPECT_EQ(rejected, 10);
  EXPECT_EQ(completed, 30);  // rows naming no model went to the first pool's model
  auto summary = [&](const std::string& k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
  EXPECT_EQ(summary("requests_rejected"), 10);
  EXPECT_EQ(summary("requests_rejected_unknown_model"), 10);
  EXPECT_EQ(summary("requests_arrived"), 40);
  EXPECT_EQ(summary("model_llama-3.1-8b_requests"), 20);
  EXPECT_EQ(summary("model_llama-3.1-70b_requests"), 10);
}

TEST(Models, ValidationNamesUnservedModelsAndPoolsWithoutTraffic) {
  testing::TempDir dir;
  std::string yaml = kTwoModels;
  auto bad = yaml;
  const std::string big = "{name: llama-3.1-70b, weight: 1}";
  bad.replace(bad.find(big), big.size(), "{name: qwen3-32b, weight: 1}");
  auto r = testing::run_servesim("validate " + dir.write("b.yaml", bad));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("workload.synthetic.models.1.name"));
  EXPECT_THAT(r.out, HasSubstr("no pool serves model or LoRA adapter 'qwen3-32b' (pools serve: llama-3.1-8b, llama-3.1-70b)"));
  auto quiet = yaml;
  quiet.replace(quiet.find(", " + big), big.size() + 2, "");
  r = testing::run_servesim("validate " + dir.write("q.yaml", quiet));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("warning: no request will ask for llama-3.1-70b"));
  const char* prefill_only = R"(
name: p
pools:
  - {name: agg, replicas: 1, model: llama-3.1-8b, gpu: h100_sxm}
  - {name: pre, role: prefill, replicas: 1, model: llama-3.1-70b, gpu: h100_sxm, tp: 4}
)";
  r = testing::run_servesim("validate " + dir.write("p.yaml", prefill_only));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("a prefill pool needs a decode pool"));  // so no model is left without an entry
}

}  // namespace
}  // namespace servesim
