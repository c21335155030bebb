#pragma once
// A change of what a worker's KV cache holds, as vLLM reports it (KV events): the router's
// indexer and the live ZeroMQ publisher read them.
#include <cstdint>

namespace servesim {

struct KvEvent {
  enum class Kind : std::uint8_t { kStored, kRemoved, kCleared };
  // Where the block is (vLLM's `medium`): GPU memory or a worker's host memory (KV offloading).
  // kCleared clears every tier of the worker.
  enum class Medium : std::uint8_t { kGpu, kCpu };
  Kind kind;
  Medium medium = Medium::kGpu;
  std::int16_t lora = -1;  // kStored: the LoRA adapter whose KV it holds (Request::lora; -1 = base model)
  // the attention-DP rank whose cache changed, where the router tells ranks apart (engine.dp_balance
  // router; vLLM's data_parallel_rank); -1: the worker as a whole
  std::int16_t dp_rank = -1;
  std::uint64_t key;  // the block's chain key (0 for kCleared)
  std::uint64_t parent = 0;  // kStored: the chain key of the block before it (0 for a prompt's first)
};

}  // namespace servesim
