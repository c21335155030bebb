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
  align_.assign(names_.size(), 0);
}

void LogGrid::align_axis(size_t axis, double modulus) {
  if (axis >= names_.size() || !(modulus > 1))
    throw std::invalid_argument(fmt::format("align_axis: axis {} of {}, modulus {:g} (needs > 1)", axis, names_.size(), modulus));
  align_[axis] = modulus;
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
  classes_.assign(names_.size(), {});
  for (size_t d = 0; d < names_.size(); ++d)
    for (size_t i = 0; i < axes_[d].size(); ++i) {
      const double c = axes_[d][i];
      auto add_to = [&](AxisClass& k) { k.coords.push_back(c), k.index.push_back(i); };
      add_to(classes_[d][kAll]);
      if (align_[d] > 0) add_to(classes_[d][own_class(d, c)]);
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
  for (size_t d = 0; d < n; ++d) {
    const auto& a = axes_[d];
    const double v = x[d];
    if (!(v > 0)) throw InputError(fmt::format("{}: {} must be positive (got {:g})", where(), names_[d], v));
    if (v < a.front() || v > a.back()) {
      if (policy == Extrapolation::kError)
        throw InputError(fmt::format("{}: {} {:g} is outside the measured range [{:g}, {:g}]. Fix: measure it, or "
                                     "set the timing model's extrapolation to clamp or extrapolate (counted)",
                                     where(), names_[d], v, a.front(), a.back()));
      r.extrapolated = true;
    }
  }
  std::array<size_t, kMaxDims> lo{}, hi{};
  std::array<double, kMaxDims> w{};
  const bool clamp = policy == Extrapolation::kClamp;
  cell(x, true, clamp, lo.data(), hi.data(), w.data());
  double log_value = log_at(lo.data(), hi.data(), w.data());
  // A class's cell may have a hole where the whole axis has none.
  if (std::isnan(log_value) && std::any_of(align_.begin(), align_.end(), [](double m) { return m > 0; })) {
    cell(x, false, clamp, lo.data(), hi.data(), w.data());
    log_value = log_at(lo.data(), hi.data(), w.data());
  }
  if (std::isnan(log_value)) {
    r.hole = true;
    r.value = std::nan("");
    return r;
  }
  r.value = std::exp(log_value);
  return r;
}

size_t LogGrid::own_class(size_t axis, double coordinate) const {
  if (align_[axis] <= 0) return kAll;
  return std::fmod(coordinate, align_[axis]) == 0 ? kAligned : kUnaligned;
}

const LogGrid::AxisClass& LogGrid::class_of(size_t axis, double coordinate) const {
  const auto& k = classes_[axis];
  const AxisClass& own = k[own_class(axis, coordinate)];
  // A class that does not bracket the coordinate gives way to the whole axis.
  if (own.coords.size() < 2 || coordinate < own.coords.front() || coordinate > own.coords.back()) return k[kAll];
  return own;
}

void LogGrid::cell(std::span<const double> x, bool classes, bool clamp, size_t* lo, size_t* hi, double* w) const {
  for (size_t d = 0; d < names_.size(); ++d) {
    const AxisClass& k = classes ? class_of(d, x[d]) : classes_[d][kAll];
    const auto& a = k.coords;
    if (a.size() == 1) {
      lo[d] = hi[d] = k.index[0];
      w[d] = 0;
      continue;
    }
    size_t i = static_cast<size_t>(std::upper_bound(a.begin(), a.end(), x[d]) - a.begin());
    i = std::clamp<size_t>(i, 1, a.size() - 1) - 1;
    lo[d] = k.index[i];
    hi[d] = k.index[i + 1];
    double t = (std::log(x[d]) - std::log(a[i])) / (std::log(a[i + 1]) - std::log(a[i]));
    if (clamp) t = std::clamp(t, 0.0, 1.0);
    w[d] = t;
  }
}

double LogGrid::log_at(const size_t* lo, const size_t* hi, const double* w) const {
  const size_t n = names_.size();
  double log_value = 0;
  std::array<size_t, kMaxDims> idx{};
  for (size_t corner = 0; corner < (size_t{1} << n); ++corner) {
    double weight = 1;
    for (size_t d = 0; d < n; ++d) {
      const bool upper = (corner >> d) & 1;
      if (upper && hi[d] == lo[d]) {
        weight = 0;
        break;
      }
      idx[d] = upper ? hi[d] : lo[d];
      weight *= upper ? w[d] : 1 - w[d];
    }
    if (weight == 0) continue;
    const double lv = log_values_[flat(idx.data())];
    if (std::isnan(lv)) return lv;
    log_value += weight * lv;
  }
  return log_value;
}

std::vector<LogGrid::HeldOut> LogGrid::leave_one_out_errors() const {
  std::vector<HeldOut> errors;
  const size_t n = names_.size();
  std::vector<size_t> idx(n);
  for (size_t f = 0; f < log_values_.size(); ++f) {
    if (std::isnan(log_values_[f])) continue;
    unflat(f, idx.data());
    for (size_t d = 0; d < n; ++d) {
      const double c = axes_[d][idx[d]];
      const AxisClass& k = classes_[d][own_class(d, c)];
      const size_t j = static_cast<size_t>(std::lower_bound(k.coords.begin(), k.coords.end(), c) - k.coords.begin());
      if (j == 0 || j + 1 >= k.coords.size()) continue;
      std::vector<size_t> lo = idx, hi = idx;
      lo[d] = k.index[j - 1];
      hi[d] = k.index[j + 1];
      const double vl = log_values_[flat(lo.data())], vh = log_values_[flat(hi.data())];
      if (std::isnan(vl) || std::isnan(vh)) continue;
      const double t = (std::log(c) - std::log(k.coords[j - 1])) / (std::log(k.coords[j + 1]) - std::log(k.coords[j - 1]));
      errors.push_back({std::exp((1 - t) * vl + t * vh - log_values_[f]) - 1, std::exp(log_values_[f]), d});
    }
  }
  return errors;
}

}  // namespace servesim
