#pragma once
// Simulated time is integer nanoseconds (TimeNs) so that sums and orderings are exact
// and identical on every machine; seconds (double) appear only at the edges.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace servesim {

using TimeNs = std::int64_t;
inline constexpr TimeNs kNsPerSecond = 1'000'000'000;

constexpr double ns_to_s(TimeNs t) { return static_cast<double>(t) * 1e-9; }
// The double nearest t / 1e9: 120 s reads 120, where ns_to_s's product gives 120.00000000000001.
// For times shown to people and programs (the planner protocol, the Python API); recorded
// columns keep ns_to_s, so their values stay as they are.
constexpr double ns_to_exact_s(TimeNs t) { return static_cast<double>(t) / 1e9; }
TimeNs s_to_ns(double seconds);  // rounds to the nearest ns; throws on non-finite

// A duration read from YAML: "500ms", "2s", "1.5m", "3h", "250us", "10ns", or 0.
struct Duration {
  double seconds = 0.0;
  TimeNs ns() const { return s_to_ns(seconds); }
  friend bool operator==(const Duration&, const Duration&) = default;
};

// Parses a duration; returns nullopt and fills `why` when the text is not one.
std::optional<Duration> parse_duration(std::string_view text, std::string* why);
// Formats a duration with the largest unit that keeps it readable ("1.5s", "3h", "250ms").
std::string format_duration(Duration d);

}  // namespace servesim
