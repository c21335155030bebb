#pragma once
// Link time series for the modules that move bytes over a Fabric (the KV fabric, kv_storage's
// fetcher): the cluster numbers their links one after the other for the observer.
#include <cstdint>
#include <vector>

#include "core/observer.h"
#include "fabric/fabric.h"

namespace servesim {

// Appends to `out` the bytes each of `fabric`'s links carried since the last call (`sampled`
// holds their running totals then, one per link) and its flows now, numbered from `first_link`;
// a link that carried nothing and has no flow is left out.
inline void sample_fabric_links(Fabric& fabric, TimeNs now, std::vector<double>& sampled, std::int32_t first_link,
                                std::vector<LinkSample>& out) {
  fabric.advance(now);
  const auto& bytes = fabric.link_bytes();
  const std::vector<std::int32_t> flows = fabric.link_flows();
  for (size_t l = 0; l < bytes.size(); ++l) {
    const double moved = bytes[l] - sampled[l];
    if (moved > 0 || flows[l] > 0) out.push_back({first_link + static_cast<std::int32_t>(l), moved, flows[l]});
    sampled[l] = bytes[l];
  }
}

}  // namespace servesim
