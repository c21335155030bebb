#include "live/live_run.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <future>
#include <mutex>

#include "cluster/cluster.h"
#include "cluster/run_recorder.h"
#include "core/hdf5_writer.h"
#include "core/histogram.h"
#include "core/result_file.h"
#include "live/gateway.h"
#include "live/live_metrics.h"
#include "models/catalog.h"

namespace servesim::live {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_live_signal(int sig) {
  if (g_stop_signal != 0) _exit(128 + sig);  // a second signal: out at once
  g_stop_signal = sig;
}

void start_kernel(const sc_core::sc_time& t) {
  try {
    sc_core::sc_start(t, sc_core::SC_RUN_TO_TIME);
  } catch (const sc_core::sc_report& e) {
    rethrow_recorded(e.what());
    throw;
  }
}

double epoch_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Work the HTTP threads need done on the simulation thread, between kernel slices.
class SimThreadTasks {
 public:
  template <class F>
  auto call(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    {
      std::lock_guard lock(mu_);
      if (closed_) return {};
      tasks_.emplace_back([&task] { task(); });
    }
    wake();
    return result.get();
  }
  void wake() {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_one();
  }
  void run_pending() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
  }
  // Sleeps until woken, a task arrives, or `until`.
  void wait_until(std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, until, [&] { return woken_ || !tasks_.empty(); });
    woken_ = false;
  }
  void close() {  // later calls return an empty result at once
    std::lock_guard lock(mu_);
    closed_ = true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool woken_ = false, closed_ = false;
};

void write_live_group(const std::string& path, const Gateway& gateway, const Cluster& cluster, const LogHistogram& lag,
                      const PromHistogram& lag_buckets, const LiveOptions& options, int port, double wall_s) {
  h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  if (file.get() < 0) throw OutputError(fmt::format("{}: cannot reopen to add /live", path));
  h5::Handle group = h5::create_group(file.get(), "live");
  h5::write_string_attribute(group.get(), "host", options.server.host);
  h5::write_int_attribute(group.get(), "port", port);
  h5::write_string_attribute(group.get(), "speedup", fmt::format("{}", options.speedup));
  h5::write_string_attribute(group.get(), "wall_s", fmt::format("{:.6f}", wall_s));
  h5::write_string_attribute(group.get(), "lag_p50_s", fmt::format("{:.6g}", lag.quantile(0.5)));
  h5::write_string_attribute(group.get(), "lag_p99_s", fmt::format("{:.6g}", lag.quantile(0.99)));
  h5::Columns rows;
  auto& client = rows.add<std::uint64_t>("client_id");
  auto& request = rows.add<std::uint64_t>("request_id");
  auto& prompt = rows.add<std::int32_t>("prompt_tokens");
  auto& max_tokens = rows.add<std::int32_t>("max_tokens");
  auto& tokens = rows.add<std::int32_t>("output_tokens");
  auto& cached = rows.add<std::int32_t>("cached_tokens");
  auto& status = rows.add<std::int32_t>("status");
  auto& sim_arrival = rows.add<double>("sim_arrival_s");
  auto& sim_first = rows.add<double>("sim_first_token_s");
  auto& sim_finish = rows.add<double>("sim_finish_s");
  auto& wall_arrival = rows.add<double>("wall_arrival_s");
  auto& wall_first = rows.add<double>("wall_first_token_s");
  auto& wall_last = rows.add<double>("wall_last_token_s");
  auto& wall_finish = rows.add<double>("wall_finish_s");
  for (const auto& rp : gateway.ended()) {  // the server has stopped: no HTTP thread writes these now
    const ClientRequest& r = *rp;
    client.push_back(r.client_id);
    request.push_back(r.request_id);
    prompt.push_back(static_cast<std::int32_t>(r.prompt_tokens));
    max_tokens.push_back(static_cast<std::int32_t>(r.api.max_tokens));
    tokens.push_back(static_cast<std::int32_t>(r.tokens));
    cached.push_back(static_cast<std::int32_t>(r.cached_tokens));
    status.push_back(static_cast<std::int32_t>(r.status));
    sim_arrival.push_back(r.sim_arrival_s);
    sim_first.push_back(r.sim_first_token_s);
    sim_finish.push_back(r.sim_finish_s);
    wall_arrival.push_back(r.wall_arrival_s);
    wall_first.push_back(r.wall_first_token_s);
    wall_last.push_back(r.wall_last_token_s);
    wall_finish.push_back(r.wall_finish_s);
  }
  h5::write_columns(group.get(), "requests", rows);
  h5::Columns buckets;
  auto& le = buckets.add<double>("le_s");
  auto& count = buckets.add<std::uint64_t>("count");
  for (size_t i = 0; i <= lag_buckets.bounds().size(); ++i) {
    le.push_back(i < lag_buckets.bounds().size() ? lag_buckets.bounds()[i] : HUGE_VAL);
    count.push_back(lag_buckets.counts()[i]);
  }
  h5::write_columns(group.get(), "lag", buckets);
  // what each prefix cache holds at the end: a KV-event subscriber's rebuilt view must equal it
  h5::Columns cache;
  auto& worker = cache.add<std::int32_t>("worker");
  auto& key = cache.add<std::uint64_t>("block_hash");
  for (const auto& w : cluster.workers())
    for (std::uint64_t k : w->cached_block_keys()) {
      worker.push_back(w->id());
      key.push_back(k);
    }
  h5::write_columns(group.get(), "kv_cache", cache);
}

}  // namespace

int run_live(const LoadedScenario& scenario, const LiveOptions& options) {
  const ScenarioConfig& cfg = scenario.config;
  if (!(options.speedup > 0) || options.speedup > 1e6)
    throw ConfigError(fmt::format("--speedup {}: must be in (0, 1e6]", options.speedup));
  configure_kernel();
  // an empty slice is how the loop lets queued requests in; SystemC would warn about each
  sc_core::sc_report_handler::set_actions(sc_core::SC_ID_NO_SC_START_ACTIVITY_, sc_core::SC_DO_NOTHING);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
  g_stop_signal = 0;
  struct sigaction sa {}, old_int {}, old_term {};
  sa.sa_handler = on_live_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  std::unique_ptr<ResultFile> out_file;
  if (!options.output_path.empty())
    out_file = std::make_unique<ResultFile>(options.output_path, std::vector<std::string>{scenario.source_name},
                                            cfg.output.flush_interval.seconds);
  RunRecorder recorder(scenario, out_file ? out_file->working_path() : std::string(), out_file.get());
  LiveMetrics metrics(cfg);

  // live prompts hash at the finest block size, so every shared engine block is found
  std::vector<std::string> models = served_models(cfg), worker_names;
  std::vector<std::int32_t> block_sizes;
  std::vector<const PoolConfig*> pool_of_worker;
  std::int32_t hash_block = 0;
  std::uint64_t max_request_tokens = 0;
  for (const PoolConfig& pool : cfg.pools) {
    hash_block = hash_block ? std::min(hash_block, pool.engine.block_size) : pool.engine.block_size;
    const auto tokens = static_cast<std::uint64_t>(kv_capacity(pool, Catalog::builtin()).blocks) *
                        static_cast<std::uint64_t>(pool.engine.block_size);
    max_request_tokens = max_request_tokens ? std::min(max_request_tokens, tokens) : tokens;
    for (int k = 0; k < worker_slots(pool); ++k) {
      worker_names.push_back(worker_name(pool, k));
      block_sizes.push_back(pool.engine.block_size);
      pool_of_worker.push_back(&pool);
    }
  }
  Gateway gateway("live_gateway", static_cast<std::uint32_t>(hash_block), options.speedup);
  ObserverTee to_metrics(recorder, metrics);
  ObserverTee observers(to_metrics, gateway);
  std::unique_ptr<KvPublisher> kv;
  ClusterMode mode;
  mode.open_ended = true;
  mode.replay_workload = options.replay_workload;
  if (!options.kv.endpoint.empty()) {
    // the socket binds before anything runs, so a bad endpoint fails at once
    kv = std::make_unique<KvPublisher>(options.kv, worker_names, block_sizes);
    mode.kv_sink = kv.get();
    std::vector<std::string> adapters;
    for (const ServedAdapter& a : served_adapters(cfg)) adapters.push_back(a.name);
    kv->set_lora_names(adapters);
    gateway.on_submit = [&kv, hash_block, adapters](const std::vector<std::uint32_t>& tokens,
                                                    const std::vector<std::uint64_t>& ids, const std::string& model) {
      const auto a = std::find(adapters.begin(), adapters.end(), model);
      kv->remember_tokens(tokens, ids, static_cast<std::uint32_t>(hash_block),
                          a == adapters.end() ? -1 : static_cast<std::int32_t>(a - adapters.begin()));
    };
  }
  Cluster cluster("cluster", scenario, observers, mode);
  gateway.bind_cluster(cluster);

  const auto wall0 = std::chrono::steady_clock::now();
  auto wall_s = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count(); };
  SimThreadTasks tasks;
  ServerOptions server_options = options.server;
  server_options.models = models;
  server_options.model_parents.assign(models.size(), "");
  for (const ServedAdapter& a : served_adapters(cfg)) {  // an adapter is used by naming it as the model
    server_options.models.push_back(a.name);
    server_options.model_parents.push_back(models.at(static_cast<size_t>(a.model)));
  }
  if (!server_options.limits.max_request_tokens) server_options.limits.max_request_tokens = max_request_tokens;
  ServerHooks hooks;
  hooks.submit = [&](std::shared_ptr<ClientRequest> c) {
    gateway.inbox().post(Inbox::Command{std::move(c), 0});
    tasks.wake();
  };
  hooks.abort = [&](std::uint64_t id) {
    gateway.inbox().post(Inbox::Command{nullptr, id});
    tasks.wake();
  };
  hooks.metrics = [&] { return tasks.call([&] { return metrics.render(cluster, ns_to_s(now_ns())); }); };
  hooks.wall_s = wall_s;
  LiveServer server(server_options, hooks);
  // --per-worker-ports: each worker's own endpoint, ready while the lifecycle says so
  const size_t n_workers = cluster.num_workers();
  auto worker_ready = std::make_unique<std::atomic<bool>[]>(n_workers);
  std::vector<std::unique_ptr<LiveServer>> worker_servers;
  if (options.per_worker_ports > 0) {
    if (options.per_worker_ports + static_cast<int>(n_workers) - 1 > 65535)
      throw ConfigError(fmt::format("--per-worker-ports {}: {} workers need ports up to {}, above 65535",
                                    options.per_worker_ports, n_workers, options.per_worker_ports + n_workers - 1));
    for (size_t i = 0; i < n_workers; ++i) {
      ServerOptions wo = server_options;
      wo.port = options.per_worker_ports + static_cast<int>(i);
      wo.worker = static_cast<std::int32_t>(i);
      wo.serves_completions = role_of(*pool_of_worker[i]) != WorkerRole::kPrefill;
      ServerHooks wh = hooks;
      wh.metrics = [&, i] {
        return tasks.call([&, i] { return metrics.render(cluster, ns_to_s(now_ns()), static_cast<std::int32_t>(i)); });
      };
      wh.ready = [&worker_ready, i] { return worker_ready[i].load(); };
      worker_servers.push_back(std::make_unique<LiveServer>(wo, wh));
    }
  }
  auto publish_worker_states = [&] {
    for (size_t i = 0; i < n_workers; ++i) worker_ready[i] = cluster.lifecycle().state(i) == WorkerState::kReady;
  };
  // whatever happens, no HTTP thread is left waiting for a request that will never end
  struct EndOpen {
    Gateway& g;
    SimThreadTasks& t;
    ~EndOpen() {
      t.close();
      g.end_all(ns_to_s(now_ns()));
      try {
        t.run_pending();
      } catch (...) {  // unwinding already: the first error is the one reported
      }
    }
  } end_open{gateway, tasks};

  start_kernel(sc_core::SC_ZERO_TIME);  // elaborate
  publish_worker_states();
  server.start();
  for (auto& ws : worker_servers) ws->start();
  std::printf("servesim live: http://%s:%d (speedup %g, %zu workers, models %s)%s%s\n", server_options.host.c_str(),
              server.port(), options.speedup, cluster.num_workers(), fmt::format("{}", fmt::join(models, ", ")).c_str(),
              worker_servers.empty() ? ""
                                     : fmt::format("; worker endpoints on ports {}-{}", options.per_worker_ports,
                                                   options.per_worker_ports + static_cast<int>(n_workers) - 1).c_str(),
              kv ? fmt::format("; KV events on {}", options.kv.endpoint).c_str() : "");
  std::fflush(stdout);
  if (!options.ready_file.empty()) std::ofstream(options.ready_file) << server.port() << "\n";

  LogHistogram lag;
  TimeNs due_ns = -1;  // the next event's simulated time, when the loop last slept
  double last_warn = -1e9;
  const double ns_per_wall_s = options.speedup * 1e9;
  // simulated time is int64 ns (292 years); a run at a high speedup stops before it wraps
  constexpr double kMaxSimS = 6e9;
  auto stop_requested = [&] {
    if (wall_s() * options.speedup >= kMaxSimS) {
      std::fprintf(stderr, "servesim live: simulated time reached %.0f s, the most it can hold; stopping\n", kMaxSimS);
      return true;
    }
    return g_stop_signal != 0 || (options.duration_s > 0 && wall_s() >= options.duration_s);
  };
  while (!stop_requested()) {
    const auto target = static_cast<TimeNs>(wall_s() * ns_per_wall_s);
    const TimeNs before = now_ns();
    start_kernel(target > before ? ns_time(target - before) : sc_core::SC_ZERO_TIME);
    gateway.publish_progress();
    publish_worker_states();
    if (kv) {
      kv->flush(epoch_s());
      kv->serve_replay();
    }
    if (due_ns >= 0 && due_ns <= now_ns()) {
      // the event fell due at wall0 + due/speedup; its outcome is out now
      const double late = std::max(0.0, wall_s() - static_cast<double>(due_ns) / ns_per_wall_s);
      lag.add(late);
      metrics.observe_lag(late);
      if (late > options.lag_warn_s && wall_s() - last_warn > 10) {
        last_warn = wall_s();
        std::fprintf(stderr,
                     "servesim live: warning: the simulation runs %.3f s behind the wall clock (speedup %g is more "
                     "than this machine keeps up with at this load; lower --speedup)\n",
                     late, options.speedup);
      }
    }
    tasks.run_pending();
    recorder.maybe_flush();
    due_ns = sc_core::sc_pending_activity()
                 ? now_ns() + static_cast<TimeNs>(sc_core::sc_time_to_pending_activity().value())
                 : -1;
    auto wake_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    if (due_ns >= 0) {
      const auto due_wall = wall0 + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(due_ns) / options.speedup));
      wake_at = std::min(wake_at, due_wall);
    }
    tasks.wait_until(wake_at);
  }

  // Shutdown: no new requests; those that raced in arrive; every open one ends (streams close
  // with finish_reason "abort" and [DONE]); the file gets what ran.
  server.stop_accepting();
  for (auto& ws : worker_servers) ws->stop_accepting();
  start_kernel(sc_core::SC_ZERO_TIME);
  gateway.publish_progress();
  cluster.final_sample();
  cluster.finish_run();
  gateway.end_all(ns_to_s(now_ns()));
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       std::chrono::steady_clock::now() < until;) {
    int open = server.in_flight();
    for (auto& ws : worker_servers) open += ws->in_flight();
    if (open == 0) break;
    tasks.run_pending();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  tasks.close();
  tasks.run_pending();
  server.stop();
  for (auto& ws : worker_servers) ws->stop();
  if (kv) kv->flush(epoch_s());
  cluster.check_invariants();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);

  SummaryStats::Inputs inputs;
  inputs.sim_end_s = ns_to_s(now_ns());
  inputs.wall_s = wall_s();
  inputs.gpus = cluster.lifecycle().peak_gpus();
  inputs.gpu_hours = cluster.lifecycle().gpu_seconds() / 3600.0;
  inputs.idle_energy_j = cluster.lifecycle().idle_energy_j();
  inputs.peak_tdp_w = cluster.lifecycle().peak_tdp_w();
  inputs.scale_events = cluster.planner().scale_events();
  inputs.underprovisioned_s = cluster.lifecycle().underprovisioned_s();
  inputs.worker_failures = cluster.lifecycle().stats().failures;
  inputs.timing_extrapolations = cluster.timing_extrapolations();
  inputs.arrived = cluster.frontend().arrived();
  inputs.status = g_stop_signal ? "interrupted" : "completed";
  recorder.finish(inputs);
  if (out_file) {
    write_live_group(out_file->working_path(), gateway, cluster, lag, metrics.lag(), options, server.port(), wall_s());
    out_file->commit();
  }
  std::printf("%s", recorder.summary().table(inputs).c_str());
  std::printf("live        %llu HTTP requests, %llu aborted by their clients; simulation lag p50 %.3g ms, p99 %.3g ms%s\n",
              static_cast<unsigned long long>(server.requests_served()),
              static_cast<unsigned long long>(cluster.frontend().aborted()), lag.quantile(0.5) * 1e3,
              lag.quantile(0.99) * 1e3, kv ? fmt::format("; {} KV event batches", kv->batches_sent()).c_str() : "");
  if (out_file) std::printf("results     %s\n", options.output_path.c_str());
  return 0;
}

}  // namespace servesim::live
