#pragma once
// Arrival rate over time, as a cumulative function Lambda(t) = integral of rate, so that any
// unit-mean renewal process in "operational time" maps to arrivals with that rate profile.
#include <vector>

#include "traces/workload_config.h"

namespace servesim {

class RateSchedule {
 public:
  explicit RateSchedule(const ArrivalConfig& cfg);
  double rate_at(double t_s) const;
  double cumulative(double t_s) const;  // expected arrivals in [0, t]
  // Smallest t with cumulative(t) >= y, searched in [from, horizon]; -1 if beyond horizon.
  double inverse(double y, double from, double horizon) const;

 private:
  enum class Shape { kConstant, kDiurnal, kSteps, kRamps };  // cfg.schedule, compared once
  const ArrivalConfig& cfg_;
  Shape shape_;
  std::vector<double> at_, rate_, cum_;  // steps/ramps breakpoints and Lambda at each
};

}  // namespace servesim
