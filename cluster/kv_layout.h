#pragma once
// How one token's KV cache moves between two tensor-parallel layouts. Each rank of a TP group
// holds a slice of the KV heads (a whole head, replicated, when there are fewer heads than
// ranks); MLA models keep one compressed latent per layer that every rank holds in full. A
// receiving rank needs its slice and takes each part of it from one sending rank that holds it,
// the ranks chosen round-robin so that replicated heads spread over the senders.
#include <vector>

#include "models/catalog.h"

namespace servesim {

struct KvShard {
  int sender_rank = 0;
  int receiver_rank = 0;
  double bytes_per_token = 0;
};

// Every (sender rank, receiver rank) pair that moves KV, with its bytes per token.
std::vector<KvShard> kv_shards(const ModelSpec& model, int tp_send, int tp_recv);

}  // namespace servesim
