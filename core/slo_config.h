#pragma once
// The service-level objective a run's goodput and SLO attainment are measured against.
#include <string>
#include <vector>

#include "core/config.h"
#include "core/units.h"

namespace servesim {

using config::at_least;
using config::between;
using config::one_of;
using config::positive;

// A class of requests with its own targets (e.g. interactive chat against batch jobs).
struct SloClassConfig {
  std::string name;
  Duration ttft{2.0};
  Duration itl{0.1};
  template <class V>
  void visit(V& v) {
    v.field("name", name, "the class's name, as requests give it (trace field slo_class)");
    v.field("ttft", ttft, "time-to-first-token target of the class", positive());
    v.field("itl", itl, "mean inter-token latency target of the class", positive());
  }
};

struct SloConfig {
  Duration ttft{2.0};
  Duration itl{0.1};
  std::vector<SloClassConfig> classes;
  template <class V>
  void visit(V& v) {
    v.field("ttft", ttft, "time-to-first-token target for goodput (requests of no class)", positive());
    v.field("itl", itl, "mean inter-token latency target for goodput (requests of no class)", positive());
    v.field("classes", classes,
            "SLO classes, each {name, ttft, itl}: a request naming one is measured against its targets, and the "
            "summary gives each class its attainment and goodput");
  }
  // The targets of class `k` (-1: the default ones), in seconds.
  double ttft_s(int k) const { return k < 0 ? ttft.seconds : classes[static_cast<size_t>(k)].ttft.seconds; }
  double itl_s(int k) const { return k < 0 ? itl.seconds : classes[static_cast<size_t>(k)].itl.seconds; }
  std::vector<std::string> class_names() const {
    std::vector<std::string> names;
    for (const auto& c : classes) names.push_back(c.name);
    return names;
  }
  int class_index(const std::string& name) const {
    for (size_t i = 0; i < classes.size(); ++i)
      if (classes[i].name == name) return static_cast<int>(i);
    return -1;
  }
};

}  // namespace servesim
