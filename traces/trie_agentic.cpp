// Applied Compute's TRIE agentic format: one JSONL row per sequential agent session,
//   {"num_turns": n, "input_prompt_length": L, "assistant_response_length": [n ints],
//    "tool_call_output_length": [n ints], "tool_call_latency": [n seconds],
//    "final_assistant_response_length": F}
// and optionally "timestamp" (ms). A session is n + 1 model calls: call k re-sends the prompt and
// every earlier response and tool output and answers assistant_response_length[k] tokens; the
// tool then runs tool_call_latency[k] s and its output joins the context; a last call answers F.
// Prompt blocks are generated (the format has no hash ids): a session's calls share its context's
// blocks; workload.trie.shared_prefix_ratio makes a leading share of the first prompt common to a
// group of sessions. Rows without timestamps start as workload.closed_loop.sessions allows.
#include <simdjson.h>

#include <cmath>
#include <deque>
#include <vector>

#include "core/line_reader.h"
#include "core/rng.h"
#include "traces/bad_line.h"
#include "traces/json_line.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

constexpr std::uint64_t kGroupIdBase = 1ull << 62;  // shared-prefix ids never clash with a session's own
constexpr std::int64_t kMaxTurns = 100'000;

class TrieAgenticSource final : public TraceSource {
 public:
  explicit TrieAgenticSource(const TraceContext& ctx)
      : reader_(ctx.resolve(ctx.workload.path)),
        bad_(reader_.path(), ctx.workload.on_bad_line == "skip"),
        block_(static_cast<std::uint64_t>(ctx.workload.hash_block_tokens)),
        cfg_(ctx.workload.trie),
        timed_by_sessions_(ctx.workload.closed_loop.sessions > 0),
        groups_rng_(make_rng(ctx.seed, "workload.trie.groups")) {}

  std::optional<TraceRequest> next() override {
    while (queued_.empty()) {
      std::string_view line;
      if (!reader_.next(line)) return std::nullopt;
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      std::string error;
      if (!reader_.problem().empty()) error = reader_.problem();
      else if (parse(line, error)) break;
      if (reader_.last_line_unterminated()) error += " (the file ends mid-line: truncated?)";
      bad_.report(reader_.line_number(), error);
    }
    TraceRequest r = std::move(queued_.front());
    queued_.pop_front();
    return r;
  }

  TraceStats stats() const override { return {rows_, bad_.skipped(), 0}; }

 private:
  static bool fail(std::string& error, std::string what) {
    error = std::move(what);
    return false;
  }

  bool int_field(simdjson::dom::object& obj, const char* key, std::int64_t lo, std::int64_t& out, std::string& error) {
    simdjson::dom::element v;
    if (obj[key].get(v)) return fail(error, fmt::format("missing field '{}'", key));
    if (v.get_int64().get(out)) return fail(error, fmt::format("field '{}' must be an integer", key));
    if (out < lo || out > kMaxTokens)
      return fail(error, fmt::format("field '{}' {} is outside [{}, {}]", key, out, lo, kMaxTokens));
    return true;
  }

  template <class T>
  bool array_field(simdjson::dom::object& obj, const char* key, std::int64_t n, double lo, std::vector<T>& out,
                   std::string& error) {
    out.clear();
    simdjson::dom::array arr;
    simdjson::dom::element v;
    if (obj[key].get(v)) return fail(error, fmt::format("missing field '{}'", key));
    if (v.get_array().get(arr)) return fail(error, fmt::format("field '{}' must be a list", key));
    for (auto x : arr) {
      double d;
      if (x.get_double().get(d) || !std::isfinite(d))
        return fail(error, fmt::format("field '{}' must hold numbers", key));
      if constexpr (std::is_integral_v<T>) {
        if (d != std::floor(d)) return fail(error, fmt::format("field '{}' must hold integers", key));
        if (d > static_cast<double>(kMaxTokens))
          return fail(error, fmt::format("field '{}' holds {} tokens, more than {}", key, d, kMaxTokens));
      }
      if (d < lo) return fail(error, fmt::format("field '{}' holds {:g}; values must be at least {:g}", key, d, lo));
      out.push_back(static_cast<T>(d));
    }
    if (static_cast<std::int64_t>(out.size()) != n)
      return fail(error, fmt::format("field '{}' has {} values but num_turns is {}; it needs one per turn", key,
                                     out.size(), n));
    return true;
  }

  bool parse(std::string_view line, std::string& error) {
    simdjson::dom::object obj;
    if (!json_.parse(line, obj, error)) return false;
    std::int64_t turns = 0, prompt = 0, final_answer = 0;
    simdjson::dom::element v;
    if (obj["num_turns"].get(v)) return fail(error, "missing field 'num_turns'");
    if (v.get_int64().get(turns) || turns < 0 || turns > kMaxTurns)
      return fail(error, fmt::format("field 'num_turns' must be an integer in [0, {}]", kMaxTurns));
    if (!int_field(obj, "input_prompt_length", 1, prompt, error)) return false;
    if (!int_field(obj, "final_assistant_response_length", 1, final_answer, error)) return false;
    if (!array_field(obj, "assistant_response_length", turns, 1, answers_, error)) return false;
    if (!array_field(obj, "tool_call_output_length", turns, 0, tool_outputs_, error)) return false;
    if (!array_field(obj, "tool_call_latency", turns, 0, latencies_, error)) return false;
    double ts_ms = 0;
    if (!obj["timestamp"].get(v)) {
      if (v.get_double().get(ts_ms) || !std::isfinite(ts_ms) || ts_ms < 0 || ts_ms > kMaxTraceTimeS * 1e3)
        return fail(error, "field 'timestamp' must be a non-negative number of milliseconds");
      if (ts_ms < last_ms_)
        return fail(error, fmt::format("timestamp {} ms is earlier than the previous row's {} ms; sessions must be "
                                       "sorted by time",
                                       ts_ms, last_ms_));
    } else if (!timed_by_sessions_) {
      return fail(error, "no 'timestamp': a session without one starts when a session slot frees; set "
                         "workload.closed_loop.sessions (sessions kept in flight), or give each row a timestamp");
    } else {
      ts_ms = last_ms_;
    }
    std::uint64_t total = static_cast<std::uint64_t>(prompt) + static_cast<std::uint64_t>(final_answer);
    for (std::int64_t k = 0; k < turns; ++k) total += answers_[static_cast<size_t>(k)] + tool_outputs_[static_cast<size_t>(k)];
    if (total > static_cast<std::uint64_t>(kMaxTokens))
      return fail(error, fmt::format("the session's context grows to {} tokens, more than {}", total, kMaxTokens));
    last_ms_ = ts_ms;
    build(static_cast<std::uint32_t>(prompt), static_cast<std::uint32_t>(final_answer), ts_ms * 1e-3);
    return true;
  }

  // the session's calls, in dependency order
  void build(std::uint32_t prompt, std::uint32_t final_answer, double t) {
    const std::uint64_t session = ++sessions_;
    std::vector<std::uint64_t> ids;
    const auto shared = static_cast<std::uint64_t>(std::floor(cfg_.shared_prefix_ratio * prompt)) / block_;
    if (shared > 0) {
      const std::uint64_t g = groups_rng_() % static_cast<std::uint64_t>(cfg_.prefix_groups);
      for (std::uint64_t j = 0; j < shared; ++j) ids.push_back(kGroupIdBase | (g << 32) | j);
    }
    std::uint32_t context = prompt;
    std::uint64_t previous = 0;
    double tool_wait_s = 0;
    const size_t turns = answers_.size();
    for (size_t k = 0; k <= turns; ++k) {
      TraceRequest r;
      r.arrival_s = t;
      r.session_id = session;
      r.trace_id = ++trace_ids_;
      r.input_tokens = context;
      r.output_tokens = k < turns ? answers_[k] : final_answer;
      while (ids.size() * block_ < context) ids.push_back(next_id_++);  // this prompt's blocks
      r.hash_ids = ids;
      if (previous) {
        r.wait_for.push_back(previous);
        r.tool_wait_s = tool_wait_s;
      }
      previous = r.trace_id;
      if (k < turns) {
        // the next prompt re-sends this one (its full blocks), the answer and the tool's output
        ids.resize(context / block_);
        context += answers_[k] + tool_outputs_[k];
        tool_wait_s = latencies_[k];
      }
      ++rows_;
      queued_.push_back(std::move(r));
    }
  }

  LineReader reader_;
  BadLinePolicy bad_;
  std::uint64_t block_;
  const TrieConfig& cfg_;
  bool timed_by_sessions_;
  Rng groups_rng_;
  JsonLine json_;
  std::vector<std::uint32_t> answers_, tool_outputs_;
  std::vector<double> latencies_;
  std::deque<TraceRequest> queued_;  // the calls of the session just read
  std::uint64_t rows_ = 0, sessions_ = 0, trace_ids_ = 0, next_id_ = 0;
  double last_ms_ = 0;
};

}  // namespace

SERVESIM_REGISTER(TraceRegistry, "trie_agentic",
                  "Applied Compute TRIE agentic sessions: one JSONL row per session (num_turns, "
                  "input_prompt_length, per-turn response/tool output lengths and tool latencies)",
                  [](const TraceContext& ctx) { return std::make_unique<TrieAgenticSource>(ctx); })

}  // namespace servesim
