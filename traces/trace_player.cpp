#include "traces/trace_player.h"

namespace servesim {

TracePlayer::TracePlayer(sc_core::sc_module_name name, std::unique_ptr<TraceSource> source,
                         TimedChannel<TraceRequest>& out)
    : sc_core::sc_module(name), source_(std::move(source)), out_(out) {
  SC_METHOD(release);
}

void TracePlayer::release() {
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
