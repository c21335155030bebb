#pragma once
// SystemC side of a TraceSource: releases each request at its arrival time.
#include <systemc>

#include <memory>

#include "core/sim.h"
#include "traces/trace_source.h"

namespace servesim {

class TracePlayer : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(TracePlayer);
  TracePlayer(sc_core::sc_module_name name, std::unique_ptr<TraceSource> source,
              TimedChannel<TraceRequest>& out);
  bool exhausted() const { return exhausted_; }
  const TraceSource& source() const { return *source_; }

 private:
  void release();
  std::unique_ptr<TraceSource> source_;
  TimedChannel<TraceRequest>& out_;
  std::optional<TraceRequest> pending_;
  bool exhausted_ = false;
};

}  // namespace servesim
