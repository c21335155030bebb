#pragma once
// A suite file: runs (a scenario, --set overrides, seeds) and what each must show: expectations
// on summary metrics (a recorded value with a tolerance, or a closed-form reference) and checks
// across runs (orderings, monotone series). `servesim suite` runs it; docs/suites.md explains it.
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/units.h"

namespace servesim {

// A value computed from first principles instead of recorded from a run (app/suite/references.h).
struct SuiteReferenceConfig {
  std::string formula;                      // md1_wait | mm1_wait | ekd1_wait | mdc_random_wait | prefix_bound
  std::optional<double> service_s;          // queueing: the deterministic (or mean) service time
  std::optional<double> arrival_rate;       // default: the run's workload.synthetic.arrival.rate
  std::optional<int> servers;               // default: the run's pools.0.replicas
  template <class V>
  void visit(V& v) {
    v.field("formula", formula, "closed form: md1_wait, mm1_wait, ekd1_wait, mdc_random_wait, prefix_bound",
            config::one_of({"md1_wait", "mm1_wait", "ekd1_wait", "mdc_random_wait", "prefix_bound"}));
    v.field("service_s", service_s, "queueing forms: service time in seconds (the mean for mm1_wait)",
            config::greater_than(0));
    v.field("arrival_rate", arrival_rate, "queueing forms: arrivals per second (default: the run's Poisson rate)",
            config::greater_than(0));
    v.field("servers", servers, "ekd1_wait, mdc_random_wait: servers sharing the stream (default: pools.0.replicas)",
            config::at_least(1));
  }
};

struct SuiteExpectConfig {
  std::string metric;
  std::optional<double> value;      // recorded (rewritten by --update)
  std::optional<SuiteReferenceConfig> reference;  // or computed
  std::optional<double> abs, rel;   // tolerances; both given: either one suffices
  bool ci = false;                  // the replications' 95% interval must contain the value
  std::optional<double> max, min;   // bounds instead of a value
  std::string bound;                // "" (equal within tolerance) | upper | lower
  template <class V>
  void visit(V& v) {
    v.field("metric", metric, "a summary metric (servesim run's /summary) or a run-file check (docs/suites.md)");
    v.field("value", value, "the expected value (recorded; `servesim suite --update` rewrites it)");
    v.field("reference", reference, "instead of value: a closed form computed by the suite");
    v.field("abs", abs, "absolute tolerance", config::at_least(0));
    v.field("rel", rel, "relative tolerance (a fraction of the expected value)", config::at_least(0));
    v.field("ci", ci, "statistical: the replications' 95% t-interval of the mean must contain the value");
    v.field("max", max, "instead of a value: the metric must not exceed this");
    v.field("min", min, "instead of a value: the metric must not fall below this");
    v.field("bound", bound, "upper: the metric must not exceed the value (plus tolerance); lower: not fall below it",
            config::one_of({"upper", "lower"}));
  }
};

struct SuiteRunConfig {
  std::string name;
  std::string group;                // docs table it belongs to (default: name up to its first '_')
  std::string scenario;             // relative to the suite file
  std::vector<std::string> set;     // --set KEY=VALUE
  std::uint64_t seed = 1;
  int replications = 1;
  std::vector<SuiteExpectConfig> expect;
  template <class V>
  void visit(V& v) {
    v.field("name", name, "the run's name (unique in the suite; checks refer to it)");
    v.field("group", group, "the docs table it belongs to (default: the name up to its first '_')");
    v.field("scenario", scenario, "scenario file, relative to the suite file");
    v.field("set", set, "overrides, as --set KEY=VALUE");
    v.field("seed", seed, "seed of replication 0; replication k runs with seed + k");
    v.field("replications", replications, "independent runs; metrics are their mean", config::at_least(1));
    v.field("expect", expect, "what the run must show");
  }
};

// A relation between runs: `a metric b` orderings, or a series that must be monotone.
struct SuiteCheckConfig {
  std::string metric;
  std::string relation;             // greater | less | increasing | decreasing | nonincreasing | nondecreasing
  std::vector<std::string> runs;    // two for greater/less (first REL second); two or more for series
  template <class V>
  void visit(V& v) {
    v.field("metric", metric, "summary metric compared across runs");
    v.field("relation", relation, "greater | less (runs[0] against runs[1]); increasing | decreasing | "
            "nondecreasing | nonincreasing (over runs in order)",
            config::one_of({"greater", "less", "increasing", "decreasing", "nondecreasing", "nonincreasing"}));
    v.field("runs", runs, "run names");
  }
};

struct SuiteConfig {
  std::string name = "suite";
  std::string description;
  Duration timeout{900.0};
  std::vector<SuiteRunConfig> runs;
  std::vector<SuiteCheckConfig> checks;
  template <class V>
  void visit(V& v) {
    v.field("name", name, "suite name (default output results/<name>.h5)");
    v.field("description", description, "what the suite shows");
    v.field("timeout", timeout, "wall-clock limit of one run", config::greater_than(0));
    v.field("runs", runs, "the runs");
    v.field("checks", checks, "relations between runs");
  }
};

}  // namespace servesim
