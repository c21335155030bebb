#include "traces/trace_player.h"

#include <algorithm>

#include "core/error.h"
#include "core/rng.h"

namespace servesim {

TracePlayer::TracePlayer(sc_core::sc_module_name name, std::unique_ptr<TraceSource> source,
                         TimedChannel<TraceRequest>& out, Options options)
    : sc_core::sc_module(name),
      source_(std::move(source)),
      options_(options),
      desync_rng_(make_rng(options.desync_seed, "workload.closed_loop.desync")),
      out_(out) {
  SC_METHOD(release);
  SC_METHOD(on_ended);
  sensitive << ended_.event();
  dont_initialize();
}

void TracePlayer::send(TraceRequest row, TimeNs delay) {
  if (row.trace_id || options_.sessions > 0) {
    if (!row.trace_id) row.trace_id = kPlayerIds | ++own_ids_;  // so its end can be matched
    live_.emplace(row.trace_id, session_key(row));
    if (options_.sessions > 0) session_add(session_key(row));
  }
  out_.send(std::move(row), delay, 0);
  ++sent_;
}

// Request-level closed loop: sends the next row after `delay`; the one after it is read ahead,
// so the player is known to be exhausted as soon as its last request leaves.
void TracePlayer::emit(TimeNs delay) {
  if (!pending_ && !source_done_) pending_ = source_->next();
  if (pending_) {
    if (pending_->depends())
      throw InputError(
          "workload: closed_loop.concurrency replays rows one per ended request and cannot honour rows that wait "
          "for others (sessions with delays, wait_for). Fix: use workload.closed_loop.sessions to bound the "
          "sessions in flight instead, or set closed_loop.concurrency: 0");
    TraceRequest row = std::move(*pending_);
    pending_ = source_->next();
    send(std::move(row), delay);
  }
  source_done_ = !pending_;
  update_exhausted();
}

void TracePlayer::session_add(std::uint64_t key) { ++session_rows_[key]; }

void TracePlayer::session_drop(std::uint64_t key) {
  auto it = session_rows_.find(key);
  if (it != session_rows_.end() && --it->second == 0) session_rows_.erase(it);
}

void TracePlayer::register_dependent(TraceRequest row) {
  if (row.trace_id == 0) throw InvariantError("a trace row that waits for others has no trace id");
  Held h;
  TimeNs deps_done = -1;
  for (std::uint64_t dep : row.wait_for) {
    if (held_.count(dep) || live_.count(dep)) {
      waiters_[dep].push_back(row.trace_id);
      ++h.unmet;
    } else if (auto e = ended_at_.find(dep); e != ended_at_.end()) {
      deps_done = std::max(deps_done, e->second);
    } else if (forgotten_) {
      throw InputError(fmt::format(
          "trace row {} waits for row {}, which ended more than workload.graph_horizon ({:g} s) before the row was "
          "read. Fix: raise workload.graph_horizon (or set it to null), or list the row nearer the rows it waits for",
          row.trace_id, dep, ns_to_s(options_.graph_horizon_ns)));
    } else {
      throw InvariantError(fmt::format("trace row {} waits for row {}, which the player never saw", row.trace_id, dep));
    }
  }
  if (h.unmet > 0) {
    if (options_.sessions > 0) session_add(session_key(row));
    h.row = std::move(row);
    const std::uint64_t id = h.row.trace_id;
    held_.emplace(id, std::move(h));
    return;
  }
  // everything it waits for has ended already
  const TimeNs now = now_ns();
  const TimeNs ready = deps_done + s_to_ns(row.delay_s) + s_to_ns(row.tool_wait_s);
  if (ready < now) ++late_starts_;
  row.deps_done_ns = deps_done;
  send(std::move(row), std::max<TimeNs>(0, ready - now));
}

void TracePlayer::admit(TraceRequest row) {
  if (row.depends()) {
    register_dependent(std::move(row));
    return;
  }
  if (options_.sessions > 0) {  // starts at once if its session is live, else when a slot frees
    if (!row.trace_id) row.trace_id = kPlayerIds | ++own_ids_;
    if (!session_rows_.count(session_key(row)) && static_cast<int>(session_rows_.size()) >= options_.sessions) {
      pending_ = std::move(row);
      return;
    }
    send(std::move(row), 0);
    return;
  }
  const TimeNs now = now_ns(), at = s_to_ns(row.arrival_s);
  if (at > now) {
    pending_ = std::move(row);
    return;
  }
  send(std::move(row), 0);
}

void TracePlayer::read_ahead() {
  while (!source_done_) {
    if (pending_) {  // a row read earlier: is it due now?
      TraceRequest row = std::move(*pending_);
      pending_.reset();
      admit(std::move(row));
      if (pending_) break;
      continue;
    }
    auto row = source_->next();
    if (!row) {
      source_done_ = true;
      break;
    }
    admit(std::move(*row));
    if (pending_) break;
  }
  update_exhausted();
  note_graph_peak();
  if (pending_ && options_.sessions == 0) next_trigger(ns_time(s_to_ns(pending_->arrival_s) - now_ns()));
}

void TracePlayer::end_tracked(std::uint64_t trace_id) {
  auto live = live_.find(trace_id);
  if (live == live_.end()) return;  // a row nothing could wait for (session accounting off)
  const std::uint64_t key = live->second;
  live_.erase(live);
  const TimeNs now = now_ns();
  note_graph_peak();  // before the ended row moves from live_ to ended_at_, and waiters are released
  if (!(trace_id & kPlayerIds)) {  // a later row may name it, within the horizon
    ended_at_.emplace(trace_id, now);
    if (options_.graph_horizon_ns >= 0) {
      ended_order_.emplace_back(now, trace_id);
      while (ended_order_.front().first < now - options_.graph_horizon_ns) {
        ended_at_.erase(ended_order_.front().second);
        ended_order_.pop_front();
        ++forgotten_;
      }
    }
  }
  if (auto w = waiters_.find(trace_id); w != waiters_.end()) {
    std::vector<std::uint64_t> rows = std::move(w->second);
    waiters_.erase(w);
    for (std::uint64_t id : rows) {
      auto h = held_.find(id);
      if (--h->second.unmet > 0) continue;
      TraceRequest row = std::move(h->second.row);
      held_.erase(h);
      row.deps_done_ns = now;
      const TimeNs wait = s_to_ns(row.delay_s) + s_to_ns(row.tool_wait_s);
      if (options_.sessions > 0) session_drop(session_key(row));  // send() counts it as live instead
      send(std::move(row), wait);
    }
  }
  if (options_.sessions > 0) session_drop(key);
}

void TracePlayer::on_ended() {
  ended_.drain([&](std::uint64_t trace_id) {
    if (trace_id) end_tracked(trace_id);
    if (options_.concurrency > 0 && !source_done_) {
      TimeNs delay = options_.think_ns;
      if (options_.desync_ns > 0 && first_wave_ended_ < options_.concurrency) {  // the burst's successors
        ++first_wave_ended_;
        delay += static_cast<TimeNs>(uniform01(desync_rng_) * static_cast<double>(options_.desync_ns));
      }
      emit(delay);
    }
  });
  if (options_.sessions > 0) read_ahead();  // a session may have ended: start the next
  update_exhausted();
}

void TracePlayer::release() {
  if (options_.concurrency > 0) {  // closed loop: the first `concurrency` requests over the ramp; the rest as others end
    Rng rng = make_rng(options_.random_ramp_seed.value_or(0), "workload.closed_loop.ramp");
    for (int k = 0; k < options_.concurrency && !source_done_; ++k)
      emit(options_.random_ramp_seed
               ? static_cast<TimeNs>(uniform01(rng) * static_cast<double>(options_.ramp_ns))
               : options_.ramp_ns * k / options_.concurrency);
    return;
  }
  read_ahead();  // without a next trigger (nothing pending) the process sleeps for good
}

}  // namespace servesim
