#pragma once
// SystemC side of a TraceSource: releases each request at its arrival time.
#include <systemc>

#include <memory>

#include "core/rng.h"
#include "core/sim.h"
#include "traces/trace_source.h"

namespace servesim {

class TracePlayer : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(TracePlayer);
  // Open loop: each request at its arrival time. Closed loop (concurrency > 0): `concurrency`
  // requests over [0, ramp_ns) (evenly, or uniformly at random from `random_ramp_seed`), then
  // one more `think_ns` after each that ends (ended()). With a desync span, the successors of
  // the first `concurrency` requests to end wait a further uniform random delay in [0, span).
  struct Desync {
    TimeNs ns = 0;
    std::uint64_t seed = 0;
  };
  TracePlayer(sc_core::sc_module_name name, std::unique_ptr<TraceSource> source,
              TimedChannel<TraceRequest>& out, int concurrency = 0, TimeNs think_ns = 0, TimeNs ramp_ns = 0,
              std::optional<std::uint64_t> random_ramp_seed = std::nullopt, Desync desync = Desync{0, 0});
  // Closed loop: a request ended (completed or failed).
  TimedChannel<int>& ended() { return ended_; }
  bool exhausted() const { return exhausted_; }
  // Requests sent so far. One sent is in transit (a closed loop's think time or desync delay, or
  // the delta before delivery) until the frontend counts it as arrived, so the run is not over.
  std::uint64_t sent() const { return sent_; }
  const TraceSource& source() const { return *source_; }

 private:
  void release();
  void on_ended();
  void emit(TimeNs delay);
  std::unique_ptr<TraceSource> source_;
  int concurrency_;
  TimeNs think_ns_, ramp_ns_;
  std::optional<std::uint64_t> random_ramp_seed_;
  TimeNs desync_ns_;
  Rng desync_rng_;
  int first_wave_ended_ = 0;
  TimedChannel<int> ended_{"ended"};
  TimedChannel<TraceRequest>& out_;
  std::optional<TraceRequest> pending_;
  bool exhausted_ = false;
  std::uint64_t sent_ = 0;
};

}  // namespace servesim
