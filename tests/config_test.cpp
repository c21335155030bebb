// Scenario validation: every class of bad input is an error naming the file, line and key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scenario/scenario.h"
#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    load_scenario_string(yaml, "scn.yaml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAreValid) {
  auto s = load_scenario_string("name: x\n", "scn.yaml");
  EXPECT_EQ(s.config.pools.size(), 1u);
  EXPECT_EQ(s.config.pools[0].engine.max_num_seqs, 256);
  EXPECT_EQ(s.config.workload.hash_block_tokens, 512);
}

TEST(Config, MalformedYamlNamesLine) {
  std::string e = error_of("name: x\nworkload:\n  source: [unclosed\n");
  EXPECT_THAT(e, HasSubstr("scn.yaml:"));
  EXPECT_THAT(e, HasSubstr("malformed YAML"));
}

TEST(Config, UnknownKeyNamesLineAndSuggests) {
  std::string e = error_of("name: x\npools:\n  - name: a\n    engine:\n      max_num_seq: 4\n");
  EXPECT_THAT(e, HasSubstr("scn.yaml:5:7"));
  EXPECT_THAT(e, HasSubstr("pools.0.engine.max_num_seq"));
  EXPECT_THAT(e, HasSubstr("did you mean 'max_num_seqs'"));
  EXPECT_THAT(e, HasSubstr("Fix:"));
}

TEST(Config, UnknownTopLevelKey) {
  std::string e = error_of("name: x\nwrokload: {}\n");
  EXPECT_THAT(e, HasSubstr("scn.yaml:2:1"));
  EXPECT_THAT(e, HasSubstr("did you mean 'workload'"));
}

TEST(Config, WrongTypeNamesKey) {
  std::string e = error_of("pools:\n  - replicas: two\n");
  EXPECT_THAT(e, HasSubstr("scn.yaml:2:15"));
  EXPECT_THAT(e, HasSubstr("'pools.0.replicas'"));
  EXPECT_THAT(e, HasSubstr("expected a whole number, got 'two'"));
  e = error_of("pools:\n  - replicas: 1.5\n");
  EXPECT_THAT(e, HasSubstr("expected a whole number"));
  e = error_of("workload: [1, 2]\n");
  EXPECT_THAT(e, HasSubstr("expected a mapping"));
  e = error_of("pools: {name: a}\n");
  EXPECT_THAT(e, HasSubstr("expected a list"));
}

TEST(Config, OutOfRangeNamesKey) {
  std::string e = error_of("pools:\n  - engine: {max_num_seqs: 0}\n");
  EXPECT_THAT(e, HasSubstr("'pools.0.engine.max_num_seqs'"));
  EXPECT_THAT(e, HasSubstr("must be at least 1 (got 0)"));
  e = error_of("workload:\n  rate_scale: -2\n");
  EXPECT_THAT(e, HasSubstr("scn.yaml:2:15"));
  EXPECT_THAT(e, HasSubstr("must be greater than 0"));
}

TEST(Config, DurationsNeedUnits) {
  std::string e = error_of("simulation:\n  sample_interval: 5\n");
  EXPECT_THAT(e, HasSubstr("scn.yaml:2:20"));
  EXPECT_THAT(e, HasSubstr("no unit"));
  auto s = load_scenario_string("simulation:\n  sample_interval: 500ms\n  max_time: 3h\n", "scn.yaml");
  EXPECT_DOUBLE_EQ(s.config.simulation.sample_interval.seconds, 0.5);
  EXPECT_DOUBLE_EQ(s.config.simulation.max_time->seconds, 10800.0);
}

TEST(Config, EnumValuesAreChecked) {
  std::string e = error_of("workload:\n  on_bad_line: ignore\n");
  EXPECT_THAT(e, HasSubstr("must be one of: fail, skip"));
}

TEST(Config, ImpossibleCombinations) {
  EXPECT_THAT(error_of("workload: {source: synthetic, path: x.jsonl}\n"),
              HasSubstr("a synthetic workload reads no file"));
  EXPECT_THAT(error_of("workload: {source: mooncake_jsonl}\n"), HasSubstr("set workload.path"));
  EXPECT_THAT(error_of("workload: {source: mooncake_jsonl, path: /no/such/file.jsonl}\n"),
              HasSubstr("does not exist"));
  EXPECT_THAT(error_of("workload:\n  synthetic:\n    arrival: {schedule: steps}\n"), HasSubstr("needs points"));
  EXPECT_THAT(error_of("workload:\n  synthetic:\n    input_length: {dist: uniform, min: 10, max: 5}\n"),
              HasSubstr("min (10) is above max (5)"));
  EXPECT_THAT(error_of("workload: {start: 10s, end: 5s}\n"), HasSubstr("window end must be after its start"));
  EXPECT_THAT(error_of("pools:\n  - name: a\n  - name: a\n"), HasSubstr("used twice"));
  std::string e = error_of("workload:\n  synthetic:\n    arrival:\n      schedule: steps\n      points:\n"
                           "        - {at: 0s, rate: 1}\n        - {at: 0s, rate: 2}\n");
  EXPECT_THAT(e, HasSubstr("points.1.at"));
  EXPECT_THAT(e, HasSubstr("strictly increasing"));
}

TEST(Config, UnknownRegistryNamesListKnownOnes) {
  std::string e = error_of("router:\n  policy: smartest\n");
  EXPECT_THAT(e, HasSubstr("scn.yaml:2:11"));
  EXPECT_THAT(e, HasSubstr("unknown router policy 'smartest'"));
  EXPECT_THAT(e, HasSubstr("round_robin"));
  EXPECT_THAT(error_of("pools:\n  - timing: {model: magic}\n"), HasSubstr("unknown timing model 'magic'"));
  EXPECT_THAT(error_of("workload: {source: parquet}\n"), HasSubstr("use one of: agentic_mooncake, azure_csv, mooncake_delta, mooncake_jsonl, synthetic"));
}

TEST(Config, SetOverridesApplyAndAreNamedInErrors) {
  auto s = load_scenario_string("pools:\n  - replicas: 1\n", "scn.yaml",
                                {"pools.0.replicas=4", "workload.synthetic.arrival.rate=2.5", "seed=9"});
  EXPECT_EQ(s.config.pools[0].replicas, 4);
  EXPECT_DOUBLE_EQ(s.config.workload.synthetic.arrival.rate, 2.5);
  EXPECT_EQ(s.config.seed, 9u);
  std::string e = error_of("name: x\n", {"pools.0.replicas=-1"});
  EXPECT_THAT(e, HasSubstr("--set pools.0.replicas=-1"));
  e = error_of("name: x\n", {"router.polcy=random"});
  EXPECT_THAT(e, HasSubstr("did you mean 'policy'"));
  EXPECT_THAT(error_of("name: x\n", {"novalue"}), HasSubstr("expected key.path=value"));
  EXPECT_THAT(error_of("name: x\n", {"pools.7.replicas=1"}), HasSubstr("use an index"));
}

// Found by fuzz_scenario: an empty list item is a pool of defaults, and looking below it for
// keys the file might have given must not throw yaml-cpp's InvalidNode.
TEST(Config, AnEmptyPoolItemIsAPoolOfDefaults) {
  for (const char* yaml : {"pools:\n  - ~\n", "pools:\n  -\n", "pools:\n  - ~\n  - {name: b, replicas: 2}\n"}) {
    auto s = load_scenario_string(yaml, "scn.yaml");
    EXPECT_EQ(s.config.pools[0].replicas, PoolConfig{}.replicas) << yaml;
    EXPECT_EQ(s.config.pools[0].engine.max_num_seqs, 256) << yaml;
  }
}

TEST(Config, ADocumentKnowsWhichKeysItGives) {
  auto doc = config::Document::from_string("pools:\n  - ~\n  - {engine: {block_size: 32}}\n  - 3\nseed: 4\n",
                                           "scn.yaml");
  EXPECT_TRUE(doc.given("seed"));
  EXPECT_TRUE(doc.given("pools.1.engine.block_size"));
  EXPECT_FALSE(doc.given("pools.0.engine"));
  EXPECT_FALSE(doc.given("pools.1.engine.max_num_seqs"));
  EXPECT_FALSE(doc.given("pools.2.engine"));
  EXPECT_FALSE(doc.given("pools.3"));
  EXPECT_FALSE(doc.given("pools.x"));
  EXPECT_FALSE(doc.given("seed.value"));
  EXPECT_FALSE(doc.given("router"));
  doc.apply_override("pools.0.engine.block_size=64", YAML::Node());
  EXPECT_TRUE(doc.given("pools.0.engine.block_size"));
}

TEST(Config, DumpedConfigReloadsToTheSameConfig) {
  auto a = load_scenario_string("name: rt\nworkload:\n  synthetic:\n    arrival: {process: gamma, cv: 2}\n",
                                "scn.yaml");
  std::string dumped = config::write_yaml(a.config, true);
  auto b = load_scenario_string(dumped, "dumped.yaml");
  EXPECT_EQ(config::write_yaml(b.config, false), a.effective_yaml);
  EXPECT_THAT(dumped, HasSubstr("max_num_seqs: 256"));
  EXPECT_THAT(dumped, HasSubstr("# most sequences running at once"));
}

TEST(Config, CliReportsErrorsWithNonZeroExit) {
  testing::TempDir dir;
  std::string path = dir.write("bad.yaml", "name: x\npools:\n  - replicas: -1\n");
  auto r = testing::run_servesim("validate " + path);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("bad.yaml:3:15"));
  EXPECT_THAT(r.out, HasSubstr("pools.0.replicas"));
  r = testing::run_servesim("run " + dir.file("missing.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("cannot open scenario file"));
  std::string good = dir.write("good.yaml", "name: x\n");
  r = testing::run_servesim("validate " + good + " --dump-config");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("max_num_batched_tokens: 8192"));
  r = testing::run_servesim("--list");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("mooncake_jsonl"));
  EXPECT_THAT(r.out, HasSubstr("router policies:"));
}

}  // namespace
}  // namespace servesim
