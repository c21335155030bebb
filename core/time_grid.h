#pragma once
// Ticks that sleep through idle time resume on their own grid: origin + k * interval.
#include "core/units.h"

namespace servesim {

// The first grid point strictly after `now`, on the grid through `origin` with step `interval`.
inline TimeNs next_on_grid(TimeNs origin, TimeNs interval, TimeNs now) {
  return origin + ((now - origin) / interval + 1) * interval;
}

}  // namespace servesim
