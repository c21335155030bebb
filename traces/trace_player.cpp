#include "traces/trace_player.h"

namespace servesim {

TracePlayer::TracePlayer(sc_core::sc_module_name name, std::unique_ptr<TraceSource> source,
                         TimedChannel<TraceRequest>& out, int concurrency, TimeNs think_ns)
    : sc_core::sc_module(name), source_(std::move(source)), concurrency_(concurrency), think_ns_(think_ns), out_(out) {
  SC_METHOD(release);
  SC_METHOD(on_ended);
  sensitive << ended_.event();
  dont_initialize();
}

// Sends the next request after `delay`; the one after it is read ahead, so the player is known
// to be exhausted as soon as its last request leaves.
void TracePlayer::emit(TimeNs delay) {
  if (!pending_) pending_ = source_->next();
  if (pending_) {
    out_.send(std::move(*pending_), delay, 0);
    pending_ = source_->next();
  }
  exhausted_ = !pending_;
}

void TracePlayer::on_ended() {
  ended_.drain([&](int) {
    if (!exhausted_) emit(think_ns_);
  });
}

void TracePlayer::release() {
  if (concurrency_ > 0) {  // closed loop: the first `concurrency` requests now; the rest as others end
    for (int k = 0; k < concurrency_ && !exhausted_; ++k) emit(0);
    return;
  }
  const TimeNs now = now_ns();
  if (!pending_) pending_ = source_->next();
  // everything due now goes out in this activation, in trace order
  while (pending_ && s_to_ns(pending_->arrival_s) <= now) {
    out_.send(std::move(*pending_), 0, 0);
    pending_ = source_->next();
  }
  if (!pending_) {
    exhausted_ = true;
    return;  // no trigger: the process sleeps for good
  }
  next_trigger(ns_time(s_to_ns(pending_->arrival_s) - now));
}

}  // namespace servesim
