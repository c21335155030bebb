// libFuzzer target: the Azure LLM-inference CSV trace reader.
#include "fuzz/fuzz_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return servesim::fuzz::read_trace("azure_csv", data, size);
}
