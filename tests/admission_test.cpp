// Admission control at the router: per-worker limits, the router's queue (FIFO or priority),
// its depth limit and its timeout; every rejection is recorded, counted and never served.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using H5 = testing::H5File;

struct Rows {
  std::vector<double> id, status, reason, arrival, e2e, ttft, priority, scheduled;
};

// `n` requests all at t = 0 (trace order = id order), with the given priorities (cycled).
std::string burst(testing::TempDir& dir, int n, int output_tokens, std::vector<int> priorities = {0}) {
  std::string rows;
  for (int i = 0; i < n; ++i)
    rows += fmt::format(R"({{"timestamp": 0, "input_length": 200, "output_length": {}, "priority": {}}})", output_tokens,
                        priorities[static_cast<size_t>(i) % priorities.size()]) + "\n";
  return dir.write("burst.jsonl", rows);
}

Rows run(testing::TempDir& dir, const std::string& trace, const std::string& admission, std::string* out = nullptr) {
  const std::string yaml = fmt::format(R"(
name: admission
workload: {{source: mooncake_jsonl, path: {}}}
router: {{policy: least_loaded, admission: {}}}
pools:
  - {{replicas: 1, model: llama-3.1-8b, gpu: h100_sxm, engine: {{policy: priority}}}}
)",
                                       trace, admission);
  auto r = testing::run_servesim("run " + dir.write("a.yaml", yaml) + " -o " + dir.file("a.h5"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  if (out) *out = r.out;
  H5 f(dir.file("a.h5"));
  Rows rows;
  auto col = [&](const char* c) { return testing::read_double_column(f.id, "/requests", c); };
  rows.id = col("id"), rows.status = col("status"), rows.reason = col("reject_reason"), rows.arrival = col("arrival_s");
  rows.e2e = col("e2e_s"), rows.ttft = col("ttft_s"), rows.priority = col("priority"), rows.scheduled = col("queue_s");
  return rows;
}

TEST(Admission, AFullQueueRejectsWhatDoesNotFitTheNewestFirst) {
  testing::TempDir dir;
  std::string out;
  // 20 at once; a worker takes 2, the queue holds 5: the 13 newest are turned away at once
  Rows rows = run(dir, burst(dir, 20, 50), "{max_inflight_per_worker: 2, max_queue: 5}", &out);
  ASSERT_EQ(rows.id.size(), 20u);
  for (size_t i = 0; i < rows.id.size(); ++i) {
    const bool shed = rows.id[i] >= 7;
    EXPECT_EQ(rows.status[i], shed ? 5 : 1) << rows.id[i];
    EXPECT_EQ(rows.reason[i], shed ? 2 : 0) << rows.id[i];
    if (shed) {
      EXPECT_EQ(rows.e2e[i], 0.0);  // rejected on arrival
    }
  }
  EXPECT_THAT(out, HasSubstr("admission   13 requests rejected: 0 over their model's rate limit, 13 found the router's queue full, 0"));
  H5 f(dir.file("a.h5"));
  EXPECT_EQ(testing::read_double_column(f.id, "/summary", "requests_rejected_queue_full").at(0), 13);
  EXPECT_EQ(testing::read_double_column(f.id, "/summary", "requests_completed").at(0), 7);
  // a rejected request missed its SLO: 7 served well of 20
  EXPECT_DOUBLE_EQ(testing::read_double_column(f.id, "/summary", "slo_attainment").at(0), 7.0 / 20);
  // never more than 2 on the worker: the 3rd to 7th start only as earlier ones end
  std::vector<double> starts, ends;
  for (size_t i = 0; i < rows.id.size(); ++i)
    if (rows.status[i] == 1) starts.push_back(rows.scheduled[i]), ends.push_back(rows.e2e[i]);
  std::sort(starts.begin(), starts.end());
  std::sort(ends.begin(), ends.end());
  EXPECT_EQ(starts[1], 0.0);
  EXPECT_GT(starts[2], 0.0);
  EXPECT_NEAR(starts[2], ends[0], 1e-3);  // the third is scheduled when the first ends (one step later at most)
}

TEST(Admission, AHeldRequestIsRejectedAfterMaxWait) {
  testing::TempDir dir;
  // one at a time, each far longer than 1 s (2,000 output tokens): everything held times out
  Rows rows = run(dir, burst(dir, 6, 2000), "{max_inflight_per_worker: 1, max_wait: 1s}");
  int timed_out = 0;
  for (size_t i = 0; i < rows.id.size(); ++i) {
    if (rows.id[i] == 0) {
      EXPECT_EQ(rows.status[i], 1);
      EXPECT_GT(rows.e2e[i], 1.0);
      continue;
    }
    ++timed_out;
    EXPECT_EQ(rows.status[i], 5) << rows.id[i];
    EXPECT_EQ(rows.reason[i], 3) << rows.id[i];
    EXPECT_DOUBLE_EQ(rows.e2e[i], 1.0) << rows.id[i];  // rejected exactly max_wait after arriving
  }
  EXPECT_EQ(timed_out, 5);
}

TEST(Admission, PriorityOrderServesTheMostUrgentFirstAndShedsTheLeast) {
  testing::TempDir dir;
  // 8 at once with these priorities; the worker takes 1, the queue 3: the most urgent (0) runs,
  // 1, 2, 3 wait and run in that order, 4-7 are shed
  Rows rows = run(dir, burst(dir, 8, 50, {5, 1, 3, 0, 4, 2, 6, 7}), "{max_inflight_per_worker: 1, max_queue: 3, order: priority}");
  std::map<double, std::pair<double, double>> by_priority;  // priority -> (status, scheduled)
  for (size_t i = 0; i < rows.id.size(); ++i) by_priority[rows.priority[i]] = {rows.status[i], rows.scheduled[i]};
  for (double p : {4, 5, 6, 7}) EXPECT_EQ(by_priority[p].first, 5) << p;
  double last = -1;
  for (double p : {0, 1, 2, 3}) {
    EXPECT_EQ(by_priority[p].first, 1) << p;
    EXPECT_GT(by_priority[p].second, last) << p;  // served in priority order
    last = by_priority[p].second;
  }
}

TEST(Admission, WithoutLimitsNothingIsHeldOrRejected) {
  testing::TempDir dir;
  Rows rows = run(dir, burst(dir, 30, 50), "{max_queue: 0}");  // no worker limit: everything is routed at once
  for (double s : rows.status) EXPECT_EQ(s, 1);
}

TEST(Admission, ATokenBucketAdmitsItsRateAndBurstPerModel) {
  testing::TempDir dir;
  // 16 requests for each model every 125 ms; the 8B model's bucket: 4 req/s, burst 2. It admits
  // the first three (2 tokens, then 0.5 + 0.5 refilled), then one in two: the 8th of a second it
  // refills half a token, so arrivals at 0.375, 0.625, ... s find less than one.
  std::string rows;
  for (int i = 0; i < 16; ++i)
    for (const char* m : {"llama-3.1-8b", "llama-3.1-70b"})
      rows += fmt::format(R"({{"timestamp": {}, "input_length": 100, "output_length": 5, "model": "{}"}})", i * 125, m) + "\n";
  const std::string yaml = fmt::format(R"(
name: buckets
workload: {{source: mooncake_jsonl, path: {}}}
router:
  admission:
    rate_limits: [{{model: llama-3.1-8b, requests_per_s: 4, burst: 2}}]
pools:
  - {{name: small, replicas: 1, model: llama-3.1-8b, gpu: h100_sxm}}
  - {{name: big, replicas: 1, model: llama-3.1-70b, gpu: h100_sxm, tp: 4}}
)",
                                       dir.write("b.jsonl", rows));
  auto r = testing::run_servesim("run " + dir.write("b.yaml", yaml) + " -o " + dir.file("b.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("7 over their model's rate limit"));
  H5 f(dir.file("b.h5"));
  auto model = testing::read_double_column(f.id, "/requests", "model");
  auto arrival = testing::read_double_column(f.id, "/requests", "arrival_s");
  auto reason = testing::read_double_column(f.id, "/requests", "reject_reason");
  std::vector<double> limited;
  for (size_t i = 0; i < model.size(); ++i) {
    if (model[i] == 1) {
      EXPECT_EQ(reason[i], 0);  // the 70B model has no limit
    }
    if (reason[i] == 4) limited.push_back(std::round(arrival[i] * 1e3) / 1e3);  // ms: arrival_s is ns * 1e-9
  }
  std::sort(limited.begin(), limited.end());
  EXPECT_EQ(limited, (std::vector<double>{0.375, 0.625, 0.875, 1.125, 1.375, 1.625, 1.875}));
  auto bad = yaml;
  bad.replace(bad.find("model: llama-3.1-8b, requests_per_s"), 19, "model: qwen3-32b");
  r = testing::run_servesim("validate " + dir.write("v.yaml", bad));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("router.admission.rate_limits.0.model"));
}

TEST(SloClasses, EachClassIsMeasuredAgainstItsOwnTargets) {
  testing::TempDir dir;
  // an overloaded worker: 120 requests in 6 s, every third interactive (TTFT 200 ms), the rest batch (60 s)
  std::string rows;
  for (int i = 0; i < 120; ++i)
    rows += fmt::format(R"({{"timestamp": {}, "input_length": 2000, "output_length": 300, "slo_class": "{}"}})", i * 50,
                        i % 3 == 0 ? "interactive" : "batch") + "\n";
  const std::string yaml = fmt::format(R"(
name: classes
workload: {{source: mooncake_jsonl, path: {}}}
pools:
  - {{replicas: 1, model: llama-3.1-8b, gpu: h100_sxm, engine: {{max_num_seqs: 8}}}}
slo:
  ttft: 1s
  itl: 100ms
  classes: [{{name: interactive, ttft: 200ms, itl: 50ms}}, {{name: batch, ttft: 60s, itl: 200ms}}]
)",
                                       dir.write("c.jsonl", rows));
  auto r = testing::run_servesim("run " + dir.write("c.yaml", yaml) + " -o " + dir.file("c.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("slo class   interactive (TTFT <= 200 ms, ITL <= 50 ms): 40 requests"));
  H5 f(dir.file("c.h5"));
  EXPECT_EQ(testing::read_string_attribute(f.id, "/meta", "slo_classes"), "interactive\nbatch");
  auto cls = testing::read_double_column(f.id, "/requests", "slo_class");
  auto ttft = testing::read_double_column(f.id, "/requests", "ttft_s");
  auto itl = testing::read_double_column(f.id, "/requests", "mean_itl_s");
  const double ttft_target[] = {0.2, 60}, itl_target[] = {0.05, 0.2};
  double good[2] = {0, 0}, n[2] = {0, 0}, all_good = 0;
  for (size_t i = 0; i < cls.size(); ++i) {
    const auto k = static_cast<size_t>(cls[i]);
    ASSERT_LT(k, 2u);
    ++n[k];
    const bool meets = ttft[i] <= ttft_target[k] && itl[i] <= itl_target[k];
    good[k] += meets;
    all_good += meets;
  }
  auto summary = [&](const std::string& k) { return testing::read_double_column(f.id, "/summary", k).at(0); };
  EXPECT_EQ(n[0], 40);
  EXPECT_DOUBLE_EQ(summary("class_interactive_slo_attainment"), good[0] / n[0]);
  EXPECT_DOUBLE_EQ(summary("class_batch_slo_attainment"), good[1] / n[1]);
  EXPECT_DOUBLE_EQ(summary("slo_attainment"), all_good / 120);  // the overall figure uses each request's own class
  // the overload is real: interactive requests miss their tight target, batch ones meet their loose one
  EXPECT_LT(summary("class_interactive_slo_attainment"), 0.5);
  EXPECT_GT(summary("class_batch_slo_attainment"), 0.9);

  // a row naming an undefined class is a bad line naming it
  auto bad = dir.write("bad.jsonl", R"({"timestamp": 0, "input_length": 10, "output_length": 2, "slo_class": "gold"})" "\n");
  std::string bad_yaml = yaml;
  bad_yaml.replace(bad_yaml.find(dir.file("c.jsonl")), dir.file("c.jsonl").size(), bad);
  r = testing::run_servesim("run " + dir.write("b.yaml", bad_yaml) + " -q -o " + dir.file("b.h5"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("bad.jsonl:1: slo_class 'gold' is not one of slo.classes (interactive, batch)"));
}

TEST(SloClasses, ASyntheticMixMustNameDefinedClasses) {
  testing::TempDir dir;
  const char* yaml = R"(
name: mix
workload:
  synthetic:
    slo_classes: [{name: interactive, weight: 1}, {name: bulk, weight: 3}]
pools:
  - {replicas: 1, model: llama-3.1-8b, gpu: h100_sxm}
slo:
  classes: [{name: interactive, ttft: 200ms, itl: 50ms}, {name: batch, ttft: 60s, itl: 200ms}]
)";
  auto r = testing::run_servesim(std::string("validate ") + dir.write("m.yaml", yaml));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("workload.synthetic.slo_classes.1.name"));
  EXPECT_THAT(r.out, HasSubstr("'bulk' is not one of slo.classes"));
  std::string good = yaml;
  good.replace(good.find("bulk"), 4, "batch");
  r = testing::run_servesim("run " + dir.write("g.yaml", good) + " -q -o " + dir.file("g.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  H5 f(dir.file("g.h5"));
  auto cls = testing::read_double_column(f.id, "/requests", "slo_class");
  double batch = 0;
  for (double c : cls) batch += c == 1;
  const double n = static_cast<double>(cls.size()), p = 0.75;
  EXPECT_NEAR(batch, n * p, 5 * std::sqrt(n * p * (1 - p)));  // the 1:3 mix
}

}  // namespace
}  // namespace servesim
