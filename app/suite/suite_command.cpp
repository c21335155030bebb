#include "app/suite/suite_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "app/commands/sweep_runner.h"
#include "app/commands/sweep_space.h"
#include "app/suite/references.h"
#include "app/suite/run_checks.h"
#include "app/suite/suite_config.h"
#include "core/hdf5_writer.h"
#include "core/paths.h"
#include "servesim/version.h"

namespace servesim {

namespace {

struct LoadedSuite {
  SuiteConfig config;
  std::string path, dir, yaml;
  config::SourceMap map;
  std::vector<std::string> scenario_paths;  // per run, resolved
  std::map<std::pair<size_t, size_t>, double> references;  // (run, expectation) -> computed value
};

bool known_metric(const std::string& m) {
  static const std::set<std::string> checks{"check_kv_blocks_at_end", "check_in_system_at_end",
                                            "check_requests_unaccounted", "check_output_tokens_unaccounted",
                                            "check_input_tokens_unaccounted", "check_littles_law_rel_error"};
  return m.rfind("check_", 0) != 0 || checks.count(m);
}

LoadedSuite load_suite(const std::string& path) {
  config::Document doc = config::Document::from_file(path);
  LoadedSuite s{{}, path, "", "", config::SourceMap(path), {}, {}};
  s.config = config::read_root<SuiteConfig>(doc, s.map);
  s.yaml = config::write_yaml(s.config, false);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  s.dir = dir.empty() ? "." : dir;
  const SuiteConfig& c = s.config;
  if (c.runs.empty()) s.map.fail("runs", "a suite needs at least one run", "add runs");
  std::set<std::string> names;
  for (size_t i = 0; i < c.runs.size(); ++i) {
    const auto& r = c.runs[i];
    const std::string at = fmt::format("runs.{}", i);
    if (r.name.empty()) s.map.fail(at + ".name", "a run needs a name", "add name: ...");
    if (!names.insert(r.name).second) s.map.fail(at + ".name", fmt::format("run name '{}' is used twice", r.name), "rename one");
    if (r.scenario.empty()) s.map.fail(at + ".scenario", "a run needs a scenario file", "add scenario: FILE");
    const std::string scenario = resolve_path(s.dir, r.scenario);
    if (!std::filesystem::is_regular_file(scenario))
      s.map.fail(at + ".scenario", fmt::format("file '{}' does not exist", scenario), "check the path (relative to the suite file)");
    std::optional<LoadedScenario> loaded;
    try {
      loaded = load_scenario_file(scenario, r.set, r.seed);
    } catch (const ConfigError& e) {
      s.map.fail(at + ".set", fmt::format("the scenario with these overrides is invalid: {}", e.what()), "fix the override");
    }
    s.scenario_paths.push_back(scenario);
    for (size_t j = 0; j < r.expect.size(); ++j) {
      const auto& e = r.expect[j];
      const std::string ej = fmt::format("{}.expect.{}", at, j);
      if (e.metric.empty()) s.map.fail(ej + ".metric", "an expectation needs a metric", "name a summary metric");
      if (!known_metric(e.metric))
        s.map.fail(ej + ".metric", fmt::format("unknown run-file check '{}'", e.metric), "see docs/suites.md for the check_ metrics");
      const int kinds = e.value.has_value() + e.reference.has_value() + (e.max || e.min ? 1 : 0);
      if (kinds != 1)
        s.map.fail(ej, "give exactly one of value, reference, or min/max", "keep one of them");
      if (e.ci && r.replications < 2)
        s.map.fail(ej + ".ci", "a replication interval needs at least 2 replications", "set replications: 5 (or more)");
      if (!e.bound.empty() && !e.value && !e.reference)
        s.map.fail(ej + ".bound", "bound applies to a value or a reference", "use min/max for constants");
      if (e.reference) {  // computed before anything runs, so a formula that does not apply fails at once
        try {
          s.references[{i, j}] = reference_value(*e.reference, *loaded);
        } catch (const ConfigError& err) {
          s.map.fail(ej + ".reference", err.what(), "fix the reference's parameters or the run's overrides");
        }
      }
    }
  }
  for (size_t i = 0; i < c.checks.size(); ++i) {
    const auto& k = c.checks[i];
    const std::string at = fmt::format("checks.{}", i);
    const bool pair = k.relation == "greater" || k.relation == "less";
    if (pair ? k.runs.size() != 2 : k.runs.size() < 2)
      s.map.fail(at + ".runs", fmt::format("{} compares {} runs, got {}", k.relation, pair ? "exactly 2" : "2 or more", k.runs.size()),
                 "list the run names");
    for (const auto& n : k.runs)
      if (!names.count(n)) s.map.fail(at + ".runs", fmt::format("no run named '{}'", n), "use a name from runs");
    if (!known_metric(k.metric)) s.map.fail(at + ".metric", fmt::format("unknown run-file check '{}'", k.metric), "see docs/suites.md");
  }
  return s;
}

struct RunStats {
  std::map<std::string, MeanCi> metrics;
  std::vector<std::string> errors;  // failed replications
};

struct Verdict {
  std::string run, metric, kind, expected_text;
  double expected = std::nan(""), got = std::nan(""), ci = std::nan("");
  bool pass = false;
  std::string why;
};

std::string number(double v) {
  if (std::isnan(v)) return "-";
  if (v == 0) return "0";
  return fmt::format("{:.6g}", v);
}

Verdict judge(const SuiteRunConfig& run, const SuiteExpectConfig& e, const RunStats& stats, double reference) {
  Verdict v{run.name, e.metric, "", "", std::nan(""), std::nan(""), std::nan(""), false, ""};
  auto it = stats.metrics.find(e.metric);
  if (!stats.errors.empty()) {
    v.why = "run failed: " + stats.errors.front();
    return v;
  }
  if (it == stats.metrics.end()) {
    v.why = "the run has no such metric";
    return v;
  }
  v.got = it->second.mean;
  v.ci = it->second.half_width;
  if (e.max || e.min) {
    v.kind = "range";
    v.expected_text = fmt::format("{}{}{}", e.min ? number(*e.min) + " <= " : "", "x", e.max ? " <= " + number(*e.max) : "");
    v.pass = (!e.max || v.got <= *e.max) && (!e.min || v.got >= *e.min);
    return v;
  }
  if (e.reference) {
    v.kind = e.reference->formula;
    v.expected = reference;
  } else {
    v.kind = "recorded";
    v.expected = *e.value;
  }
  double tol = 0;
  std::vector<std::string> tol_text;
  if (e.abs) tol = std::max(tol, *e.abs), tol_text.push_back("±" + number(*e.abs));
  if (e.rel) tol = std::max(tol, *e.rel * std::fabs(v.expected)), tol_text.push_back(fmt::format("±{:g}%", *e.rel * 100));
  const bool in_ci = e.ci && !std::isnan(v.ci) && std::fabs(v.got - v.expected) <= v.ci;
  if (e.ci) tol_text.push_back("95% CI");
  const std::string tol_str = tol_text.empty() ? "exact" : fmt::format("{}", fmt::join(tol_text, " or "));
  if (e.bound == "upper") {
    v.expected_text = fmt::format("<= {} ({})", number(v.expected), tol_str);
    v.pass = v.got <= v.expected + tol || in_ci;
  } else if (e.bound == "lower") {
    v.expected_text = fmt::format(">= {} ({})", number(v.expected), tol_str);
    v.pass = v.got >= v.expected - tol || in_ci;
  } else {
    v.expected_text = fmt::format("{} {}", number(v.expected), tol_str);
    v.pass = std::fabs(v.got - v.expected) <= tol || in_ci;
  }
  return v;
}

Verdict check_relation(const SuiteCheckConfig& k, const std::map<std::string, RunStats>& stats) {
  Verdict v{"", k.metric, k.relation, k.relation, std::nan(""), std::nan(""), std::nan(""), true, ""};
  std::vector<double> xs;
  for (const auto& n : k.runs) {
    const RunStats& s = stats.at(n);
    auto it = s.metrics.find(k.metric);
    if (!s.errors.empty() || it == s.metrics.end()) {
      v.pass = false;
      v.why = fmt::format("run {} has no value", n);
      return v;
    }
    xs.push_back(it->second.mean);
  }
  v.run = fmt::format("{}", fmt::join(k.runs, ", "));
  std::vector<std::string> got;
  for (double x : xs) got.push_back(number(x));
  v.why = fmt::format("{}", fmt::join(got, ", "));
  for (size_t i = 1; i < xs.size(); ++i) {
    const double a = xs[i - 1], b = xs[i];
    bool ok = true;
    if (k.relation == "greater" || k.relation == "decreasing") ok = a > b;
    else if (k.relation == "less" || k.relation == "increasing") ok = a < b;
    else if (k.relation == "nonincreasing") ok = a >= b;
    else if (k.relation == "nondecreasing") ok = a <= b;
    v.pass = v.pass && ok;
  }
  return v;
}

// Rewrites each recorded `value:` in the suite file in place (comments and layout kept).
int update_values(const LoadedSuite& s, const std::map<std::string, RunStats>& stats) {
  std::ifstream in(s.path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  int changed = 0;
  for (size_t i = 0; i < s.config.runs.size(); ++i) {
    const auto& r = s.config.runs[i];
    const RunStats& st = stats.at(r.name);
    for (size_t j = 0; j < r.expect.size(); ++j) {
      const auto& e = r.expect[j];
      auto it = st.metrics.find(e.metric);
      if (!e.value || !st.errors.empty() || it == st.metrics.end() || std::isnan(it->second.mean)) continue;
      const config::Location loc = s.map.at(fmt::format("runs.{}.expect.{}.value", i, j));
      if (loc.line < 1 || static_cast<size_t>(loc.line) > lines.size()) continue;
      std::string& line = lines[static_cast<size_t>(loc.line - 1)];
      const size_t start = static_cast<size_t>(loc.column - 1);
      size_t end = start;
      while (end < line.size() && line[end] != ',' && line[end] != '}' && line[end] != ' ' && line[end] != '#') ++end;
      const std::string text = fmt::format("{:.6g}", it->second.mean);
      if (line.compare(start, end - start, text) != 0) ++changed;
      line.replace(start, end - start, text);
    }
  }
  std::ofstream out(s.path + ".tmp");
  for (const auto& l : lines) out << l << "\n";
  out.close();
  std::filesystem::rename(s.path + ".tmp", s.path);
  return changed;
}

void write_output(const std::string& path, const LoadedSuite& s, const std::vector<TrialRun>& runs,
                  const std::vector<Verdict>& verdicts) {
  h5::Handle file = h5::create_file(path);
  {
    h5::Handle meta = h5::create_group(file.get(), "meta");
    h5::write_string_attribute(meta.get(), "servesim_version", kVersion);
    h5::write_string_attribute(meta.get(), "git_commit", kGitCommit);
    h5::write_string_attribute(meta.get(), "suite_name", s.config.name);
    h5::write_string_attribute(meta.get(), "suite_yaml", s.yaml);
  }
  {  // /runs: one row per run x replication, every summary metric and run-file check
    std::set<std::string> names;
    for (const auto& r : runs)
      for (const auto& [k, v] : r.metrics) names.insert(k);
    h5::Columns c;
    auto& run = c.add<std::string>("run");
    auto& replication = c.add<std::int32_t>("replication");
    auto& seed = c.add<std::uint64_t>("seed");
    auto& status = c.add<std::string>("status");
    auto& wall = c.add<double>("wall_s");
    std::vector<std::pair<std::string, std::vector<double>*>> cols;
    for (const auto& n : names) cols.emplace_back(n, &c.add<double>(n));
    for (const auto& r : runs) {
      run.push_back(s.config.runs[r.id].name);
      replication.push_back(r.replication);
      seed.push_back(r.seed);
      status.push_back(r.status == "ok" ? "ok" : r.status + ": " + r.error);
      wall.push_back(r.wall_s);
      for (auto& [n, col] : cols) {
        auto it = r.metrics.find(n);
        col->push_back(it == r.metrics.end() ? std::nan("") : it->second);
      }
    }
    h5::write_columns(file.get(), "runs", c);
  }
  {  // /verdicts: one row per expectation and check
    h5::Columns c;
    auto& run = c.add<std::string>("run");
    auto& metric = c.add<std::string>("metric");
    auto& kind = c.add<std::string>("kind");
    auto& expected_text = c.add<std::string>("expected");
    auto& expected = c.add<double>("expected_value");
    auto& got = c.add<double>("got");
    auto& ci = c.add<double>("ci95_half_width");
    auto& pass = c.add<std::int32_t>("pass");
    auto& why = c.add<std::string>("note");
    for (const auto& v : verdicts) {
      run.push_back(v.run), metric.push_back(v.metric), kind.push_back(v.kind), expected_text.push_back(v.expected_text);
      expected.push_back(v.expected), got.push_back(v.got), ci.push_back(v.ci), pass.push_back(v.pass), why.push_back(v.why);
    }
    h5::write_columns(file.get(), "verdicts", c);
  }
}

std::string group_of(const SuiteRunConfig& r) {
  return r.group.empty() ? r.name.substr(0, r.name.find('_')) : r.group;
}

// A recorded value as the docs show it: fractions as percentages, seconds in ms below 1 s, rates whole.
std::string docs_value(const std::string& metric, double v) {
  auto ends = [&](const char* suffix) {
    const std::string x(suffix);
    return metric.size() >= x.size() && metric.compare(metric.size() - x.size(), x.size(), x) == 0;
  };
  if (ends("slo_attainment") || ends("_rate")) return fmt::format("{:.1f}%", v * 100);
  if (ends("_per_s") || ends("_w")) return fmt::format("{:.0f}", v);  // a rate or watts: the unit is in the name
  if (ends("_s")) return std::fabs(v) < 1 ? fmt::format("{:.1f} ms", v * 1e3) : fmt::format("{:.1f} s", v);
  return fmt::format("{:.3g}", v);
}

// One markdown table per group of runs, between markers that scripts/regen_docs.sh splices into
// the README (tests/docs_test.cpp fails when the README's copy differs).
void print_markdown(const LoadedSuite& s) {
  std::vector<std::string> groups;
  for (const auto& r : s.config.runs)
    if (std::find(groups.begin(), groups.end(), group_of(r)) == groups.end()) groups.push_back(group_of(r));
  for (const auto& g : groups) {
    std::vector<std::string> metrics;
    for (const auto& r : s.config.runs)
      if (group_of(r) == g)
        for (const auto& e : r.expect)
          if (e.value && std::find(metrics.begin(), metrics.end(), e.metric) == metrics.end()) metrics.push_back(e.metric);
    std::cout << fmt::format("<!-- suite {}/{}: generated by scripts/regen_docs.sh from {} -->\n", s.config.name, g,
                             std::filesystem::path(s.path).filename().string());
    std::string rule = "|---|";
    for (size_t i = 0; i < metrics.size(); ++i) rule += "---|";
    std::cout << fmt::format("| run | {} |\n{}\n", fmt::join(metrics, " | "), rule);
    for (const auto& r : s.config.runs) {
      if (group_of(r) != g) continue;
      std::vector<std::string> cells;
      for (const auto& m : metrics) {
        std::string cell = "";
        for (const auto& e : r.expect)
          if (e.metric == m && e.value) cell = docs_value(m, *e.value);
        cells.push_back(cell);
      }
      std::cout << fmt::format("| {} | {} |\n", r.name, fmt::join(cells, " | "));
    }
    std::cout << "<!-- /suite -->\n";
  }
}

}  // namespace

int run_suite(const std::string& suite_path, const SuiteOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  LoadedSuite s = load_suite(suite_path);
  if (options.markdown) {
    print_markdown(s);
    return 0;
  }
  const SuiteConfig& cfg = s.config;
  const std::string output = options.output.empty() ? "results/" + cfg.name + ".h5" : options.output;
  const std::filesystem::path out_path(output);
  if (out_path.has_parent_path()) std::filesystem::create_directories(out_path.parent_path());
  const std::string run_dir = (out_path.parent_path() / (out_path.stem().string() + ".runs")).string();
  std::filesystem::create_directories(run_dir);

  std::vector<TrialJob> jobs;
  for (size_t i = 0; i < cfg.runs.size(); ++i)
    for (int k = 0; k < cfg.runs[i].replications; ++k)
      jobs.push_back({i, k, cfg.runs[i].seed + static_cast<std::uint64_t>(k), cfg.runs[i].set, s.scenario_paths[i]});
  SweepRunner runner(servesim_binary(), "", {}, run_dir, options.jobs, cfg.timeout.seconds, false);
  std::cout << fmt::format("suite       {}: {} runs, {} simulations, {} at a time\n", cfg.name, cfg.runs.size(),
                           jobs.size(), options.jobs);
  std::cout.flush();
  auto runs = runner.run(jobs, [&](size_t d, size_t total) {
    if (options.progress) std::fprintf(stderr, "\r[suite] %zu/%zu simulations   ", d, total);
  });
  if (options.progress) std::fprintf(stderr, "\n");

  std::map<std::string, RunStats> stats;
  for (auto& r : runs) {
    RunStats& st = stats[cfg.runs[r.id].name];
    if (r.status != "ok") {
      st.errors.push_back(fmt::format("replication {}: {} {}", r.replication, r.status, r.error));
      continue;
    }
    try {
      for (const auto& [k, v] : run_file_checks(runner.run_file(r.id, r.replication))) r.metrics[k] = v;
    } catch (const std::exception& e) {
      st.errors.push_back(fmt::format("replication {}: {}", r.replication, e.what()));
    }
  }
  for (size_t i = 0; i < cfg.runs.size(); ++i) {
    RunStats& st = stats[cfg.runs[i].name];
    std::map<std::string, std::vector<double>> values;
    for (const auto& r : runs)
      if (r.id == i && r.status == "ok")
        for (const auto& [k, v] : r.metrics) values[k].push_back(v);
    for (const auto& [k, v] : values) st.metrics[k] = mean_ci95(v);
  }

  std::vector<Verdict> verdicts;
  for (size_t i = 0; i < cfg.runs.size(); ++i) {
    const auto& run = cfg.runs[i];
    for (size_t j = 0; j < run.expect.size(); ++j) {
      auto ref = s.references.find({i, j});
      verdicts.push_back(judge(run, run.expect[j], stats.at(run.name), ref == s.references.end() ? std::nan("") : ref->second));
    }
    if (run.expect.empty() && !stats.at(run.name).errors.empty())
      verdicts.push_back({run.name, "-", "run", "", std::nan(""), std::nan(""), std::nan(""), false,
                          "run failed: " + stats.at(run.name).errors.front()});
  }
  for (const auto& k : cfg.checks) verdicts.push_back(check_relation(k, stats));

  size_t failed = 0;
  for (const auto& v : verdicts) failed += !v.pass;
  const size_t expectations = verdicts.size() - cfg.checks.size();
  std::cout << fmt::format("{:<32} {:<32} {:<30} {:>12} {:>10}  {}\n", "run", "metric", "expected", "got", "±95%", "verdict");
  for (size_t i = 0; i < expectations; ++i) {
    const Verdict& v = verdicts[i];
    std::cout << fmt::format("{:<32} {:<32} {:<30} {:>12} {:>10}  {}{}\n", v.run, v.metric, v.expected_text, number(v.got),
                             std::isnan(v.ci) || v.ci == 0 ? "" : number(v.ci), v.pass ? "pass" : "FAIL",
                             v.why.empty() ? "" : "  (" + v.why + ")");
  }
  for (size_t i = expectations; i < verdicts.size(); ++i) {
    const Verdict& v = verdicts[i];
    std::cout << fmt::format("check: {} {} over {}: {}  {}\n", v.metric, v.kind, v.run, v.why, v.pass ? "pass" : "FAIL");
  }
  write_output(output, s, runs, verdicts);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::cout << fmt::format("suite       {}: {} of {} verdicts pass; {} simulations in {:.1f} s wall\n", cfg.name,
                           verdicts.size() - failed, verdicts.size(), jobs.size(), wall);
  if (options.update) {
    const int changed = update_values(s, stats);
    std::cout << fmt::format("updated     {} recorded values in {} (review with git diff)\n", changed, s.path);
    return 0;
  }
  std::cout << fmt::format("results     {}\n", output);
  return failed ? 1 : 0;
}

}  // namespace servesim
