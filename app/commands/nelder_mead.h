#pragma once
// Derivative-free minimisation (Nelder-Mead simplex) for the few parameters calibration fits.
#include <algorithm>
#include <functional>
#include <numeric>
#include <vector>

namespace servesim {

struct MinimizeResult {
  std::vector<double> x;
  double value;
};

// Minimises f from x0 with initial steps `step` per coordinate; stops when the simplex's values
// agree to `tolerance` or after `max_evaluations`.
inline MinimizeResult nelder_mead(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x0,
                                  const std::vector<double>& step, double tolerance = 1e-10,
                                  int max_evaluations = 4000) {
  const size_t n = x0.size();
  std::vector<std::vector<double>> p(n + 1, x0);
  for (size_t i = 0; i < n; ++i) p[i + 1][i] += step[i];
  std::vector<double> v(n + 1);
  int evals = 0;
  auto eval = [&](const std::vector<double>& x) {
    ++evals;
    return f(x);
  };
  for (size_t i = 0; i <= n; ++i) v[i] = eval(p[i]);
  std::vector<size_t> order(n + 1);
  while (evals < max_evaluations) {
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    const size_t best = order.front(), worst = order.back(), second = order[n - 1];
    if (v[worst] - v[best] <= tolerance * (1 + std::abs(v[best]))) break;
    std::vector<double> c(n, 0.0);
    for (size_t i = 0; i <= n; ++i)
      if (i != worst)
        for (size_t k = 0; k < n; ++k) c[k] += p[i][k] / static_cast<double>(n);
    auto along = [&](double t) {
      std::vector<double> x(n);
      for (size_t k = 0; k < n; ++k) x[k] = c[k] + t * (p[worst][k] - c[k]);
      return x;
    };
    std::vector<double> r = along(-1);
    const double vr = eval(r);
    if (vr < v[best]) {
      std::vector<double> e = along(-2);
      const double ve = eval(e);
      if (ve < vr) p[worst] = e, v[worst] = ve;
      else p[worst] = r, v[worst] = vr;
    } else if (vr < v[second]) {
      p[worst] = r, v[worst] = vr;
    } else {
      std::vector<double> k = along(vr < v[worst] ? -0.5 : 0.5);
      const double vk = eval(k);
      if (vk < std::min(vr, v[worst])) {
        p[worst] = k, v[worst] = vk;
      } else {  // shrink towards the best
        for (size_t i = 0; i <= n; ++i) {
          if (i == best) continue;
          for (size_t j = 0; j < n; ++j) p[i][j] = p[best][j] + 0.5 * (p[i][j] - p[best][j]);
          v[i] = eval(p[i]);
        }
      }
    }
  }
  const size_t best = static_cast<size_t>(std::min_element(v.begin(), v.end()) - v.begin());
  return {p[best], v[best]};
}

}  // namespace servesim
