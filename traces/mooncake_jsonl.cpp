// Mooncake-style JSONL: one request per line,
//   {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [ids...]}
// hash_ids is optional; each id covers workload.hash_block_tokens tokens (512 in Mooncake).
//
// Sessions and request graphs (docs/workloads.md): rows sharing a `session_id` form a session;
// a row with `delay` (or `delay_ms`) instead of a timestamp starts that many ms after its
// session's previous row ends. Agent graphs (`agentic_mooncake`) name rows by `request_id` and
// list in `wait_for` the rows that must all end first, plus `delay` and `tool_wait_ms`.
// `mooncake_delta`: a session's later rows give only the newly added prompt segment; the reader
// prepends the session's previous prompt and answer, as a chat client re-sends them.
#include <simdjson.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/line_reader.h"
#include "traces/bad_line.h"
#include "traces/json_line.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

// Ids for blocks a delta trace does not name (the previous answer's tokens): never equal to a
// trace's own ids, which are JSON integers below 2^63.
constexpr std::uint64_t kAnswerIdBase = 1ull << 63;

class MooncakeJsonlSource final : public TraceSource {
 public:
  MooncakeJsonlSource(const TraceContext& ctx, bool delta)
      : reader_(ctx.resolve(ctx.workload.path)),
        bad_(reader_.path(), ctx.workload.on_bad_line == "skip"),
        block_tokens_(static_cast<std::uint64_t>(ctx.workload.hash_block_tokens)),
        delta_(delta),
        slo_classes_(ctx.slo_classes),
        horizon_ms_(ctx.workload.graph_horizon ? ctx.workload.graph_horizon->seconds * 1e3 : -1) {}

  std::optional<TraceRequest> next() override {
    std::string_view line;
    while (reader_.next(line)) {
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank line
      std::string error;
      TraceRequest r;
      if (!reader_.problem().empty()) error = reader_.problem();
      else if (parse(line, r, error)) {
        ++rows_;
        return r;
      }
      if (reader_.last_line_unterminated()) error += " (the file ends mid-line: truncated?)";
      bad_.report(reader_.line_number(), error);
    }
    return std::nullopt;
  }

  TraceStats stats() const override { return {rows_, bad_.skipped(), 0}; }
  std::uint64_t graph_entries_held() const override { return sessions_.size() + named_.size(); }

 private:
  struct Session {
    std::uint64_t number = 0;        // 1, 2, ... in order of first appearance
    std::uint64_t last_row = 0;      // trace id of its latest row
    std::uint32_t context_tokens = 0;  // delta: the previous prompt and answer
    std::vector<std::uint64_t> context_ids;
    double last_ms = 0;                         // trace time when its latest row was read
    std::list<std::string>::iterator idle_pos;  // its place in idle_order_
  };
  struct Named {
    std::uint64_t trace_id;
    std::uint64_t session;  // its session's number (0 = none)
  };

  // graph_horizon: drops the sessions idle, and the row names read, longer than it before now
  void forget_old(double now_ms) {
    if (horizon_ms_ < 0) return;
    const double before = now_ms - horizon_ms_;
    while (!idle_order_.empty()) {
      auto it = sessions_.find(idle_order_.front());
      if (it->second.last_ms >= before) break;
      sessions_.erase(it);
      idle_order_.pop_front();
      ++forgotten_;
    }
    while (!name_order_.empty() && name_order_.front().first < before) {
      named_.erase(name_order_.front().second);
      name_order_.pop_front();
      ++forgotten_;
    }
  }
  std::string forgotten_hint() const {
    return forgotten_ ? fmt::format(", or it was read more than workload.graph_horizon ({:g} s of trace time) earlier "
                                    "and forgotten (raise graph_horizon, or set it to null)",
                                    horizon_ms_ / 1e3)
                      : std::string();
  }

  // A JSON id (request_id, session_id, wait_for entries): a non-negative integer or a string.
  static bool id_text(simdjson::dom::element v, std::string& out) {
    std::string_view s;
    if (!v.get_string().get(s)) {
      out.assign(s);
      return !out.empty();
    }
    std::int64_t n;
    if (!v.get_int64().get(n) && n >= 0) {
      out = std::to_string(n);
      return true;
    }
    return false;
  }
  static bool get_ms(simdjson::dom::element v, double& ms) { return !v.get_double().get(ms) && std::isfinite(ms); }

  bool parse(std::string_view line, TraceRequest& r, std::string& error) {
    simdjson::dom::object obj;
    if (!json_.parse(line, obj, error)) return false;
    bool have_ts = false, have_in = false, have_out = false, have_delay = false, have_wait_for = false;
    double ts_ms = 0, delay_ms = 0, tool_ms = 0;
    std::int64_t in = 0, out = 0;
    std::string session, request_id;
    wait_for_.clear();
    r.hash_ids.clear();
    for (auto [key, value] : obj) {
      if (key == "timestamp") {
        if (!get_ms(value, ts_ms)) return fail(error, "field 'timestamp' must be a number of milliseconds");
        have_ts = true;
      } else if (key == "input_length") {
        if (value.get_int64().get(in)) return fail(error, "field 'input_length' must be an integer");
        have_in = true;
      } else if (key == "output_length") {
        if (value.get_int64().get(out)) return fail(error, "field 'output_length' must be an integer");
        have_out = true;
      } else if (key == "hash_ids") {
        simdjson::dom::array arr;
        if (value.get_array().get(arr)) return fail(error, "field 'hash_ids' must be a list of integers");
        for (auto v : arr) {
          std::int64_t id;
          if (v.get_int64().get(id) || id < 0)
            return fail(error, "field 'hash_ids' must hold non-negative integers");
          r.hash_ids.push_back(static_cast<std::uint64_t>(id));
        }
      } else if (key == "priority") {
        std::int64_t prio;
        if (value.get_int64().get(prio)) return fail(error, "field 'priority' must be an integer");
        if (prio < kMinPriority || prio > kMaxPriority)
          return fail(error, fmt::format("field 'priority' {} is outside [{}, {}]", prio, kMinPriority, kMaxPriority));
        r.priority = static_cast<std::int32_t>(prio);
      } else if (key == "model") {
        std::string_view m;
        if (value.get_string().get(m) || m.empty()) return fail(error, "field 'model' must be a non-empty string");
        r.model.assign(m);
      } else if (key == "slo_class") {
        std::string_view c;
        if (value.get_string().get(c)) return fail(error, "field 'slo_class' must be a string");
        auto it = std::find(slo_classes_.begin(), slo_classes_.end(), c);
        if (it == slo_classes_.end())
          return fail(error, fmt::format("slo_class '{}' is not one of slo.classes ({})", c,
                                         slo_classes_.empty() ? std::string("none are defined")
                                                              : fmt::format("{}", fmt::join(slo_classes_, ", "))));
        r.slo_class = static_cast<std::int8_t>(it - slo_classes_.begin());
      } else if (key == "session_id") {
        if (!id_text(value, session)) return fail(error, "field 'session_id' must be a non-negative integer or a string");
      } else if (key == "request_id") {
        if (!id_text(value, request_id))
          return fail(error, "field 'request_id' must be a non-negative integer or a non-empty string");
      } else if (key == "delay" || key == "delay_ms") {
        if (!get_ms(value, delay_ms) || delay_ms < 0)
          return fail(error, fmt::format("field '{}' must be a non-negative number of milliseconds", key));
        have_delay = true;
      } else if (key == "tool_wait_ms") {
        if (!get_ms(value, tool_ms) || tool_ms < 0)
          return fail(error, "field 'tool_wait_ms' must be a non-negative number of milliseconds");
      } else if (key == "wait_for") {
        simdjson::dom::array arr;
        if (value.get_array().get(arr)) return fail(error, "field 'wait_for' must be a list of request ids");
        for (auto v : arr) {
          std::string id;
          if (!id_text(v, id)) return fail(error, "field 'wait_for' must hold request ids (integers or strings)");
          wait_for_.push_back(std::move(id));
        }
        have_wait_for = !wait_for_.empty();
      }
      // other fields (branches, prefix_reset, tool_events, metadata) are informational
    }
    if (!have_in) return fail(error, "missing field 'input_length'");
    if (!have_out) return fail(error, "missing field 'output_length'");
    if (in <= 0 || in > kMaxTokens)
      return fail(error, fmt::format("field 'input_length' {} is outside [1, {}]", in, kMaxTokens));
    if (out <= 0 || out > kMaxTokens)
      return fail(error, fmt::format("field 'output_length' {} is outside [1, {}]", out, kMaxTokens));
    const std::uint64_t trace_id = reader_.line_number();
    // a timed row's own time counts: a session idle longer than the horizon before it is over
    forget_old(have_ts && !have_wait_for && !have_delay ? std::max(last_ms_, ts_ms) : last_ms_);
    Session* s = nullptr;
    if (!session.empty()) {
      auto [it, fresh] = sessions_.try_emplace(session);
      if (fresh) {
        it->second.number = ++sessions_seen_;
        it->second.last_ms = last_ms_;
        it->second.idle_pos = idle_order_.insert(idle_order_.end(), session);
      }
      s = &it->second;
    }
    // a delta row's ids start at the first block the session's previous prompt and answer leave unfilled
    const std::uint64_t context = delta_ && s ? s->context_tokens : 0;
    const std::uint64_t max_blocks = (context + static_cast<std::uint64_t>(in) + block_tokens_ - 1) / block_tokens_ -
                                     context / block_tokens_;
    if (r.hash_ids.size() > max_blocks)
      return fail(error, fmt::format("{} hash_ids but input_length {}{} covers only {} blocks of {} tokens "
                                     "(is workload.hash_block_tokens right?)",
                                     r.hash_ids.size(), in,
                                     context ? fmt::format(" after the session's {} tokens", context) : "", max_blocks,
                                     block_tokens_));

    // what this row waits for: the rows it names, or (a delay without names) its session's previous row
    r.wait_for.clear();
    std::uint64_t inherited_session = 0;
    if (have_wait_for) {
      for (const std::string& id : wait_for_) {
        if (id == request_id) return fail(error, fmt::format("request '{}' waits for itself", id));
        auto named = named_.find(id);
        if (named == named_.end())
          return fail(error, fmt::format("wait_for names request '{}', which no earlier row has (a row must come "
                                         "after the rows it waits for, so a cycle cannot be written either){}",
                                         id, forgotten_hint()));
        r.wait_for.push_back(named->second.trace_id);
        if (!inherited_session) inherited_session = named->second.session;
      }
    } else if (have_delay) {
      if (!s)
        return fail(error, "a row with 'delay' starts after its session's previous row ends, but it has no "
                           "'session_id'; give it one, list the rows it waits for in 'wait_for', or give a "
                           "'timestamp' instead");
      if (!s->last_row)
        return fail(error, fmt::format("a row with 'delay' starts after its session's previous row ends, and this "
                                       "is the first row of session '{}'{}; give it a 'timestamp'",
                                       session, forgotten_hint()));
      r.wait_for.push_back(s->last_row);
    } else if (tool_ms > 0) {
      return fail(error, "'tool_wait_ms' is waited after the rows in 'wait_for' (or the session's previous row, "
                         "with 'delay'); this row waits for none");
    }
    if (r.wait_for.empty()) {  // a timed row
      if (!have_ts) return fail(error, "missing field 'timestamp' (a row that waits for no other row needs one)");
      if (ts_ms < 0) return fail(error, fmt::format("negative timestamp {}", ts_ms));
      if (ts_ms > kMaxTraceTimeS * 1e3)
        return fail(error, fmt::format("field 'timestamp' {:g} ms is outside [0, {:g}] ms (about 190 years)", ts_ms,
                                       kMaxTraceTimeS * 1e3));
      if (ts_ms < last_ms_)
        return fail(error,
                    fmt::format("timestamp {} ms is earlier than the previous row's {} ms; traces must be sorted by time",
                                ts_ms, last_ms_));
      last_ms_ = ts_ms;
    }
    if (!request_id.empty()) {
      auto [it, fresh] = named_.try_emplace(request_id, Named{trace_id, 0});
      if (!fresh)
        return fail(error, fmt::format("request_id '{}' is used already by line {}", request_id, it->second.trace_id));
      it->second.session = s ? s->number : inherited_session;
      if (horizon_ms_ >= 0) name_order_.emplace_back(last_ms_, request_id);
    }

    r.arrival_s = last_ms_ * 1e-3;  // a waiting row's time is that of the rows read before it
    r.input_tokens = static_cast<std::uint32_t>(in);
    r.output_tokens = static_cast<std::uint32_t>(out);
    r.delay_s = delay_ms * 1e-3;
    r.tool_wait_s = tool_ms * 1e-3;
    r.session_id = s ? s->number : inherited_session;
    if (s || !request_id.empty()) r.trace_id = trace_id;
    if (s) {
      if (delta_) extend_context(*s, r);
      s->last_row = trace_id;
      s->last_ms = last_ms_;
      idle_order_.splice(idle_order_.end(), idle_order_, s->idle_pos);  // the most recently active now
    }
    return true;
  }

  // mooncake_delta: the row holds only what the user added; the prompt re-sends the session's
  // previous prompt and answer first (full blocks keep their ids; the answer's get fresh ones).
  void extend_context(Session& s, TraceRequest& r) {
    if (s.context_tokens > 0) {
      const std::uint64_t kept = s.context_tokens / block_tokens_;
      std::vector<std::uint64_t> ids(s.context_ids.begin(), s.context_ids.begin() + static_cast<std::ptrdiff_t>(kept));
      ids.insert(ids.end(), r.hash_ids.begin(), r.hash_ids.end());
      r.hash_ids = std::move(ids);
      r.input_tokens += s.context_tokens;
    }
    const std::uint64_t prompt_blocks = r.input_tokens / block_tokens_;
    s.context_ids.assign(r.hash_ids.begin(),
                         r.hash_ids.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(prompt_blocks, r.hash_ids.size())));
    s.context_tokens = r.input_tokens + r.output_tokens;
    while (s.context_ids.size() < s.context_tokens / block_tokens_) s.context_ids.push_back(kAnswerIdBase | next_answer_id_++);
  }

  static bool fail(std::string& error, std::string what) {
    error = std::move(what);
    return false;
  }

  LineReader reader_;
  BadLinePolicy bad_;
  std::uint64_t block_tokens_;
  bool delta_;
  std::vector<std::string> slo_classes_;
  JsonLine json_;
  std::vector<std::string> wait_for_;
  std::uint64_t rows_ = 0, next_answer_id_ = 0;
  double last_ms_ = 0;
  // the graph's names: with graph_horizon, only the sessions active, and the rows read, within it
  double horizon_ms_;  // < 0: keep everything
  std::unordered_map<std::string, Session> sessions_;
  std::unordered_map<std::string, Named> named_;
  std::list<std::string> idle_order_;                      // session ids, least recently active first
  std::deque<std::pair<double, std::string>> name_order_;  // request ids in the order read, with when
  std::uint64_t sessions_seen_ = 0, forgotten_ = 0;
};

}  // namespace

SERVESIM_REGISTER(TraceRegistry, "mooncake_jsonl",
                  "Mooncake-style JSONL: timestamp (ms), input_length, output_length, optional hash_ids; "
                  "sessions (session_id, delay) and wait_for graphs as agentic_mooncake",
                  [](const TraceContext& ctx) { return std::make_unique<MooncakeJsonlSource>(ctx, false); })
SERVESIM_REGISTER(TraceRegistry, "agentic_mooncake",
                  "agent request graphs in Mooncake JSONL: request_id, session_id, wait_for (ids that must "
                  "end first), delay and tool_wait_ms after them; rows without wait_for start at timestamp",
                  [](const TraceContext& ctx) { return std::make_unique<MooncakeJsonlSource>(ctx, false); })
SERVESIM_REGISTER(TraceRegistry, "mooncake_delta",
                  "Mooncake JSONL sessions whose later turns give only the new prompt segment; the previous "
                  "prompt and answer are prepended",
                  [](const TraceContext& ctx) { return std::make_unique<MooncakeJsonlSource>(ctx, true); })

}  // namespace servesim
