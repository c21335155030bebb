#include "models/timing/log_grid.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <cmath>
#include <fmt/format.h>

#include "core/error.h"

namespace servesim {

Extrapolation parse_extrapolation(const std::string& name) {
  if (name == "error") return Extrapolation::kError;
  if (name == "clamp") return Extrapolation::kClamp;
  if (name == "extrapolate") return Extrapolation::kLogLinear;
  throw ConfigError(fmt::format("extrapolation must be error | clamp | extrapolate (got '{}')", name));
}

LogGrid::LogGrid(std::vector<std::string> axis_names) : names_(std::move(axis_names)) {
  if (names_.empty() || names_.size() > kMaxDims)
    throw std::invalid_argument(fmt::format("a LogGrid has 1 to {} axes", kMaxDims));
}

void LogGrid::add(const std::vector<double>& point, double value) {
  if (point.size() != names_.size() || !(value > 0))
    throw InputError(fmt::format("grid point needs {} coordinates and a positive value", names_.size()));
  for (double c : point)
    if (!(c > 0)) throw InputError(fmt::format("grid coordinates must be positive (got {:g})", c));
  pending_.emplace_back(point, value);
}

void LogGrid::finish() {
  axes_.assign(names_.size(), {});
  for (auto& [p, v] : pending_)
    for (size_t d = 0; d < p.size(); ++d) axes_[d].push_back(p[d]);
  size_t total = 1;
  for (auto& a : axes_) {
    std::sort(a.begin(), a.end());
    a.erase(std::unique(a.begin(), a.end()), a.end());
    total *= a.size();
  }
  log_values_.assign(pending_.empty() ? 0 : total, std::nan(""));
  std::vector<size_t> idx(names_.size());
  for (auto& [p, v] : pending_) {
    for (size_t d = 0; d < p.size(); ++d)
      idx[d] = static_cast<size_t>(std::lower_bound(axes_[d].begin(), axes_[d].end(), p[d]) - axes_[d].begin());
    log_values_[flat(idx.data())] = std::log(v);
  }
  count_ = static_cast<size_t>(std::count_if(log_values_.begin(), log_values_.end(), [](double v) { return !std::isnan(v); }));
  pending_.clear();
  pending_.shrink_to_fit();
}

size_t LogGrid::flat(const size_t* index) const {
  size_t f = 0;
  for (size_t d = 0; d < names_.size(); ++d) f = f * axes_[d].size() + index[d];
  return f;
}

void LogGrid::unflat(size_t f, size_t* index) const {
  for (size_t d = names_.size(); d-- > 0;) {
    index[d] = f % axes_[d].size();
    f /= axes_[d].size();
  }
}

double LogGrid::value(const std::vector<size_t>& index) const { return std::exp(log_values_[flat(index.data())]); }

std::vector<LogGrid::Point> LogGrid::measured() const {
  std::vector<Point> out;
  std::vector<size_t> idx(names_.size(), 0);
  for (size_t f = 0; f < log_values_.size(); ++f) {
    if (std::isnan(log_values_[f])) continue;
    unflat(f, idx.data());
    Point p{std::vector<double>(names_.size()), std::exp(log_values_[f])};
    for (size_t d = 0; d < names_.size(); ++d) p.x[d] = axes_[d][idx[d]];
    out.push_back(std::move(p));
  }
  return out;
}

LogGrid::Result LogGrid::at(std::span<const double> x, Extrapolation policy, std::string_view table,
                            std::string_view what) const {
  auto where = [&] { return what.empty() ? std::string(table) : fmt::format("{} ({})", table, what); };
  const size_t n = names_.size();
  Result r;
  if (x.size() != n) throw std::invalid_argument(fmt::format("{}: {} coordinates for {} axes", table, x.size(), n));
  // Per axis: the lower index of the cell and the weight of the upper corner (in log space).
  std::array<size_t, kMaxDims> lo{};
  std::array<double, kMaxDims> w{};
  for (size_t d = 0; d < n; ++d) {
    const auto& a = axes_[d];
    const double v = x[d];
    if (!(v > 0)) throw InputError(fmt::format("{}: {} must be positive (got {:g})", where(), names_[d], v));
    const bool outside = v < a.front() || v > a.back();
    if (outside) {
      if (policy == Extrapolation::kError)
        throw InputError(fmt::format("{}: {} {:g} is outside the measured range [{:g}, {:g}]. Fix: measure it, or "
                                     "set the timing model's extrapolation to clamp or extrapolate (counted)",
                                     where(), names_[d], v, a.front(), a.back()));
      r.extrapolated = true;
    }
    if (a.size() == 1) {
      lo[d] = 0;
      w[d] = 0;
      continue;
    }
    size_t i = static_cast<size_t>(std::upper_bound(a.begin(), a.end(), v) - a.begin());
    i = std::clamp<size_t>(i, 1, a.size() - 1) - 1;
    lo[d] = i;
    double t = (std::log(v) - std::log(a[i])) / (std::log(a[i + 1]) - std::log(a[i]));
    if (outside && policy == Extrapolation::kClamp) t = std::clamp(t, 0.0, 1.0);
    w[d] = t;
  }
  // Sum over the 2^n corners of the cell.
  double log_value = 0;
  std::array<size_t, kMaxDims> idx{};
  for (size_t corner = 0; corner < (size_t{1} << n); ++corner) {
    double weight = 1;
    for (size_t d = 0; d < n; ++d) {
      const bool upper = (corner >> d) & 1;
      if (axes_[d].size() == 1 && upper) {
        weight = 0;
        break;
      }
      idx[d] = lo[d] + (upper ? 1 : 0);
      weight *= upper ? w[d] : 1 - w[d];
    }
    if (weight == 0) continue;
    const double lv = log_values_[flat(idx.data())];
    if (std::isnan(lv)) {
      r.hole = true;
      r.value = std::nan("");
      return r;
    }
    log_value += weight * lv;
  }
  r.value = std::exp(log_value);
  return r;
}

std::vector<LogGrid::HeldOut> LogGrid::leave_one_out_errors() const {
  std::vector<HeldOut> errors;
  const size_t n = names_.size();
  std::vector<size_t> idx(n);
  for (size_t f = 0; f < log_values_.size(); ++f) {
    if (std::isnan(log_values_[f])) continue;
    unflat(f, idx.data());
    for (size_t d = 0; d < n; ++d) {
      const auto& a = axes_[d];
      if (idx[d] == 0 || idx[d] + 1 >= a.size()) continue;
      std::vector<size_t> lo = idx, hi = idx;
      --lo[d];
      ++hi[d];
      const double vl = log_values_[flat(lo.data())], vh = log_values_[flat(hi.data())];
      if (std::isnan(vl) || std::isnan(vh)) continue;
      const double t = (std::log(a[idx[d]]) - std::log(a[idx[d] - 1])) / (std::log(a[idx[d] + 1]) - std::log(a[idx[d] - 1]));
      errors.push_back({std::exp((1 - t) * vl + t * vh - log_values_[f]) - 1, std::exp(log_values_[f]), d});
    }
  }
  return errors;
}

}  // namespace servesim
