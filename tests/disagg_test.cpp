// Disaggregated prefill/decode end to end, through the CLI, read back from HDF5: each request's
// TTFT against the timing model and the fabric's bandwidth, conservation, the conditional
// disaggregation threshold, determinism, and bad topologies caught before the run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "tests/test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using testing::H5File;
using testing::read_double_column;

// One request a second, so every request finds both workers idle. Prefill worker on node a,
// decode worker on node b; each node's one NIC joins switch s at 100 Gbit/s with 5 us latency.
const char* kTwoNodes = R"(
name: disagg
seed: 7
workload:
  source: synthetic
  synthetic:
    duration: 20s
    arrival: {process: constant, rate: 1}
    input_length: {dist: uniform, min: 100, max: 6000}
    output_length: {dist: fixed, value: 8}
router: {policy: round_robin}
pools:
  - name: p
    role: prefill
    tp: 2
    model: llama-3.1-8b
    timing: {model: polynomial, polynomial: {constant_ms: 2, per_prefill_token_ms: 0.01, per_decode_seq_ms: 0.05}}
  - name: d
    role: decode
    tp: 2
    model: llama-3.1-8b
    timing: {model: polynomial, polynomial: {constant_ms: 2, per_prefill_token_ms: 0.01, per_decode_seq_ms: 0.05}}
topology:
  nodes:
    - {name: a, gpus: 2, nics: 1, pcie_gbyte_per_s: 64, pcie_latency: 1us}
    - {name: b, gpus: 2, nics: 1, pcie_gbyte_per_s: 64, pcie_latency: 1us}
  switches: [{name: s}]
  links:
    - {from: a/nic0, to: s, gbit_per_s: 100, latency: 5us}
    - {from: b/nic0, to: s, gbit_per_s: 100, latency: 5us}
  placement: pack
)";

// Llama-3.1-8B: 32 layers x 8 KV heads x 128 x 2 (K and V) x 2 bytes per token.
constexpr double kKvBytesPerToken = 32 * 8 * 128 * 2 * 2;

class Disagg : public ::testing::Test {
 protected:
  std::string run(const std::string& yaml, const std::string& name, const std::string& sets = "") {
    std::string out = dir_.file(name + ".h5");
    auto r = testing::run_servesim("run " + dir_.write(name + ".yaml", yaml) + " -q -o " + out + " " + sets);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return out;
  }
  testing::CommandResult validate(const std::string& yaml) {
    return testing::run_servesim("validate " + dir_.write("bad.yaml", yaml));
  }
  testing::TempDir dir_;
};

TEST_F(Disagg, TtftIsQueuePlusPrefillPlusTransferPlusFirstStepPerRequest) {
  std::string out = run(kTwoNodes, "ttft");
  H5File f(out);
  auto col = [&](const char* c) { return read_double_column(f.id, "/requests", c); };
  auto input = col("input_tokens"), queue = col("queue_s"), prefill = col("prefill_s"), transfer = col("transfer_s"),
       first = col("first_step_s"), ttft = col("ttft_s"), bytes = col("transfer_bytes"), wait = col("reserve_wait_s"),
       pw = col("prefill_worker"), dw = col("decode_worker");
  ASSERT_EQ(input.size(), 20u);
  for (size_t i = 0; i < input.size(); ++i) {
    SCOPED_TRACE(fmt::format("request with {} prompt tokens", input[i]));
    EXPECT_EQ(pw[i], 0);
    EXPECT_EQ(dw[i], 1);
    EXPECT_EQ(queue[i], 0);
    EXPECT_NEAR(prefill[i], (2 + 0.01 * input[i]) * 1e-3, 1e-9);
    // whole 16-token blocks move; each TP rank sends its half of the heads to its peer rank, and
    // the two flows share the 12.5 GB/s link from a's NIC to the switch
    const double blocks = std::ceil(input[i] / 16);
    EXPECT_DOUBLE_EQ(bytes[i], blocks * 16 * kKvBytesPerToken);
    const double drain_ns = std::ceil(bytes[i] / 2 / 6.25e9 * 1e9);
    const double latency_ns = 1000 + 5000 + 5000 + 1000;
    EXPECT_EQ(wait[i], 0);
    EXPECT_NEAR(transfer[i], (drain_ns + latency_ns) * 1e-9, 1.5e-9);
    // the decode engine computes the prompt's last token itself: one 1-token iteration
    EXPECT_NEAR(first[i], (2 + 0.01) * 1e-3, 1e-9);
    EXPECT_NEAR(ttft[i], queue[i] + prefill[i] + transfer[i] + first[i], 1e-12);
  }
  // the transfers table agrees, and the fabric's route crosses both NICs and the switch
  auto tb = read_double_column(f.id, "/transfers", "bytes");
  EXPECT_DOUBLE_EQ(std::accumulate(tb.begin(), tb.end(), 0.0), std::accumulate(bytes.begin(), bytes.end(), 0.0));
  auto flows = read_double_column(f.id, "/transfers", "flows"), hops = read_double_column(f.id, "/transfers", "hops");
  for (size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(flows[i], 2);
    EXPECT_EQ(hops[i], 4);
  }
}

// Layer by layer: each rank's flow starts once the first of 32 layers is computed, no faster than
// the iteration produces KV (bytes / iteration time) and no faster than its half of the shared
// 12.5 GB/s link; after the prompt is done only what is left must still cross.
TEST_F(Disagg, LayerwiseOverlapLeavesOnlyTheLastLayersTail) {
  std::string out = run(kTwoNodes, "layerwise", "--set kv_transfer.overlap=layerwise");
  H5File f(out);
  auto col = [&](const char* c) { return read_double_column(f.id, "/requests", c); };
  auto input = col("input_tokens"), prefill = col("prefill_s"), transfer = col("transfer_s"), bytes = col("transfer_bytes"),
       first = col("first_step_s"), ttft = col("ttft_s"), queue = col("queue_s");
  ASSERT_EQ(input.size(), 20u);
  for (size_t i = 0; i < input.size(); ++i) {
    SCOPED_TRACE(fmt::format("request with {} prompt tokens", input[i]));
    const double iteration_ns = std::llround((2 + 0.01 * input[i]) * 1e6);
    const double streaming_ns = iteration_ns - std::floor(iteration_ns / 32);
    const double per_flow = bytes[i] / 2, link = 6.25e9;
    const double rate = std::min(per_flow / (iteration_ns * 1e-9), link);
    const double left = per_flow - rate * streaming_ns * 1e-9;
    EXPECT_GT(left, per_flow / 32 * 0.99);  // at least the last layer is left
    EXPECT_NEAR(transfer[i], left / link + 12e-6, 3e-9);
    EXPECT_NEAR(ttft[i], queue[i] + prefill[i] + transfer[i] + first[i], 1e-12);
  }
  // the flows started one layer into the prompt's iteration, long before it ended
  auto id = col("id"), arrival = col("arrival_s");
  auto tid = read_double_column(f.id, "/transfers", "request_id"), start = read_double_column(f.id, "/transfers", "start_s");
  ASSERT_EQ(tid.size(), id.size());
  for (size_t k = 0; k < tid.size(); ++k) {
    size_t i = static_cast<size_t>(std::find(id.begin(), id.end(), tid[k]) - id.begin());
    EXPECT_NEAR(start[k] - (arrival[i] + queue[i]), prefill[i] / 32, 2e-9);
  }
}

TEST_F(Disagg, LinkTimeseriesAccountsForEveryByte) {
  std::string out = run(kTwoNodes, "links");
  H5File f(out);
  auto link = read_double_column(f.id, "/links/timeseries", "link");
  auto moved = read_double_column(f.id, "/links/timeseries", "bytes");
  auto util = read_double_column(f.id, "/links/timeseries", "utilisation");
  auto bytes = read_double_column(f.id, "/requests", "transfer_bytes");
  const double total = std::accumulate(bytes.begin(), bytes.end(), 0.0);
  // find a->s: every byte crosses it once
  auto names = testing::read_string_column(f.id, "/links/info", "name");
  double over_uplink = 0;
  for (size_t i = 0; i < link.size(); ++i) {
    EXPECT_GE(util[i], 0);
    EXPECT_LE(util[i], 1 + 1e-9);
    if (names.at(static_cast<size_t>(link[i])) == "a/nic0->s") over_uplink += moved[i];
  }
  EXPECT_NEAR(over_uplink, total, 1e-6 * total);
}

// Mixed traffic under load: shared prefixes, KV-aware routing, conditional disaggregation.
const char* kBusy = R"(
name: busy
seed: 11
workload:
  hash_block_tokens: 16
  synthetic:
    duration: 30s
    arrival: {process: poisson, rate: 40}
    input_length: {dist: lognormal, mean: 1500, std: 1000, max: 8000}
    output_length: {dist: lognormal, mean: 120, std: 80, max: 600}
    prefix: {groups: 8, prefix_tokens: 512}
router: {policy: kv_aware, max_local_prefill_length: 300}
pools:
  - {name: p, role: prefill, replicas: 2, model: llama-3.1-8b, engine: {block_size: 16, num_gpu_blocks: 3000}}
  - {name: d, role: decode, replicas: 2, model: llama-3.1-8b, engine: {block_size: 16, num_gpu_blocks: 2500}}
)";

TEST_F(Disagg, EveryRequestEndsOnceTokensAreConservedAndBlocksReturn) {
  std::string out = run(kBusy, "busy");
  H5File f(out);
  auto summary = [&](const char* k) { return read_double_column(f.id, "/summary", k).at(0); };
  const double arrived = summary("requests_arrived");
  EXPECT_GT(arrived, 1000);
  EXPECT_EQ(summary("requests_completed"), arrived);
  EXPECT_EQ(summary("requests_remote_prefill") + summary("requests_local_prefill"), arrived);
  EXPECT_GT(summary("requests_local_prefill"), 0);  // prompts mostly cached on the decode worker
  EXPECT_GT(summary("requests_remote_prefill"), 0);
  auto osl = read_double_column(f.id, "/requests", "output_tokens");
  EXPECT_DOUBLE_EQ(summary("output_tokens_total"), std::accumulate(osl.begin(), osl.end(), 0.0));
  // tokens produced by the engines' iterations = tokens asked for (the prefill worker's token is
  // dropped, the decode worker makes its own)
  auto tokens = read_double_column(f.id, "/workers", "tokens");
  EXPECT_DOUBLE_EQ(std::accumulate(tokens.begin(), tokens.end(), 0.0), summary("output_tokens_total"));
  EXPECT_EQ(testing::dataset_rows(f.id, "/transfers"), static_cast<hsize_t>(summary("requests_remote_prefill")));
  // the last sample: nothing waiting, held, incoming or using a KV block anywhere
  auto t = read_double_column(f.id, "/workers", "time_s");
  for (const char* c : {"waiting", "running", "held", "incoming", "kv_blocks_used"}) {
    auto v = read_double_column(f.id, "/workers", c);
    for (size_t i = v.size() - 4; i < v.size(); ++i) {
      EXPECT_EQ(t[i], t.back());
      EXPECT_EQ(v[i], 0) << c;
    }
  }
  // under this load some KV waited for room on the decode workers, and the wait is part of transfer_s
  auto wait = read_double_column(f.id, "/requests", "reserve_wait_s");
  auto transfer = read_double_column(f.id, "/requests", "transfer_s");
  for (size_t i = 0; i < wait.size(); ++i) EXPECT_LE(wait[i], transfer[i]);
}

TEST_F(Disagg, SameSeedIsBitIdentical) {
  std::string a = run(kBusy, "a"), b = run(kBusy, "b");
  H5File fa(a), fb(b);
  for (const char* ds : {"/requests", "/transfers", "/links/timeseries", "/workers", "/timeseries/cluster"}) {
    auto ra = testing::read_raw(fa.id, ds), rb = testing::read_raw(fb.id, ds);
    ASSERT_FALSE(ra.empty()) << ds;
    EXPECT_TRUE(ra == rb) << ds << " differs between two runs with the same seed";
  }
}

TEST_F(Disagg, ShortPromptsPrefillLocallyLongOnesRemotely) {
  // round_robin knows no cache, so a prompt's uncached part is all of it
  std::string out = run(kTwoNodes, "threshold", "--set router.max_local_prefill_length=3000");
  H5File f(out);
  auto input = read_double_column(f.id, "/requests", "input_tokens");
  auto pw = read_double_column(f.id, "/requests", "prefill_worker");
  auto bytes = read_double_column(f.id, "/requests", "transfer_bytes");
  int local = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    const bool is_local = input[i] < 3000;
    EXPECT_EQ(pw[i], is_local ? 1 : 0) << input[i];
    EXPECT_EQ(bytes[i] > 0, !is_local) << input[i];
    local += is_local;
  }
  EXPECT_GT(local, 0);
  EXPECT_LT(local, static_cast<int>(input.size()));
  EXPECT_EQ(read_double_column(f.id, "/summary", "requests_local_prefill").at(0), local);
}

TEST_F(Disagg, ALongPrefillQueueSendsPromptsToTheDecodeWorker) {
  // 1000 requests a second: while one prefill is outstanding the queue limit of 0 is exceeded
  std::string out = run(kTwoNodes, "queue",
                        "--set router.max_prefill_queue=0 --set workload.synthetic.arrival.rate=1000 "
                        "--set workload.synthetic.duration=0.02s");
  H5File f(out);
  auto pw = read_double_column(f.id, "/requests", "prefill_worker");
  auto arrival = read_double_column(f.id, "/requests", "arrival_s");
  auto prefill_end = [&] {
    auto q = read_double_column(f.id, "/requests", "queue_s"), p = read_double_column(f.id, "/requests", "prefill_s");
    std::vector<double> e;
    for (size_t i = 0; i < q.size(); ++i) e.push_back(arrival[i] + q[i] + p[i]);
    return e;
  }();
  // request 0 goes remote; a request arriving before the outstanding remote prefill ends stays local
  auto id = read_double_column(f.id, "/requests", "id");
  std::vector<size_t> by_id(id.size());
  for (size_t i = 0; i < id.size(); ++i) by_id[static_cast<size_t>(id[i])] = i;
  ASSERT_GE(by_id.size(), 10u);
  EXPECT_EQ(pw[by_id[0]], 0);
  double remote_busy_until = prefill_end[by_id[0]];
  int local = 0;
  for (size_t k = 1; k < by_id.size(); ++k) {
    size_t i = by_id[k];
    if (arrival[i] < remote_busy_until) {
      EXPECT_EQ(pw[i], 1) << "request " << k;
      ++local;
    } else if (pw[i] == 0) {
      remote_busy_until = prefill_end[i];
    }
  }
  EXPECT_GT(local, 0);
}

TEST_F(Disagg, BadTopologyIsAClearErrorBeforeTheRun) {
  auto with = [](const std::string& from, const std::string& to) {
    std::string s = kTwoNodes;
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case {
    std::string yaml, key, says;
  } cases[] = {
      {with("{from: b/nic0, to: s,", "{from: c/nic0, to: s,"), "topology.links.1.from", "unknown endpoint 'c/nic0'"},
      {with("    - {from: b/nic0, to: s, gbit_per_s: 100, latency: 5us}\n", ""), "topology.links",
       "no network path from a/gpu0 to b/gpu0"},
      {with("{from: a/nic0, to: s, gbit_per_s: 100,", "{from: a/nic0, to: s, gbit_per_s: 0,"),
       "topology.links.0.gbit_per_s", "must be greater than 0"},
      {with("role: decode", "role: aggregated"), "pools.0.role", "needs a decode pool"},
      {with("    tp: 2\n    model: llama-3.1-8b\n    timing", "    tp: 2\n    model: llama-3.1-70b\n    timing"),
       "pools.1.model", "cannot take KV"},
      {with("  placement: pack", "  placement: explicit"), "pools.0.devices", "explicit placement needs"},
      {with("{name: b, gpus: 2,", "{name: b, gpus: 1,"), "topology.placement", "cannot place worker 1"},
  };
  for (const auto& c : cases) {
    auto r = validate(c.yaml);
    EXPECT_EQ(r.exit_code, 2) << c.key << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("key '" + c.key + "'")) << r.out;
    EXPECT_THAT(r.out, HasSubstr(c.says)) << r.out;
    EXPECT_THAT(r.out, HasSubstr("bad.yaml:")) << r.out;
  }
  auto basic = validate(with("    role: decode\n", "    role: decode\n    engine: {scheduler: basic}\n"));
  EXPECT_EQ(basic.exit_code, 2);
  EXPECT_THAT(basic.out, HasSubstr("pools.1.engine.scheduler"));
}

TEST_F(Disagg, ExplicitPlacementPutsWorkersOnTheNamedGpus) {
  std::string yaml = kTwoNodes;
  yaml.replace(yaml.find("  placement: pack"), 17, "  placement: explicit");
  yaml.replace(yaml.find("    role: prefill\n"), 18, "    role: prefill\n    devices: [[b/gpu0, b/gpu1]]\n");
  yaml.replace(yaml.find("    role: decode\n"), 17, "    role: decode\n    devices: [[a/gpu1, a/gpu0]]\n");
  H5File f(run(yaml, "explicit"));
  auto text = testing::read_string_column(f.id, "/links/paths", "route");
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0], "b/gpu0->b/nic0->s->a/nic0->a/gpu1 (2 flows)");
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

class ShippedScenario : public Disagg {
 protected:
  std::string run_file(const std::string& scenario, const std::string& name, const std::string& sets) {
    std::string out = dir_.file(name + ".h5");
    auto r = testing::run_servesim(std::string("run ") + SERVESIM_SOURCE_DIR + "/scenarios/" + scenario + " -q -o " +
                                   out + " " + sets);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return out;
  }
};

// Each network's transfers against its bandwidth: four flows (one per TP rank) over four
// separate GPU links or NICs, so an uncontended transfer takes latency + bytes / (4 x link).
TEST_F(ShippedScenario, TransferCostFollowsEachNetworksBandwidth) {
  std::string eth;
  for (int n : {0, 1})
    eth += fmt::format(" --set topology.nodes.{0}.uplink_gbit_per_s=100 --set topology.nodes.{0}.uplink_kind=ethernet "
                       "--set topology.nodes.{0}.uplink_latency=10us",
                       n);
  struct Net {
    std::string name, sets;
    double link_bytes_per_s, latency_s;
  } nets[] = {
      {"nvlink", "--set topology.placement=pack", 450e9, 2e-6},  // gpu -> nvswitch -> gpu
      {"ib400", "", 50e9, 1e-6 + 2e-6 + 2e-6 + 1e-6},            // pcie, IB, IB, pcie (PCIe 64 GB/s is faster)
      {"eth100", eth, 12.5e9, 1e-6 + 10e-6 + 10e-6 + 1e-6},
  };
  double last_median = 0;
  for (const auto& net : nets) {
    SCOPED_TRACE(net.name);
    H5File f(run_file("transfer_cost.yaml", net.name, "--set workload.synthetic.duration=60s " + net.sets));
    auto bytes = read_double_column(f.id, "/transfers", "bytes");
    auto duration = read_double_column(f.id, "/transfers", "duration_s");
    ASSERT_GT(bytes.size(), 30u);
    std::vector<double> ratio;
    for (size_t i = 0; i < bytes.size(); ++i) {
      const double ideal = net.latency_s + bytes[i] / (4 * net.link_bytes_per_s);
      EXPECT_GE(duration[i], ideal - 1e-9);  // never faster than the links allow
      ratio.push_back(duration[i] / ideal);
    }
    std::sort(ratio.begin(), ratio.end());
    EXPECT_NEAR(ratio[ratio.size() / 2], 1.0, 1e-3);  // most transfers meet no contention at 1 req/s
    std::sort(duration.begin(), duration.end());
    EXPECT_GT(duration[duration.size() / 2], last_median);
    last_median = duration[duration.size() / 2];
  }
}

// Same GPU budget in every split; every request served once in each.
TEST_F(ShippedScenario, DisaggVsAggKeepsTheGpuBudget) {
  const char* variants[] = {"--set pools.0.replicas=6 --set pools.1.replicas=0 --set pools.2.replicas=0", "",
                            "--set pools.0.replicas=0 --set pools.1.replicas=4 --set pools.2.replicas=2",
                            "--set pools.0.replicas=0 --set pools.1.replicas=2 --set pools.2.replicas=4"};
  int k = 0;
  for (const char* v : variants) {
    SCOPED_TRACE(v);
    H5File f(run_file("disagg_vs_agg.yaml", fmt::format("v{}", k++), std::string("--set workload.end=300s ") + v));
    auto summary = [&](const char* m) { return read_double_column(f.id, "/summary", m).at(0); };
    EXPECT_EQ(summary("gpus"), 24);
    EXPECT_EQ(summary("requests_completed"), summary("requests_arrived"));
    const bool aggregated = k == 1;
    EXPECT_EQ(summary("requests_remote_prefill") == 0, aggregated);
  }
}

}  // namespace
}  // namespace servesim
