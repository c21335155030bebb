#pragma once
// The live endpoint's HTTP side (cpp-httplib, a thread per connection from a bounded pool):
// GET /v1/models, POST /v1/completions and /v1/chat/completions (JSON or Server-Sent Events),
// GET /health, GET /metrics. It never touches the simulation: requests go out through
// `submit`/`abort`, and anything read from the model is computed by `on_sim_thread`.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "live/client_request.h"
#include "live/openai_api.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace servesim::live {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (port() tells which)
  std::string api_key;  // "" = none; else /v1/* needs "Authorization: Bearer KEY"
  std::size_t max_body_bytes = 16u << 20;
  int max_concurrent = 512;  // API requests in flight; more get 429
  ApiLimits limits;
  std::vector<std::string> models;
  std::vector<std::string> model_parents;  // per model: "" for a base model, its base for a LoRA adapter
  // One worker's own endpoint (--per-worker-ports): completions go to that worker; /metrics shows
  // its series; /health answers 503 unless it is ready. -1: the cluster's frontend.
  std::int32_t worker = -1;
  bool serves_completions = true;  // false for a prefill worker's endpoint (metrics and health only)
};

struct ServerHooks {
  std::function<void(std::shared_ptr<ClientRequest>)> submit;  // the request enters the simulation
  std::function<void(std::uint64_t client_id)> abort;          // its client went away
  std::function<std::string()> metrics;                        // /metrics text (runs on the simulation thread)
  std::function<double()> wall_s;                               // seconds since the live run started
  std::function<bool()> ready;  // may requests be sent here now (null: always while serving)
};

class LiveServer {
 public:
  LiveServer(ServerOptions options, ServerHooks hooks);
  ~LiveServer();
  // Binds (ConfigError naming the address when it cannot) and serves on a thread of its own.
  void start();
  int port() const { return port_; }
  // New API requests get 503; open streams end (their requests were ended by the caller first).
  void stop_accepting() { accepting_ = false; }
  int in_flight() const { return in_flight_; }
  void stop();  // closes the listener and joins the server thread
  std::uint64_t requests_served() const { return served_; }

 private:
  void handle_completion(const httplib::Request& req, httplib::Response& res, ApiKind kind);
  ServerOptions options_;
  ServerHooks hooks_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> closing_{false};  // stop() began: a request not ended by now never will be
  std::atomic<int> in_flight_{0};
  std::atomic<std::uint64_t> next_client_id_{1}, served_{0};
  std::int64_t created_ = 0;
};

}  // namespace servesim::live
