// Mooncake-style JSONL: one request per line,
//   {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [ids...]}
// hash_ids is optional; each id covers workload.hash_block_tokens tokens (512 in Mooncake).
#include <simdjson.h>

#include <cmath>
#include <vector>

#include "core/line_reader.h"
#include "traces/bad_line.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

class MooncakeJsonlSource final : public TraceSource {
 public:
  explicit MooncakeJsonlSource(const TraceContext& ctx)
      : reader_(ctx.resolve(ctx.workload.path)),
        bad_(reader_.path(), ctx.workload.on_bad_line == "skip"),
        block_tokens_(static_cast<std::uint64_t>(ctx.workload.hash_block_tokens)) {}

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

 private:
  bool parse(std::string_view line, TraceRequest& r, std::string& error) {
    padded_.assign(line.begin(), line.end());
    padded_.resize(line.size() + simdjson::SIMDJSON_PADDING);
    simdjson::dom::element doc;
    auto err = parser_.parse(reinterpret_cast<const uint8_t*>(padded_.data()), line.size(), false).get(doc);
    if (err)
      return fail(error, fmt::format("not valid JSON ({}): '{}'", simdjson::error_message(err), quote_text(line)));
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) return fail(error, "expected a JSON object");
    bool have_ts = false, have_in = false, have_out = false;
    double ts_ms = 0;
    std::int64_t in = 0, out = 0;
    r.hash_ids.clear();
    for (auto [key, value] : obj) {
      if (key == "timestamp") {
        if (value.get_double().get(ts_ms) || !std::isfinite(ts_ms))
          return fail(error, "field 'timestamp' must be a number of milliseconds");
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
      }
      // other fields (session ids, metadata) are ignored
    }
    if (!have_ts) return fail(error, "missing field 'timestamp'");
    if (!have_in) return fail(error, "missing field 'input_length'");
    if (!have_out) return fail(error, "missing field 'output_length'");
    if (ts_ms < 0) return fail(error, fmt::format("negative timestamp {}", ts_ms));
    if (ts_ms > kMaxTraceTimeS * 1e3)
      return fail(error, fmt::format("field 'timestamp' {:g} ms is outside [0, {:g}] ms (about 190 years)", ts_ms,
                                     kMaxTraceTimeS * 1e3));
    if (in <= 0 || in > kMaxTokens)
      return fail(error, fmt::format("field 'input_length' {} is outside [1, {}]", in, kMaxTokens));
    if (out <= 0 || out > kMaxTokens)
      return fail(error, fmt::format("field 'output_length' {} is outside [1, {}]", out, kMaxTokens));
    if (ts_ms < last_ms_)
      return fail(error, fmt::format("timestamp {} ms is earlier than the previous row's {} ms; traces must be sorted by time",
                                     ts_ms, last_ms_));
    std::uint64_t max_blocks = (static_cast<std::uint64_t>(in) + block_tokens_ - 1) / block_tokens_;
    if (r.hash_ids.size() > max_blocks)
      return fail(error, fmt::format("{} hash_ids but input_length {} covers only {} blocks of {} tokens "
                                     "(is workload.hash_block_tokens right?)",
                                     r.hash_ids.size(), in, max_blocks, block_tokens_));
    last_ms_ = ts_ms;
    r.arrival_s = ts_ms * 1e-3;
    r.input_tokens = static_cast<std::uint32_t>(in);
    r.output_tokens = static_cast<std::uint32_t>(out);
    return true;
  }
  static bool fail(std::string& error, std::string what) {
    error = std::move(what);
    return false;
  }

  LineReader reader_;
  BadLinePolicy bad_;
  std::uint64_t block_tokens_;
  simdjson::dom::parser parser_;
  std::vector<char> padded_;
  std::uint64_t rows_ = 0;
  double last_ms_ = 0;
};

}  // namespace

SERVESIM_REGISTER(TraceRegistry, "mooncake_jsonl",
                  "Mooncake-style JSONL: timestamp (ms), input_length, output_length, optional hash_ids",
                  [](const TraceContext& ctx) { return std::make_unique<MooncakeJsonlSource>(ctx); })

}  // namespace servesim
