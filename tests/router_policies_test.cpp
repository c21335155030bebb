#include <gtest/gtest.h>

#include <map>

#include "router/router_policy.h"

namespace servesim {
namespace {

std::unique_ptr<RouterPolicy> make(const std::string& name, std::uint64_t seed = 1) {
  RouterConfig cfg;
  cfg.policy = name;
  return RouterRegistry::instance().create(name, RouterContext{cfg, seed});
}

std::vector<WorkerView> views(std::vector<std::pair<int, int>> seqs_tokens) {
  std::vector<WorkerView> out;
  for (size_t i = 0; i < seqs_tokens.size(); ++i)
    out.push_back({static_cast<std::int32_t>(i), seqs_tokens[i].first, 0, seqs_tokens[i].second, 0});
  return out;
}

TEST(RoundRobin, CyclesThroughWorkers) {
  auto p = make("round_robin");
  Request r;
  auto w = views({{0, 0}, {0, 0}, {0, 0}});
  for (int i = 0; i < 9; ++i) EXPECT_EQ(p->choose(r, 1, w), static_cast<size_t>(i % 3));
}

TEST(LeastLoaded, PicksFewestSequencesThenBlocksThenRandomly) {
  auto p = make("least_loaded");
  Request r;
  EXPECT_EQ(p->choose(r, 1, views({{3, 0}, {1, 900}, {2, 0}})), 1u);
  EXPECT_EQ(p->choose(r, 1, views({{1, 500}, {1, 100}, {1, 300}})), 1u);
  std::map<size_t, int> counts;
  auto tied = views({{2, 10}, {2, 10}, {2, 10}, {5, 0}});
  for (int i = 0; i < 3000; ++i) ++counts[p->choose(r, 1, tied)];
  EXPECT_EQ(counts.count(3), 0u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(counts[i], 1000, 120);  // uniform among the tied
}

TEST(RandomPolicy, UniformAndSeeded) {
  auto a = make("random", 3), b = make("random", 3);
  Request r;
  auto w = views({{0, 0}, {0, 0}, {0, 0}, {0, 0}});
  std::map<size_t, int> counts;
  for (int i = 0; i < 4000; ++i) {
    size_t x = a->choose(r, 1, w);
    EXPECT_EQ(x, b->choose(r, 1, w));
    ++counts[x];
  }
  for (auto& [k, c] : counts) EXPECT_NEAR(c, 1000, 150);
}

}  // namespace
}  // namespace servesim
