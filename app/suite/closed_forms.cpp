#include "app/suite/closed_forms.h"

#include <cmath>
#include <stdexcept>

namespace servesim::closed_form {

namespace {
void check_stable(double rho) {
  if (!(rho > 0 && rho < 1)) throw std::invalid_argument("utilisation must lie in (0, 1) for a steady state");
}

// P(Poisson(mean) >= m) for m > mean: the upper tail, summed upward from the pmf at m in log
// space (no overflow for means in the hundreds of thousands).
double poisson_upper_tail(double mean, double m) {
  double log_term = m * std::log(mean) - mean - std::lgamma(m + 1);
  double term = std::exp(log_term), sum = 0;
  for (double j = m; term > 0; ++j) {
    sum += term;
    term *= mean / (j + 1);
    if (term < sum * 1e-17) break;
  }
  return sum;
}
}  // namespace

double md1_mean_wait_s(double lambda, double d) {
  const double rho = lambda * d;
  check_stable(rho);
  return rho * d / (2 * (1 - rho));
}

double mm1_mean_wait_s(double lambda, double s) {
  const double rho = lambda * s;
  check_stable(rho);
  return rho / (1 / s - lambda);
}

double ekd1_mean_wait_s(double lambda, int k, double d) {
  if (k < 1) throw std::invalid_argument("k must be at least 1");
  check_stable(lambda * d / k);
  // S_n = nD - G_n, G_n ~ Gamma(nk, lambda): E[(nD - G)^+] = nD F_nk(nD) - (nk / lambda) F_{nk+1}(nD),
  // with F_m(x) = P(Gamma(m, lambda) <= x) = P(Poisson(lambda x) >= m)
  double w = 0;
  for (long n = 1; n < 100'000'000; ++n) {
    const double x = static_cast<double>(n) * d, shape = static_cast<double>(n) * k, mean = lambda * x;
    const double term = (x * poisson_upper_tail(mean, shape) - shape / lambda * poisson_upper_tail(mean, shape + 1)) /
                        static_cast<double>(n);
    w += term;
    if (term < w * 1e-13 && n > 10) break;
  }
  return w;
}

}  // namespace servesim::closed_form
