// Reliability: every input and every interruption ends cleanly. Each test is one class of fault:
// hangs on ordinary input, garbage accepted silently, confusing errors, results lost or corrupted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include "cluster/run.h"
#include "core/error.h"
#include "models/engine_scheduler.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::H5File;
namespace fs = std::filesystem;

// One worker, polynomial timing (fast), reading `trace` in `format`.
std::string trace_scenario(const std::string& format, const std::string& trace, const std::string& extra = "") {
  return fmt::format(R"(
name: rel
seed: 3
workload: {{source: {}, path: {}}}
pools:
  - name: a
    replicas: 1
    engine: {{max_num_seqs: 16}}
    timing: {{model: polynomial, polynomial: {{constant_ms: 5, per_prefill_token_ms: 0.01, per_decode_seq_ms: 0.1}}}}
{})",
                     format, trace, extra);
}

const char* kSynthetic = R"(
name: syn
seed: 5
simulation: {sample_interval: 1s}
workload:
  source: synthetic
  synthetic:
    duration: 60s
    arrival: {process: poisson, rate: 6}
    input_length: {dist: uniform, min: 100, max: 800}
    output_length: {dist: uniform, min: 1, max: 100}
pools:
  - name: a
    replicas: 2
    engine: {max_num_seqs: 32}
    timing: {model: polynomial, polynomial: {constant_ms: 6, per_prefill_token_ms: 0.05, per_decode_seq_ms: 0.1}}
)";

double summary(const std::string& file, const std::string& key) {
  H5File f(file);
  return testing::read_double_column(f.id, "/summary", key).at(0);
}

class Reliability : public ::testing::Test {
 protected:
  // Runs the CLI under a wall-clock limit: a hang fails the test instead of stalling the suite.
  testing::CommandResult servesim(const std::string& args, int limit_s = 60) {
    return testing::run_command(fmt::format("timeout -s KILL {} {} {}", limit_s, SERVESIM_BIN, args));
  }
  testing::CommandResult run_trace(const std::string& format, const std::string& name, const std::string& text,
                                   const std::string& extra = "") {
    const std::string trace = dir_.write(name, text);
    const std::string scn = dir_.write("scn.yaml", trace_scenario(format, trace, extra));
    return servesim(fmt::format("run {} -q -o {}", scn, dir_.file("out.h5")));
  }
  testing::TempDir dir_;
};

// ---- hangs and livelocks ----

TEST_F(Reliability, MaxTimeBetweenEventsEndsThere) {
  const std::string scn = dir_.write("s.yaml", kSynthetic), out = dir_.file("o.h5");
  auto r = servesim(fmt::format("run {} -q -o {} --set simulation.max_time=30.5s", scn, out), 30);
  ASSERT_EQ(r.exit_code, 0) << r.out.substr(0, 2000);
  EXPECT_THAT(r.out, Not(HasSubstr("W571")));
  EXPECT_THAT(r.out, HasSubstr("status      max_time at 30.500 s"));
  EXPECT_DOUBLE_EQ(summary(out, "sim_time_s"), 30.5);
  H5File f(out);
  EXPECT_EQ(testing::read_string_attribute(f.id, "/summary", "status"), "max_time");
}

TEST_F(Reliability, AnIdleGapOfDecadesCostsNothing) {
  // two requests 70 years apart (an Azure row dated 2093): the sampler sleeps through the gap
  auto r = run_trace("azure_csv", "gap.csv",
                     "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00.0,100,10\n"
                     "2093-11-16 18:00:00.0,100,10\n",
                     "simulation: {sample_interval: 1s}\n");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string out = dir_.file("out.h5");
  EXPECT_EQ(summary(out, "requests_completed"), 2);
  EXPECT_GT(summary(out, "sim_time_s"), 2.2e9);
  H5File f(out);
  const auto time = testing::read_double_column(f.id, "/timeseries/cluster", "time_s");
  EXPECT_LE(time.size(), 6u) << "empty windows of the idle gap were written";
  const auto arrivals = testing::read_double_column(f.id, "/timeseries/cluster", "arrivals");
  EXPECT_EQ(std::accumulate(arrivals.begin(), arrivals.end(), 0.0), 2);
  // the window after the gap is one sample interval long, not the gap
  const auto interval = testing::read_double_column(f.id, "/timeseries/cluster", "interval_s");
  for (double v : interval) EXPECT_LE(v, 1.0 + 1e-9);
  // Little's law still holds over the written windows
  const auto mean = testing::read_double_column(f.id, "/timeseries/cluster", "in_system_mean");
  double area = 0;
  for (size_t i = 0; i < mean.size(); ++i) area += mean[i] * interval[i];
  const auto e2e = testing::read_double_column(f.id, "/requests", "e2e_s");
  EXPECT_NEAR(area, e2e[0] + e2e[1], 1e-6);
}

// SGLang under KV pressure, as check-silicon deploys a measured row: Qwen3-32B on one H100 (room
// for about two 10k-token requests), 8000/2000 tokens, 80 clients. Before the fix the engine
// stalled with 80 requests waiting (and, on the Mooncake trace without prefix caching, spun for
// ever re-admitting and self-preempting one prompt).
TEST_F(Reliability, SglangUnderKvPressureAdmitsConservativelyAndFinishes) {
  const std::string scn = dir_.write("s.yaml", R"(
name: sg80
seed: 1
workload:
  source: synthetic
  max_requests: 160
  closed_loop: {concurrency: 80, desync: 0s}
  synthetic:
    duration: 100s
    arrival: {process: constant, rate: 1000}
    input_length: {dist: fixed, value: 8000}
    output_length: {dist: fixed, value: 2000}
pools:
  - name: agg
    replicas: 1
    tp: 1
    model: qwen3-32b
    gpu: h100_sxm
    engine: {scheduler: sglang, block_size: 1, max_num_batched_tokens: 8192, max_num_seqs: 1024,
             gpu_memory_utilization: 0.88}
    timing: {model: roofline}
)");
  for (const char* caching : {"true", "false"}) {
    const std::string out = dir_.file(fmt::format("sg_{}.h5", caching));
    auto r = servesim(fmt::format("run {} -q -o {} --set pools.0.engine.enable_prefix_caching={}", scn, out, caching));
    ASSERT_EQ(r.exit_code, 0) << "prefix caching " << caching << ": " << r.out;
    EXPECT_EQ(summary(out, "requests_completed"), 160);
    H5File f(out);
    const auto kv = testing::read_double_column(f.id, "/timeseries/cluster", "kv_usage");
    EXPECT_GT(*std::max_element(kv.begin(), kv.end()), 0.8) << "the cache was not under pressure";
  }
}

// A scheduler that computes a prompt token every iteration and never finishes anything: the
// shape of a livelock (registered in the test binary only).
class SpinScheduler final : public EngineScheduler {
 public:
  explicit SpinScheduler(const SchedulerContext&) {}
  void enqueue(Request* r, TimeNs, EngineJob) override { waiting_.push_back(r); }
  bool plan(TimeNs, BatchShape& batch) override {
    batch = {};
    if (waiting_.empty()) return false;
    batch.prefill_seqs = 1;
    batch.prefill_tokens = 1;
    batch.prefill_attention_pairs = 1;
    return true;
  }
  void complete(TimeNs, IterationResult& out) override { out = {}; }
  EngineLoad load() const override { return {static_cast<std::int32_t>(waiting_.size()), 0, 7, 10, 0, 0}; }
  std::vector<Request*> reset() override { return std::exchange(waiting_, {}); }
  void progress(std::vector<TokenProgress>&) const override {}
  bool abort(Request*) override { return false; }

 private:
  std::vector<Request*> waiting_;
};
SERVESIM_REGISTER(SchedulerRegistry, "test_spin", "test only: computes forever, emits nothing",
                  [](const SchedulerContext& ctx) { return std::make_unique<SpinScheduler>(ctx); })

TEST(ReliabilityLivelock, IterationsThatEmitNothingForTooLongAreAnInvariantErrorNamingTheWorker) {
  LoadedScenario s = load_scenario_string(kSynthetic, "spin", {"pools.0.engine.scheduler=test_spin"});
  try {
    run_scenario(s, RunOptions{});
    FAIL() << "the livelock was not detected";
  } catch (const InvariantError& e) {
    EXPECT_THAT(e.what(), HasSubstr("livelocked"));
    EXPECT_THAT(e.what(), HasSubstr("iterations in a row emitted no token"));
    EXPECT_THAT(e.what(), HasSubstr("KV 7 of 10 blocks"));
    EXPECT_THAT(e.what(), ::testing::ContainsRegex("worker [01] livelocked"));
  }
}

// ---- unbounded configurations ----

TEST_F(Reliability, SizesAndRatesThatWouldNeverEndAreRejectedByValidation) {
  const std::string scn = dir_.write("s.yaml", kSynthetic);
  const std::vector<std::pair<std::string, std::string>> cases{
      {"pools.0.replicas=1000000000", "pools.0.replicas"},
      {"simulation.sample_interval=1us", "simulation.sample_interval"},
      {"planner.adjustment_interval=1ns", "planner.adjustment_interval"},
      {"failures.rate_per_worker_hour=1e9", "failures.rate_per_worker_hour"},
      {"topology.nodes=[{name: n, gpus: 1000000000}]", "topology.nodes.0.gpus"}};
  for (const auto& [set, key] : cases) {
    auto r = servesim(fmt::format("validate {} --set '{}'", scn, set), 20);
    EXPECT_EQ(r.exit_code, 2) << set << ": " << r.out.substr(0, 2000);
    EXPECT_THAT(r.out, HasSubstr(key)) << set;
    EXPECT_THAT(r.out, HasSubstr("simulation.skip_scale_checks")) << set;
  }
  auto ok = servesim(fmt::format("validate {} --set simulation.sample_interval=1us --set simulation.skip_scale_checks=true",
                                 scn));
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
}

// ---- garbage accepted silently ----

TEST_F(Reliability, NumbersOutsideTheirRangeAreBadLinesNamingFileLineAndField) {
  const std::string mooncake_ok = R"({"timestamp": 0, "input_length": 10, "output_length": 5})";
  const std::vector<std::tuple<std::string, std::string, std::string>> mooncake{
      {R"({"timestamp": 1e30, "input_length": 10, "output_length": 5})", "timestamp", "outside"},
      {R"({"timestamp": 5, "input_length": 4294967297, "output_length": 5})", "input_length", "outside [1, 100000000]"},
      {R"({"timestamp": 5, "input_length": 10, "output_length": 5, "priority": 2147483648})", "priority", "outside"}};
  for (const auto& [row, field, what] : mooncake) {
    auto r = run_trace("mooncake_jsonl", "t.jsonl", mooncake_ok + "\n" + row + "\n");
    EXPECT_EQ(r.exit_code, 3) << row << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("t.jsonl:2:")) << row;
    EXPECT_THAT(r.out, HasSubstr(field)) << row;
    EXPECT_THAT(r.out, HasSubstr(what)) << row;
  }
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9,100,10\n";
  for (const auto& [row, field] : std::vector<std::pair<std::string, std::string>>{
           {"2500-01-01 00:00:00.0,100,10", "TIMESTAMP"},
           {"2023-11-16 18:17:04.0,4294967297,10", "ContextTokens"},
           {"2023-11-16 18:17:04.0,4294967296,10", "ContextTokens"},
           {"2023-11-16 18:17:04.0,100,-3", "GeneratedTokens"}}) {
    auto r = run_trace("azure_csv", "t.csv", header + row + "\n");
    EXPECT_EQ(r.exit_code, 3) << row << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("t.csv:3:")) << row;
    EXPECT_THAT(r.out, HasSubstr(field)) << row;
  }
  // time_scale that pushes arrivals past int64 nanoseconds
  auto r = run_trace("mooncake_jsonl", "t.jsonl", mooncake_ok + "\n" + R"({"timestamp": 1e9, "input_length": 10, "output_length": 5})" "\n",
                     "");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  const std::string trace = dir_.file("t.jsonl");
  const std::string scn = dir_.write("scaled.yaml", trace_scenario("mooncake_jsonl", trace));
  r = servesim(fmt::format("run {} -q -o {} --set workload.time_scale=1e9", scn, dir_.file("x.h5")));
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("workload.time_scale"));
}

TEST_F(Reliability, AnEmptyTraceIsNoRequestsNotANanSummary) {
  for (const auto& [format, name, text] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"mooncake_jsonl", "e.jsonl", ""},
           {"mooncake_jsonl", "blank.jsonl", "\n\n"},
           {"azure_csv", "h.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"}}) {
    auto r = run_trace(format, name, text);
    EXPECT_EQ(r.exit_code, 3) << name << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("no requests")) << name;
    EXPECT_THAT(r.out, HasSubstr(name)) << name;
    EXPECT_FALSE(fs::exists(dir_.file("out.h5"))) << name;
  }
}

TEST_F(Reliability, AnOverlongLineIsABadLineAndNonRegularFilesAreRefused) {
  const std::string row = R"({"timestamp": 0, "input_length": 10, "output_length": 5})";
  const std::string huge = R"({"timestamp": 1, "input_length": 10, "output_length": 5, "pad": ")" +
                           std::string(9 << 20, 'x') + "\"}";
  const std::string text = row + "\n" + huge + "\n" + row + "\n" + row + "\n";
  auto r = run_trace("mooncake_jsonl", "long.jsonl", text);
  EXPECT_EQ(r.exit_code, 3) << r.out.substr(0, 2000);
  EXPECT_THAT(r.out, HasSubstr("long.jsonl:2:"));
  EXPECT_THAT(r.out, HasSubstr("over the 8 MiB limit"));
  EXPECT_LT(r.out.size(), 2000u) << "the long line was echoed";
  const std::string skip = dir_.write("skip.yaml", trace_scenario("mooncake_jsonl", dir_.file("long.jsonl")));
  r = servesim(fmt::format("run {} -q -o {} --set workload.on_bad_line=skip", skip, dir_.file("s.h5")));
  ASSERT_EQ(r.exit_code, 0) << r.out.substr(0, 2000);
  EXPECT_EQ(summary(dir_.file("s.h5"), "requests_arrived"), 3);
  EXPECT_EQ(summary(dir_.file("s.h5"), "trace_rows_skipped"), 1);
  for (const auto& [path, kind] : std::vector<std::pair<std::string, std::string>>{
           {"/dev/zero", "character device"}, {dir_.path(), "directory"}}) {
    const std::string scn = dir_.write("dev.yaml", trace_scenario("mooncake_jsonl", path));
    r = servesim(fmt::format("run {} -q -o {}", scn, dir_.file("d.h5")), 20);
    EXPECT_THAT(r.exit_code, ::testing::AnyOf(2, 3)) << path << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr(kind)) << path;
  }
}

TEST_F(Reliability, YamlDuplicateKeysStrayContentAndDirectoriesAreErrors) {
  auto r = servesim("validate " + dir_.write("dup.yaml", "name: a\nseed: 1\nname: b\n"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("dup.yaml:3:1"));
  EXPECT_THAT(r.out, HasSubstr("'name' appears twice"));
  EXPECT_THAT(r.out, HasSubstr("first at line 1"));
  r = servesim("validate " + dir_.write("dup2.yaml", "pools:\n  - name: a\n    tp: 1\n    tp: 2\n"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("dup2.yaml:4:5"));
  for (const char* text : {",", ",\nname: x\n", "- a\n- b\n", "just text\n", "? a: b\n", ": x\n",
                           "name: a\n? [1, 2]\n: 3\n", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}) {
    r = servesim("validate " + dir_.write("odd.yaml", text));
    EXPECT_EQ(r.exit_code, 2) << text << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("odd.yaml")) << text;
  }
  // a "billion laughs" of aliases is checked in the size of its text, not of its expansion
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 10; ++i) {
    bomb += fmt::format("a{}: &a{} [", i, i);
    for (int k = 0; k < 9; ++k) bomb += fmt::format("{}*a{}", k ? ", " : "", i - 1);
    bomb += "]\n";
  }
  r = servesim("validate " + dir_.write("bomb.yaml", bomb + "description: *a9\n"), 20);
  EXPECT_EQ(r.exit_code, 2) << r.out.substr(0, 500);
  // runaway nesting would overflow the YAML parser's stack
  r = servesim("validate " + dir_.write("deep.yaml", std::string(100'000, '[')));
  EXPECT_EQ(r.exit_code, 2) << r.out.substr(0, 500);
  EXPECT_THAT(r.out, HasSubstr("nests more than 1000 levels"));
  r = servesim("validate " + dir_.write("deep2.yaml", [] {
                 std::string t;
                 for (int i = 0; i < 30'000; ++i) t += "- ";
                 return t + "x\n";
               }()));
  EXPECT_EQ(r.exit_code, 2) << r.out.substr(0, 500);
  r = servesim("validate " + dir_.write("ok.yaml", "name: ok\n") + " --set 'pools=[{? [a]: 1}]'");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  r = servesim("run " + dir_.path() + " -q -o " + dir_.file("x.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("is a directory"));
  // an empty file and a comment-only file are still the documented all-defaults scenario
  EXPECT_EQ(servesim("validate " + dir_.write("empty.yaml", "# nothing\n")).exit_code, 0);
}

// ---- confusing errors ----

TEST_F(Reliability, NulBytesHugeCellsAndLineEndingsGetCleanMessages) {
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  auto r = run_trace("azure_csv", "nul.csv", header + "2023-11-16 18:17:03.9,10" + std::string(1, '\0') + "0,10\n");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("nul.csv:2:"));
  EXPECT_THAT(r.out, HasSubstr("NUL byte"));
  EXPECT_THAT(r.out, HasSubstr("\\0"));
  EXPECT_THAT(r.out, Not(HasSubstr("E549")));
  EXPECT_EQ(r.out.find('\0'), std::string::npos);
  // a 5 MB cell (under the line limit) is quoted, not echoed
  r = run_trace("azure_csv", "big.csv", header + "2023-11-16 18:17:03.9," + std::string(5 << 20, '7') + ",10\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_LT(r.out.size(), 1500u);
  EXPECT_THAT(r.out, HasSubstr("more bytes"));
  // line endings: a BOM and CRLF are accepted; CR-only and \r\r\n are named
  const std::string rows = "2023-11-16 18:17:03.9,100,10\n2023-11-16 18:17:04.9,100,10\n";
  r = run_trace("azure_csv", "bom.csv", "\xEF\xBB\xBF" + header + rows);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = run_trace("mooncake_jsonl", "bom.jsonl",
                "\xEF\xBB\xBF{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\r\n");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::string crlf = header + rows;
  for (size_t p = 0; (p = crlf.find('\n', p)) != std::string::npos; p += 2) crlf.insert(p, "\r");
  EXPECT_EQ(run_trace("azure_csv", "crlf.csv", crlf).exit_code, 0);
  std::string cr = header + rows;
  std::replace(cr.begin(), cr.end(), '\n', '\r');
  r = run_trace("azure_csv", "cr.csv", cr);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("CR-only line endings"));
  EXPECT_LT(r.out.size(), 1500u);
  std::string crcr = header + rows;
  for (size_t p = 0; (p = crcr.find('\n', p)) != std::string::npos; p += 3) crcr.insert(p, "\r\r");
  r = run_trace("azure_csv", "crcr.csv", crcr);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("doubled carriage return"));
  r = run_trace("azure_csv", "u16.csv", "\xFF\xFE" + header);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("UTF-16"));
}

TEST_F(Reliability, OutputPathProblemsSayTheRealCause) {
  const std::string scn = dir_.write("s.yaml", kSynthetic);
  auto r = servesim(fmt::format("run {} -q -o {}/", scn, dir_.path()));
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_THAT(r.out, HasSubstr("is a directory"));
  r = servesim(fmt::format("run {} -q -o {}/x.h5", scn, scn));  // a folder that is a file
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Not a directory"));
  EXPECT_THAT(r.out, Not(HasSubstr("does its folder exist")));
}

// ---- results lost or corrupted ----

TEST_F(Reliability, AnOutputPathEqualToAnInputIsRefusedAndTheInputKept) {
  const std::string scn = dir_.write("s.yaml", kSynthetic);
  auto r = servesim(fmt::format("run {} -q -o {}", scn, scn));
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_THAT(r.out, HasSubstr("also an input"));
  std::ifstream in(scn);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), kSynthetic);
  const std::string trace_text = R"({"timestamp": 0, "input_length": 10, "output_length": 5})" "\n";
  const std::string trace = dir_.write("t.jsonl", trace_text);
  const std::string tscn = dir_.write("t.yaml", trace_scenario("mooncake_jsonl", "t.jsonl"));
  r = servesim(fmt::format("run {} -q -o {}/./t.jsonl", tscn, dir_.path()));
  EXPECT_EQ(r.exit_code, 5) << r.out;
  std::ifstream tin(trace);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(tin), {}), trace_text);
}

TEST_F(Reliability, AFailedRerunKeepsThePreviousResults) {
  const std::string trace = dir_.write("t.jsonl", R"({"timestamp": 0, "input_length": 10, "output_length": 5})" "\n");
  const std::string scn = dir_.write("t.yaml", trace_scenario("mooncake_jsonl", trace));
  const std::string out = dir_.file("keep.h5");
  ASSERT_EQ(servesim(fmt::format("run {} -q -o {}", scn, out)).exit_code, 0);
  const auto before = testing::read_raw(H5File(out).id, "/requests");
  dir_.write("t.jsonl", "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\nnot json\n");
  auto r = servesim(fmt::format("run {} -q -o {}", scn, out));
  ASSERT_EQ(r.exit_code, 3) << r.out;
  H5File f(out);
  ASSERT_GE(f.id, 0);
  EXPECT_EQ(testing::read_raw(f.id, "/requests"), before);
  EXPECT_EQ(testing::read_string_attribute(f.id, "/summary", "status"), "completed");
  // nothing else is left beside it
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir_.path())) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"keep.h5", "t.jsonl", "t.yaml"}));
}

// A long run in the background, its output in `log`.
pid_t start_run(const std::string& scn, const std::string& out, const std::string& log,
                const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{SERVESIM_BIN, "run", scn, "-q", "-o", out};
  args.insert(args.end(), extra.begin(), extra.end());
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

bool wait_for_file(const std::string& path, double seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Waits until the partial snapshot holds at least `rows` /requests rows.
bool wait_for_rows(const std::string& partial, hsize_t rows, double seconds) {
  for (int i = 0; i < seconds * 50; ++i) {
    if (testing::rows_if_readable(partial, "/requests") >= rows) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string long_scenario(const testing::TempDir& dir, const std::string& flush = "50ms") {
  return dir.write("long.yaml", std::string(kSynthetic) + "output: {flush_interval: " + flush + "}\n");
}
const std::vector<std::string> kLong{"--set", "workload.synthetic.duration=100h", "--set",
                                     "workload.synthetic.arrival.rate=50", "--set", "pools.0.replicas=40"};

TEST_F(Reliability, ASecondWriterOfOneFileGetsAClearError) {
  const std::string scn = long_scenario(dir_), out = dir_.file("busy.h5");
  const pid_t pid = start_run(scn, out, dir_.file("first.log"), kLong);
  ASSERT_TRUE(wait_for_file(out + ".lock", 20));
  auto r = servesim(fmt::format("run {} -q -o {}", scn, out));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_THAT(r.out, HasSubstr(fmt::format("another servesim run (pid {}) is writing this file", pid)));
  // the dead writer's lock and working file do not block the next run
  EXPECT_EQ(servesim(fmt::format("run {} -q -o {}", dir_.write("s.yaml", kSynthetic), out)).exit_code, 0);
  for (const auto& e : fs::directory_iterator(dir_.path()))
    EXPECT_FALSE(e.path().filename().string().ends_with(".tmp")) << e.path();
}

TEST_F(Reliability, SigtermAndSigintStopCleanlyWithASummary) {
  for (auto [sig, code] : {std::pair(SIGTERM, 143), std::pair(SIGINT, 130)}) {
    const std::string scn = long_scenario(dir_), out = dir_.file(fmt::format("sig{}.h5", sig));
    const std::string log = dir_.file("sig.log");
    const pid_t pid = start_run(scn, out, log, kLong);
    ASSERT_TRUE(wait_for_rows(dir_.file(fmt::format("sig{}.partial.h5", sig)), 100, 30)) << "no rows were flushed";
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping";
    EXPECT_EQ(WEXITSTATUS(status), code);
    std::ifstream in(log);
    const std::string text(std::istreambuf_iterator<char>(in), {});
    EXPECT_THAT(text, HasSubstr("status      interrupted at"));
    EXPECT_THAT(text, HasSubstr("throughput"));
    H5File f(out);
    ASSERT_GE(f.id, 0) << text;
    EXPECT_EQ(testing::read_string_attribute(f.id, "/summary", "status"), "interrupted");
    const double arrived = testing::read_double_column(f.id, "/summary", "requests_arrived").at(0);
    EXPECT_GT(arrived, 0);
    EXPECT_EQ(static_cast<double>(testing::dataset_rows(f.id, "/requests")), arrived);
    EXPECT_FALSE(fs::exists(dir_.file(fmt::format("sig{}.partial.h5", sig))));
  }
}

TEST_F(Reliability, FiftyKillsAtRandomMomentsAllLeaveReadableFiles) {
  const std::string scn = long_scenario(dir_, "1ms");
  std::mt19937 rng(17);
  std::uniform_int_distribution<int> delay_ms(0, 600);
  std::vector<std::string> partials;
  for (int k = 0; k < 50; ++k) {
    const std::string out = dir_.file(fmt::format("k{}.h5", k));
    const pid_t pid = start_run(scn, out, "/dev/null", kLong);
    // from the first snapshot on, at a random moment (copies, renames and flushes all in flight)
    const std::string partial = dir_.file(fmt::format("k{}.partial.h5", k));
    EXPECT_TRUE(wait_for_file(partial, 30)) << "run " << k << " never wrote its first snapshot";
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "run " << k << " ended before it was killed";
    EXPECT_FALSE(fs::exists(out)) << "a killed run must not look finished";
    if (fs::exists(partial)) partials.push_back(partial);
  }
  ASSERT_EQ(partials.size(), 50u) << "a snapshot disappeared";
  // every partial file opens in h5dump and in h5py, and every dataset reads whole
  for (const auto& p : partials) {
    auto r = testing::run_command("h5dump " + p + " > /dev/null");
    EXPECT_EQ(r.exit_code, 0) << p << ": " << r.out.substr(0, 500);
  }
  std::string py = "import h5py, sys\nfor p in sys.argv[1:]:\n  f = h5py.File(p, 'r')\n"
                   "  f.visititems(lambda n, o: o[()] if isinstance(o, h5py.Dataset) else None)\n"
                   "  assert f['requests'].shape[0] > 0 or f['timeseries/cluster'].shape[0] >= 0\nprint('ok', len(sys.argv) - 1)\n";
  std::string args;
  for (const auto& p : partials) args += " " + p;
  auto r = testing::run_command("/usr/bin/python3 -c \"" + py + "\"" + args);
  EXPECT_EQ(r.exit_code, 0) << r.out.substr(0, 2000);
  EXPECT_THAT(r.out, HasSubstr(fmt::format("ok {}", partials.size())));
}

// ---- sweeps ----

std::string sweep_yaml(const std::string& values) {
  return fmt::format(R"(
name: res
base: {}/scenarios/quickstart.yaml
set: [workload.synthetic.duration=5s]
parameters:
  - {{key: pools.0.replicas, values: [{}]}}
)",
                     SERVESIM_SOURCE_DIR, values);
}

TEST_F(Reliability, SweepResumeRerunsTrialsWhoseScenarioChanged) {
  const std::string out = dir_.file("res.h5");
  auto r = servesim(fmt::format("sweep {} -o {}", dir_.write("sw.yaml", sweep_yaml("1, 2")), out), 120);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = servesim(fmt::format("sweep {} -o {} --resume", dir_.write("sw.yaml", sweep_yaml("3, 4")), out), 120);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("(2 ran, 0 reused, 0 failed)"));
  EXPECT_THAT(r.out, HasSubstr("reran 2 trial files"));
  H5File f(out);
  EXPECT_EQ(testing::read_double_column(f.id, "/trials", "gpus"), (std::vector<double>{3, 4}));
  // unchanged: both reused
  r = servesim(fmt::format("sweep {} -o {} --resume", dir_.file("sw.yaml"), out), 120);
  EXPECT_THAT(r.out, HasSubstr("(0 ran, 2 reused, 0 failed)"));
}

// Processes whose command line mentions `needle`.
int processes_with(const std::string& needle) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "cmdline");
    std::string cmd(std::istreambuf_iterator<char>(in), {});
    if (cmd.find(needle) != std::string::npos) ++n;
  }
  return n;
}

TEST_F(Reliability, KilledSweepLeavesNoOrphanTrials) {
  const std::string yaml = dir_.write("orph.yaml", fmt::format(R"(
name: orph
base: {}/scenarios/quickstart.yaml
set: [workload.synthetic.duration=100d]
parameters:
  - {{key: pools.0.replicas, values: [1, 2]}}
)",
                                                                SERVESIM_SOURCE_DIR));
  const std::string out = dir_.file("orph.h5"), trials = dir_.file("orph.trials");
  for (int sig : {SIGKILL, SIGTERM}) {
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open("/dev/null", O_WRONLY);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      execl(SERVESIM_BIN, SERVESIM_BIN, "sweep", yaml.c_str(), "-o", out.c_str(), "-j", "2",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    int seen = 0;
    for (int i = 0; i < 500 && seen < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      seen = processes_with(trials);
    }
    ASSERT_EQ(seen, 2) << "the trials did not start";
    kill(pid, sig);
    waitpid(pid, nullptr, 0);
    int left = seen;
    for (int i = 0; i < 300 && left > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      left = processes_with(trials);
    }
    EXPECT_EQ(left, 0) << "trials outlived the sweep after signal " << sig;
  }
}

// ---- check-silicon ----

TEST_F(Reliability, CheckSiliconDeploysEachRowOnItsSystem) {
  // two real fixture rows, relabelled to other systems: H200 (in the catalog) and one that is not
  std::ifstream in(std::string(SERVESIM_SOURCE_DIR) + "/tests/data/silicon_h100_sxm_fixture.csv");
  std::string header, line, sglang;
  std::getline(in, header);
  while (std::getline(in, line))
    if (line.find("sglang,0.5.1") != std::string::npos) sglang = line;
  ASSERT_FALSE(sglang.empty());
  auto relabel = [&](const std::string& id, const std::string& system) {
    std::string row = sglang;
    row.replace(0, row.find(','), id);
    const size_t at = row.find(",h100_sxm,");
    return row.replace(at, 10, "," + system + ",");
  };
  const std::string csv =
      dir_.write("s.csv", header + "\n" + relabel("on_h200", "h200_sxm") + "\n" + relabel("on_mi300", "mi300x") + "\n");
  const std::string out = dir_.file("cs.h5");
  auto r = servesim(fmt::format("check-silicon {} -o {} --timing roofline --rounds 1", csv, out), 240);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("system 'mi300x' has no GPU in the catalog"));
  H5File f(out);
  EXPECT_EQ(testing::read_string_column(f.id, "/rows", "gpu"), (std::vector<std::string>{"h200", ""}));
  EXPECT_EQ(testing::read_string_column(f.id, "/rows", "status"), (std::vector<std::string>{"ok", "unsupported"}));
  const auto extrapolations = testing::read_double_column(f.id, "/rows", "timing_extrapolations");
  EXPECT_EQ(extrapolations[0], 0);
  std::ifstream yaml(dir_.file("cs.runs/row2.yaml"));
  EXPECT_THAT(std::string(std::istreambuf_iterator<char>(yaml), {}), HasSubstr("gpu: h200"));
  r = servesim(fmt::format("check-silicon {} -o {} --timing roofline --filter id=on_mi300", csv, out));
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("none of the 1 selected rows could be modelled"));
}

}  // namespace
}  // namespace servesim
