// servesim's Python API (import servesim): a scenario run stepped from Python, observed and scaled
// between steps, with an optional planner written in Python that runs in process over the same
// JSON messages as an external planner. python/servesim/__init__.py wraps this module.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fmt/format.h>

#include <limits>
#include <optional>

#include "cluster/run.h"
#include "core/error.h"
#include "planner/planner_protocol.h"

namespace py = pybind11;
using namespace servesim;

namespace {

// SystemC elaborates one simulation per process (its kernel is a process-wide singleton).
bool g_elaborated = false;

class Simulation {
 public:
  Simulation(const std::string& path, const std::vector<std::string>& overrides, std::optional<std::uint64_t> seed,
             py::object planner, const std::string& output) {
    if (g_elaborated)
      throw std::runtime_error(
          "servesim.Simulation: one simulation per Python process (SystemC elaborates once per process). Run each "
          "Simulation in its own process: multiprocessing (spawn), or servesim.run_in_subprocess()");
    std::vector<std::string> sets = overrides;
    ClusterMode mode;
    if (!planner.is_none()) {
      sets.push_back("planner.policy=external");
      sets.push_back("planner.external.connect=inprocess://");
      planner_ = planner;
      mode.planner = [this](const std::string& message, const PlannerAsk& ask) { return call_planner(message, ask); };
    }
    scenario_ = std::make_unique<LoadedScenario>(load_scenario_file(path, sets, seed));
    RunOptions options{output, false, false};
    g_elaborated = true;  // a scenario that did not load left SystemC untouched: another may be tried
    run_ = std::make_unique<ScenarioRun>(*scenario_, options, std::move(mode));
  }

  bool run_until(double t_s) {
    check_open();
    guarded([&] { run_->advance(t_s >= 9.2e9 ? std::numeric_limits<TimeNs>::max() : s_to_ns(t_s)); });
    return !run_->over();
  }

  double time_s() const { return ns_to_exact_s(now_ns()); }
  bool running() const { return run_ && !run_->over(); }

  std::string observe() {
    check_open();
    return planner_observation(0, now_ns(), run_->cluster().planner().peek());
  }

  void scale(const std::string& pool, int replicas) {
    check_open();
    const auto& pools = scenario_->config.pools;
    for (size_t i = 0; i < pools.size(); ++i) {
      if (pools[i].name != pool) continue;
      if (replicas < pools[i].lifecycle.min_replicas || replicas > worker_slots(pools[i]))
        throw py::value_error(fmt::format("pool '{}': replicas {} is outside {}..{} (its lifecycle.min_replicas.."
                                          "max_replicas)", pool, replicas, pools[i].lifecycle.min_replicas,
                                          worker_slots(pools[i])));
      run_->cluster().planner().command(i, replicas);
      return;
    }
    throw py::value_error(fmt::format("no pool is named '{}'", pool));
  }

  std::vector<std::pair<std::string, double>> finish() {
    check_open();
    guarded([&] { run_->advance(std::numeric_limits<TimeNs>::max()); });
    RunResult r;
    guarded([&] { r = run_->finish(); });
    finished_ = true;
    summary_ = r.metrics;
    table_ = r.summary_table;
    run_.reset();  // the planner gets its bye now, while it is still ours to call
    planner_ = py::none();
    return summary_;
  }

  const std::vector<std::pair<std::string, double>>& summary() const {
    if (!finished_) throw std::runtime_error("servesim.Simulation.summary(): call finish() first");
    return summary_;
  }
  const std::string& summary_table() const { return table_; }

 private:
  void check_open() const {
    if (broken_) throw std::runtime_error("servesim.Simulation: an earlier error ended this simulation");
    if (finished_) throw std::runtime_error("servesim.Simulation: finish() was called; the run is over");
  }

  // Errors inside the kernel end the simulation; a Python planner's own exception is raised as is.
  template <class F>
  void guarded(F&& f) {
    try {
      f();
    } catch (...) {
      broken_ = true;
      if (planner_error_) {
        py::error_already_set e = std::move(*planner_error_);
        planner_error_.reset();
        throw e;
      }
      throw;
    }
  }

  std::string call_planner(const std::string& message, const PlannerAsk& ask) {
    if (planner_.is_none()) return "";  // a bye after the planner was let go
    try {
      py::object ask_py = ask ? py::cpp_function([ask](const std::string& q) { return ask(q); }) : py::none().cast<py::object>();
      return planner_(message, ask_py).cast<std::string>();
    } catch (py::error_already_set& e) {
      const std::string what = e.what();
      planner_error_ = std::move(e);
      throw InputError("the Python planner raised " + what);
    }
  }

  std::unique_ptr<LoadedScenario> scenario_;
  std::unique_ptr<ScenarioRun> run_;
  py::object planner_ = py::none();
  std::optional<py::error_already_set> planner_error_;
  std::vector<std::pair<std::string, double>> summary_;
  std::string table_;
  bool finished_ = false, broken_ = false;
};

}  // namespace

PYBIND11_MODULE(_servesim, m) {
  m.doc() = "servesim's simulation kernel (use the servesim package, not this module)";
  py::register_exception<ConfigError>(m, "ConfigError", PyExc_ValueError);
  py::register_exception<InputError>(m, "InputError", PyExc_ValueError);
  py::register_exception<OutputError>(m, "OutputError", PyExc_OSError);
  py::register_exception<InvariantError>(m, "InvariantError", PyExc_RuntimeError);
  py::class_<Simulation>(m, "Simulation")
      .def(py::init<const std::string&, const std::vector<std::string>&, std::optional<std::uint64_t>, py::object,
                    const std::string&>(),
           py::arg("scenario"), py::arg("overrides"), py::arg("seed"), py::arg("planner"), py::arg("output"))
      .def("run_until", &Simulation::run_until, py::arg("t_s"))
      .def("observe", &Simulation::observe)
      .def("scale", &Simulation::scale, py::arg("pool"), py::arg("replicas"))
      .def("finish", &Simulation::finish)
      .def("summary", &Simulation::summary)
      .def("summary_table", &Simulation::summary_table)
      .def_property_readonly("time_s", &Simulation::time_s)
      .def_property_readonly("running", &Simulation::running);
  m.attr("protocol_version") = kPlannerProtocolVersion;
}
