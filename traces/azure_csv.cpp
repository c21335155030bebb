// Azure LLM-inference trace CSV (AzurePublicDataset 2023):
//   TIMESTAMP,ContextTokens,GeneratedTokens
//   2023-11-16 18:17:03.9799600,4808,10
// Timestamps are wall-clock; arrivals are measured from the first row.
#include <charconv>
#include <cmath>
#include <vector>

#include "core/csv_reader.h"
#include "core/line_reader.h"
#include "traces/bad_line.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

template <class T>
bool to_number(std::string_view s, T& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// "YYYY-MM-DD HH:MM:SS[.fraction]" -> whole seconds since the epoch (UTC assumed) and the
// fraction kept apart, so sub-microsecond digits survive (a double of epoch seconds would not).
struct WallTime {
  std::int64_t whole = 0;
  double frac = 0;
};
bool parse_timestamp(std::string_view s, WallTime& out) {
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' ||
      s[16] != ':')
    return false;
  int y, mo, d, h, mi, sec;
  if (!to_number(s.substr(0, 4), y) || !to_number(s.substr(5, 2), mo) || !to_number(s.substr(8, 2), d) ||
      !to_number(s.substr(11, 2), h) || !to_number(s.substr(14, 2), mi) || !to_number(s.substr(17, 2), sec))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  double frac = 0;
  if (s.size() > 19) {
    if (s[19] != '.') return false;
    std::string_view digits = s.substr(20);
    double scale = 0.1;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      frac += (c - '0') * scale;
      scale *= 0.1;
    }
  }
  out.whole = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + sec;
  out.frac = frac;
  return true;
}

class AzureCsvSource final : public TraceSource {
 public:
  explicit AzureCsvSource(const TraceContext& ctx)
      : reader_(ctx.resolve(ctx.workload.path)), bad_(reader_.path(), ctx.workload.on_bad_line == "skip") {
    std::string_view header;
    if (!reader_.next(header))
      throw InputError(fmt::format("{}: empty file; expected a header TIMESTAMP,ContextTokens,GeneratedTokens",
                                   reader_.path()));
    reader_.throw_if_problem();
    split(header);
    for (size_t i = 0; i < cells_.size(); ++i) {
      std::string_view c = cells_[i];
      if (c == "TIMESTAMP") col_ts_ = static_cast<int>(i);
      else if (c == "ContextTokens") col_in_ = static_cast<int>(i);
      else if (c == "GeneratedTokens") col_out_ = static_cast<int>(i);
    }
    if (col_ts_ < 0 || col_in_ < 0 || col_out_ < 0)
      throw InputError(fmt::format("{}:1: header must name TIMESTAMP, ContextTokens and GeneratedTokens (got '{}')",
                                   reader_.path(), quote_text(header)));
    columns_ = cells_.size();
  }

  std::optional<TraceRequest> next() override {
    std::string_view line;
    while (reader_.next(line)) {
      if (line.empty()) continue;
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
  void split(std::string_view line) { split_commas(line, cells_); }

  bool parse(std::string_view line, TraceRequest& r, std::string& error) {
    split(line);
    if (cells_.size() != columns_) {
      error = fmt::format("expected {} comma-separated columns, got {}", columns_, cells_.size());
      return false;
    }
    WallTime ts;
    if (!parse_timestamp(cells_[col_ts_], ts)) {
      error = fmt::format("TIMESTAMP '{}' is not 'YYYY-MM-DD HH:MM:SS.fraction'", quote_text(cells_[col_ts_]));
      return false;
    }
    std::int64_t in, out;
    if (!to_number(cells_[col_in_], in) || in <= 0 || in > kMaxTokens) {
      error = fmt::format("ContextTokens '{}' must be an integer in [1, {}]", quote_text(cells_[col_in_]), kMaxTokens);
      return false;
    }
    if (!to_number(cells_[col_out_], out) || out <= 0 || out > kMaxTokens) {
      error = fmt::format("GeneratedTokens '{}' must be an integer in [1, {}]", quote_text(cells_[col_out_]),
                          kMaxTokens);
      return false;
    }
    if (!origin_) origin_ = ts;
    double rel = static_cast<double>(ts.whole - origin_->whole) + (ts.frac - origin_->frac);
    if (rel < last_s_) {
      error = fmt::format("TIMESTAMP '{}' is earlier than the previous row's; traces must be sorted by time",
                          quote_text(cells_[col_ts_]));
      return false;
    }
    if (rel > kMaxTraceTimeS) {
      error = fmt::format("TIMESTAMP '{}' is {:.3g} s after the first row's, beyond the {:g} s (about 190 years) a "
                          "trace may span",
                          quote_text(cells_[col_ts_]), rel, kMaxTraceTimeS);
      return false;
    }
    last_s_ = rel;
    r.arrival_s = rel;
    r.input_tokens = static_cast<std::uint32_t>(in);
    r.output_tokens = static_cast<std::uint32_t>(out);
    return true;
  }

  LineReader reader_;
  BadLinePolicy bad_;
  std::vector<std::string_view> cells_;
  size_t columns_ = 0;
  int col_ts_ = -1, col_in_ = -1, col_out_ = -1;
  std::optional<WallTime> origin_;
  double last_s_ = 0;
  std::uint64_t rows_ = 0;
};

}  // namespace

SERVESIM_REGISTER(TraceRegistry, "azure_csv",
                  "Azure LLM-inference CSV: TIMESTAMP, ContextTokens, GeneratedTokens",
                  [](const TraceContext& ctx) { return std::make_unique<AzureCsvSource>(ctx); })

}  // namespace servesim
