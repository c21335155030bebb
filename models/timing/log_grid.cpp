#include "models/timing/log_grid.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <cmath>
#include <fmt/format.h>

#include "core/error.h"

namespace servesim {

namespace {

// The Fritsch-Carlson slope at a point between a secant d0 over h0 before it and d1 over h1 after:
// zero at a local extremum, else their weighted harmonic mean, which keeps the cubic monotone.
double monotone_slope(double h0, double d0, double h1, double d1) {
  if (!(d0 * d1 > 0)) return 0;
  const double w1 = 2 * h1 + h0, w2 = h1 + 2 * h0;
  return (w1 + w2) / (w1 / d0 + w2 / d1);
}

// The cubic Hermite through (x1, y1) and (x2, y2), read at x. The slope at each end comes from the
// point beyond it (x0, y0 before; x3, y3 after) where there is one (y not NaN), else it is the
// cell's own secant.
double monotone_cubic(double x0, double y0, double x1, double y1, double x2, double y2, double x3, double y3,
                      double x) {
  const double h = x2 - x1, d = (y2 - y1) / h;
  const double m1 = std::isnan(y0) ? d : monotone_slope(x1 - x0, (y1 - y0) / (x1 - x0), h, d);
  const double m2 = std::isnan(y3) ? d : monotone_slope(h, d, x3 - x2, (y3 - y2) / (x3 - x2));
  const double t = (x - x1) / h, t2 = t * t, t3 = t2 * t;
  return (2 * t3 - 3 * t2 + 1) * y1 + (t3 - 2 * t2 + t) * h * m1 + (3 * t2 - 2 * t3) * y2 + (t3 - t2) * h * m2;
}

}  // namespace

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
  interpolation_.assign(names_.size(), Interpolation::kLinear);
}

void LogGrid::align_axis(size_t axis, double modulus) {
  if (axis >= names_.size() || !(modulus > 1))
    throw std::invalid_argument(fmt::format("align_axis: axis {} of {}, modulus {:g} (needs > 1)", axis, names_.size(), modulus));
  align_[axis] = modulus;
}

void LogGrid::interpolate_axis(size_t axis, Interpolation how) {
  if (axis >= names_.size())
    throw std::invalid_argument(fmt::format("interpolate_axis: axis {} of {}", axis, names_.size()));
  interpolation_[axis] = how;
}

void LogGrid::add(std::span<const double> point, double value, std::string_view regime) {
  if (point.size() != names_.size() || !(value > 0))
    throw InputError(fmt::format("grid point needs {} coordinates and a positive value", names_.size()));
  for (double c : point)
    if (!(c > 0)) throw InputError(fmt::format("grid coordinates must be positive (got {:g})", c));
  // rows come grouped by kernel: try the last one first
  auto known = !pending_.empty() && regime_names_[pending_.back().regime] == regime
                   ? regime_names_.begin() + pending_.back().regime
                   : std::find(regime_names_.begin(), regime_names_.end(), regime);
  if (known == regime_names_.end()) {
    if (regime_names_.size() > UINT16_MAX) throw InputError("a grid holds at most 65536 regimes (kernels)");
    known = regime_names_.insert(known, std::string(regime));
  }
  pending_.push_back({value, static_cast<std::uint16_t>(known - regime_names_.begin())});
  for (double c : point) pending_coords_.push_back(c);  // a range insert calls memmove per row
}

void LogGrid::finish() {
  const size_t dims = names_.size();
  // Each axis's distinct coordinates, kept sorted as they come: tables repeat a few dozen values
  // per axis over ~10^5 rows, so a binary search per coordinate beats sorting them all.
  axes_.assign(dims, {});
  for (size_t i = 0; i < pending_.size(); ++i)
    for (size_t d = 0; d < dims; ++d) {
      const double c = pending_coords_[i * dims + d];
      auto& a = axes_[d];
      if (auto at = std::lower_bound(a.begin(), a.end(), c); at == a.end() || *at != c) a.insert(at, c);
    }
  size_t total = 1;
  for (auto& a : axes_) total *= a.size();
  log_values_.assign(pending_.empty() ? 0 : total, std::nan(""));
  regimes_.assign(log_values_.size(), 0);
  std::vector<size_t> idx(names_.size());
  for (size_t i = 0; i < pending_.size(); ++i) {  // a point given twice: the later row wins
    const double* p = &pending_coords_[i * dims];
    for (size_t d = 0; d < dims; ++d)
      idx[d] = static_cast<size_t>(std::lower_bound(axes_[d].begin(), axes_[d].end(), p[d]) - axes_[d].begin());
    log_values_[flat(idx.data())] = std::log(pending_[i].value);
    regimes_[flat(idx.data())] = pending_[i].regime;
  }
  classes_.assign(names_.size(), {});
  for (size_t d = 0; d < names_.size(); ++d)
    for (size_t i = 0; i < axes_[d].size(); ++i) {
      const double c = axes_[d][i];
      auto add_to = [&](AxisClass& k) { k.coords.push_back(c), k.log_coords.push_back(std::log(c)), k.index.push_back(i); };
      add_to(classes_[d][kAll]);
      if (align_[d] > 0) add_to(classes_[d][own_class(d, c)]);
    }
  count_ = static_cast<size_t>(std::count_if(log_values_.begin(), log_values_.end(), [](double v) { return !std::isnan(v); }));
  pending_ = {};
  pending_coords_ = {};
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
  std::array<AxisCell, kMaxDims> cells{};
  std::array<size_t, kMaxDims> index{};
  const bool clamp = policy == Extrapolation::kClamp;
  cell(x, true, clamp, cells.data());
  double log_value = log_at(cells.data(), 0, index.data());
  // A class's cell may have a hole where the whole axis has none.
  if (std::isnan(log_value) && std::any_of(align_.begin(), align_.end(), [](double m) { return m > 0; })) {
    cell(x, false, clamp, cells.data());
    log_value = log_at(cells.data(), 0, index.data());
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

void LogGrid::cell(std::span<const double> x, bool classes, bool clamp, AxisCell* cells) const {
  for (size_t d = 0; d < names_.size(); ++d) {
    const AxisClass& k = classes ? class_of(d, x[d]) : classes_[d][kAll];
    const auto& a = k.coords;
    AxisCell& c = cells[d];
    c = AxisCell{};
    if (a.size() == 1) {
      c.lo = c.hi = k.index[0];
      continue;
    }
    size_t i = static_cast<size_t>(std::upper_bound(a.begin(), a.end(), x[d]) - a.begin());
    i = std::clamp<size_t>(i, 1, a.size() - 1) - 1;
    c.lo = k.index[i];
    c.hi = k.index[i + 1];
    c.log_lo = k.log_coords[i];
    c.log_hi = k.log_coords[i + 1];
    c.log_x = std::log(x[d]);
    c.w = (c.log_x - c.log_lo) / (c.log_hi - c.log_lo);
    if (clamp) c.w = std::clamp(c.w, 0.0, 1.0);
    c.cubic = interpolation_[d] == Interpolation::kMonotoneCubic;
    if (c.cubic && i > 0) {
      c.has_before = true;
      c.before = k.index[i - 1];
      c.log_before = k.log_coords[i - 1];
    }
    if (c.cubic && i + 2 < a.size()) {
      c.has_after = true;
      c.after = k.index[i + 2];
      c.log_after = k.log_coords[i + 2];
    }
  }
}

double LogGrid::log_at(const AxisCell* cells, size_t d, size_t* index) const {
  if (d == names_.size()) return log_values_[flat(index)];
  const AxisCell& c = cells[d];
  auto at_index = [&](size_t i) {
    index[d] = i;
    return log_at(cells, d + 1, index);
  };
  if (c.hi == c.lo || c.w == 0) return at_index(c.lo);
  if (c.w == 1) return at_index(c.hi);
  const double y1 = at_index(c.lo), y2 = at_index(c.hi);
  if (std::isnan(y1) || std::isnan(y2)) return std::nan("");
  if (!c.cubic || c.w < 0 || c.w > 1) return (1 - c.w) * y1 + c.w * y2;
  const double y0 = c.has_before ? at_index(c.before) : std::nan("");
  const double y3 = c.has_after ? at_index(c.after) : std::nan("");
  return monotone_cubic(c.log_before, y0, c.log_lo, y1, c.log_hi, y2, c.log_after, y3, c.log_x);
}

std::vector<LogGrid::HeldOut> LogGrid::leave_one_out_errors(std::optional<Interpolation> read_as) const {
  std::vector<HeldOut> errors;
  const size_t n = names_.size();
  std::vector<size_t> idx(n), other(n);
  for (size_t f = 0; f < log_values_.size(); ++f) {
    if (std::isnan(log_values_[f])) continue;
    unflat(f, idx.data());
    for (size_t d = 0; d < n; ++d) {
      const double c = axes_[d][idx[d]];
      const AxisClass& k = classes_[d][own_class(d, c)];
      const size_t j = static_cast<size_t>(std::lower_bound(k.coords.begin(), k.coords.end(), c) - k.coords.begin());
      if (j == 0 || j + 1 >= k.coords.size()) continue;
      bool across = false;
      // The log value at the class's position `pos` along d, NaN for a hole or none there.
      auto value_at = [&](size_t pos) {
        if (pos >= k.coords.size()) return std::nan("");
        other = idx;
        other[d] = k.index[pos];
        const size_t g = flat(other.data());
        if (!std::isnan(log_values_[g]) && regimes_[g] != regimes_[f]) across = true;
        return log_values_[g];
      };
      const double vl = value_at(j - 1), vh = value_at(j + 1);
      if (std::isnan(vl) || std::isnan(vh)) continue;
      double predicted;
      if (read_as.value_or(interpolation_[d]) == Interpolation::kMonotoneCubic) {
        const double v0 = j >= 2 ? value_at(j - 2) : std::nan(""), v3 = value_at(j + 2);
        predicted = monotone_cubic(j >= 2 ? k.log_coords[j - 2] : 0, v0, k.log_coords[j - 1], vl,
                                   k.log_coords[j + 1], vh, j + 2 < k.coords.size() ? k.log_coords[j + 2] : 0, v3,
                                   k.log_coords[j]);
      } else {
        const double t = (k.log_coords[j] - k.log_coords[j - 1]) / (k.log_coords[j + 1] - k.log_coords[j - 1]);
        predicted = (1 - t) * vl + t * vh;
      }
      errors.push_back({std::exp(predicted - log_values_[f]) - 1, std::exp(log_values_[f]), d, across});
    }
  }
  return errors;
}

}  // namespace servesim
