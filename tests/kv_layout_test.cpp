// KV bytes per token and how they split between tensor-parallel layouts.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "cluster/kv_layout.h"

namespace servesim {
namespace {

double total(const std::vector<KvShard>& s) {
  return std::accumulate(s.begin(), s.end(), 0.0, [](double a, const KvShard& k) { return a + k.bytes_per_token; });
}
std::map<int, double> per_receiver(const std::vector<KvShard>& s) {
  std::map<int, double> out;
  for (const auto& k : s) out[k.receiver_rank] += k.bytes_per_token;
  return out;
}

TEST(KvLayout, BytesPerTokenFromTheModelSpec) {
  const Catalog& c = Catalog::builtin();
  // layers x KV heads x head dim x 2 (K, V) x 2 bytes (bf16)
  EXPECT_DOUBLE_EQ(c.model("llama-3.1-8b").kv_bytes_per_token(), 32.0 * 8 * 128 * 2 * 2);
  EXPECT_DOUBLE_EQ(c.model("llama-3.1-70b").kv_bytes_per_token(), 80.0 * 8 * 128 * 2 * 2);
}

TEST(KvLayout, EqualLayoutsSendRankToRank) {
  const ModelSpec& m = Catalog::builtin().model("llama-3.1-70b");
  auto s = kv_shards(m, 4, 4);
  ASSERT_EQ(s.size(), 4u);
  for (const auto& k : s) {
    EXPECT_EQ(k.sender_rank, k.receiver_rank);
    EXPECT_DOUBLE_EQ(k.bytes_per_token, m.kv_bytes_per_token() / 4);
  }
}

TEST(KvLayout, DifferentLayoutsGatherOrSplitTheHeads) {
  const ModelSpec& m = Catalog::builtin().model("llama-3.1-70b");  // 8 KV heads
  // TP 2 -> TP 8: each receiver needs one head, held by sender r / 4
  auto up = kv_shards(m, 2, 8);
  ASSERT_EQ(up.size(), 8u);
  for (const auto& k : up) {
    EXPECT_EQ(k.sender_rank, k.receiver_rank / 4);
    EXPECT_DOUBLE_EQ(k.bytes_per_token, m.kv_bytes_per_token() / 8);
  }
  // TP 8 -> TP 2: each receiver gathers four heads from four senders
  auto down = kv_shards(m, 8, 2);
  EXPECT_EQ(down.size(), 8u);
  EXPECT_DOUBLE_EQ(total(down), m.kv_bytes_per_token());
  for (auto [r, b] : per_receiver(down)) EXPECT_DOUBLE_EQ(b, m.kv_bytes_per_token() / 2);
}

TEST(KvLayout, FewerHeadsThanRanksAreReplicatedAndSentToEachRank) {
  const ModelSpec& m = Catalog::builtin().model("llama-3.1-70b");  // 8 KV heads on 16 ranks: 2 copies each
  auto s = kv_shards(m, 16, 16);
  EXPECT_EQ(s.size(), 16u);
  EXPECT_DOUBLE_EQ(total(s), 2 * m.kv_bytes_per_token());
  // TP 2 -> TP 16: receivers 2h and 2h+1 both need head h, held by sender h / 4
  auto up = kv_shards(m, 2, 16);
  for (const auto& k : up) EXPECT_EQ(k.sender_rank, (k.receiver_rank / 2) / 4);
}

TEST(KvLayout, MlaLatentIsWholeOnEveryRank) {
  const Catalog& c = Catalog::builtin();
  for (const auto& [name, m] : c.models()) {
    if (m.kv_lora_rank == 0) continue;
    EXPECT_DOUBLE_EQ(m.attention_kv_bytes_per_token(),
                     static_cast<double>(m.layers) * (m.kv_lora_rank + m.qk_rope_head_dim) * m.kv_dtype_bytes)
        << name;
    auto s = kv_shards(m, 8, 4);
    ASSERT_EQ(s.size(), 4u) << name;
    for (const auto& k : s) {
      EXPECT_EQ(k.sender_rank, k.receiver_rank);  // spread over the senders, each rank has it all
      EXPECT_DOUBLE_EQ(k.bytes_per_token, m.kv_bytes_per_token());
    }
    return;
  }
  FAIL() << "the catalog has no MLA model";
}

}  // namespace
}  // namespace servesim
