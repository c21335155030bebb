// libFuzzer target: the Mooncake JSONL trace reader.
#include "fuzz/fuzz_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return servesim::fuzz::read_trace("mooncake_jsonl", data, size);
}
