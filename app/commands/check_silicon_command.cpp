#include "app/commands/check_silicon_command.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>

#include "app/commands/sweep_runner.h"
#include "core/error.h"
#include "core/hdf5_writer.h"
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
  double ttft_error() const { return (ttft_ms - row->ttft_ms) / row->ttft_ms; }
  double tpot_error() const { return (tpot_ms - row->tpot_ms) / row->tpot_ms; }
};

struct Group {
  std::vector<double> ttft_ape, tpot_ape;
};

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? std::nan("") : s / static_cast<double>(v.size());
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string self_binary() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw std::runtime_error("cannot find the servesim binary (/proc/self/exe)");
  self[n] = '\0';
  return self;
}

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
  if (o.settings.timing == "kernel" && !fs::is_directory(o.settings.kernel_tables))
    throw ConfigError(fmt::format("--tables '{}': not a folder of kernel tables. Fix: pass an aiconfigurator system "
                                  "folder such as ../shared/data/aiconfigurator/h100_sxm",
                                  o.settings.kernel_tables));
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
  SweepRunner runner(self_binary(), "", {}, runs.string(), o.jobs, o.timeout_s, false);
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
  }

  // Per row, then MAPE by (backend, model, mode).
  std::cout << fmt::format("{:<52} {:>5} {:>5} {:>4} {:>9} {:>9} {:>7} {:>8} {:>8} {:>7}\n", "row", "isl", "osl",
                           "conc", "TTFT ms", "sim", "err", "TPOT ms", "sim", "err");
  std::map<std::tuple<std::string, std::string, std::string>, Group> groups;
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
    Group& g = groups[{r.row->backend, r.row->model_path, r.row->mode}];
    g.ttft_ape.push_back(std::abs(r.ttft_error()));
    g.tpot_ape.push_back(std::abs(r.tpot_error()));
  }
  std::cout << fmt::format("\n{:<8} {:<28} {:<7} {:>5} {:>10} {:>12} {:>10} {:>12}\n", "backend", "model", "mode", "rows",
                           "TTFT MAPE", "TTFT median", "TPOT MAPE", "TPOT median");
  h5::Columns group_cols;
  std::vector<std::string> gb, gm, gmode;
  std::vector<double> gn, gtm, gtmed, gpm, gpmed;
  for (const auto& [key, g] : groups) {
    const auto& [backend, model, mode] = key;
    std::cout << fmt::format("{:<8} {:<28} {:<7} {:>5} {:>9.1f}% {:>11.1f}% {:>9.1f}% {:>11.1f}%\n", backend, model, mode,
                             g.ttft_ape.size(), 100 * mean(g.ttft_ape), 100 * median(g.ttft_ape),
                             100 * mean(g.tpot_ape), 100 * median(g.tpot_ape));
    gb.push_back(backend);
    gm.push_back(model);
    gmode.push_back(mode);
    gn.push_back(static_cast<double>(g.ttft_ape.size()));
    gtm.push_back(mean(g.ttft_ape));
    gtmed.push_back(median(g.ttft_ape));
    gpm.push_back(mean(g.tpot_ape));
    gpmed.push_back(median(g.tpot_ape));
  }
  if (!unsupported.empty()) {
    std::cout << "\nrows not modelled:\n";
    for (const auto& [reason, n] : unsupported) std::cout << fmt::format("  {:>4}  {}\n", n, reason);
  }

  // The table, as CSV and HDF5.
  const std::string csv_path = (out.parent_path() / (out.stem().string() + ".csv")).string();
  std::ofstream csv(csv_path);
  csv << "id,line,backend,backend_version,engine,model_path,mode,precision,catalog_model,isl,osl,concurrency,tp,prefill_workers,prefill_tp,"
         "decode_workers,decode_tp,gpus,status,reason,measured_ttft_ms,predicted_ttft_ms,ttft_error,measured_tpot_ms,"
         "predicted_tpot_ms,tpot_error,requests_completed,wall_s\n";
  h5::Columns rows;
  std::vector<std::string> c_id, c_backend, c_version, c_engine, c_model, c_mode, c_precision, c_catalog, c_status, c_reason;
  std::vector<double> c_line, c_isl, c_osl, c_conc, c_tp, c_pw, c_ptp, c_dw, c_dtp, c_gpus, c_mttft, c_pttft, c_ettft,
      c_mtpot, c_ptpot, c_etpot, c_done, c_wall;
  for (const auto& r : results) {
    const SiliconRow& s = *r.row;
    csv << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                       csv_escape(s.id), s.line, s.backend, s.backend_version, r.deployment.engine, s.model_path, s.mode, r.deployment.precision,
                       r.deployment.catalog_model, s.isl, s.osl, s.concurrency, s.tp, s.prefill_workers, s.prefill_tp,
                       s.decode_workers, s.decode_tp, r.deployment.gpus, r.status, csv_escape(r.error), s.ttft_ms,
                       r.ttft_ms, r.ttft_error(), s.tpot_ms, r.tpot_ms, r.tpot_error(), r.completed, r.wall_s);
    c_id.push_back(s.id);
    c_backend.push_back(s.backend);
    c_version.push_back(s.backend_version);
    c_engine.push_back(r.deployment.engine);
    c_model.push_back(s.model_path);
    c_mode.push_back(s.mode);
    c_precision.push_back(r.deployment.precision);
    c_catalog.push_back(r.deployment.catalog_model);
    c_status.push_back(r.status);
    c_reason.push_back(r.error);
    c_line.push_back(static_cast<double>(s.line));
    c_isl.push_back(s.isl);
    c_osl.push_back(s.osl);
    c_conc.push_back(s.concurrency);
    c_tp.push_back(s.tp);
    c_pw.push_back(s.prefill_workers);
    c_ptp.push_back(s.prefill_tp);
    c_dw.push_back(s.decode_workers);
    c_dtp.push_back(s.decode_tp);
    c_gpus.push_back(r.deployment.gpus);
    c_mttft.push_back(s.ttft_ms);
    c_pttft.push_back(r.ttft_ms);
    c_ettft.push_back(r.ttft_error());
    c_mtpot.push_back(s.tpot_ms);
    c_ptpot.push_back(r.tpot_ms);
    c_etpot.push_back(r.tpot_error());
    c_done.push_back(r.completed);
    c_wall.push_back(r.wall_s);
  }
  rows.text = {{"id", c_id},         {"backend", c_backend}, {"backend_version", c_version},
               {"engine", c_engine}, {"model_path", c_model},
               {"mode", c_mode},     {"precision", c_precision}, {"catalog_model", c_catalog},
               {"status", c_status}, {"reason", c_reason}};
  rows.numbers = {{"line", c_line},
                  {"isl", c_isl},
                  {"osl", c_osl},
                  {"concurrency", c_conc},
                  {"tp", c_tp},
                  {"prefill_workers", c_pw},
                  {"prefill_tp", c_ptp},
                  {"decode_workers", c_dw},
                  {"decode_tp", c_dtp},
                  {"gpus", c_gpus},
                  {"measured_ttft_ms", c_mttft},
                  {"predicted_ttft_ms", c_pttft},
                  {"ttft_error", c_ettft},
                  {"measured_tpot_ms", c_mtpot},
                  {"predicted_tpot_ms", c_ptpot},
                  {"tpot_error", c_etpot},
                  {"requests_completed", c_done},
                  {"wall_s", c_wall}};
  group_cols.text = {{"backend", gb}, {"model_path", gm}, {"mode", gmode}};
  group_cols.numbers = {{"rows", gn},
                        {"ttft_mape", gtm},
                        {"ttft_median_ape", gtmed},
                        {"tpot_mape", gpm},
                        {"tpot_median_ape", gpmed}};
  h5::Handle file = h5::create_file(o.output);
  h5::write_columns(file.get(), "rows", rows);
  h5::write_columns(file.get(), "groups", group_cols);
  h5::write_string_attribute(file.get(), "silicon_csv", o.csv);
  h5::write_string_attribute(file.get(), "timing", o.settings.timing);
  h5::write_string_attribute(file.get(), "kernel_tables", o.settings.kernel_tables);
  h5::write_string_attribute(file.get(), "efficiency", o.settings.efficiency);
  h5::write_int_attribute(file.get(), "rounds", o.settings.rounds);
  h5::write_string_attribute(file.get(), "servesim_version", std::string(kVersion) + " (" + kGitCommit + ")");
  std::cout << fmt::format("\nresults     {} and {} (scenarios and run files in {})\n", o.output, csv_path,
                           runs.string());
  return failures > 0 ? 1 : 0;
}

}  // namespace servesim
