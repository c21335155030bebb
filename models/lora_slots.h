#pragma once
// A worker's LoRA adapter slots in GPU memory, as vLLM manages them: at most max_loras adapters
// resident, and a batch mixes at most max_loras distinct adapters. A sequence whose adapter is
// not running may start only while fewer than max_loras adapters run (vLLM's scheduler skips it
// otherwise and looks further down the queue); starting it loads the adapter if it is not
// resident, in place of the least recently used resident adapter that nothing runs.
// Plain class: no SystemC. Adapters are the cluster's indices (Request::lora), -1 = none.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/error.h"

namespace servesim {

// LoRA on one worker: which of the cluster's adapters its pool serves and what each costs (empty
// vectors: none). An iteration that loads an adapter waits for its copy from host memory (vLLM
// loads before the forward pass); every iteration reads each running adapter's weights once.
struct LoraCosts {
  int max_loras = 0;
  std::vector<std::int64_t> load_ns;  // per cluster adapter (Request::lora); -1 = not served here
  std::vector<std::int64_t> read_ns;
  bool enabled() const { return !load_ns.empty(); }
};

class LoraSlots {
 public:
  LoraSlots(int max_loras, size_t adapters) : max_loras_(max_loras), running_(adapters, 0) {}

  // Whether a sequence with adapter `a` may join the running batch now.
  bool admits(std::int32_t a) const {
    return a < 0 || running_[static_cast<size_t>(a)] > 0 || distinct_running_ < max_loras_;
  }
  // A sequence with adapter `a` starts running; true when the adapter had to be loaded.
  bool start(std::int32_t a) {
    if (a < 0) return false;
    if (!admits(a)) throw InvariantError("LoRA: an adapter started beyond max_loras");
    if (running_[static_cast<size_t>(a)]++ == 0) ++distinct_running_;
    auto it = std::find_if(resident_.begin(), resident_.end(), [&](const Slot& s) { return s.adapter == a; });
    const bool load = it == resident_.end();
    if (load) {
      if (resident_.size() < static_cast<size_t>(max_loras_)) {
        it = resident_.insert(resident_.end(), Slot{a, 0});
      } else {
        // the least recently used adapter nothing runs: one exists, as fewer than max_loras ran
        it = resident_.end();
        for (auto s = resident_.begin(); s != resident_.end(); ++s)
          if (running_[static_cast<size_t>(s->adapter)] == 0 && (it == resident_.end() || s->used < it->used)) it = s;
        if (it == resident_.end()) throw InvariantError("LoRA: no adapter slot to load into");
        it->adapter = a;
      }
      ++loads_;
    }
    it->used = ++clock_;
    return load;
  }
  // A sequence with adapter `a` stops running (finished, preempted or aborted).
  void stop(std::int32_t a) {
    if (a < 0) return;
    if (running_[static_cast<size_t>(a)] <= 0) throw InvariantError("LoRA: an adapter stopped more often than it started");
    if (--running_[static_cast<size_t>(a)] == 0) --distinct_running_;
    for (Slot& s : resident_)
      if (s.adapter == a) s.used = ++clock_;
  }
  bool resident(std::int32_t a) const {
    return std::any_of(resident_.begin(), resident_.end(), [&](const Slot& s) { return s.adapter == a; });
  }
  bool running(std::int32_t a) const { return a >= 0 && running_[static_cast<size_t>(a)] > 0; }
  int distinct_running() const { return distinct_running_; }
  std::uint64_t loads() const { return loads_; }

 private:
  struct Slot {
    std::int32_t adapter;
    std::uint64_t used;  // when it last started or stopped a sequence
  };
  int max_loras_;
  std::vector<std::int32_t> running_;  // sequences running per adapter
  int distinct_running_ = 0;
  std::vector<Slot> resident_;  // at most max_loras
  std::uint64_t clock_ = 0, loads_ = 0;
};

}  // namespace servesim
