#include "traces/rate_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace servesim {

RateSchedule::RateSchedule(const ArrivalConfig& cfg)
    : cfg_(cfg),
      shape_(cfg.schedule == "none"      ? Shape::kConstant
             : cfg.schedule == "diurnal" ? Shape::kDiurnal
             : cfg.schedule == "ramps"   ? Shape::kRamps
                                         : Shape::kSteps) {
  for (const auto& p : cfg.points) {
    at_.push_back(p.at.seconds);
    rate_.push_back(p.rate);
  }
  cum_.assign(at_.size(), 0.0);
  for (size_t i = 1; i < at_.size(); ++i) {
    double dt = at_[i] - at_[i - 1];
    double seg = shape_ == Shape::kRamps ? 0.5 * (rate_[i - 1] + rate_[i]) * dt : rate_[i - 1] * dt;
    cum_[i] = cum_[i - 1] + seg;
  }
}

double RateSchedule::rate_at(double t) const {
  if (shape_ == Shape::kConstant) return cfg_.rate;
  if (shape_ == Shape::kDiurnal)
    return cfg_.rate * (1.0 + cfg_.amplitude * std::sin(2 * std::numbers::pi * (t - cfg_.phase.seconds) /
                                                        cfg_.period.seconds));
  // steps / ramps; validation guarantees a first point at 0
  size_t i = static_cast<size_t>(std::upper_bound(at_.begin(), at_.end(), t) - at_.begin()) - 1;
  if (shape_ == Shape::kSteps || i + 1 >= at_.size()) return rate_[i];
  double f = (t - at_[i]) / (at_[i + 1] - at_[i]);
  return rate_[i] + f * (rate_[i + 1] - rate_[i]);
}

double RateSchedule::cumulative(double t) const {
  if (t <= 0) return 0;
  if (shape_ == Shape::kConstant) return cfg_.rate * t;
  if (shape_ == Shape::kDiurnal) {
    const double w = 2 * std::numbers::pi / cfg_.period.seconds, ph = cfg_.phase.seconds;
    return cfg_.rate * (t - cfg_.amplitude / w * (std::cos(w * (t - ph)) - std::cos(w * (-ph))));
  }
  size_t i = static_cast<size_t>(std::upper_bound(at_.begin(), at_.end(), t) - at_.begin()) - 1;
  double dt = t - at_[i];
  if (shape_ == Shape::kSteps || i + 1 >= at_.size()) return cum_[i] + rate_[i] * dt;
  double r_t = rate_at(t);
  return cum_[i] + 0.5 * (rate_[i] + r_t) * dt;
}

double RateSchedule::inverse(double y, double from, double horizon) const {
  if (cumulative(horizon) < y) return -1;
  if (shape_ == Shape::kConstant) return std::max(from, y / cfg_.rate);  // exact; cfg_.rate > 0 here
  double lo = from, hi = horizon;
  if (cumulative(lo) >= y) return lo;
  // bisection to below a nanosecond; Lambda is continuous and non-decreasing
  for (int it = 0; it < 200 && hi - lo > 1e-10; ++it) {
    double mid = 0.5 * (lo + hi);
    if (cumulative(mid) >= y) hi = mid;
    else lo = mid;
  }
  return hi;
}

}  // namespace servesim
