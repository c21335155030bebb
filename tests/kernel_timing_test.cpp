// The measured-kernel timing model: log-space grid interpolation, table loading (gz CSV), the
// composition of an iteration from the real H100 tables in data/aiconfigurator.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "core/count_memo.h"
#include "core/csv_reader.h"
#include "core/error.h"
#include "models/catalog.h"
#include "models/timing/kernel.h"
#include "models/timing/log_grid.h"
#include "models/timing/model_ops.h"
#include "test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

// latency = 2e-3 * m^0.9 * n^0.5: a power law, which log-log interpolation reproduces exactly
double power_law(double m, double n) { return 2e-3 * std::pow(m, 0.9) * std::pow(n, 0.5); }

LogGrid power_grid() {
  LogGrid g({"m", "n"});
  for (double m : {1.0, 4.0, 16.0, 256.0})
    for (double n : {128.0, 1024.0, 8192.0}) g.add({m, n}, power_law(m, n));
  g.finish();
  return g;
}

const std::string kTables = testing::data_file("aiconfigurator/h100_sxm");

TEST(LogGrid, ExactAtPointsAndForPowerLawsBetweenThem) {
  LogGrid g = power_grid();
  EXPECT_EQ(g.points(), 12u);
  for (const auto& p : g.measured()) {
    auto r = g.at(p.x, Extrapolation::kError, "t");
    EXPECT_DOUBLE_EQ(r.value, p.value);
    EXPECT_FALSE(r.extrapolated);
  }
  for (double m : {2.0, 7.5, 100.0})
    for (double n : {300.0, 5000.0}) EXPECT_NEAR(g.at({m, n}, Extrapolation::kError, "t").value, power_law(m, n), 1e-12);
}

TEST(LogGrid, MonotoneWhereTheDataIs) {
  LogGrid g = power_grid();
  double last = 0;
  for (double m = 1; m <= 256; m *= 1.07) {
    const double v = g.at({m, 2000}, Extrapolation::kError, "t").value;
    EXPECT_GT(v, last);
    last = v;
  }
}

TEST(LogGrid, ExtrapolationIsAnErrorClampOrTheEdgeSlope) {
  LogGrid g = power_grid();
  try {
    g.at({512, 1024}, Extrapolation::kError, "gemm table");
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("gemm table"));
    EXPECT_THAT(e.what(), HasSubstr("m 512 is outside the measured range [1, 256]"));
  }
  auto clamped = g.at({512, 1024}, Extrapolation::kClamp, "t");
  EXPECT_TRUE(clamped.extrapolated);
  EXPECT_DOUBLE_EQ(clamped.value, power_law(256, 1024));
  auto slope = g.at({512, 1024}, Extrapolation::kLogLinear, "t");
  EXPECT_TRUE(slope.extrapolated);
  EXPECT_NEAR(slope.value, power_law(512, 1024), 1e-12);  // the power law continues
}

TEST(LogGrid, HolesAreReportedNotInvented) {
  LogGrid g({"batch", "isl"});
  g.add({1, 16}, 1.0);
  g.add({1, 64}, 2.0);
  g.add({8, 16}, 3.0);  // (8, 64) never measured
  g.finish();
  EXPECT_TRUE(g.at({4, 32}, Extrapolation::kError, "t").hole);
  EXPECT_FALSE(g.at({1, 32}, Extrapolation::kError, "t").hole);  // on the measured edge
  // leave-one-out needs both neighbours: this grid has no interior point
  EXPECT_TRUE(g.leave_one_out_errors().empty());
  // a power law is predicted exactly from its neighbours
  std::set<size_t> axes;
  for (auto [err, value, axis, across] : power_grid().leave_one_out_errors()) {
    EXPECT_NEAR(err, 0.0, 1e-12) << value;
    axes.insert(axis);
  }
  EXPECT_EQ(axes.size(), power_grid().dims());  // held out along every axis
}

// Aligned rows (multiples of 16) follow one power law, the rows one past them another, twice as
// slow: the shape of the GEMM tables' m axis.
double aligned_law(double m, double n) { return power_law(m, n) * (std::fmod(m, 16) == 0 ? 1.0 : 2.0); }

LogGrid aligned_grid(bool split) {
  LogGrid g({"m", "n"});
  if (split) g.align_axis(0, 16);
  for (double m : {1.0, 8.0, 16.0, 17.0, 256.0, 257.0, 512.0, 513.0, 1024.0, 1025.0, 4096.0})
    for (double n : {128.0, 1024.0}) g.add({m, n}, aligned_law(m, n));
  g.finish();
  return g;
}

TEST(LogGrid, AnAlignedAxisIsReadWithinTheQuerysClass) {
  const LogGrid g = aligned_grid(true), plain = aligned_grid(false);
  for (const auto& p : g.measured()) EXPECT_DOUBLE_EQ(g.at(p.x, Extrapolation::kError, "t").value, p.value);
  // inside a class's bracket both series are power laws, so each is read exactly
  for (double m : {300.0, 700.0, 1000.0, 320.0, 768.0, 992.0})
    for (double n : {128.0, 500.0})
      EXPECT_NEAR(g.at({m, n}, Extrapolation::kError, "t").value / aligned_law(m, n), 1.0, 1e-12) << m << " x " << n;
  // without the split, an unaligned m between 257 and 512 is read off the aligned 512 point
  EXPECT_LT(plain.at({300, 128}, Extrapolation::kError, "t").value, 0.9 * aligned_law(300, 128));
  // beyond its class's last point (1025) an unaligned m is read off the whole axis
  const double beyond = g.at({2001, 128}, Extrapolation::kError, "t").value;
  EXPECT_DOUBLE_EQ(beyond, plain.at({2001, 128}, Extrapolation::kError, "t").value);
  EXPECT_GT(beyond, aligned_law(1025, 128));
  EXPECT_LT(beyond, aligned_law(4096, 128));
  // held out within classes, every point of the two power laws is predicted exactly; across them not
  const auto split_errors = g.leave_one_out_errors();
  EXPECT_FALSE(split_errors.empty());
  for (auto [err, value, axis, across] : split_errors) EXPECT_NEAR(err, 0.0, 1e-12) << value << " along " << axis;
  double worst = 0;
  for (auto [err, value, axis, across] : plain.leave_one_out_errors()) worst = std::max(worst, std::abs(err));
  EXPECT_GT(worst, 0.3);
  EXPECT_THROW(LogGrid({"m"}).align_axis(1, 16), std::invalid_argument);
  EXPECT_THROW(LogGrid({"m"}).align_axis(0, 1), std::invalid_argument);
}

TEST(LogGrid, AClassCellWithAHoleFallsBackToTheWholeAxis) {
  LogGrid g({"m", "n"});
  g.align_axis(0, 16);
  for (double m : {16.0, 17.0, 32.0, 33.0})
    for (double n : {1.0, 2.0})
      if (!(m == 33 && n == 2)) g.add({m, n}, m * n);
  g.finish();
  // unaligned 20 at n 1.5 needs (33, 2), a hole; the whole axis's cell (17, 32) is complete
  const auto r = g.at({20, 1.5}, Extrapolation::kError, "t");
  EXPECT_FALSE(r.hole);
  EXPECT_GT(r.value, 17 * 1.0);
  EXPECT_LT(r.value, 32 * 2.0);
  EXPECT_TRUE(g.at({33, 1.5}, Extrapolation::kError, "t").hole);  // no cell around it is complete
}

// A launch floor bending into a quadratic cost: the shape of attention latency along the prompt.
double floor_then_quadratic(double x) { return 10 + x * x; }

LogGrid curve_grid(Interpolation how, const std::vector<double>& xs, double (*f)(double)) {
  LogGrid g({"x"});
  g.interpolate_axis(0, how);
  for (double x : xs) g.add({x}, f(x));
  g.finish();
  return g;
}

TEST(LogGrid, AMonotoneCubicAxisFollowsCurvatureAndStaysMonotone) {
  std::vector<double> xs;
  for (double x = 1; x <= 1024; x *= 2) xs.push_back(x);
  const LogGrid cubic = curve_grid(Interpolation::kMonotoneCubic, xs, floor_then_quadratic),
                linear = curve_grid(Interpolation::kLinear, xs, floor_then_quadratic);
  for (const auto& p : cubic.measured()) EXPECT_DOUBLE_EQ(cubic.at(p.x, Extrapolation::kError, "t").value, p.value);
  // between the points (at each cell's geometric middle) the cubic follows the bend
  double cubic_error = 0, linear_error = 0;
  for (size_t i = 0; i + 1 < xs.size(); ++i) {
    const double x = std::sqrt(xs[i] * xs[i + 1]), truth = floor_then_quadratic(x);
    cubic_error += std::abs(cubic.at({x}, Extrapolation::kError, "t").value / truth - 1);
    linear_error += std::abs(linear.at({x}, Extrapolation::kError, "t").value / truth - 1);
  }
  EXPECT_GT(linear_error, 0.1);  // 1.6% on average over the ten cells
  EXPECT_LT(cubic_error, 0.3 * linear_error);
  // held out, the same: each interior point from two neighbours each side
  auto held_out = [](const LogGrid& g, std::optional<Interpolation> as = {}) {
    double sum = 0;
    for (const auto& h : g.leave_one_out_errors(as)) sum += std::abs(h.error);
    return sum;
  };
  EXPECT_LT(held_out(cubic), 0.5 * held_out(linear));
  EXPECT_DOUBLE_EQ(held_out(cubic, Interpolation::kLinear), held_out(linear));
  // a knee and a plateau: never above or below the cell's two points, never decreasing
  const std::vector<double> knee_x{1, 2, 4, 8, 16, 32, 64};
  auto knee = [](double x) { return x < 3 ? 1.0 + 0.01 * x : x < 20 ? 10.0 : 10.0 + 0.1 * x; };
  LogGrid k({"x"});
  k.interpolate_axis(0, Interpolation::kMonotoneCubic);
  for (double x : knee_x) k.add({x}, knee(x));
  k.finish();
  double last = 0;
  for (double x = 1; x <= 64; x *= 1.01) {
    const double v = k.at({x}, Extrapolation::kError, "t").value;
    EXPECT_GE(v, last - 1e-12) << x;
    const auto hi = std::upper_bound(knee_x.begin(), knee_x.end(), x);
    if (hi != knee_x.end()) {
      EXPECT_GE(v, knee(*(hi - 1)) - 1e-12) << x;
      EXPECT_LE(v, knee(*hi) + 1e-12) << x;
    }
    last = v;
  }
  EXPECT_DOUBLE_EQ(k.at({10}, Extrapolation::kError, "t").value, 10.0);  // flat between 4 and 16
  // power laws stay exact, in every dimension, and extrapolation continues the edge line
  LogGrid p({"m", "n"});
  for (size_t d : {0, 1}) p.interpolate_axis(d, Interpolation::kMonotoneCubic);
  for (double m : {1.0, 4.0, 16.0, 256.0})
    for (double n : {128.0, 1024.0, 8192.0}) p.add({m, n}, power_law(m, n));
  p.finish();
  for (double m : {2.0, 7.5, 100.0, 512.0})
    for (double n : {300.0, 5000.0})
      EXPECT_NEAR(p.at({m, n}, Extrapolation::kLogLinear, "t").value / power_law(m, n), 1.0, 1e-12) << m << " x " << n;
  EXPECT_THROW(LogGrid({"m"}).interpolate_axis(1, Interpolation::kMonotoneCubic), std::invalid_argument);
}

TEST(LogGrid, HeldOutPredictionsFromAnotherKernelAreMarked) {
  // one kernel up to x = 4, another, twice as slow, from x = 8: a step no interpolant can place
  LogGrid g({"x"});
  for (double x : {1.0, 2.0, 4.0, 8.0, 16.0, 32.0}) g.add({x}, x < 6 ? x : 2 * x, x < 6 ? "small" : "large");
  g.finish();
  std::map<long, bool> across;  // by measured value
  for (const auto& h : g.leave_one_out_errors()) {
    across[std::lround(h.measured)] = h.across_regimes;
    if (!h.across_regimes) {
      EXPECT_NEAR(h.error, 0.0, 1e-12) << h.measured;  // each kernel alone is a power law
    }
  }
  // x = 2 from 1 and 4; x = 4 from 2 and 8 (the other kernel); x = 8 (measured 16) from 4; x = 16
  // (measured 32) from 8 and 32
  const std::map<long, bool> want{{2, false}, {4, true}, {16, true}, {32, false}};
  EXPECT_EQ(across, want);
}

TEST(CsvReader, ReadsGzipAndNamesBadInput) {
  testing::TempDir dir;
  const std::string good = dir.file("t.csv.gz");
  testing::write_gz(good, "a,b\n1,2\n3,x\n");
  CsvReader csv(good);
  ASSERT_TRUE(csv.next());
  EXPECT_DOUBLE_EQ(csv.number(csv.column("b")), 2);
  ASSERT_TRUE(csv.next());
  try {
    csv.number(csv.column("b"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("t.csv.gz:3: column 'b' must be a number (got 'x')"));
  }
  EXPECT_THROW(csv.column("c"), InputError);
  testing::write_gz(dir.file("short.csv.gz"), "a,b\n1\n");
  CsvReader bad(dir.file("short.csv.gz"));
  EXPECT_THROW(bad.next(), InputError);
  testing::write_gz(dir.file("cut.csv.gz"), "a,b\n1,2");  // no final newline: truncated
  CsvReader cut(dir.file("cut.csv.gz"));
  EXPECT_THROW(cut.next(), InputError);
  // a gzip stream cut short
  const std::string full = dir.file("full.csv.gz");
  std::string big = "a,b\n";
  for (int i = 0; i < 20000; ++i) big += std::to_string(i) + "," + std::to_string(i * 7 % 13) + "\n";
  testing::write_gz(full, big);
  std::ifstream in(full, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir.file("trunc.csv.gz"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CsvReader trunc(dir.file("trunc.csv.gz"));
  EXPECT_THROW(
      {
        while (trunc.next()) {
        }
      },
      InputError);
}

class KernelTimingH100 : public ::testing::Test {
 protected:
  void SetUp() override {
    tables_ = KernelTables::shared(kTables, "vllm");
  }
  KernelTiming make(const std::string& model, int tp, const std::string& precision,
                    const std::string& extrapolation = "extrapolate") {
    PoolConfig pool;
    pool.model = model;
    pool.tp = tp;
    pool.precision = precision;
    pool.timing.kernel.tables = kTables;
    pool.timing.kernel.extrapolation = extrapolation;
    return KernelTiming(Catalog::builtin().deployed_model(pool), tp, pool.timing.kernel, tables_,
                        SystemMemory::load(std::string(kTables) + ".yaml"));
  }
  std::shared_ptr<const KernelTables> tables_;
};

TEST_F(KernelTimingH100, GemmLookupsAreTheMeasuredRowsAtTablePoints) {
  // rows of gemm_perf.csv.gz read back independently of the loader
  CsvReader csv(tables_->sources.at("gemm").file);
  const size_t dtype = csv.column("gemm_dtype"), m = csv.column("m"), n = csv.column("n"), k = csv.column("k"),
               lat = csv.column("latency");
  KernelTiming bf16 = make("llama-3.1-8b", 1, "bf16");
  int checked = 0;
  while (csv.next() && checked < 2000) {
    if (csv.field(dtype) != "bfloat16") continue;
    EXPECT_NEAR(bf16.gemm_ms(csv.number(m), csv.number(n), csv.number(k)), csv.number(lat), 1e-12 * csv.number(lat));
    ++checked;
  }
  EXPECT_EQ(checked, 2000);
  EXPECT_EQ(bf16.extrapolations(), 0u);
}

TEST_F(KernelTimingH100, RowsOffTheAlignmentReadTheOnePastSeries) {
  // fp8 at n = k = 8192, from the file: m = 2304 and 2560 (aligned), 2305 and 2561 (one past)
  CsvReader csv(tables_->sources.at("gemm").file);
  const size_t dtype = csv.column("gemm_dtype"), m = csv.column("m"), n = csv.column("n"), k = csv.column("k"),
               lat = csv.column("latency");
  std::map<double, double> row;
  while (csv.next())
    if (csv.field(dtype) == "fp8" && csv.number(n) == 8192 && csv.number(k) == 8192) row[csv.number(m)] = csv.number(lat);
  ASSERT_EQ(row.count(2304) + row.count(2305) + row.count(2560) + row.count(2561), 4u);
  KernelTiming fp8 = make("llama-3.1-8b", 1, "fp8");
  const double aligned = fp8.gemm_ms(2400, 8192, 8192), unaligned = fp8.gemm_ms(2401, 8192, 8192);
  EXPECT_GT(aligned, row[2304]);
  EXPECT_LT(aligned, row[2560]);
  EXPECT_GT(unaligned, row[2305]);
  EXPECT_LT(unaligned, row[2561]);
  EXPECT_GT(unaligned, 1.2 * aligned);  // the file's one-past rows run 25-35% slower here
}

TEST_F(KernelTimingH100, OnlyBlockFp8SwitchesKernelsInsideItsTable) {
  // vLLM runs block-fp8 GEMMs on FlashInfer at m <= 17, DeepGEMM from m = 32, CUTLASS where n = 32
  // or k <= 64; bf16 and per-tensor fp8 on one kernel each.
  for (const char* dtype : {"bfloat16", "fp8"})
    for (const auto& h : tables_->gemm.at(dtype).leave_one_out_errors()) ASSERT_FALSE(h.across_regimes) << dtype;
  double within = 0, across = 0;
  size_t n_within = 0, n_across = 0;
  for (const auto& h : tables_->gemm.at("fp8_block").leave_one_out_errors())
    (h.across_regimes ? across : within) += std::abs(h.error), ++(h.across_regimes ? n_across : n_within);
  ASSERT_GT(n_across, 1000u);
  ASSERT_GT(n_within, 10 * n_across);
  // the steps: 36% held out across a switch against 5.7% within one kernel when this was written
  EXPECT_GT(across / n_across, 4 * within / n_within);
}

TEST_F(KernelTimingH100, AnIterationIsTheSumOfItsLayersKernels) {
  KernelTiming t = make("llama-3.1-70b", 4, "fp8");
  const ModelSpec m = [] {
    PoolConfig p;
    p.model = "llama-3.1-70b";
    p.precision = "fp8";
    return Catalog::builtin().deployed_model(p);
  }();
  BatchShape decode;
  decode.decode_seqs = 32;
  decode.decode_context_tokens = 32 * 2048;
  auto d = t.breakdown(decode);
  double gemm = 0;
  for (const GemmOp& op : iteration_gemms(m, 4, 32, 32)) gemm += op.count * t.gemm_ms(op.m, op.n, op.k);
  EXPECT_NEAR(d.gemm_ms, gemm, 1e-9);
  // 80 layers x the generation-attention row for 16 query / 2 KV heads per GPU
  const auto& grid = tables_->generation_attention.at(AttentionKey{16, 2, 128, "bfloat16"});
  EXPECT_NEAR(d.generation_attention_ms, 80 * grid.at({32, 2048}, Extrapolation::kError, "").value, 1e-9);
  // two custom all-reduces of 32 tokens x 8192 hidden per layer (CUDA-graph sized)
  EXPECT_NEAR(d.allreduce_ms, 160 * t.allreduce_ms(32.0 * 8192, true), 1e-9);
  EXPECT_DOUBLE_EQ(d.context_attention_ms, 0);
  EXPECT_NEAR(ns_to_s(t.iteration_ns(decode)) * 1e3, d.total_ms(), 1e-6);
  // decode of a 70B fp8 model on TP4 streams ~17.6 GB per GPU: no faster than HBM allows
  EXPECT_GT(d.gemm_ms, 70.6e9 / 4 / 3.35e12 * 1e3);
  // fp8 GEMMs beat bf16 ones on this memory-bound shape
  KernelTiming bf16 = make("llama-3.1-70b", 4, "bf16");
  EXPECT_LT(d.gemm_ms, bf16.breakdown(decode).gemm_ms);
}

TEST_F(KernelTimingH100, OutOfRangeLookupsAreCountedOrRejected) {
  BatchShape longest;  // a 32k-token prompt: past the context-attention table's 16k
  longest.prefill_seqs = 1;
  longest.prefill_tokens = 32768;
  longest.prefill_attention_pairs = 32768.0 * 32769 / 2;
  KernelTiming lenient = make("llama-3.1-8b", 1, "bf16");
  EXPECT_GT(lenient.iteration_ns(longest), 0);
  EXPECT_GT(lenient.extrapolations(), 0u);
  KernelTiming strict = make("llama-3.1-8b", 1, "bf16", "error");
  try {
    strict.iteration_ns(longest);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("outside the measured range"));
  }
}

TEST_F(KernelTimingH100, UncoveredShapesAreConfigurationErrors) {
  PoolConfig pool;
  pool.model = "deepseek-v3";
  pool.tp = 8;
  pool.timing.kernel.tables = kTables;
  try {
    KernelTiming(Catalog::builtin().deployed_model(pool), 8, pool.timing.kernel, tables_, SystemMemory::load(std::string(kTables) + ".yaml"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("MLA"));
  }
  testing::TempDir dir;
  EXPECT_THROW(SystemMemory::load(dir.file("nowhere")), InputError);
  EXPECT_THROW(KernelTables::load(dir.path(), "vllm"), InputError);
}

TEST_F(KernelTimingH100, ExtrapolationsAreCountedInTheRunSummary) {
  testing::TempDir dir;
  const std::string scenario = std::string(SERVESIM_SOURCE_DIR) + "/scenarios/benchmark_llama70b_fp8.yaml";
  auto inside = testing::run_servesim("run " + scenario + " -q -o " + dir.file("a.h5"));
  ASSERT_EQ(inside.exit_code, 0) << inside.out;
  EXPECT_THAT(inside.out, ::testing::Not(HasSubstr("outside the measured tables")));
  // Qwen3-32B's LM head at TP 2 is a 75,968-wide GEMM: past the table's widest (65,536)
  auto outside = testing::run_servesim("run " + scenario + " -q -o " + dir.file("b.h5") +
                                       " --set pools.0.model=qwen3-32b --set pools.0.tp=2");
  ASSERT_EQ(outside.exit_code, 0) << outside.out;
  EXPECT_THAT(outside.out, HasSubstr("outside the measured tables"));
  testing::H5File f(dir.file("b.h5"));
  EXPECT_GT(testing::read_double_column(f.id, "/summary", "timing_extrapolations").at(0), 0);
  // and as an error when asked
  auto strict = testing::run_servesim("run " + scenario + " -q -o " + dir.file("c.h5") +
                                      " --set pools.0.model=qwen3-32b --set pools.0.tp=2"
                                      " --set pools.0.timing.kernel.extrapolation=error");
  EXPECT_EQ(strict.exit_code, 3);
  EXPECT_THAT(strict.out, HasSubstr("n 75968 is outside the measured range"));
}

TEST_F(KernelTimingH100, ABenchmarkRunIsBitIdenticalForTheSameSeed) {
  testing::TempDir dir;
  const std::string scenario = std::string(SERVESIM_SOURCE_DIR) + "/scenarios/benchmark_llama70b_fp8.yaml";
  auto bytes = [&](const std::string& name, const std::string& sets) {
    auto r = testing::run_servesim("run " + scenario + " -q -o " + dir.file(name) + " " + sets);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    testing::H5File f(dir.file(name));
    return testing::read_raw(f.id, "/requests");
  };
  const auto a = bytes("a.h5", ""), b = bytes("b.h5", "");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, bytes("c.h5", "--seed 2"));  // the seed moves the desynchronised phases
}

// A lookup outside the tables is counted every time it is made, memoised or not: the LM head and
// the all-reduce are memoised by count only where they fall inside the tables.
TEST_F(KernelTimingH100, MemoisedLookupsOutsideTheTablesAreCountedEachTime) {
  KernelTiming t = make("qwen3-32b", 2, "bf16");  // its LM head is 75,968 wide at TP 2: past the widest (65,536)
  BatchShape decode;
  decode.decode_seqs = 8;
  decode.decode_context_tokens = 8 * 1024;
  const TimeNs first = t.iteration_ns(decode);
  const std::uint64_t after_one = t.extrapolations();
  EXPECT_GT(after_one, 0u);
  EXPECT_EQ(t.iteration_ns(decode), first);
  EXPECT_GT(t.extrapolations(), after_one);
  // inside the tables: the second iteration reads the memo and counts nothing
  KernelTiming inside = make("llama-3.1-70b", 4, "fp8");
  const TimeNs once = inside.iteration_ns(decode);
  EXPECT_EQ(inside.iteration_ns(decode), once);
  EXPECT_EQ(inside.extrapolations(), 0u);
}

TEST(CountMemo, KeepsOnlyWhatItIsToldTo) {
  CountMemo memo;
  int calls = 0;
  auto compute = [&](bool& keep) {
    ++calls;
    keep = calls > 1;  // the first result is not kept
    return 2.5;
  };
  EXPECT_EQ(memo.get_kept(3, compute), 2.5);
  EXPECT_EQ(memo.get_kept(3, compute), 2.5);
  EXPECT_EQ(memo.get_kept(3, compute), 2.5);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(memo.get_kept(CountMemo::kMaxCount, compute), 2.5);  // past the table: computed each time
  EXPECT_EQ(memo.get_kept(CountMemo::kMaxCount, compute), 2.5);
  EXPECT_EQ(calls, 4);
}

ModelSpec deployed(const std::string& model, const std::string& precision) {
  PoolConfig p;
  p.model = model;
  p.precision = precision;
  return Catalog::builtin().deployed_model(p);
}

// Start-up parses only the rows a deployment reads (Llama-3.1-70B fp8 at TP 4: one of the GEMM
// table's three dtypes, one of the attention tables' shapes), and they are the same rows: the
// model prices every iteration as it does on the whole tables.
TEST(KernelTableParts, ADeploymentReadsOnlyItsRowsAndPricesAsOnTheWholeTables) {
  const ModelSpec m = deployed("llama-3.1-70b", "fp8");
  const KernelTableParts parts = KernelTableParts::for_deployment(m, 4, true);
  ASSERT_TRUE(parts.gemm_dtypes && parts.attention_shapes);
  EXPECT_EQ(*parts.gemm_dtypes, std::vector<std::string>{"fp8"});
  ASSERT_EQ(parts.attention_shapes->size(), 1u);
  EXPECT_EQ(parts.attention_shapes->front(), (AttentionShape{16, 2, 128, "bfloat16"}));
  const auto narrow = std::make_shared<const KernelTables>(KernelTables::load(kTables, "vllm", "", parts));
  const auto whole = KernelTables::shared(kTables, "vllm");
  EXPECT_EQ(narrow->gemm.size(), 1u);
  EXPECT_EQ(whole->gemm.size(), 3u);
  EXPECT_EQ(narrow->gemm.at("fp8").points(), whole->gemm.at("fp8").points());
  EXPECT_EQ(narrow->context_attention.size(), 1u);
  EXPECT_EQ(narrow->generation_attention.size(), 1u);
  EXPECT_GT(whole->generation_attention.size(), 10u);
  KernelTimingConfig config;
  config.tables = kTables;
  const SystemMemory memory = SystemMemory::load(kTables + ".yaml");
  KernelTiming a(m, 4, config, narrow, memory), b(m, 4, config, whole, memory);
  for (int seqs : {1, 7, 64, 300})
    for (std::int64_t context : {100, 1500, 9000}) {
      BatchShape mixed;
      mixed.decode_seqs = seqs;
      mixed.decode_context_tokens = seqs * context;
      mixed.prefill_seqs = 1;
      mixed.prefill_tokens = context;
      mixed.prefill_attention_pairs = context * (context + 1.0) / 2;
      EXPECT_EQ(a.iteration_ns(mixed), b.iteration_ns(mixed)) << seqs << " x " << context;
    }
  EXPECT_EQ(a.extrapolations(), b.extrapolations());
}

TEST(KernelTableParts, TablesReadForOneDeploymentWidenForAnother) {
  const KernelTableParts big = KernelTableParts::for_deployment(deployed("llama-3.1-70b", "fp8"), 4, true);
  const KernelTableParts small = KernelTableParts::for_deployment(deployed("llama-3.1-8b", "bf16"), 1, true);
  EXPECT_TRUE(big.covers(big));
  EXPECT_FALSE(big.covers(small));
  const KernelTableParts both = big.merged(small);
  EXPECT_TRUE(both.covers(big) && both.covers(small));
  EXPECT_EQ(*both.gemm_dtypes, (std::vector<std::string>{"bfloat16", "fp8"}));
  EXPECT_EQ(both.attention_shapes->size(), 2u);
  const KernelTableParts every;  // every dtype and shape
  EXPECT_TRUE(every.covers(both));
  EXPECT_FALSE(both.covers(every));
  EXPECT_FALSE(every.merged(big).gemm_dtypes.has_value());
  // an NVFP4 checkpoint's LM head is bf16; an MLA model reads none of the attention shapes
  EXPECT_EQ(*KernelTableParts::for_deployment(deployed("llama-3.1-8b", "nvfp4"), 1, true).gemm_dtypes,
            (std::vector<std::string>{"bfloat16", "nvfp4"}));
  EXPECT_TRUE(KernelTableParts::for_deployment(deployed("deepseek-v3", "fp8"), 8, true).attention_shapes->empty());
  // the process-wide cache reads again, with both, when a second deployment asks for more
  const auto first = KernelTables::shared(kTables, "vllm", "0.24.0", big);
  EXPECT_EQ(first->gemm.size(), 1u);
  EXPECT_EQ(KernelTables::shared(kTables, "vllm", "0.24.0", big), first);  // covered: not read again
  const auto second = KernelTables::shared(kTables, "vllm", "0.24.0", small);
  EXPECT_EQ(second->gemm.size(), 2u);
  EXPECT_EQ(second->generation_attention.size(), 2u);
  EXPECT_EQ(KernelTables::shared(kTables, "vllm", "0.24.0", big), second);
}

// A table folder in `dir` reading the real attention and all-reduce tables, for a test to give
// GEMM tables of its own.
std::filesystem::path folder_with_real_attention(const testing::TempDir& dir) {
  const std::filesystem::path root(dir.path()), real(kTables);
  std::filesystem::create_symlink(real / "attention", root / "attention");
  std::filesystem::create_symlink(real / "comm", root / "comm");
  return root;
}

// Version folders are chosen in release order: 0.5.14 is newer than 0.5.9 (as text it sorts first).
TEST(KernelTablesFolders, TheNewestVersionInReleaseOrderIsRead) {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  const fs::path root = folder_with_real_attention(dir), real(kTables);
  const fs::path gemm = real / "gemm" / "vllm" / "0.24.0" / "gemm_perf.csv.gz";
  for (const char* version : {"0.5.9", "0.5.14", "0.5.6.post2", "0.5.14rc1"}) {
    fs::create_directories(root / "gemm" / "vllm" / version);
    fs::create_symlink(gemm, root / "gemm" / "vllm" / version / "gemm_perf.csv.gz");
  }
  const KernelTables t = KernelTables::load(root.string(), "vllm");
  EXPECT_EQ(fs::path(t.sources.at("gemm").file).parent_path().filename(), "0.5.14");
  EXPECT_EQ(fs::path(t.sources.at("context_attention").file).parent_path().filename(), "0.24.0");
}

// A GEMM of no rows is skipped (TensorRT-LLM 1.2.0rc5's H100 table timed 882 with m = 0: nothing
// asks for one, and a log grid has no 0); any other size or latency that is not positive is an
// error naming the file, the line and the column.
TEST(KernelTablesFolders, EmptyGemmsAreSkippedAndOtherNonPositiveRowsNamed) {
  testing::TempDir dir;
  const std::filesystem::path root = folder_with_real_attention(dir);
  const std::string gemm = (root / "gemm/vllm/0.24.0/gemm_perf.csv.gz").string();
  auto table = [](double zero_row_latency) {
    std::string rows = "framework,version,device,op_name,kernel_source,gemm_dtype,m,n,k,latency\n";
    rows += fmt::format("VLLM,0.24.0,H100,gemm,cutlass,bfloat16,1,1024,1024,{}\n", zero_row_latency);
    for (int m : {0, 1, 16, 256})
      for (int n : {1024, 4096})
        for (int k : {1024, 4096}) {
          if (m == 1 && n == 1024 && k == 1024) continue;  // the row above
          rows += fmt::format("VLLM,0.24.0,H100,gemm,cutlass,bfloat16,{},{},{},{}\n", m, n, k, 0.01 + 1e-6 * m);
        }
    return rows;
  };
  testing::write_gz(gemm, table(0.002));
  const KernelTables t = KernelTables::load(root.string(), "vllm");
  const LogGrid& bf16 = t.gemm.at("bfloat16");
  const auto at = bf16.at({1, 1024, 1024}, Extrapolation::kError, "gemm");
  EXPECT_DOUBLE_EQ(at.value, 0.002);
  EXPECT_FALSE(at.extrapolated);
  // m = 0.5 lies outside the grid, whose smallest m is 1: the m = 0 rows were not read
  EXPECT_THROW(bf16.at({0.5, 1024, 1024}, Extrapolation::kError, "gemm"), std::exception);
  testing::write_gz(gemm, table(0));
  try {
    KernelTables::load(root.string(), "vllm");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("gemm_perf.csv.gz:2: column 'latency' is 0"));
  }
}

TEST(EnginePresets, FrameworksDifferInPagingAndScheduling) {
  const Catalog& c = Catalog::builtin();
  EXPECT_EQ(c.engine("vllm").block_size, 16);
  EXPECT_EQ(c.engine("sglang").block_size, 1);
  EXPECT_EQ(c.engine("sglang").scheduler, "sglang");
  EXPECT_EQ(c.engine("trtllm").block_size, 32);
  EXPECT_FALSE(c.engine("trtllm").enable_chunked_prefill);
  EXPECT_THROW(c.engine("llama.cpp"), ConfigError);
}

}  // namespace
}  // namespace servesim
