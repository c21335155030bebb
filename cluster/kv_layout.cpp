#include "cluster/kv_layout.h"

#include <algorithm>
#include <cmath>

namespace servesim {

namespace {
struct Span {
  double lo, hi;  // in KV-head units
};

// The heads rank `r` of `tp` holds: an even slice, or one whole (replicated) head.
Span held(int r, int tp, int heads) {
  if (heads >= tp) return {static_cast<double>(r) * heads / tp, static_cast<double>(r + 1) * heads / tp};
  const double h = std::floor(static_cast<double>(r) * heads / tp);
  return {h, h + 1};
}
}  // namespace

std::vector<KvShard> kv_shards(const ModelSpec& m, int tp_send, int tp_recv) {
  const bool mla = m.kv_lora_rank > 0;
  const int heads = mla ? 1 : m.kv_heads;
  const double bytes_per_head = m.kv_bytes_per_token() / heads;  // per token, all layers
  std::vector<KvShard> out;
  for (int j = 0; j < tp_recv; ++j) {
    std::vector<Span> missing{held(j, tp_recv, heads)};
    for (int k = 0; k < tp_send && !missing.empty(); ++k) {
      const int i = (j + k) % tp_send;
      const Span have = held(i, tp_send, heads);
      double got = 0;
      std::vector<Span> still;
      for (const Span& s : missing) {
        const double lo = std::max(s.lo, have.lo), hi = std::min(s.hi, have.hi);
        if (hi <= lo) {
          still.push_back(s);
          continue;
        }
        got += hi - lo;
        if (s.lo < lo) still.push_back({s.lo, lo});
        if (hi < s.hi) still.push_back({hi, s.hi});
      }
      missing = std::move(still);
      if (got > 0) out.push_back({i, j, got * bytes_per_head});
    }
  }
  return out;
}

}  // namespace servesim
