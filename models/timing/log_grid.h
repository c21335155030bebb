#pragma once
// A measured latency on an N-dimensional grid (e.g. GEMM m x n x k), interpolated in
// log(coordinate) and log(latency), one axis after another: exact at the grid's points, and exact
// between them wherever latency is a power law of the coordinates (compute-bound GEMMs,
// bandwidth-bound copies), which is why kernel tables are read this way.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace servesim {

// An axis can be split in two classes by alignment: coordinates that are multiples of a modulus
// and those that are not. GEMM tables are measured at m = 16 j and m = 16 j + 1 because kernels
// run different code for the two (fp8 at n = k = 8192: 37.7 us at m = 256, 80.0 us at m = 257,
// 57.5 us at m = 512), so a lookup reads the series of its own class wherever that class
// brackets it, instead of interpolating across the jump between the two.
//
// Outside the measured range: error, clamp to the edge, or continue the edge cell's log-log
// slope. Every non-error use is counted by the caller.
enum class Extrapolation : std::uint8_t { kError, kClamp, kLogLinear };
Extrapolation parse_extrapolation(const std::string& name);  // error | clamp | extrapolate

// Between two points of an axis: a straight line in log-log, or a monotone cubic (Fritsch-Carlson
// slopes, as scipy's PchipInterpolator) through them and the next point on each side. The cubic
// follows curved data (attention's launch floor bending into its quadratic cost) and stays
// monotone wherever the data is; on noisy data it follows the noise, so each table picks the
// one with the lower held-out error (`servesim calibrate` prints both). Outside the measured
// range both continue the edge cell's straight line.
enum class Interpolation : std::uint8_t { kLinear, kMonotoneCubic };

class LogGrid {
 public:
  LogGrid() = default;
  explicit LogGrid(std::vector<std::string> axis_names);
  // Before finish(): interpolate along `axis` within its alignment class (see above).
  void align_axis(size_t axis, double modulus);
  // Before finish(); every axis is linear until set.
  void interpolate_axis(size_t axis, Interpolation how);
  // Coordinates and value must be > 0. A repeated point keeps the last value. `regime` names the
  // code that measured it (a table's kernel_source): where a framework switches kernels the
  // latency steps, which no interpolation can predict from one side, so held-out checks tell
  // those predictions apart (HeldOut::across_regimes).
  void add(std::span<const double> point, double value, std::string_view regime = {});
  void add(std::initializer_list<double> point, double value, std::string_view regime = {}) {
    add(std::span<const double>(point.begin(), point.size()), value, regime);
  }
  // Sorts the axes and builds the dense table; points not measured stay holes.
  void finish();

  struct Result {
    double value = 0;
    bool extrapolated = false;
    bool hole = false;  // a cell corner it needs was not measured: value is NaN
  };
  // Throws InputError naming `table` and `what` when the point is outside the grid under kError.
  // Allocates nothing: the timing model calls it every iteration.
  Result at(std::span<const double> x, Extrapolation policy, std::string_view table,
            std::string_view what = {}) const;
  Result at(std::initializer_list<double> x, Extrapolation policy, std::string_view table,
            std::string_view what = {}) const {
    return at(std::span<const double>(x.begin(), x.size()), policy, table, what);
  }
  static constexpr size_t kMaxDims = 4;

  size_t dims() const { return names_.size(); }
  size_t points() const { return count_; }
  const std::vector<double>& axis(size_t d) const { return axes_[d]; }
  const std::string& axis_name(size_t d) const { return names_[d]; }
  // The measured value at grid indices (NaN for a hole).
  double value(const std::vector<size_t>& index) const;
  // Every measured point: coordinates and value.
  struct Point {
    std::vector<double> x;
    double value;
  };
  std::vector<Point> measured() const;
  // Held-out check of the interpolation: every measured point with measured neighbours on both
  // sides along an axis (within its alignment class, as lookups read it), predicted as a lookup
  // would be with the point removed: from those two, and for a cubic axis the next one beyond
  // each where measured. `read_as` reads every axis one way instead of as configured, to compare
  // interpolants.
  struct HeldOut {
    double error;         // predicted / measured - 1
    double measured;      // the point's value
    size_t axis;          // the axis it was predicted along
    bool across_regimes;  // a point it was predicted from ran another regime (kernel)
  };
  std::vector<HeldOut> leave_one_out_errors(std::optional<Interpolation> read_as = {}) const;

 private:
  // One alignment class of an axis: the class's coordinates and their grid indices.
  struct AxisClass {
    std::vector<double> coords;
    std::vector<double> log_coords;
    std::vector<size_t> index;
  };
  // Along one axis, the cell holding a coordinate: its two grid indices, the upper one's weight
  // (outside [0, 1] when extrapolating) and, for a cubic axis, the class's next point beyond each.
  struct AxisCell {
    size_t lo = 0, hi = 0, before = 0, after = 0;
    bool has_before = false, has_after = false, cubic = false;
    double w = 0;
    double log_before = 0, log_lo = 0, log_hi = 0, log_after = 0, log_x = 0;  // log coordinates
  };
  // `classes` false ignores alignment classes.
  void cell(std::span<const double> x, bool classes, bool clamp, AxisCell* cells) const;
  static constexpr size_t kUnaligned = 0, kAligned = 1, kAll = 2;
  size_t own_class(size_t axis, double coordinate) const;  // kAll when the axis is not split
  // The class a lookup at `coordinate` reads along `axis`: its own where that brackets it, else all.
  const AxisClass& class_of(size_t axis, double coordinate) const;
  // The log value at the cells, axis `d` onwards, with axes before `d` fixed at index[]; NaN when a
  // point it needs is a hole (a missing point beyond the cell only drops the cubic's slope there).
  double log_at(const AxisCell* cells, size_t d, size_t* index) const;
  size_t flat(const size_t* index) const;
  void unflat(size_t flat_index, size_t* index) const;  // flat()'s inverse
  std::vector<std::string> names_;
  std::vector<std::vector<double>> axes_;
  std::vector<double> align_;  // per axis; 0 = not split
  std::vector<Interpolation> interpolation_;  // per axis
  std::vector<std::array<AxisClass, 3>> classes_;  // per axis, indexed by kUnaligned, kAligned, kAll
  struct Pending {
    double value;
    std::uint16_t regime;
  };
  std::vector<Pending> pending_;
  std::vector<double> pending_coords_;  // pending point i's coordinates at [i * dims, (i + 1) * dims)
  std::vector<double> log_values_;  // dense, NaN = hole
  std::vector<std::uint16_t> regimes_;  // dense, parallel to log_values_: index into regime_names_
  std::vector<std::string> regime_names_;
  size_t count_ = 0;
};

}  // namespace servesim
