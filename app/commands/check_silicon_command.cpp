#include "app/commands/check_silicon_command.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <type_traits>
#include <variant>

#include "app/commands/sweep_runner.h"
#include "core/error.h"
#include "core/hdf5_writer.h"
#include "core/sample_stats.h"
#include "servesim/version.h"

namespace servesim {

namespace fs = std::filesystem;

namespace {

struct RowResult {
  const SiliconRow* row;
  SiliconDeployment deployment;
  std::string status;  // ok | failed | timeout | unsupported
  std::string error;
  double ttft_ms = std::nan(""), tpot_ms = std::nan(""), completed = std::nan(""), wall_s = std::nan("");
  double extrapolations = std::nan("");  // the run's timing lookups outside the measured tables
  double ttft_error() const { return (ttft_ms - row->ttft_ms) / row->ttft_ms; }
  double tpot_error() const { return (tpot_ms - row->tpot_ms) / row->tpot_ms; }
};

struct Group {
  std::vector<double> ttft_ape, tpot_ape;
};

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

int run_check_silicon(const CheckSiliconOptions& o) {
  std::vector<SiliconFilter> filters;
  for (const auto& f : o.filters) filters.push_back(parse_silicon_filter(f));
  if (o.settings.rounds < 1) throw ConfigError("--rounds must be at least 1");
  if (o.settings.timing == "kernel" && !o.settings.kernel_tables.empty() && !fs::is_directory(o.settings.kernel_tables))
    throw ConfigError(fmt::format("--tables '{}': not a folder of kernel tables. Fix: pass an aiconfigurator system "
                                  "folder such as data/aiconfigurator/h100_sxm",
                                  o.settings.kernel_tables));
  if (o.settings.timing == "kernel" && o.settings.kernel_tables.empty() && !fs::is_directory(o.settings.kernel_database))
    throw ConfigError(fmt::format("--database '{}': not a folder. Fix: pass aiconfigurator's systems/ folder (the "
                                  "repository's: data/aiconfigurator/systems)",
                                  o.settings.kernel_database));
  const std::vector<SiliconRow> all = read_silicon_csv(o.csv);
  std::vector<RowResult> results;
  for (const auto& r : all)
    if (passes(r, filters)) results.push_back({&r, silicon_deployment(r, o.settings), "", ""});
  if (results.empty()) throw ConfigError(fmt::format("{}: no row passes the filters", o.csv));

  const fs::path out(o.output);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  const fs::path runs = out.parent_path() / (out.stem().string() + ".runs");
  fs::create_directories(runs);
  std::vector<TrialJob> jobs;
  std::vector<size_t> job_row;
  for (size_t i = 0; i < results.size(); ++i) {
    RowResult& r = results[i];
    if (!r.deployment.unsupported.empty()) {
      r.status = "unsupported";
      r.error = r.deployment.unsupported;
      continue;
    }
    const fs::path yaml = runs / fmt::format("row{}.yaml", r.row->line);
    std::ofstream(yaml) << r.deployment.scenario_yaml;
    jobs.push_back({r.row->line, 0, o.settings.seed, {}, yaml.string()});
    job_row.push_back(i);
  }
  SweepRunner runner(servesim_binary(), "", {}, runs.string(), o.jobs, o.timeout_s, false);
  auto progress = [&](size_t done, size_t total) {
    if (o.progress) std::cerr << fmt::format("\rcheck-silicon: {}/{} rows run", done, total) << std::flush;
  };
  std::vector<TrialRun> ran = runner.run(jobs, progress);
  if (o.progress) std::cerr << "\n";
  int failures = 0;
  for (size_t j = 0; j < ran.size(); ++j) {
    RowResult& r = results[job_row[j]];
    r.status = ran[j].status;
    r.error = ran[j].error;
    r.wall_s = ran[j].wall_s;
    if (r.status != "ok") {
      ++failures;
      continue;
    }
    r.ttft_ms = ran[j].metrics["ttft_mean_s"] * 1e3;
    r.tpot_ms = ran[j].metrics["tpot_mean_s"] * 1e3;
    r.completed = ran[j].metrics["requests_completed"];
    r.extrapolations = ran[j].metrics["timing_extrapolations"];
    // a mean over fewer requests than the closed loop sent is not the row's benchmark
    if (r.completed != static_cast<double>(r.deployment.requests)) {
      r.status = "incomplete";
      r.error = fmt::format("{:g} of {} requests completed", r.completed, r.deployment.requests);
      ++failures;
    }
  }

  // Per row, then MAPE by (backend, version, model, mode): framework versions differ in defaults
  // and kernels (SGLang 0.5.8 at TP 1 queues where 0.5.1 does not), so they are not pooled.
  std::cout << fmt::format("{:<52} {:>5} {:>5} {:>4} {:>9} {:>9} {:>7} {:>8} {:>8} {:>7}\n", "row", "isl", "osl",
                           "conc", "TTFT ms", "sim", "err", "TPOT ms", "sim", "err");
  std::map<std::tuple<std::string, std::string, std::string, std::string>, Group> groups;
  std::map<std::string, int> unsupported;
  for (const auto& r : results) {
    if (r.status == "unsupported") {
      ++unsupported[r.error];
      continue;
    }
    if (r.status != "ok") {
      std::cout << fmt::format("{:<52} {}: {}\n", r.row->id.substr(0, 52), r.status, r.error);
      continue;
    }
    std::cout << fmt::format("{:<52} {:>5} {:>5} {:>4} {:>9.1f} {:>9.1f} {:>+6.1f}% {:>8.2f} {:>8.2f} {:>+6.1f}%\n",
                             r.row->id.substr(0, 52), r.row->isl, r.row->osl, r.row->concurrency, r.row->ttft_ms,
                             r.ttft_ms, 100 * r.ttft_error(), r.row->tpot_ms, r.tpot_ms, 100 * r.tpot_error());
    // attention-DP rows are a layout of their own (agg dp4): grouped apart from the same model's others
    const std::string mode = r.row->mode == "agg" && r.row->attention_dp > 1 ? fmt::format("agg dp{}", r.row->attention_dp)
                                                                            : r.row->mode;
    Group& g = groups[{r.row->backend, r.row->backend_version, r.row->model_path, mode}];
    g.ttft_ape.push_back(std::abs(r.ttft_error()));
    g.tpot_ape.push_back(std::abs(r.tpot_error()));
  }
  std::cout << fmt::format("\n{:<8} {:<12} {:<32} {:<7} {:>5} {:>10} {:>12} {:>10} {:>12}\n", "backend", "version",
                           "model", "mode", "rows", "TTFT MAPE", "TTFT median", "TPOT MAPE", "TPOT median");
  h5::Columns group_cols;
  std::vector<std::vector<std::string>*> group_text;
  for (const char* name : {"backend", "backend_version", "model_path", "mode"})
    group_text.push_back(&group_cols.add<std::string>(name));
  std::vector<std::vector<double>*> group_figures;
  for (const char* name : {"rows", "ttft_mape", "ttft_median_ape", "tpot_mape", "tpot_median_ape"})
    group_figures.push_back(&group_cols.add<double>(name));
  for (const auto& [key, g] : groups) {
    const auto& [backend, version, model, mode] = key;
    const std::vector<double> figures{static_cast<double>(g.ttft_ape.size()), sample_mean(g.ttft_ape),
                                      sample_median(g.ttft_ape), sample_mean(g.tpot_ape), sample_median(g.tpot_ape)};
    std::cout << fmt::format("{:<8} {:<12} {:<32} {:<7} {:>5} {:>9.1f}% {:>11.1f}% {:>9.1f}% {:>11.1f}%\n", backend,
                             version.empty() ? "-" : version, model, mode, g.ttft_ape.size(), 100 * figures[1],
                             100 * figures[2], 100 * figures[3], 100 * figures[4]);
    for (size_t i = 0; const std::string& text : {backend, version, model, mode}) group_text[i++]->push_back(text);
    for (size_t i = 0; i < figures.size(); ++i) group_figures[i]->push_back(figures[i]);
  }
  if (!unsupported.empty()) {
    std::cout << "\nrows not modelled:\n";
    for (const auto& [reason, n] : unsupported) std::cout << fmt::format("  {:>4}  {}\n", n, reason);
  }

  // The table: one list of columns, written as HDF5 and as CSV in the same order.
  using Text = std::function<std::string(const RowResult&)>;
  using Number = std::function<double(const RowResult&)>;
  const std::vector<std::pair<const char*, Text>> text_columns{
      {"id", [](const RowResult& r) { return r.row->id; }},
      {"backend", [](const RowResult& r) { return r.row->backend; }},
      {"backend_version", [](const RowResult& r) { return r.row->backend_version; }},
      {"engine", [](const RowResult& r) { return r.deployment.engine; }},
      {"client_start", [](const RowResult& r) { return r.deployment.client_start; }},
      {"kernel_backend", [](const RowResult& r) { return r.deployment.kernel_backend; }},
      {"kernel_version", [](const RowResult& r) { return r.deployment.kernel_version; }},
      {"model_path", [](const RowResult& r) { return r.row->model_path; }},
      {"mode", [](const RowResult& r) { return r.row->mode; }},
      {"precision", [](const RowResult& r) { return r.deployment.precision; }},
      {"catalog_model", [](const RowResult& r) { return r.deployment.catalog_model; }},
      {"gpu", [](const RowResult& r) { return r.deployment.gpu; }},
      {"status", [](const RowResult& r) { return r.status; }},
      {"reason", [](const RowResult& r) { return r.error; }}};
  const std::vector<std::pair<const char*, Number>> number_columns{
      {"line", [](const RowResult& r) { return static_cast<double>(r.row->line); }},
      {"isl", [](const RowResult& r) { return r.row->isl; }},
      {"osl", [](const RowResult& r) { return r.row->osl; }},
      {"concurrency", [](const RowResult& r) { return r.row->concurrency; }},
      {"client_concurrency", [](const RowResult& r) { return r.deployment.client_concurrency; }},
      {"max_num_seqs", [](const RowResult& r) { return r.deployment.max_num_seqs; }},
      {"max_num_batched_tokens", [](const RowResult& r) { return r.deployment.max_num_batched_tokens; }},
      {"tp", [](const RowResult& r) { return r.row->tp; }},
      {"prefill_workers", [](const RowResult& r) { return r.row->prefill_workers; }},
      {"prefill_tp", [](const RowResult& r) { return r.row->prefill_tp; }},
      {"decode_workers", [](const RowResult& r) { return r.row->decode_workers; }},
      {"decode_tp", [](const RowResult& r) { return r.row->decode_tp; }},
      {"gpus", [](const RowResult& r) { return r.deployment.gpus; }},
      {"measured_ttft_ms", [](const RowResult& r) { return r.row->ttft_ms; }},
      {"predicted_ttft_ms", [](const RowResult& r) { return r.ttft_ms; }},
      {"ttft_error", [](const RowResult& r) { return r.ttft_error(); }},
      {"measured_tpot_ms", [](const RowResult& r) { return r.row->tpot_ms; }},
      {"predicted_tpot_ms", [](const RowResult& r) { return r.tpot_ms; }},
      {"tpot_error", [](const RowResult& r) { return r.tpot_error(); }},
      {"requests_completed", [](const RowResult& r) { return r.completed; }},
      {"timing_extrapolations", [](const RowResult& r) { return r.extrapolations; }},
      {"wall_s", [](const RowResult& r) { return r.wall_s; }}};
  h5::Columns rows;
  for (const auto& [name, get] : text_columns) {
    auto& column = rows.add<std::string>(name);
    for (const auto& r : results) column.push_back(get(r));
  }
  for (const auto& [name, get] : number_columns) {
    auto& column = rows.add<double>(name);
    for (const auto& r : results) column.push_back(get(r));
  }
  const std::string csv_path = (out.parent_path() / (out.stem().string() + ".csv")).string();
  std::ofstream csv(csv_path);
  std::vector<std::string> header;
  for (const auto& [name, values] : rows.columns()) header.push_back(name);
  csv << fmt::format("{}\n", fmt::join(header, ","));
  for (size_t i = 0; i < results.size(); ++i) {
    std::vector<std::string> cells;
    for (const auto& [name, values] : rows.columns())
      cells.push_back(std::visit(
          [i](const auto& v) {
            if constexpr (std::is_same_v<std::decay_t<decltype(v[i])>, std::string>) return csv_escape(v[i]);
            else return fmt::format("{}", v[i]);
          },
          values));
    csv << fmt::format("{}\n", fmt::join(cells, ","));
  }
  h5::Handle file = h5::create_file(o.output);
  h5::write_columns(file.get(), "rows", rows);
  h5::write_columns(file.get(), "groups", group_cols);
  h5::write_string_attribute(file.get(), "silicon_csv", o.csv);
  h5::write_string_attribute(file.get(), "timing", o.settings.timing);
  h5::write_string_attribute(file.get(), "kernel_tables", o.settings.kernel_tables);
  h5::write_string_attribute(file.get(), "kernel_database", o.settings.kernel_database);
  h5::write_string_attribute(file.get(), "kernel_backend", o.settings.kernel_backend);
  h5::write_string_attribute(file.get(), "efficiency", o.settings.efficiency);
  h5::write_int_attribute(file.get(), "rounds", o.settings.rounds);
  h5::write_string_attribute(file.get(), "max_batch", o.settings.max_batch);
  h5::write_int_attribute(file.get(), "extra_clients", o.settings.extra_clients);
  h5::write_string_attribute(file.get(), "servesim_version", std::string(kVersion) + " (" + kGitCommit + ")");
  std::cout << fmt::format("\nresults     {} and {} (scenarios and run files in {})\n", o.output, csv_path,
                           runs.string());
  if (jobs.empty())
    throw InputError(fmt::format("{}: none of the {} selected rows could be modelled (reasons above)", o.csv,
                                 results.size()));
  return failures > 0 ? 1 : 0;
}

}  // namespace servesim
