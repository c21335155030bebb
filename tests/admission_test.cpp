// Admission control at the router: per-worker limits, the router's queue (FIFO or priority),
// its depth limit and its timeout; every rejection is recorded, counted and never served.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
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
  EXPECT_THAT(out, HasSubstr("admission   13 requests rejected: 13 found the router's queue full, 0 waited"));
  H5 f(dir.file("a.h5"));
  EXPECT_EQ(testing::read_double_column(f.id, "/summary", "requests_rejected_queue_full").at(0), 13);
  EXPECT_EQ(testing::read_double_column(f.id, "/summary", "requests_completed").at(0), 7);
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

}  // namespace
}  // namespace servesim
