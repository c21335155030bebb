#pragma once
// Queueing closed forms that a suite's ground-truth expectations are computed from, so that no
// reference value is ever copied from the simulator. All times in seconds, rates per second.
namespace servesim::closed_form {

// M/D/1 mean wait in queue (Pollaczek–Khinchine): rho D / (2 (1 - rho)), rho = lambda D.
double md1_mean_wait_s(double arrival_rate_per_s, double service_s);

// M/M/1 mean wait in queue: rho / (mu - lambda), mu = 1 / mean service.
double mm1_mean_wait_s(double arrival_rate_per_s, double mean_service_s);

// E_k/D/1 mean wait in queue: a server that takes every k-th arrival of a Poisson stream of rate
// lambda (round-robin over k servers) sees Erlang-k interarrival times; with deterministic
// service D, Spitzer's identity gives E[W] = sum_n E[(S_n)^+] / n, S_n = nD - Gamma(nk, lambda),
// summed here until the terms vanish (k = 1 is M/D/1 exactly).
double ekd1_mean_wait_s(double arrival_rate_per_s, int k, double service_s);

}  // namespace servesim::closed_form
