#pragma once
// SystemC glue: time conversion at 1 ns resolution and a deterministic timed channel.
#include <systemc>

#include <algorithm>
#include <cstdint>
#include <queue>
#include <vector>

#include "core/units.h"

namespace servesim {

// The kernel runs at 1 ns resolution (set once in configure_kernel()).
void configure_kernel();
inline TimeNs now_ns() { return static_cast<TimeNs>(sc_core::sc_time_stamp().value()); }
inline sc_core::sc_time ns_time(TimeNs t) {
  return sc_core::sc_time::from_value(static_cast<sc_dt::uint64>(t));
}

// A point-to-point (or many-to-one) message channel with a per-message latency.
// Messages due at the same time are delivered in (sender id, send order) order, and the
// receiver is woken in the update phase, so what it sees in one activation never depends
// on the order SystemC runs processes within a delta cycle.
template <class T>
class TimedChannel : public sc_core::sc_prim_channel {
 public:
  explicit TimedChannel(const char* name) : sc_core::sc_prim_channel(name) {}

  void send(T msg, TimeNs delay, std::uint32_t sender) {
    queue_.push(Item{now_ns() + delay, sender, seq_++, std::move(msg)});
    request_update();
  }

  // The event a receiving process is sensitive to.
  const sc_core::sc_event& event() const { return event_; }

  // Calls f(msg) for every message due now, in deterministic order; re-arms for the next.
  template <class F>
  void drain(F&& f) {
    const TimeNs now = now_ns();
    while (!queue_.empty() && queue_.top().due <= now) {
      Item item = std::move(const_cast<Item&>(queue_.top()));
      queue_.pop();
      f(std::move(item.msg));
    }
    arm();
  }

  // Calls f(msg) for every message not yet delivered, in the order drain() will deliver them.
  template <class F>
  void for_each_queued(F&& f) const {
    std::vector<const Item*> items;
    items.reserve(queue_.size());
    for (const Item& item : queue_.items()) items.push_back(&item);
    std::sort(items.begin(), items.end(), [](const Item* a, const Item* b) { return *b > *a; });
    for (const Item* item : items) f(item->msg);
  }

  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }

 private:
  struct Item {
    TimeNs due;
    std::uint32_t sender;
    std::uint64_t seq;
    T msg;
    bool operator>(const Item& o) const {
      if (due != o.due) return due > o.due;
      if (sender != o.sender) return sender > o.sender;
      return seq > o.seq;
    }
  };

  void update() override { arm(); }

  void arm() {
    if (queue_.empty()) return;
    const TimeNs due = queue_.top().due, now = now_ns();
    // sc_event keeps only the earliest pending notification, which is what we want
    if (due <= now) event_.notify(sc_core::SC_ZERO_TIME);
    else event_.notify(ns_time(due - now));
  }

  struct Queue : std::priority_queue<Item, std::vector<Item>, std::greater<Item>> {
    const std::vector<Item>& items() const { return this->c; }  // in heap order
  };
  Queue queue_;
  std::uint64_t seq_ = 0;
  sc_core::sc_event event_;
};

}  // namespace servesim
