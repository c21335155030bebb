#pragma once
// SystemC side of a TraceSource: releases each request at its arrival time, or, for rows that
// wait for others (sessions, agent graphs), when everything they wait for has ended.
#include <systemc>

#include <algorithm>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

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
  // Session concurrency (sessions > 0): rows that start a session (wait for nothing) start in
  // trace order whenever fewer than `sessions` sessions are live, ignoring their timestamps.
  struct Options {
    int concurrency = 0;
    TimeNs think_ns = 0, ramp_ns = 0;
    std::optional<std::uint64_t> random_ramp_seed;
    TimeNs desync_ns = 0;
    std::uint64_t desync_seed = 0;
    int sessions = 0;
    TimeNs graph_horizon_ns = -1;  // an ended row is forgotten this long after it ended (-1 = never)
  };
  TracePlayer(sc_core::sc_module_name name, std::unique_ptr<TraceSource> source,
              TimedChannel<TraceRequest>& out, Options options);
  // A request ended (completed or failed): its trace id (0 for rows nothing can wait for).
  TimedChannel<std::uint64_t>& ended() { return ended_; }
  // Whether the frontend must report rows with trace id 0 too (the request-level closed loop).
  bool wants_every_end() const { return options_.concurrency > 0 || options_.sessions > 0; }
  // Nothing left to send: the source is exhausted and no row waits for a dependency.
  bool exhausted() const { return exhausted_; }
  // Requests sent so far. One sent is in transit (a closed loop's think time or desync delay, or
  // the delta before delivery) until the frontend counts it as arrived, so the run is not over.
  std::uint64_t sent() const { return sent_; }
  // Rows whose dependencies had ended before the player could read them (the trace lists a row
  // after rows that start later): they start when read, later than the graph says.
  std::uint64_t late_starts() const { return late_starts_; }
  // Rows still waiting for dependencies (e.g. at the end of a capped run).
  std::uint64_t held() const { return held_.size(); }
  const TraceSource& source() const { return *source_; }
  // Graph entries held now, the player's and its source's: with graph_horizon, bounded by what
  // the horizon spans, not by the trace's length.
  std::uint64_t graph_entries_held() const {
    return held_.size() + waiters_.size() + live_.size() + ended_at_.size() + source_->graph_entries_held();
  }
  std::uint64_t graph_entries_peak() const { return graph_peak_; }

 private:
  struct Held {
    TraceRequest row;
    std::uint32_t unmet = 0;  // dependencies not yet ended
  };
  void release();
  void on_ended();
  void emit(TimeNs delay);
  // Reads rows until the next one that must wait for its time or a session slot.
  void read_ahead();
  void admit(TraceRequest row);         // a row just read: send it, hold it, or park it
  void register_dependent(TraceRequest row);
  void send(TraceRequest row, TimeNs delay);
  void end_tracked(std::uint64_t trace_id);
  std::uint64_t session_key(const TraceRequest& row) const {
    return row.session_id ? row.session_id : (kOwnSession | row.trace_id);
  }
  void session_add(std::uint64_t key);
  void session_drop(std::uint64_t key);
  void update_exhausted() { exhausted_ = source_done_ && !pending_ && held_.empty(); }

  static constexpr std::uint64_t kOwnSession = 1ull << 63;  // a row that is a session by itself
  static constexpr std::uint64_t kPlayerIds = 1ull << 62;   // ids the player gives untracked rows

  std::unique_ptr<TraceSource> source_;
  Options options_;
  Rng desync_rng_;
  int first_wave_ended_ = 0;
  TimedChannel<std::uint64_t> ended_{"ended"};
  TimedChannel<TraceRequest>& out_;
  std::optional<TraceRequest> pending_;  // read, not yet due (open loop) or without a slot (sessions)
  bool source_done_ = false, exhausted_ = false;
  std::uint64_t sent_ = 0, late_starts_ = 0, own_ids_ = 0;

  // the live frontier of the request graph
  std::unordered_map<std::uint64_t, Held> held_;                          // waiting rows by trace id
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> waiters_;  // not-ended id -> rows waiting on it
  std::unordered_map<std::uint64_t, std::uint64_t> live_;                 // sent, not ended: id -> session key
  std::unordered_map<std::uint64_t, TimeNs> ended_at_;                     // ended rows that later rows may name
  std::deque<std::pair<TimeNs, std::uint64_t>> ended_order_;               // with a horizon: ended_at_ by end time
  std::uint64_t forgotten_ = 0;                                            // ended rows dropped by the horizon
  std::uint64_t graph_peak_ = 0;
  void note_graph_peak() { graph_peak_ = std::max(graph_peak_, graph_entries_held()); }
  std::unordered_map<std::uint64_t, std::uint32_t> session_rows_;          // session key -> rows held or in flight
};

}  // namespace servesim
