#include "app/commands/calibrate_command.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "app/commands/nelder_mead.h"
#include "core/csv_reader.h"
#include "core/error.h"
#include "core/sample_stats.h"
#include "models/catalog.h"
#include "models/timing/kernel_tables.h"
#include "models/timing/model_ops.h"
#include "models/timing/roofline.h"

namespace servesim {

namespace {

// A measured latency and a prediction of it from the parameters being fitted.
struct Sample {
  double measured_s;
  std::function<double(const RooflineEfficiency&)> predict_s;
};

struct ErrorStats {
  size_t n = 0;
  double mape = 0, median_ape = 0, p90_ape = 0;
  double weighted = std::nan("");  // sum |error x measured| / sum measured: the error in total time
};

ErrorStats stats(std::vector<double> ape, const std::vector<double>& measured = {}) {
  ErrorStats s;
  s.n = ape.size();
  if (ape.empty()) return s;
  if (measured.size() == ape.size()) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ape.size(); ++i) num += std::abs(ape[i]) * measured[i], den += measured[i];
    s.weighted = num / den;
  }
  double sum = 0;
  for (double& e : ape) sum += (e = std::abs(e));
  std::sort(ape.begin(), ape.end());
  s.mape = sum / static_cast<double>(ape.size());
  s.median_ape = sample_median(ape);
  s.p90_ape = ape[std::min(ape.size() - 1, static_cast<size_t>(0.9 * static_cast<double>(ape.size())))];
  return s;
}

ErrorStats fit_stats(const std::vector<Sample>& samples, const RooflineEfficiency& e) {
  std::vector<double> err, measured;
  for (const auto& s : samples) {
    err.push_back(s.predict_s(e) / s.measured_s - 1);
    measured.push_back(s.measured_s);
  }
  return stats(err, measured);
}

// Fits the fields `set` writes from a parameter vector, minimising the mean squared log error:
// every measured shape counts the same, the small decode-sized kernels as much as the large
// prefill ones. Parameters are searched in log space.
void fit(const std::vector<Sample>& samples, RooflineEfficiency& e, std::vector<double> x0,
         const std::function<void(RooflineEfficiency&, const std::vector<double>&)>& set) {
  auto loss = [&](const std::vector<double>& x) {
    RooflineEfficiency trial = e;
    set(trial, x);
    double sum = 0;
    for (const auto& s : samples) {
      const double r = std::log(s.predict_s(trial) / s.measured_s);
      sum += r * r;
    }
    return sum / static_cast<double>(samples.size());
  };
  for (double& v : x0) v = std::log(v);
  auto log_loss = [&](const std::vector<double>& lx) {
    std::vector<double> x(lx.size());
    for (size_t i = 0; i < lx.size(); ++i) x[i] = std::exp(lx[i]);
    return loss(x);
  };
  MinimizeResult best{x0, log_loss(x0)};
  // restarts: the max() of the roofline makes the surface kinked
  for (int round = 0; round < 6; ++round) {
    MinimizeResult r = nelder_mead(log_loss, best.x, std::vector<double>(x0.size(), 0.3));
    if (r.value < best.value) best = r;
  }
  std::vector<double> x(best.x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::exp(best.x[i]);
  set(e, x);
}

double clamp_eff(double v) { return std::clamp(v, 0.01, 1.0); }

void print_stats(const std::string& what, const ErrorStats& s) {
  std::cout << fmt::format("  {:<44} {:>7} {:>8.1f}% {:>8.1f}% {:>8.1f}% {:>8.1f}%\n", what, s.n, 100 * s.mape,
                           100 * s.median_ape, 100 * s.p90_ape, 100 * s.weighted);
}

void print_header(const std::string& title) {
  std::cout << fmt::format("\n{}\n  {:<44} {:>7} {:>9} {:>9} {:>9} {:>9}\n", title, "", "points", "MAPE", "median",
                           "p90", "by time");
}

void write_entry(const CalibrateOptions& o, const RooflineEfficiency& e, const std::string& comment) {
  std::string path = o.output;
  if (path.empty()) path = catalog_dir() + "/efficiency/" + o.name + ".yaml";
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream out(path);
  if (!out) throw InputError(fmt::format("{}: cannot write", path));
  out << comment << fmt::format("{}:\n", o.name)
      << fmt::format("  memory_efficiency: {:.4f}\n  compute_efficiency: {:.4f}\n  attention_efficiency: {:.4f}\n",
                     e.memory_efficiency, e.compute_efficiency, e.attention_efficiency)
      << fmt::format("  kernel_latency_us: {:.3f}\n  attention_latency_us: {:.3f}\n  allreduce_latency_us: {:.3f}\n",
                     e.kernel_latency_us, e.attention_latency_us, e.allreduce_latency_us)
      << fmt::format("  allreduce_step_latency_us: {:.3f}\n", e.allreduce_step_latency_us)
      << fmt::format("  allreduce_bandwidth_efficiency: {:.4f}\n  overhead_ms: {:.4f}\n", e.allreduce_bandwidth_efficiency,
                     e.overhead_ms)
      << fmt::format("  source: \"{}\"\n", e.source);
  std::cout << fmt::format("\nwrote {} (entry '{}'; use it as timing.roofline.efficiency: {} when the file is in the "
                           "catalog or a folder of SERVESIM_CATALOG_PATH, or by path: timing.roofline.efficiency: {})\n",
                           path, o.name, o.name, path);
}

int calibrate_kernels(const CalibrateOptions& o) {
  const KernelTableLocation where =
      locate_kernel_tables(o.system, o.database, o.tables, o.gpu, [](const std::string& p) { return p; });
  const KernelTables t =
      KernelTables::load(where.dir, o.backend, o.backend_version, KernelTables::Parts::dense_every_shape());
  const std::string tables = where.dir;
  const GpuSpec& gpu = Catalog::builtin().gpu(o.gpu);
  RooflineEfficiency e;
  e.overhead_ms = o.overhead_ms;
  auto it = t.gemm.find(gemm_table_dtype(o.precision));
  if (it == t.gemm.end()) throw InputError(fmt::format("{}: no {} GEMM table", tables, gemm_table_dtype(o.precision)));

  std::vector<Sample> gemm, context, generation, allreduce;
  const std::string precision = o.precision;
  for (const auto& p : it->second.measured()) {
    const double m = p.x[0], n = p.x[1], k = p.x[2];
    gemm.push_back({p.value * 1e-3, [&gpu, m, n, k, precision](const RooflineEfficiency& f) {
                      return RooflineKernels{gpu, f}.gemm_s(m, n, k, precision);
                    }});
  }
  for (const auto& [key, grid] : t.context_attention) {
    if (key.kv_dtype != "bfloat16") continue;
    for (const auto& p : grid.measured()) {
      const double b = p.x[0], isl = p.x[1];
      const int heads = key.heads, dim = key.head_dim;
      context.push_back({p.value * 1e-3, [&gpu, b, isl, heads, dim](const RooflineEfficiency& f) {
                           return RooflineKernels{gpu, f}.context_attention_s(b, isl, heads, dim);
                         }});
    }
  }
  for (const auto& [key, grid] : t.generation_attention) {
    if (key.kv_dtype != "bfloat16") continue;
    for (const auto& p : grid.measured()) {
      const double b = p.x[0], len = p.x[1];
      const int kv = key.kv_heads, dim = key.head_dim;
      generation.push_back({p.value * 1e-3, [&gpu, b, len, kv, dim](const RooflineEfficiency& f) {
                              return RooflineKernels{gpu, f}.generation_attention_s(b, len, kv, dim, 2.0);
                            }});
    }
  }
  for (const auto& [key, grid] : t.allreduce) {
    if (key.first != "custom_graph") continue;
    const int gpus = key.second;
    for (const auto& p : grid.measured()) {
      const double bytes = p.x[0] * kActivationBytes;
      allreduce.push_back({p.value * 1e-3, [&gpu, bytes, gpus](const RooflineEfficiency& f) {
                             return RooflineKernels{gpu, f}.allreduce_s(bytes, gpus);
                           }});
    }
  }
  fit(gemm, e, {0.7, 0.8, 5.0}, [](RooflineEfficiency& f, const std::vector<double>& x) {
    f.compute_efficiency = clamp_eff(x[0]);
    f.memory_efficiency = clamp_eff(x[1]);
    f.kernel_latency_us = x[2];
  });
  fit(context, e, {0.5, 10.0}, [](RooflineEfficiency& f, const std::vector<double>& x) {
    f.attention_efficiency = clamp_eff(x[0]);
    f.attention_latency_us = x[1];
  });
  fit(allreduce, e, {5.0, 0.01, 0.7}, [](RooflineEfficiency& f, const std::vector<double>& x) {
    f.allreduce_latency_us = x[0];
    f.allreduce_step_latency_us = x[1];
    f.allreduce_bandwidth_efficiency = clamp_eff(x[2]);
  });
  e.source = fmt::format("servesim calibrate --tables {} --precision {} ({} {} kernels)", tables, o.precision,
                         o.backend, t.version);

  std::cout << fmt::format("roofline fitted to {} ({} {} kernels, {} GEMMs) on {}\n", tables, o.backend, t.version,
                           gemm_table_dtype(o.precision), o.gpu);
  std::cout << fmt::format(
      "  compute_efficiency {:.3f}  memory_efficiency {:.3f}  kernel_latency_us {:.2f}\n"
      "  attention_efficiency {:.3f}  attention_latency_us {:.2f}\n"
      "  allreduce_latency_us {:.2f}  allreduce_step_latency_us {:.2f}  allreduce_bandwidth_efficiency {:.3f}\n",
      e.compute_efficiency, e.memory_efficiency, e.kernel_latency_us, e.attention_efficiency, e.attention_latency_us,
      e.allreduce_latency_us, e.allreduce_step_latency_us, e.allreduce_bandwidth_efficiency);
  print_header("roofline fit error per operator class (|predicted / measured - 1|)");
  const ErrorStats g = fit_stats(gemm, e), c = fit_stats(context, e), d = fit_stats(generation, e),
                   a = fit_stats(allreduce, e);
  print_stats(fmt::format("gemm ({})", gemm_table_dtype(o.precision)), g);
  print_stats("context attention (bf16 KV)", c);
  print_stats("generation attention (bf16 KV; not fitted)", d);
  print_stats("all-reduce (custom, CUDA graph)", a);

  // The kernel model reads these tables directly; its error is the interpolation's, measured
  // on points it did not see. Predictions from a point of another kernel are a step the table
  // shows but cannot place (vLLM's switch from FlashInfer at m = 17 to DeepGEMM at m = 32), so
  // they are counted apart.
  print_header("kernel model, held out: each interior point predicted from its neighbours along each axis, "
               "as a lookup reads it");
  std::vector<double> all, all_measured, across, across_measured;
  struct Interpolants {
    std::string table;
    double linear, cubic;
  };
  std::vector<Interpolants> compared;
  auto mape_as = [](const std::vector<const LogGrid*>& grids, Interpolation how) {
    std::vector<double> errs;
    for (const LogGrid* grid : grids)
      for (const auto& h : grid->leave_one_out_errors(how))
        if (!h.across_regimes) errs.push_back(h.error);
    return stats(errs).mape;
  };
  // Per axis too: the GEMM m axis is held out within its alignment class, as lookups read it.
  auto loo = [&](const std::string& what, const std::vector<const LogGrid*>& grids) {
    std::vector<double> errs, measured, step_errs, step_measured;
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_axis;
    for (const LogGrid* grid : grids)
      for (const auto& h : grid->leave_one_out_errors()) {
        if (h.across_regimes) {
          step_errs.push_back(h.error), step_measured.push_back(h.measured);
          continue;
        }
        errs.push_back(h.error), measured.push_back(h.measured);
        auto& [axis_errs, axis_measured] = by_axis[grid->axis_name(h.axis)];
        axis_errs.push_back(h.error), axis_measured.push_back(h.measured);
      }
    all.insert(all.end(), errs.begin(), errs.end());
    all_measured.insert(all_measured.end(), measured.begin(), measured.end());
    across.insert(across.end(), step_errs.begin(), step_errs.end());
    across_measured.insert(across_measured.end(), step_measured.begin(), step_measured.end());
    print_stats(what, stats(errs, measured));
    for (const auto& [axis, e] : by_axis) print_stats("  along " + axis, stats(e.first, e.second));
    if (!step_errs.empty()) print_stats("  across a kernel switch", stats(step_errs, step_measured));
    compared.push_back({what, mape_as(grids, Interpolation::kLinear), mape_as(grids, Interpolation::kMonotoneCubic)});
  };
  for (const auto& [dtype, grid] : t.gemm) loo("gemm " + dtype, {&grid});
  std::vector<const LogGrid*> ctx, gen, ar;
  for (const auto& [k, grid] : t.context_attention) ctx.push_back(&grid);
  for (const auto& [k, grid] : t.generation_attention) gen.push_back(&grid);
  for (const auto& [k, grid] : t.allreduce) ar.push_back(&grid);
  loo("context attention", ctx);
  loo("generation attention", gen);
  loo("all-reduce", ar);
  print_stats("all tables, within one kernel", stats(all, all_measured));
  std::vector<double> with_steps = all, with_steps_measured = all_measured;
  with_steps.insert(with_steps.end(), across.begin(), across.end());
  with_steps_measured.insert(with_steps_measured.end(), across_measured.begin(), across_measured.end());
  print_stats("all tables, and across kernel switches", stats(with_steps, with_steps_measured));
  std::cout << fmt::format("\nheld-out MAPE of each interpolant (the kernel model reads each table with the lower)\n"
                           "  {:<44}{:>10}{:>16}\n",
                           "", "linear", "monotone cubic");
  for (const auto& c : compared)
    std::cout << fmt::format("  {:<44}{:>9.1f}%{:>15.1f}%\n", c.table, 100 * c.linear, 100 * c.cubic);

  if (!o.name.empty())
    write_entry(o, e,
                fmt::format("# Written by `servesim calibrate --tables {} --precision {} --name {}`: roofline\n"
                            "# factors fitted to measured {} kernel tables (GEMM fit MAPE {:.1f}%, context attention\n"
                            "# {:.1f}%, generation attention {:.1f}%, all-reduce {:.1f}%). overhead_ms is not in\n"
                            "# kernel tables: {} ms as given.\n",
                            tables, o.precision, o.name, o.backend, 100 * g.mape, 100 * c.mape, 100 * d.mape,
                            100 * a.mape, o.overhead_ms));
  return 0;
}

// splitwise-sim's perf_model.csv: prompt_time (ms) of a batch of prompts and token_time (ms) per
// decode iteration, repeated runs per (TP, prompt size, batch, output tokens).
int calibrate_splitwise(const CalibrateOptions& o) {
  CsvReader csv(o.splitwise);
  const size_t model = csv.column("model"), hw = csv.column("hardware"), prompt = csv.column("prompt_size"),
               batch = csv.column("batch_size"), tokens = csv.column("token_size"), ptime = csv.column("prompt_time"),
               ttime = csv.column("token_time"), tp = csv.column("tensor_parallel");
  struct Key {
    int tp, prompt, batch, tokens;
    auto tie() const { return std::tie(tp, prompt, batch, tokens); }
    bool operator<(const Key& k) const { return tie() < k.tie(); }
  };
  std::map<Key, std::pair<std::vector<double>, std::vector<double>>> runs;
  while (csv.next()) {
    if (csv.field(model) != o.splitwise_model || csv.field(hw) != o.splitwise_hardware) continue;
    Key k{static_cast<int>(csv.number(tp)), static_cast<int>(csv.number(prompt)), static_cast<int>(csv.number(batch)),
          static_cast<int>(csv.number(tokens))};
    runs[k].first.push_back(csv.number(ptime));
    runs[k].second.push_back(csv.number(ttime));
  }
  if (runs.empty())
    throw InputError(fmt::format("{}: no rows for model '{}' on hardware '{}'", o.splitwise, o.splitwise_model,
                                 o.splitwise_hardware));
  const Catalog& cat = Catalog::builtin();
  PoolConfig pool;
  pool.model = o.model;
  pool.precision = o.precision;
  const ModelSpec m = cat.deployed_model(pool);
  const GpuSpec& gpu = cat.gpu(o.gpu);
  // A prefill that takes less time than the same prompts at half the batch is a broken
  // measurement, not a behaviour to fit (the table's TP 2, batch 64 runs take 360 ms against
  // 2,398 ms at batch 32): such configurations are left out of fitting and testing, and listed.
  std::set<Key> broken;
  for (const auto& [k, times] : runs) {
    auto half = runs.find(Key{k.tp, k.prompt, k.batch / 2, k.tokens});
    if (k.batch > 1 && half != runs.end() && sample_median(times.first) < sample_median(half->second.first))
      broken.insert(k);
  }
  std::vector<Sample> train, test_prefill, test_decode, train_prefill, train_decode;
  for (const auto& [k, times] : runs) {
    if (broken.count(k)) continue;
    const int t = k.tp;
    const double b = k.batch, p = k.prompt, out = k.tokens;
    BatchShape prefill;
    prefill.prefill_seqs = k.batch;
    prefill.prefill_tokens = static_cast<std::int64_t>(b * p);
    prefill.prefill_attention_pairs = b * p * (p + 1) / 2;
    BatchShape decode;
    decode.decode_seqs = k.batch;
    decode.decode_context_tokens = static_cast<std::int64_t>(b * (p + out / 2));  // mean over the generation
    Sample sp{sample_median(times.first) * 1e-3, [m, &gpu, t, prefill](const RooflineEfficiency& f) {
                return ns_to_s(RooflineTiming(m, gpu, t, f).iteration_ns(prefill));
              }};
    Sample sd{sample_median(times.second) * 1e-3, [m, &gpu, t, decode](const RooflineEfficiency& f) {
                return ns_to_s(RooflineTiming(m, gpu, t, f).iteration_ns(decode));
              }};
    const bool held_out = std::find(o.test_tp.begin(), o.test_tp.end(), t) != o.test_tp.end();
    (held_out ? test_prefill : train_prefill).push_back(sp);
    (held_out ? test_decode : train_decode).push_back(sd);
    if (!held_out) train.push_back(sp), train.push_back(sd);
  }
  if (train.empty()) throw ConfigError("--test-tp holds out every TP degree: nothing is left to fit on");
  RooflineEfficiency e;
  e.kernel_latency_us = 0;
  fit(train, e, {0.5, 0.8, 0.5, 10.0, 10.0, 10.0}, [](RooflineEfficiency& f, const std::vector<double>& x) {
    f.compute_efficiency = clamp_eff(x[0]);
    f.memory_efficiency = clamp_eff(x[1]);
    f.attention_efficiency = clamp_eff(x[2]);
    f.overhead_ms = x[3];
    f.allreduce_latency_us = x[4];
    f.allreduce_step_latency_us = x[5];
  });
  e.source = fmt::format("servesim calibrate --splitwise {} ({} on {}, TP held out: {})", o.splitwise,
                         o.splitwise_model, o.splitwise_hardware, fmt::join(o.test_tp, ","));
  std::cout << fmt::format("roofline fitted to splitwise-sim {} on {} ({} configurations; TP {} held out)\n",
                           o.splitwise_model, o.splitwise_hardware, runs.size(), fmt::join(o.test_tp, ","));
  std::cout << fmt::format(
      "  compute_efficiency {:.3f}  memory_efficiency {:.3f}  attention_efficiency {:.3f}\n"
      "  overhead_ms {:.2f}  allreduce_latency_us {:.1f}  allreduce_step_latency_us {:.1f}\n",
      e.compute_efficiency, e.memory_efficiency, e.attention_efficiency, e.overhead_ms, e.allreduce_latency_us,
      e.allreduce_step_latency_us);
  for (const Key& b : broken)
    std::cout << fmt::format("  left out: TP {} batch {} x {} tokens: its prefill ({:.0f} ms) is faster than at batch {}\n",
                             b.tp, b.batch, b.prompt, sample_median(runs[b].first), b.batch / 2);
  print_header("error against the median of splitwise-sim's repeated runs");
  const ErrorStats trp = fit_stats(train_prefill, e), trd = fit_stats(train_decode, e),
                   tep = fit_stats(test_prefill, e), ted = fit_stats(test_decode, e);
  print_stats("fitted: prefill (batch x prompt)", trp);
  print_stats("fitted: decode per iteration", trd);
  print_stats("held out: prefill (batch x prompt)", tep);
  print_stats("held out: decode per iteration", ted);
  if (!o.name.empty())
    write_entry(o, e,
                fmt::format("# Written by `servesim calibrate --splitwise {} --model {} --name {}`: roofline\n"
                            "# factors fitted to splitwise-sim's {} {} prefill and decode times (TP {} held out:\n"
                            "# prefill MAPE {:.1f}%, decode {:.1f}%).\n",
                            o.splitwise, o.model, o.name, o.splitwise_model, o.splitwise_hardware,
                            fmt::join(o.test_tp, ","), 100 * tep.mape, 100 * ted.mape));
  return 0;
}

}  // namespace

int run_calibrate(const CalibrateOptions& o) {
  const bool kernels = !o.tables.empty() || !o.system.empty();
  if (kernels == !o.splitwise.empty())
    throw ConfigError("calibrate needs exactly one of --system NAME or --tables DIR (kernel tables), or --splitwise CSV");
  return kernels ? calibrate_kernels(o) : calibrate_splitwise(o);
}

}  // namespace servesim
