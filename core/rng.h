#pragma once
// Random streams derived from the run's seed by name, so adding a consumer of randomness
// never shifts another consumer's numbers.
#include <cstdint>
#include <random>
#include <string_view>

namespace servesim {

constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

constexpr std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

using Rng = std::mt19937_64;

// A stream for one named consumer of the run's seed (e.g. "workload.arrivals", "router").
inline Rng make_rng(std::uint64_t seed, std::string_view stream) {
  return Rng(splitmix64(seed ^ splitmix64(fnv1a64(stream))));
}

// Uniform double in [0, 1) from 53 random bits: identical on every standard library,
// unlike std::uniform_real_distribution whose algorithm is implementation-defined.
inline double uniform01(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }
inline double uniform01(Rng& rng) { return uniform01(rng()); }

}  // namespace servesim
