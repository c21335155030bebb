#include "fabric/fabric.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.h"

namespace servesim {

namespace {
// Bytes left below this count as drained (float noise from repeated rate changes).
constexpr double kEpsilonBytes = 1e-6;
}

Fabric::Fabric(std::vector<FabricLink> links) : links_(std::move(links)), link_bytes_(links_.size(), 0.0) {
  for (size_t i = 0; i < links_.size(); ++i)
    if (!(links_[i].bytes_per_s > 0)) throw InvariantError("fabric link with non-positive bandwidth");
}

Fabric::FlowId Fabric::start(TimeNs now, double bytes, std::vector<std::int32_t> path, double cap_bytes_per_s) {
  if (!(cap_bytes_per_s > 0)) throw InvariantError("fabric flow with a non-positive rate cap");
  advance(now);
  TimeNs latency = 0;
  for (auto l : path) latency += links_.at(static_cast<size_t>(l)).latency_ns;
  FlowId id = next_id_++;
  active_.push_back(Flow{id, bytes, 0, cap_bytes_per_s, std::move(path), latency});
  recompute();
  return id;
}

void Fabric::set_cap(TimeNs now, FlowId id, double cap_bytes_per_s) {
  if (!(cap_bytes_per_s > 0)) throw InvariantError("fabric flow with a non-positive rate cap");
  advance(now);
  for (auto& f : active_)
    if (f.id == id) f.cap = cap_bytes_per_s;
  recompute();
}

void Fabric::advance(TimeNs now) {
  if (now < now_) throw InvariantError("fabric: time went backwards");
  const double dt = ns_to_s(now - now_);
  for (auto& f : active_) {
    if (f.path.empty()) continue;
    const double moved = std::min(f.remaining, f.rate * dt);
    f.remaining -= f.rate * dt;
    for (auto l : f.path) link_bytes_[static_cast<size_t>(l)] += moved;
  }
  now_ = now;
}

TimeNs Fabric::next_drain() const {
  TimeNs best = kNever;
  for (const auto& f : active_) {
    if (f.remaining <= kEpsilonBytes || f.path.empty()) return now_;
    best = std::min(best, now_ + static_cast<TimeNs>(std::ceil(f.remaining / f.rate * 1e9)));
  }
  return best;
}

std::vector<Fabric::Drained> Fabric::drain_until(TimeNs now) {
  advance(now);
  std::vector<Drained> done;
  std::erase_if(active_, [&](const Flow& f) {
    // a flow within a nanosecond of its last byte has drained (rounding of its completion time)
    bool drained = f.path.empty() || f.remaining <= std::max(kEpsilonBytes, f.rate * 1e-9);
    if (drained) done.push_back({f.id, f.latency_ns});
    return drained;
  });
  if (!done.empty()) recompute();
  return done;
}

std::vector<std::int32_t> Fabric::link_flows() const {
  std::vector<std::int32_t> n(links_.size(), 0);
  for (const auto& f : active_)
    for (auto l : f.path) ++n[static_cast<size_t>(l)];
  return n;
}

double Fabric::rate(FlowId id) const {
  for (const auto& f : active_)
    if (f.id == id) return f.rate;
  return 0;
}

std::vector<double> Fabric::link_load() const {
  std::vector<double> load(links_.size(), 0.0);
  for (const auto& f : active_)
    for (auto l : f.path) load[static_cast<size_t>(l)] += f.rate;
  return load;
}

// Progressive filling: repeatedly find the link whose remaining capacity, split evenly among
// its unfixed flows, is smallest; those flows get that share and are fixed.
void Fabric::recompute() {
  std::vector<double> capacity(links_.size());
  for (size_t i = 0; i < links_.size(); ++i) capacity[i] = links_[i].bytes_per_s;
  std::vector<int> unfixed_on(links_.size(), 0);
  std::vector<bool> fixed(active_.size(), false);
  size_t left = 0;
  for (size_t k = 0; k < active_.size(); ++k) {
    if (active_[k].path.empty()) {  // same GPU: nothing to move
      fixed[k] = true;
      active_[k].rate = std::numeric_limits<double>::infinity();
      continue;
    }
    ++left;
    for (auto l : active_[k].path) ++unfixed_on[static_cast<size_t>(l)];
  }
  auto fix = [&](size_t k, double rate) {
    fixed[k] = true;
    --left;
    active_[k].rate = rate;
    for (auto l : active_[k].path) {
      capacity[static_cast<size_t>(l)] -= rate;
      --unfixed_on[static_cast<size_t>(l)];
    }
  };
  while (left > 0) {
    double share = std::numeric_limits<double>::infinity();
    size_t bottleneck = 0;
    for (size_t l = 0; l < links_.size(); ++l)
      if (unfixed_on[l] > 0 && capacity[l] / unfixed_on[l] < share) share = capacity[l] / unfixed_on[l], bottleneck = l;
    // a capped flow below the fair share takes its cap and leaves the rest to the others
    size_t capped = active_.size();
    for (size_t k = 0; k < active_.size(); ++k)
      if (!fixed[k] && active_[k].cap < share && (capped == active_.size() || active_[k].cap < active_[capped].cap))
        capped = k;
    if (capped < active_.size()) {
      fix(capped, active_[capped].cap);
      continue;
    }
    for (size_t k = 0; k < active_.size(); ++k) {
      if (fixed[k]) continue;
      const auto& p = active_[k].path;
      if (std::find(p.begin(), p.end(), static_cast<std::int32_t>(bottleneck)) == p.end()) continue;
      fix(k, share);
    }
  }
}

}  // namespace servesim
