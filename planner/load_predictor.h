#pragma once
// Load predictors for the planner: observe one value per adjustment interval (request rate,
// mean ISL/OSL, ...), predict the next. Plain classes behind a registry, chosen by name.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/registry.h"

namespace servesim {

struct PredictorConfig {
  std::string name = "constant";  // constant | moving_average | holt_winters | arima
  int window = 5;                 // moving_average: values averaged; arima: history fitted
  double alpha = 0.5;             // holt_winters: level smoothing
  double beta = 0.3;              // holt_winters: trend smoothing
  int order = 2;                  // arima: AR order p
  template <class V>
  void visit(V& v) {
    v.field("name", name, "load predictor (servesim --list)");
    v.field("window", window, "moving_average: values averaged; arima: history the AR model is fitted on",
            config::at_least(1));
    v.field("alpha", alpha, "holt_winters: level smoothing factor", config::between(0.01, 1));
    v.field("beta", beta, "holt_winters: trend smoothing factor", config::between(0, 1));
    v.field("order", order, "arima: autoregressive order p", config::between(1, 16));
  }
};

class LoadPredictor {
 public:
  virtual ~LoadPredictor() = default;
  virtual void observe(double value) = 0;
  // The next interval's value; nullopt before anything was observed. Never negative.
  virtual std::optional<double> predict() const = 0;
};

using PredictorRegistry = Registry<"load predictor", LoadPredictor, const PredictorConfig&>;

}  // namespace servesim
