#pragma once
// `servesim calibrate`: fits the roofline timing model's efficiency factors and fixed latencies
// to measured data, writes them as a catalog entry, and prints the fit error per operator class.
//   --system NAME    per-kernel tables of a system of the performance database (--backend,
//   --tables DIR     --backend-version, --database), or a folder of them given as is (aiconfigurator
//                    layout): GEMMs fit the compute and memory
//                    efficiencies and the per-kernel latency, context attention the attention
//                    efficiency, the all-reduce table its latency and bandwidth. Also reports the
//                    kernel timing model's own held-out (leave-one-out) interpolation error.
//   --splitwise CSV  splitwise-sim's end-to-end prefill and decode times: fits the efficiencies
//                    and the per-iteration overhead on some TP degrees, tests on the rest.
#include <string>
#include <vector>

namespace servesim {

struct CalibrateOptions {
  std::string tables, system, database, backend = "vllm", backend_version;
  std::string splitwise, splitwise_model = "llama2-70b", splitwise_hardware = "h100-80gb";
  std::vector<int> test_tp{4};  // splitwise: TP degrees held out of the fit
  std::string model = "llama-2-70b", gpu = "h100_sxm", precision = "bf16";
  std::string name;    // catalog entry name
  std::string output;  // YAML file (default models/catalog/efficiency/<name>.yaml)
  double overhead_ms = 0;  // --tables: per-iteration overhead to record (kernel tables carry none)
};

// Returns the process exit code. Throws InputError / ConfigError on bad input.
int run_calibrate(const CalibrateOptions& options);

}  // namespace servesim
