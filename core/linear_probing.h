#pragma once
// Backward-shift deletion in an open-addressing table with linear probing (no tombstones): after
// emptying slot `hole`, the scan moves on through the probe run; the entry at `j`, whose home
// slot is `home`, moves into the hole when the hole lies cyclically in [home, j), i.e. when
// leaving it at j would put the hole between its home and it and break its lookups.
#include <cstddef>

namespace servesim {

inline bool backward_shift_moves(size_t hole, size_t j, size_t home) {
  return hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
}

}  // namespace servesim
