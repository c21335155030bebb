// Load predictors on synthetic series whose next value is known.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "planner/load_predictor.h"

namespace servesim {
namespace {

std::unique_ptr<LoadPredictor> make(const std::string& name, PredictorConfig c = {}) {
  c.name = name;
  return PredictorRegistry::instance().create(name, c);
}

TEST(Predictors, NothingObservedNothingPredicted) {
  for (const auto& name : PredictorRegistry::instance().names()) EXPECT_FALSE(make(name)->predict()) << name;
}

TEST(Predictors, ConstantIsTheLastValue) {
  auto p = make("constant");
  for (double v : {3.0, 9.0, 4.0}) p->observe(v);
  EXPECT_DOUBLE_EQ(*p->predict(), 4.0);
}

TEST(Predictors, MovingAverageOfTheWindow) {
  PredictorConfig c;
  c.window = 3;
  auto p = make("moving_average", c);
  for (double v : {100.0, 1.0, 2.0, 6.0}) p->observe(v);
  EXPECT_DOUBLE_EQ(*p->predict(), 3.0);  // (1 + 2 + 6) / 3: the 100 left the window
}

TEST(Predictors, HoltWintersFollowsALinearTrendExactly) {
  auto p = make("holt_winters");
  for (int t = 0; t < 20; ++t) p->observe(10 + 2.5 * t);
  EXPECT_NEAR(*p->predict(), 10 + 2.5 * 20, 1e-9);
  // and forgets an old level when the series steps
  auto q = make("holt_winters");
  for (int t = 0; t < 30; ++t) q->observe(t < 10 ? 5.0 : 50.0);
  EXPECT_NEAR(*q->predict(), 50.0, 0.5);
}

TEST(Predictors, ArimaRecoversAnAutoregressiveProcess) {
  // y_t = 3 + 0.6 y_{t-1}: AR(1) with intercept, noise-free
  PredictorConfig c;
  c.order = 1;
  c.window = 12;
  auto p = make("arima", c);
  double y = 20;
  for (int t = 0; t < 12; ++t) p->observe(y), y = 3 + 0.6 * y;
  EXPECT_NEAR(*p->predict(), y, 1e-9);
}

TEST(Predictors, ArimaOrderTwoPredictsASinusoid) {
  // a sine is exactly AR(2): y_{t+1} = 2 cos(w) y_t - y_{t-1}
  PredictorConfig c;
  c.order = 2;
  c.window = 24;
  auto p = make("arima", c);
  const double w = 2 * std::numbers::pi / 24;
  for (int t = 0; t < 30; ++t) p->observe(100 + 40 * std::sin(w * t));
  EXPECT_NEAR(*p->predict(), 100 + 40 * std::sin(w * 30), 1e-6);
}

TEST(Predictors, PredictionsAreNeverNegative) {
  auto p = make("holt_winters");
  for (double v : {30.0, 20.0, 10.0, 0.0}) p->observe(v);
  EXPECT_GE(*p->predict(), 0.0);
  auto a = make("arima");
  for (double v : {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}) a->observe(v);  // constant: singular fit
  EXPECT_DOUBLE_EQ(*a->predict(), 0.0);
}

}  // namespace
}  // namespace servesim
