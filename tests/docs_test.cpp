// Shipped docs and scenarios stay in step with the code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/test_util.h"

namespace servesim {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Docs, ScenarioReferenceMatchesTheDeclarations) {
  testing::TempDir d;
  std::string scn = d.write("reference.yaml", "name: reference\n");
  auto r = testing::run_servesim("validate " + scn + " --dump-config");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string doc = slurp(std::string(SERVESIM_SOURCE_DIR) + "/docs/scenario-reference.yaml");
  // the file is two comment lines and then exactly the dump
  auto body = doc.substr(doc.find('\n', doc.find('\n') + 1) + 1);
  EXPECT_TRUE(body == r.out) << "docs/scenario-reference.yaml is stale: run scripts/regen_docs.sh";
}

// Every key of the reference says what it is: sections and lists on their key's line, values
// after the value (a field declared without a doc, or one the writer drops, fails here).
TEST(Docs, EveryKeyOfTheScenarioReferenceIsDocumented) {
  std::istringstream doc(slurp(std::string(SERVESIM_SOURCE_DIR) + "/docs/scenario-reference.yaml"));
  const std::regex key(R"(^ *(- )?[A-Za-z_][A-Za-z0-9_]*:( |$))");
  int keys = 0;
  for (std::string line; std::getline(doc, line);) {
    if (!std::regex_search(line, key)) continue;
    ++keys;
    EXPECT_NE(line.find("  # "), std::string::npos) << "undocumented: " << line;
  }
  EXPECT_GT(keys, 300);
}

TEST(Docs, EveryShippedScenarioValidates) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SERVESIM_SOURCE_DIR) + "/scenarios")) {
    if (e.path().extension() != ".yaml") continue;
    std::string text = slurp(e.path().string());
    const bool is_sweep = text.find("\nbase:") != std::string::npos;  // a sweep file: check it by a dry run
    auto r = testing::run_servesim((is_sweep ? "sweep --dry-run " : "validate ") + e.path().string());
    EXPECT_EQ(r.exit_code, 0) << e.path() << ": " << r.out;
    ++n;
  }
  EXPECT_GE(n, 2);
}

TEST(Docs, QuickstartRunsAndPrintsItsSummary) {
  testing::TempDir d;
  auto r = testing::run_servesim(std::string("run ") + SERVESIM_SOURCE_DIR + "/scenarios/quickstart.yaml -o " +
                                 d.file("q.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* s : {"requests", "throughput", "ttft", "itl", "tpot", "e2e", "goodput", "prefix hit", "GPUs"})
    EXPECT_THAT(r.out, ::testing::HasSubstr(s));
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// The README's result tables are the suites' recorded values, verbatim (scripts/regen_docs.sh).
TEST(Docs, ReadmeResultTablesAreTheSuitesRecordedValues) {
  const std::string root = SERVESIM_SOURCE_DIR;
  auto r = testing::run_servesim("suite " + root + "/scenarios/suites/studies.yaml --markdown");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string readme = slurp(root + "/README.md");
  size_t blocks = 0;
  for (size_t at = r.out.find("<!-- suite "); at != std::string::npos; at = r.out.find("<!-- suite ", at + 1)) {
    const size_t end = r.out.find("<!-- /suite -->", at);
    ASSERT_NE(end, std::string::npos);
    const std::string block = r.out.substr(at, end - at);
    EXPECT_NE(readme.find(block), std::string::npos)
        << "README.md's table differs from the suite's recorded values: run scripts/regen_docs.sh\n" << block;
    ++blocks;
  }
  EXPECT_GE(blocks, 5u);
  // and every suite table in the README comes from a suite
  size_t in_readme = 0;
  for (size_t at = readme.find("<!-- suite "); at != std::string::npos; at = readme.find("<!-- suite ", at + 1)) ++in_readme;
  EXPECT_EQ(in_readme, blocks);
}

// The repository stands alone: no tracked file points at a path outside it.
TEST(Docs, NothingPointsOutsideTheRepository) {
  const std::string root = SERVESIM_SOURCE_DIR;
  auto r = testing::run_command("cd " + root + " && git ls-files -z | xargs -0 grep -l -I -e '\\.\\./shared' -e '\\.\\./\\.\\./\\.\\./' -- 2>/dev/null || true");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream files(r.out);
  for (std::string f; std::getline(files, f);)
    // this test names the patterns; CI checks that ../shared is absent
    if (f != "tests/docs_test.cpp" && f != ".ci/run") ADD_FAILURE() << f << " points outside the repository";
}

}  // namespace
}  // namespace servesim
