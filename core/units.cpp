#include "core/units.h"

#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <stdexcept>

namespace servesim {

TimeNs s_to_ns(double seconds) {
  if (!std::isfinite(seconds)) throw std::invalid_argument("non-finite time value");
  return static_cast<TimeNs>(std::llround(seconds * 1e9));
}

namespace {
struct Unit {
  std::string_view suffix;
  double seconds;
};
constexpr Unit kUnits[] = {{"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1.0},
                           {"min", 60.0}, {"m", 60.0}, {"h", 3600.0}, {"d", 86400.0}};
}  // namespace

std::optional<Duration> parse_duration(std::string_view text, std::string* why) {
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  size_t split = 0;
  while (split < text.size() && (std::isdigit(static_cast<unsigned char>(text[split])) ||
                                 text[split] == '.' || text[split] == '-' || text[split] == '+' ||
                                 text[split] == 'e' || text[split] == 'E')) {
    // 'e' is an exponent only when followed by a digit or sign (so "1e3s" works, "5h" is hours)
    if ((text[split] == 'e' || text[split] == 'E') &&
        !(split + 1 < text.size() && (std::isdigit(static_cast<unsigned char>(text[split + 1])) ||
                                      text[split + 1] == '-' || text[split + 1] == '+')))
      break;
    ++split;
  }
  std::string_view number = text.substr(0, split), unit = text.substr(split);
  double value = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() ||
      !std::isfinite(value)) {
    if (why) *why = fmt::format("'{}' is not a duration; write a number with a unit, e.g. 500ms, 2s, 3h", text);
    return std::nullopt;
  }
  if (unit.empty()) {
    if (value == 0) return Duration{0.0};
    if (why) *why = fmt::format("'{}' has no unit; write e.g. {}s or {}ms (units: ns, us, ms, s, m/min, h, d)", text, number, number);
    return std::nullopt;
  }
  for (const auto& u : kUnits) {
    if (unit == u.suffix) return Duration{value * u.seconds};
  }
  if (why) *why = fmt::format("'{}' has unknown unit '{}'; use ns, us, ms, s, m/min, h or d", text, unit);
  return std::nullopt;
}

std::string format_duration(Duration d) {
  double s = d.seconds, a = std::fabs(s);
  if (a == 0) return "0s";
  if (a >= 3600 && std::fmod(a, 3600) == 0) return fmt::format("{:g}h", s / 3600);
  if (a >= 60 && std::fmod(a, 60) == 0) return fmt::format("{:g}m", s / 60);
  if (a >= 1) return fmt::format("{:g}s", s);
  if (a >= 1e-3) return fmt::format("{:g}ms", s * 1e3);
  if (a >= 1e-6) return fmt::format("{:g}us", s * 1e6);
  return fmt::format("{:g}ns", s * 1e9);
}

}  // namespace servesim
