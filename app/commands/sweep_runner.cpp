#include "app/commands/sweep_runner.h"

#include <hdf5.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "scenario/scenario.h"

extern char** environ;

namespace servesim {

std::string servesim_binary() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw std::runtime_error("cannot find the servesim binary (/proc/self/exe)");
  self[n] = '\0';
  return self;
}

Metrics read_summary(const std::string& path) {
  Metrics out;
  if (!std::filesystem::exists(path)) return out;
  H5E_BEGIN_TRY {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
      hid_t d = H5Dopen2(f, "summary", H5P_DEFAULT);
      if (d >= 0) {
        hid_t t = H5Dget_type(d);
        const int n = H5Tget_nmembers(t);
        std::vector<double> row(static_cast<size_t>(std::max(n, 0)));
        hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(double) * row.size());
        std::vector<std::string> names;
        for (int i = 0; i < n; ++i) {
          char* name = H5Tget_member_name(t, static_cast<unsigned>(i));
          names.emplace_back(name);
          H5free_memory(name);
          H5Tinsert(mt, names.back().c_str(), sizeof(double) * static_cast<size_t>(i), H5T_NATIVE_DOUBLE);
        }
        if (n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, row.data()) >= 0)
          for (int i = 0; i < n; ++i) out[names[static_cast<size_t>(i)]] = row[static_cast<size_t>(i)];
        H5Tclose(mt);
        H5Tclose(t);
        H5Dclose(d);
      }
      H5Fclose(f);
    }
  }
  H5E_END_TRY;
  return out;
}

SweepRunner::SweepRunner(std::string binary, std::string base_scenario, std::vector<std::string> fixed_overrides,
                         std::string trial_dir, int jobs, double timeout_s, bool resume)
    : binary_(std::move(binary)),
      base_(std::move(base_scenario)),
      fixed_(std::move(fixed_overrides)),
      dir_(std::move(trial_dir)),
      jobs_(std::max(1, jobs)),
      timeout_s_(timeout_s),
      resume_(resume) {
  std::filesystem::create_directories(dir_);
}

namespace {
// A string attribute of a run file ("" when the file, object or attribute is missing).
std::string read_meta_text(const std::string& path, const char* object, const char* attribute) {
  std::string out;
  H5E_BEGIN_TRY {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
      if (H5Aexists_by_name(f, object, attribute, H5P_DEFAULT) > 0) {
        hid_t a = H5Aopen_by_name(f, object, attribute, H5P_DEFAULT, H5P_DEFAULT);
        hid_t t = H5Aget_type(a);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        char* text = nullptr;
        if (H5Tis_variable_str(t) > 0 && H5Aread(a, mt, &text) >= 0 && text) {
          out = text;
          H5free_memory(text);
        }
        H5Tclose(mt);
        H5Tclose(t);
        H5Aclose(a);
      }
      H5Fclose(f);
    }
  }
  H5E_END_TRY;
  return out;
}
}  // namespace

// A finished trial file is reused only when it ran to the end (not interrupted) and from the very
// scenario this job would run now: the effective YAML (seed included) must match byte for byte.
bool SweepRunner::reusable(const std::string& file, const TrialJob& job) {
  if (read_summary(file).empty()) return false;
  const std::string status = read_meta_text(file, "summary", "status");
  if (status != "completed" && status != "max_time") {
    ++stale_;
    return false;
  }
  std::vector<std::string> overrides = fixed_;
  overrides.insert(overrides.end(), job.overrides.begin(), job.overrides.end());
  const std::string expected =
      load_scenario_file(job.scenario.empty() ? base_ : job.scenario, overrides, job.seed).effective_yaml;
  if (read_meta_text(file, "meta", "scenario_yaml") == expected) return true;
  ++stale_;
  return false;
}

std::string SweepRunner::run_file(std::uint64_t id, int replication) const {
  return fmt::format("{}/t{}_r{}.h5", dir_, id, replication);
}

namespace {
// Starts one trial run with its output in `log`. The child dies with the sweep: SIGTERM when the
// sweep ends for any reason (kill -9 included), so no trial outlives it to race a later --resume.
pid_t spawn_trial(const std::string& binary, const std::vector<char*>& argv, const std::string& log) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(fmt::format("cannot start {}: {}", binary, std::strerror(errno)));
  if (pid == 0) {  // the child: async-signal-safe calls only
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the sweep died before the line above
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(127);
    execve(binary.c_str(), argv.data(), environ);
    _exit(127);
  }
  return pid;
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}
}  // namespace

std::vector<TrialRun> SweepRunner::run(const std::vector<TrialJob>& jobs,
                                       const std::function<void(size_t, size_t)>& progress) {
  using Clock = std::chrono::steady_clock;
  std::vector<TrialRun> out(jobs.size());
  struct Running {
    pid_t pid;
    size_t job;
    Clock::time_point start;
  };
  std::vector<Running> running;
  size_t next = 0, finished = 0;
  auto finish = [&](size_t j, const std::string& status, double wall, const std::string& error) {
    TrialRun& r = out[j];
    r.id = jobs[j].id;
    r.replication = jobs[j].replication;
    r.seed = jobs[j].seed;
    r.status = status;
    r.wall_s = wall;
    r.error = error;
    if (status == "ok") {
      r.metrics = read_summary(run_file(r.id, r.replication));
      if (r.metrics.empty()) r.status = "failed", r.error = "the run wrote no /summary";
    }
    ++finished;
    if (progress) progress(finished, jobs.size());
  };
  while (finished < jobs.size()) {
    while (next < jobs.size() && running.size() < static_cast<size_t>(jobs_)) {
      const TrialJob& job = jobs[next];
      const std::string file = run_file(job.id, job.replication);
      if (resume_ && reusable(file, job)) {
        ++reused_;
        out[next].reused = true;
        finish(next++, "ok", 0, "");
        continue;
      }
      std::vector<std::string> args{binary_, "run", job.scenario.empty() ? base_ : job.scenario, "-q", "-o", file, "--seed", std::to_string(job.seed)};
      for (const auto& o : fixed_) args.insert(args.end(), {"--set", o});
      for (const auto& o : job.overrides) args.insert(args.end(), {"--set", o});
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const std::string log = file.substr(0, file.size() - 3) + ".log";
      const pid_t pid = spawn_trial(binary_, argv, log);
      running.push_back({pid, next++, Clock::now()});
      ++ran_;
    }
    bool reaped = false;
    for (size_t k = 0; k < running.size();) {
      int status = 0;
      const double wall = std::chrono::duration<double>(Clock::now() - running[k].start).count();
      const pid_t r = waitpid(running[k].pid, &status, WNOHANG);
      const std::string log = run_file(jobs[running[k].job].id, jobs[running[k].job].replication);
      const std::string log_path = log.substr(0, log.size() - 3) + ".log";
      if (r == running[k].pid) {
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        finish(running[k].job, ok ? "ok" : "failed", wall, ok ? "" : last_line(log_path));
      } else if (wall > timeout_s_) {
        kill(running[k].pid, SIGKILL);
        waitpid(running[k].pid, &status, 0);
        finish(running[k].job, "timeout", wall, fmt::format("killed after {:.0f} s", timeout_s_));
      } else {
        ++k;
        continue;
      }
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
      reaped = true;
    }
    if (!reaped && !running.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return out;
}

}  // namespace servesim
