#include "traces/trace_player.h"

#include "core/rng.h"

namespace servesim {

TracePlayer::TracePlayer(sc_core::sc_module_name name, std::unique_ptr<TraceSource> source,
                         TimedChannel<TraceRequest>& out, int concurrency, TimeNs think_ns, TimeNs ramp_ns,
                         std::optional<std::uint64_t> random_ramp_seed, Desync desync)
    : sc_core::sc_module(name),
      source_(std::move(source)),
      concurrency_(concurrency),
      think_ns_(think_ns),
      ramp_ns_(ramp_ns),
      random_ramp_seed_(random_ramp_seed),
      desync_ns_(desync.ns),
      desync_rng_(make_rng(desync.seed, "workload.closed_loop.desync")),
      out_(out) {
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
    ++sent_;
    pending_ = source_->next();
  }
  exhausted_ = !pending_;
}

void TracePlayer::on_ended() {
  ended_.drain([&](int) {
    if (exhausted_) return;
    TimeNs delay = think_ns_;
    if (desync_ns_ > 0 && first_wave_ended_ < concurrency_) {  // the burst's successors: random phases
      ++first_wave_ended_;
      delay += static_cast<TimeNs>(uniform01(desync_rng_) * static_cast<double>(desync_ns_));
    }
    emit(delay);
  });
}

void TracePlayer::release() {
  if (concurrency_ > 0) {  // closed loop: the first `concurrency` requests over the ramp; the rest as others end
    Rng rng = make_rng(random_ramp_seed_.value_or(0), "workload.closed_loop.ramp");
    for (int k = 0; k < concurrency_ && !exhausted_; ++k)
      emit(random_ramp_seed_ ? static_cast<TimeNs>(uniform01(rng) * static_cast<double>(ramp_ns_))
                             : ramp_ns_ * k / concurrency_);
    return;
  }
  const TimeNs now = now_ns();
  if (!pending_) pending_ = source_->next();
  // everything due now goes out in this activation, in trace order
  while (pending_ && s_to_ns(pending_->arrival_s) <= now) {
    out_.send(std::move(*pending_), 0, 0);
    ++sent_;
    pending_ = source_->next();
  }
  if (!pending_) {
    exhausted_ = true;
    return;  // no trigger: the process sleeps for good
  }
  next_trigger(ns_time(s_to_ns(pending_->arrival_s) - now));
}

}  // namespace servesim
