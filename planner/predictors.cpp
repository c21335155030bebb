// constant (last value), moving_average, holt_winters (double exponential smoothing: level and
// trend), arima (an AR(p) model with intercept, least-squares fitted on a sliding window; falls
// back to the last value until the window holds enough points to fit).
#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>
#include <vector>

#include "planner/load_predictor.h"

namespace servesim {
namespace {

double non_negative(double x) { return std::max(0.0, x); }

class Constant final : public LoadPredictor {
 public:
  void observe(double v) override { last_ = v; }
  std::optional<double> predict() const override { return last_; }

 private:
  std::optional<double> last_;
};

class MovingAverage final : public LoadPredictor {
 public:
  explicit MovingAverage(int window) : window_(static_cast<size_t>(window)) {}
  void observe(double v) override {
    values_.push_back(v);
    if (values_.size() > window_) values_.pop_front();
  }
  std::optional<double> predict() const override {
    if (values_.empty()) return std::nullopt;
    return std::accumulate(values_.begin(), values_.end(), 0.0) / static_cast<double>(values_.size());
  }

 private:
  size_t window_;
  std::deque<double> values_;
};

class HoltWinters final : public LoadPredictor {
 public:
  HoltWinters(double alpha, double beta) : alpha_(alpha), beta_(beta) {}
  void observe(double v) override {
    if (n_ == 0) {
      level_ = v;
    } else if (n_ == 1) {
      trend_ = v - level_;
      level_ = v;
    } else {
      double prev = level_;
      level_ = alpha_ * v + (1 - alpha_) * (level_ + trend_);
      trend_ = beta_ * (level_ - prev) + (1 - beta_) * trend_;
    }
    ++n_;
  }
  std::optional<double> predict() const override {
    if (n_ == 0) return std::nullopt;
    return non_negative(level_ + trend_);
  }

 private:
  double alpha_, beta_, level_ = 0, trend_ = 0;
  std::int64_t n_ = 0;
};

// Solves the normal equations (X'X) b = X'y by Gaussian elimination with partial pivoting.
bool least_squares(const std::vector<std::vector<double>>& x, const std::vector<double>& y, std::vector<double>& b) {
  const size_t k = x.front().size();
  std::vector<std::vector<double>> a(k, std::vector<double>(k + 1, 0.0));
  for (size_t r = 0; r < x.size(); ++r)
    for (size_t i = 0; i < k; ++i) {
      for (size_t j = 0; j < k; ++j) a[i][j] += x[r][i] * x[r][j];
      a[i][k] += x[r][i] * y[r];
    }
  for (size_t c = 0; c < k; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < k; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
    if (std::fabs(a[piv][c]) < 1e-12) return false;  // singular: e.g. a constant series
    std::swap(a[c], a[piv]);
    for (size_t r = 0; r < k; ++r) {
      if (r == c) continue;
      double f = a[r][c] / a[c][c];
      for (size_t j = c; j <= k; ++j) a[r][j] -= f * a[c][j];
    }
  }
  b.resize(k);
  for (size_t i = 0; i < k; ++i) b[i] = a[i][k] / a[i][i];
  return true;
}

class Arima final : public LoadPredictor {
 public:
  Arima(int order, int window)
      : p_(static_cast<size_t>(order)), window_(std::max(static_cast<size_t>(window), 2 * static_cast<size_t>(order) + 2)) {}
  void observe(double v) override {
    values_.push_back(v);
    if (values_.size() > window_) values_.pop_front();
  }
  std::optional<double> predict() const override {
    if (values_.empty()) return std::nullopt;
    if (values_.size() < 2 * p_ + 2) return values_.back();  // too little history to fit
    // rows: [1, y_{t-1}, ..., y_{t-p}] -> y_t
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    for (size_t t = p_; t < values_.size(); ++t) {
      std::vector<double> row{1.0};
      for (size_t j = 1; j <= p_; ++j) row.push_back(values_[t - j]);
      x.push_back(std::move(row));
      y.push_back(values_[t]);
    }
    std::vector<double> b;
    if (!least_squares(x, y, b)) return values_.back();
    double next = b[0];
    for (size_t j = 1; j <= p_; ++j) next += b[j] * values_[values_.size() - j];
    return non_negative(next);
  }

 private:
  size_t p_, window_;
  std::deque<double> values_;
};

}  // namespace

SERVESIM_REGISTER(PredictorRegistry, "constant", "the last observed value",
                  [](const PredictorConfig&) { return std::make_unique<Constant>(); })
SERVESIM_REGISTER(PredictorRegistry, "moving_average", "mean of the last `window` values",
                  [](const PredictorConfig& c) { return std::make_unique<MovingAverage>(c.window); })
SERVESIM_REGISTER(PredictorRegistry, "holt_winters", "double exponential smoothing: level (alpha) and trend (beta)",
                  [](const PredictorConfig& c) { return std::make_unique<HoltWinters>(c.alpha, c.beta); })
SERVESIM_REGISTER(PredictorRegistry, "arima", "AR(order) with intercept, least squares over the last `window` values",
                  [](const PredictorConfig& c) { return std::make_unique<Arima>(c.order, c.window); })

}  // namespace servesim
