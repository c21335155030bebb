#include "app/commands/sweep_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "app/commands/sweep_mpi.h"
#include "app/commands/sweep_runner.h"
#include "app/commands/sweep_space.h"
#include "core/hdf5_writer.h"
#include "core/paths.h"
#include "scenario/scenario.h"
#include "servesim/version.h"

namespace servesim {

namespace {

struct Loaded {
  SweepConfig config;
  std::string base_path;
  std::string yaml;
};

Loaded load_sweep(const std::string& path) {
  config::Document doc = config::Document::from_file(path);
  config::SourceMap map(path);
  Loaded out;
  out.config = config::read_root<SweepConfig>(doc, map);
  const SweepConfig& c = out.config;
  out.yaml = config::write_yaml(c, false);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (c.base.empty()) map.fail("base", "a sweep needs a base scenario", "set base: a scenario file");
  out.base_path = resolve_path(dir.empty() ? "." : dir, c.base);
  if (!std::filesystem::exists(out.base_path))
    map.fail("base", fmt::format("file '{}' does not exist", out.base_path), "check the path (relative to the sweep file)");
  if (!SweepStrategyRegistry::instance().contains(c.strategy))
    map.fail("strategy", fmt::format("unknown strategy '{}'", c.strategy),
             fmt::format("use one of: {}", fmt::join(SweepStrategyRegistry::instance().names(), ", ")));
  try {
    load_scenario_file(out.base_path, c.set);
  } catch (const ConfigError& e) {
    map.fail("set", fmt::format("the base scenario with these overrides is invalid: {}", e.what()), "fix the override");
  }
  if (c.parameters.empty()) map.fail("parameters", "a sweep needs at least one parameter", "add one");
  for (size_t i = 0; i < c.parameters.size(); ++i) {
    const auto& p = c.parameters[i];
    const std::string at = fmt::format("parameters.{}", i);
    if (p.key.empty() == p.keys.empty())
      map.fail(at, "give either key (with values) or keys (with tuples)", "keep one of them");
    if (!p.key.empty() && p.values.empty()) map.fail(at + ".values", "no values", "list the values");
    for (const auto& k : p.key.empty() ? p.keys : std::vector<std::string>{p.key})
      if (k == "seed")
        map.fail(at, "the seed is set per replication (seed + k)", "use replications: K for several seeds");
    if (!p.keys.empty() && p.tuples.empty()) map.fail(at + ".tuples", "no tuples", "list the combinations");
    for (size_t k = 0; k < p.tuples.size(); ++k)
      if (p.tuples[k].size() != p.keys.size())
        map.fail(fmt::format("{}.tuples.{}", at, k), fmt::format("has {} values for {} keys", p.tuples[k].size(), p.keys.size()),
                 "give one value per key");
    // the keys must exist in a scenario: try the first value alone on the base
    std::vector<std::string> sets = c.set;
    if (!p.key.empty()) sets.push_back(p.key + "=" + p.values.front());
    for (size_t k = 0; k < p.keys.size(); ++k) sets.push_back(p.keys[k] + "=" + p.tuples.front()[k]);
    try {
      load_scenario_file(out.base_path, sets);
    } catch (const ConfigError& e) {
      map.fail(at, fmt::format("its first value does not apply to the base scenario: {}", e.what()),
               "check the key path (as for --set)");
    }
  }
  return out;
}

std::string trial_folder(const std::string& output) {
  std::filesystem::path p(output);
  return (p.parent_path() / (p.stem().string() + ".trials")).string();
}

struct TrialSummary {
  std::uint64_t id;
  std::vector<size_t> point;
  Metrics mean, ci;
  Ranking ranking;
  double p_sla_miss = 0;
  int ok = 0;
};

void write_output(const std::string& path, const Loaded& sweep, const SweepSpace& space,
                  const std::vector<TrialRun>& runs, const std::vector<TrialSummary>& trials,
                  const std::vector<std::string>& metric_names) {
  h5::Handle file = h5::create_file(path);
  {
    h5::Handle meta = h5::create_group(file.get(), "meta");
    h5::write_string_attribute(meta.get(), "servesim_version", kVersion);
    h5::write_string_attribute(meta.get(), "git_commit", kGitCommit);
    h5::write_string_attribute(meta.get(), "sweep_yaml", sweep.yaml);
    h5::write_string_attribute(meta.get(), "base_scenario_yaml",
                               load_scenario_file(sweep.base_path, sweep.config.set).effective_yaml);
  }
  // /trials: one row per trial x replication; parameters as text, metrics as float64
  {
    h5::Columns c;
    auto& trial = c.add<std::uint64_t>("trial");
    auto& replication = c.add<std::int32_t>("replication");
    auto& ok = c.add<std::int32_t>("ok");
    auto& run_seed = c.add<std::uint64_t>("run_seed");
    auto& wall_s = c.add<double>("wall_s");
    auto& status = c.add<std::string>("status");
    auto& error = c.add<std::string>("error");
    std::vector<std::vector<std::string>*> params;
    for (size_t d = 0; d < space.dims(); ++d) params.push_back(&c.add<std::string>(space.label(d)));
    std::vector<std::vector<double>*> metrics;
    for (const auto& m : metric_names) metrics.push_back(&c.add<double>(m));
    for (const TrialRun& r : runs) {
      trial.push_back(r.id);
      replication.push_back(r.replication);
      ok.push_back(r.status == "ok");
      run_seed.push_back(r.seed);
      wall_s.push_back(r.wall_s);
      status.push_back(r.status);
      error.push_back(r.error);
      const auto point = space.point(r.id);
      for (size_t d = 0; d < params.size(); ++d) params[d]->push_back(space.value(d, point[d]));
      for (size_t m = 0; m < metric_names.size(); ++m) {
        auto it = r.metrics.find(metric_names[m]);
        metrics[m]->push_back(it == r.metrics.end() ? std::nan("") : it->second);
      }
    }
    h5::write_columns(file.get(), "trials", c);
  }
  // /trial_stats: one row per point: ranking, and each metric's mean and 95% CI half-width
  auto stats_table = [&](const std::string& name, const std::vector<const TrialSummary*>& rows_in,
                         const std::vector<std::string>& metric_list) {
    h5::Columns c;
    auto& trial = c.add<std::uint64_t>("trial");
    auto& feasible = c.add<std::int32_t>("feasible");
    auto& replications_ok = c.add<std::int32_t>("replications_ok");
    auto& violation = c.add<double>("violation");
    auto& objective = c.add<double>("objective");
    auto& p_sla_miss = c.add<double>("p_sla_miss");
    std::vector<std::pair<std::vector<double>*, std::vector<double>*>> mean_ci;
    for (const auto& m : metric_list) {
      auto* mean = &c.add<double>(m);
      mean_ci.emplace_back(mean, &c.add<double>(m + "_ci95"));
    }
    for (const TrialSummary* s : rows_in) {
      trial.push_back(s->id);
      feasible.push_back(s->ranking.feasible);
      replications_ok.push_back(s->ok);
      violation.push_back(s->ranking.violation);
      objective.push_back(sweep.config.objective.goal == "max" ? s->ranking.objective : -s->ranking.objective);
      p_sla_miss.push_back(s->p_sla_miss);
      for (size_t m = 0; m < metric_list.size(); ++m) {
        auto get = [&](const Metrics& from) {
          auto it = from.find(metric_list[m]);
          return it == from.end() ? std::nan("") : it->second;
        };
        mean_ci[m].first->push_back(get(s->mean));
        mean_ci[m].second->push_back(get(s->ci));
      }
    }
    h5::write_columns(file.get(), name, c);
  };
  std::vector<const TrialSummary*> all;
  for (const auto& s : trials) all.push_back(&s);
  stats_table("trial_stats", all, metric_names);
  if (!sweep.config.pareto.empty()) {
    h5::Handle group = h5::create_group(file.get(), "pareto");
    for (const auto& pair : sweep.config.pareto) {
      std::vector<ParetoPoint> points;
      for (const auto& s : trials)
        if (s.ranking.feasible && s.mean.count(pair.x.metric) && s.mean.count(pair.y.metric))
          points.push_back({s.id, s.mean.at(pair.x.metric), s.mean.at(pair.y.metric)});
      std::vector<const TrialSummary*> front;
      for (const auto& p : pareto_front(points, pair.x.goal == "max", pair.y.goal == "max"))
        for (const auto& s : trials)
          if (s.id == p.id) front.push_back(&s);
      const std::string name = fmt::format("pareto/{}__{}", pair.x.metric, pair.y.metric);
      stats_table(name, front, {pair.x.metric, pair.y.metric});
    }
  }
}

}  // namespace

int run_sweep(const std::string& sweep_path, const SweepOptions& options) {
  Loaded sweep = load_sweep(sweep_path);
  const SweepConfig& cfg = sweep.config;
  SweepSpace space(cfg.parameters);
  const std::string output = options.output.empty() ? fmt::format("results/{}.h5", cfg.name) : options.output;
  if (options.dry_run) {
    auto strategy = SweepStrategyRegistry::instance().create(cfg.strategy, SweepStrategyContext{cfg, space});
    auto points = strategy->next({});
    std::cout << fmt::format("sweep {}: {} grid points, strategy {} (first batch: {} points x {} replications)\n",
                             cfg.name, space.size(), cfg.strategy, points.size(), cfg.replications);
    for (const auto& p : points) std::cout << fmt::format("  t{}: {}\n", space.id(p), fmt::join(space.overrides(p), " "));
    return 0;
  }
  SweepRanks ranks;
  const bool lead = ranks.rank() == 0;
  auto parent = std::filesystem::path(output).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  SweepRunner runner(servesim_binary(), sweep.base_path, cfg.set, trial_folder(output), options.jobs, cfg.timeout.seconds,
                     options.resume);

  const auto wall_start = std::chrono::steady_clock::now();
  auto strategy = SweepStrategyRegistry::instance().create(cfg.strategy, SweepStrategyContext{cfg, space});
  std::map<std::uint64_t, TrialSummary> summaries;
  std::vector<TrialRun> runs;
  std::vector<Evaluated> evaluated;
  for (auto batch = strategy->next(evaluated); !batch.empty(); batch = strategy->next(evaluated)) {
    std::vector<TrialJob> jobs;
    for (const auto& p : batch) {
      const std::uint64_t id = space.id(p);
      if (summaries.count(id)) continue;  // coordinate descent revisits its current best
      summaries[id] = TrialSummary{id, p, {}, {}, {}, 0, 0};
      for (int k = 0; k < cfg.replications; ++k)
        jobs.push_back({id, k, cfg.seed + static_cast<std::uint64_t>(k), space.overrides(p), ""});
    }
    std::vector<TrialJob> mine;  // this rank's share: job i on rank i mod N
    for (size_t i = 0; i < jobs.size(); ++i)
      if (static_cast<int>(i % static_cast<size_t>(ranks.size())) == ranks.rank()) mine.push_back(jobs[i]);
    const auto batch_start = std::chrono::steady_clock::now();
    auto done = runner.run(mine, [&](size_t d, size_t total) {
      if (!options.progress || !lead) return;
      auto since = [](auto t) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); };
      const double eta = since(batch_start) / static_cast<double>(d) * static_cast<double>(total - d);
      std::fprintf(stderr, "\r[sweep] %zu/%zu runs of this batch, %zu in all, %.0f s, batch ETA %.0f s   ", d, total,
                   runner.ran() + runner.reused(), since(wall_start), eta);
    });
    for (auto& r : ranks.all_gather(done)) {
      add_derived_metrics(r.metrics);
      runs.push_back(r);
    }
    for (const auto& p : batch) {
      TrialSummary& s = summaries[space.id(p)];
      if (s.ok > 0 || !s.mean.empty()) {
        evaluated.push_back({p, s.ranking});
        continue;
      }
      std::map<std::string, std::vector<double>> values;
      int misses = 0, reps = 0;
      for (const auto& r : runs) {
        if (r.id != s.id) continue;
        ++reps;
        if (r.status != "ok") {
          ++misses;
          continue;
        }
        ++s.ok;
        for (const auto& [k, v] : r.metrics) values[k].push_back(v);
        if (!rank(cfg, r.metrics).feasible) ++misses;
      }
      for (const auto& [k, v] : values) {
        MeanCi c = mean_ci95(v);
        s.mean[k] = c.mean;
        s.ci[k] = c.half_width;
      }
      s.p_sla_miss = reps ? static_cast<double>(misses) / reps : std::nan("");
      s.ranking = s.ok ? rank(cfg, s.mean) : Ranking{false, INFINITY, -INFINITY};
      evaluated.push_back({p, s.ranking});
    }
  }
  if (options.progress && lead) std::fprintf(stderr, "\n");

  std::set<std::string> names;
  for (const auto& r : runs)
    for (const auto& [k, v] : r.metrics) names.insert(k);
  std::vector<std::string> metric_names(names.begin(), names.end());
  std::vector<TrialSummary> ordered;
  for (auto& [id, s] : summaries) ordered.push_back(s);
  std::sort(ordered.begin(), ordered.end(), [](const TrialSummary& a, const TrialSummary& b) {
    return better(a.ranking, b.ranking) || (!better(b.ranking, a.ranking) && a.id < b.id);
  });
  std::sort(runs.begin(), runs.end(), [](const TrialRun& a, const TrialRun& b) {
    return a.id != b.id ? a.id < b.id : a.replication < b.replication;
  });
  if (runner.stale() > 0)
    std::fprintf(stderr, "sweep: --resume reran %zu trial files that came from a different scenario or were "
                 "interrupted\n", runner.stale());
  if (!lead) return 0;  // rank 0 writes and reports
  write_output(output, sweep, space, runs, ordered, metric_names);

  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  size_t failed = 0, reused = 0;
  for (const auto& r : runs) failed += r.status != "ok", reused += r.reused;
  const size_t ran = runs.size() - reused;
  std::cout << fmt::format("sweep       {} ({} strategy{}): {} points, {} runs ({} ran, {} reused, {} failed) in {:.1f} s "
                           "wall, {:.1f} runs/min\n",
                           cfg.name, cfg.strategy, ranks.size() > 1 ? fmt::format(", {} MPI ranks", ranks.size()) : "",
                           summaries.size(), runs.size(), ran, reused, failed, wall, ran / std::max(wall, 1e-9) * 60);
  std::cout << fmt::format("best feasible by {} ({}):\n", cfg.objective.metric, cfg.objective.goal);
  int shown = 0;
  for (const auto& s : ordered) {
    if (!s.ranking.feasible || shown == 5) break;
    ++shown;
    std::string params;
    for (size_t d = 0; d < space.dims(); ++d) params += fmt::format(" {}={}", space.label(d), space.value(d, s.point[d]));
    auto ci = s.ci.count(cfg.objective.metric) ? s.ci.at(cfg.objective.metric) : std::nan("");
    std::cout << fmt::format("  t{:<5} {} = {:.4g}{}  gpus {:.0f}  ttft p90 {:.0f} ms  itl p90 {:.1f} ms |{}\n", s.id,
                             cfg.objective.metric, s.mean.at(cfg.objective.metric),
                             std::isnan(ci) ? "" : fmt::format(" ± {:.2g}", ci), s.mean.count("gpus") ? s.mean.at("gpus") : 0,
                             s.mean.count("ttft_p90_s") ? s.mean.at("ttft_p90_s") * 1e3 : std::nan(""),
                             s.mean.count("itl_p90_s") ? s.mean.at("itl_p90_s") * 1e3 : std::nan(""), params);
  }
  if (shown == 0) std::cout << "  none: every trial misses a constraint (see /trial_stats, sorted by violation)\n";
  std::cout << fmt::format("results     {}\n", output);
  return 0;
}

}  // namespace servesim
