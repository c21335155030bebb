// "kv_aware" (as Dynamo's KV router): for each worker,
//   cost = overlap_score_weight x (request blocks - overlap - host_overlap_weight x host overlap
//                                  - storage_overlap_weight x shared-tier overlap)
//          + active blocks on the worker,
// the blocks it would have to prefill (a block in the worker's host memory, after its GPU hit,
// counting as a fraction of one: it is loaded, not computed) plus the load it carries. The
// cheapest wins, ties at random (seeded); with router_temperature > 0, a worker is sampled from
// a softmax over the negated costs normalised by the largest cost.
#include <cmath>

#include "core/rng.h"
#include "router/router_policy.h"

namespace servesim {
namespace {

class KvAware final : public RouterPolicy {
 public:
  KvAware(const RouterConfig& cfg, std::uint64_t seed)
      : weight_(cfg.overlap_score_weight),
        host_weight_(cfg.host_overlap_weight),
        storage_weight_(cfg.storage_overlap_weight),
        temperature_(cfg.router_temperature),
        rng_(make_rng(seed, "router.kv_aware")) {}

  bool uses_overlap() const override { return true; }

  size_t choose(const Request&, std::int64_t request_blocks, std::span<const WorkerView> workers) override {
    costs_.resize(workers.size());
    double max_cost = 0;
    for (size_t i = 0; i < workers.size(); ++i) {
      double to_prefill = static_cast<double>(request_blocks - workers[i].overlap_blocks);
      if (workers[i].host_overlap_blocks > 0)
        to_prefill -= host_weight_ * static_cast<double>(workers[i].host_overlap_blocks);
      if (workers[i].storage_overlap_blocks > 0)
        to_prefill -= storage_weight_ * static_cast<double>(workers[i].storage_overlap_blocks);
      costs_[i] = weight_ * to_prefill + static_cast<double>(workers[i].active_blocks);
      max_cost = std::max(max_cost, costs_[i]);
    }
    if (temperature_ > 0) {
      // softmax over -cost / max_cost / T, sampled with the run's seed
      double sum = 0;
      double lo = *std::min_element(costs_.begin(), costs_.end());
      const double scale = max_cost > 0 ? max_cost : 1.0;
      for (auto& c : costs_) sum += (c = std::exp(-(c - lo) / scale / temperature_));
      double u = uniform01(rng_) * sum;
      for (size_t i = 0; i < costs_.size(); ++i)
        if ((u -= costs_[i]) <= 0) return i;
      return costs_.size() - 1;
    }
    size_t best = 0, ties = 1;
    for (size_t i = 1; i < costs_.size(); ++i) {
      if (costs_[i] < costs_[best]) {
        best = i;
        ties = 1;
      } else if (costs_[i] == costs_[best] && rng_() % ++ties == 0) {
        best = i;
      }
    }
    return best;
  }

 private:
  double weight_, host_weight_, storage_weight_, temperature_;
  Rng rng_;
  std::vector<double> costs_;
};

}  // namespace

SERVESIM_REGISTER(RouterRegistry, "kv_aware",
                  "cost = overlap_score_weight x blocks to prefill + active blocks; cheapest (ties random) or "
                  "softmax with router_temperature",
                  [](const RouterContext& c) { return std::make_unique<KvAware>(c.config, c.seed); })

}  // namespace servesim
