// round_robin, random and least_loaded: the routing baselines.
#include "core/rng.h"
#include "router/router_policy.h"

namespace servesim {
namespace {

class RoundRobin final : public RouterPolicy {
 public:
  size_t choose(const Request&, std::int64_t, std::span<const WorkerView> workers) override {
    return next_++ % workers.size();
  }

 private:
  std::uint64_t next_ = 0;
};

class RandomPolicy final : public RouterPolicy {
 public:
  explicit RandomPolicy(std::uint64_t seed) : rng_(make_rng(seed, "router.random")) {}
  size_t choose(const Request&, std::int64_t, std::span<const WorkerView> workers) override {
    return static_cast<size_t>(rng_() % workers.size());
  }

 private:
  Rng rng_;
};

// Fewest active sequences; ties by fewest active blocks, then at random (seeded).
class LeastLoaded final : public RouterPolicy {
 public:
  explicit LeastLoaded(std::uint64_t seed) : rng_(make_rng(seed, "router.least_loaded")) {}
  size_t choose(const Request&, std::int64_t, std::span<const WorkerView> workers) override {
    size_t best = 0, ties = 1;
    for (size_t i = 1; i < workers.size(); ++i) {
      const auto &w = workers[i], &b = workers[best];
      if (w.active_seqs < b.active_seqs ||
          (w.active_seqs == b.active_seqs && w.active_blocks < b.active_blocks)) {
        best = i;
        ties = 1;
      } else if (w.active_seqs == b.active_seqs && w.active_blocks == b.active_blocks) {
        // reservoir choice among equals: uniform over the tied workers
        if (rng_() % ++ties == 0) best = i;
      }
    }
    return best;
  }

 private:
  Rng rng_;
};

}  // namespace

SERVESIM_REGISTER(RouterRegistry, "round_robin", "each request to the next worker in turn",
                  [](const RouterContext&) { return std::make_unique<RoundRobin>(); })
SERVESIM_REGISTER(RouterRegistry, "random", "a uniformly random worker (seeded)",
                  [](const RouterContext& c) { return std::make_unique<RandomPolicy>(c.seed); })
SERVESIM_REGISTER(RouterRegistry, "least_loaded",
                  "fewest active sequences, then fewest active KV blocks, ties at random",
                  [](const RouterContext& c) { return std::make_unique<LeastLoaded>(c.seed); })

}  // namespace servesim
