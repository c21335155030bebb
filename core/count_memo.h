#pragma once
// A memo of a pure function of a small count (tokens, sequences in a batch): a timing model asks
// for the same counts iteration after iteration. Counts of kMaxCount and above are computed
// each time, so a rare huge prompt does not grow the table.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace servesim {

class CountMemo {
 public:
  static constexpr size_t kMaxCount = 65536;

  template <class Compute>
  double get(size_t count, Compute&& compute) {
    if (count < values_.size() && !std::isnan(values_[count])) return values_[count];
    const double v = compute();
    if (count < kMaxCount) {
      if (values_.size() <= count) values_.resize(std::max(count + 1, 2 * values_.size()), std::nan(""));
      values_[count] = v;
    }
    return v;
  }
  // get() of a function whose results are kept only where `compute(keep)` leaves `keep` true (a
  // table lookup outside the measured range is counted each time it is made, so never kept).
  template <class Compute>
  double get_kept(size_t count, Compute&& compute) {
    if (count < values_.size() && !std::isnan(values_[count])) return values_[count];
    bool keep = true;
    const double v = compute(keep);
    if (keep && count < kMaxCount) {
      if (values_.size() <= count) values_.resize(std::max(count + 1, 2 * values_.size()), std::nan(""));
      values_[count] = v;
    }
    return v;
  }

 private:
  std::vector<double> values_;  // NaN: not computed yet
};

}  // namespace servesim
