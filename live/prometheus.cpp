#include "live/prometheus.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace servesim::live {

void PromHistogram::observe(double v, std::uint64_t n) {
  const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();  // le: v <= bound
  counts_[static_cast<size_t>(at)] += n;
  sum_ += v * static_cast<double>(n);
  count_ += n;
}

std::string prom_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

namespace {
std::string escape_label(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}
std::string label_text(const Labels& labels, std::string_view extra_key = {}, std::string_view extra_value = {}) {
  std::string out;
  for (const auto& [k, v] : labels) out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", k, escape_label(v));
  if (!extra_key.empty()) out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", extra_key, extra_value);
  return out.empty() ? "" : "{" + out + "}";
}
}  // namespace

void MetricsText::family(std::string_view name, Type type, std::string_view help) {
  name_ = name;
  type_ = type;
  const char* t = type == Type::kCounter ? "counter" : type == Type::kGauge ? "gauge" : "histogram";
  // a counter's family is named with its _total suffix, as prometheus_client writes it
  const std::string family = type == Type::kCounter ? name_ + "_total" : name_;
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family, help, family, t);
}

void MetricsText::sample(const Labels& labels, double value) {
  out_ += fmt::format("{}{}{} {}\n", name_, type_ == Type::kCounter ? "_total" : "", label_text(labels),
                      prom_value(value));
}

void MetricsText::histogram(const Labels& labels, const PromHistogram& h) {
  std::uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds().size(); ++i) {
    cumulative += h.counts()[i];
    out_ += fmt::format("{}_bucket{} {}\n", name_, label_text(labels, "le", prom_value(h.bounds()[i])), cumulative);
  }
  out_ += fmt::format("{}_bucket{} {}\n", name_, label_text(labels, "le", "+Inf"), h.count());
  out_ += fmt::format("{}_sum{} {}\n", name_, label_text(labels), prom_value(h.sum()));
  out_ += fmt::format("{}_count{} {}\n", name_, label_text(labels), h.count());
}

}  // namespace servesim::live
