#pragma once
// KV-cache events in vLLM's wire format (vllm/distributed/kv_events.py): a ZeroMQ PUB socket
// sends one 3-frame message per batch, [topic, sequence number (8-byte big-endian), msgpack
// payload]; the payload is [timestamp, [event, ...]] with array-like events
// ["BlockStored", hashes, parent, token_ids, block_size, lora_id, medium, lora_name],
// ["BlockRemoved", hashes, medium], ["AllBlocksCleared"], or (format "map") the same as maps
// tagged by "type". The topic is the worker's name. An attention-DP worker whose ranks the router
// picks (engine.dp_balance router) sends a batch per rank, [timestamp, [event, ...], rank] (vLLM's
// data_parallel_rank), on the same socket (vLLM's ranks each bind the port plus their rank). An
// optional ROUTER replay socket answers [empty, start_seq] with every buffered (seq, payload)
// from start_seq, then seq -1.
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/worker.h"

namespace servesim::live {

struct KvPublisherOptions {
  std::string endpoint;         // e.g. tcp://127.0.0.1:5557 ("" = no events)
  std::string replay_endpoint;  // "" = no replay socket
  bool map_format = false;      // newer vLLM's map-tagged events instead of arrays
  std::size_t replay_buffer = 10000;
};

// Collects every worker's events inside the kernel (a KvEventSink); flush() encodes and sends
// them between kernel slices, on the simulation thread that owns the sockets.
class KvPublisher : public KvEventSink {
 public:
  KvPublisher(KvPublisherOptions options, std::vector<std::string> worker_names, std::vector<std::int32_t> block_sizes);
  ~KvPublisher() override;
  void publish(std::int32_t worker, std::vector<KvEvent>&& events) override;
  // A live prompt's tokens, so BlockStored can carry the token ids of the blocks it fills.
  // `lora`: the adapter the prompt runs on (Request::lora; -1 = base model): its blocks' keys differ.
  void remember_tokens(const std::vector<std::uint32_t>& tokens, const std::vector<std::uint64_t>& hash_ids,
                       std::uint32_t hash_block_tokens, std::int32_t lora = -1);
  // The served LoRA adapters' names (BlockStored carries lora_id = index + 1 and lora_name).
  void set_lora_names(std::vector<std::string> names) { lora_names_ = std::move(names); }
  void flush(double wall_epoch_s);
  void serve_replay();  // answers replay requests waiting on the replay socket (non-blocking)
  std::uint64_t batches_sent() const { return seq_; }

 private:
  std::string encode(double ts, std::int32_t worker, std::span<const KvEvent> events);  // events of one rank
  struct Impl;
  std::unique_ptr<Impl> impl_;
  KvPublisherOptions options_;
  std::vector<std::string> names_;
  std::vector<std::int32_t> block_sizes_;  // per worker
  std::vector<std::string> lora_names_;
  std::vector<std::pair<std::int32_t, std::vector<KvEvent>>> pending_;
  struct Tokens {
    std::vector<std::uint32_t> ids;
    std::int32_t holders = 0;  // workers whose cache holds the block
  };
  std::unordered_map<std::uint64_t, Tokens> tokens_;  // engine block key -> its tokens
  std::deque<std::pair<std::uint64_t, std::string>> replay_;  // (seq, payload)
  std::uint64_t seq_ = 0;
};

}  // namespace servesim::live
