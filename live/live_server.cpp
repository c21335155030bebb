#include "live/live_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>

#include "core/error.h"
#include "live/tokenizer.h"

namespace servesim::live {

namespace {
// While a stream waits for tokens it sends an SSE comment this often: clients ignore it, and a
// failed write is how a client that went away is noticed (cpp-httplib 0.11 cannot ask the socket).
constexpr auto kKeepAlive = std::chrono::milliseconds(250);

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e), "application/json");
}

std::string text_of(std::uint32_t from, std::uint32_t to) {
  std::string s;
  for (std::uint32_t i = from; i < to; ++i) s += filler_token(i);
  return s;
}

// What a client is told when admission control turned its request away (router.admission).
ApiError rejection(RejectReason why) {
  if (why == RejectReason::kQueueTimeout)
    return ApiError{503, "the request waited router.admission.max_wait for a worker and was dropped",
                    "service_unavailable", "", ""};
  return ApiError{429,
                  why == RejectReason::kRateLimited ? "rate limit reached for this model (router.admission.rate_limits)"
                                                    : "too many requests are waiting (router.admission.max_queue)",
                  "rate_limit_exceeded", "", "rate_limit_exceeded"};
}

const char* finish_reason(RequestStatus s) { return s == RequestStatus::kCompleted ? "length" : "abort"; }
}  // namespace

LiveServer::LiveServer(ServerOptions options, ServerHooks hooks)
    : options_(std::move(options)),
      hooks_(std::move(hooks)),
      server_(std::make_unique<httplib::Server>()),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                   .count()) {
  httplib::Server& s = *server_;
  // a thread per open connection, the rest for /metrics and /health; a worker's own endpoint gets
  // fewer (an outside router spreads the load over them)
  const int threads = (options_.worker < 0 ? options_.max_concurrent : std::min(options_.max_concurrent, 64)) + 16;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_payload_max_length(options_.max_body_bytes);
  s.set_keep_alive_max_count(10000);
  s.set_read_timeout(30, 0);
  s.set_write_timeout(30, 0);
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e{res.status, fmt::format("{} {}: HTTP {}", req.method, req.path, res.status), "invalid_request_error", "", ""};
    if (res.status == 404) e.message = fmt::format("no route {} {}: this server has GET /v1/models, POST /v1/completions, "
                                                   "POST /v1/chat/completions, GET /health, GET /metrics",
                                                   req.method, req.path);
    if (res.status == 413)
      e.message = fmt::format("the request body is above this server's limit of {} bytes (--max-body-bytes)",
                              options_.max_body_bytes);
    send_error(res, e);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError{500, what, "internal_server_error", "", ""});
  });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.status = accepting_ && (!hooks_.ready || hooks_.ready()) ? 200 : 503;
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(hooks_.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  auto authorised = [this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.get_header_value("Authorization") == "Bearer " + options_.api_key) return true;
    send_error(res, ApiError{401, "Incorrect API key provided (send Authorization: Bearer KEY; see --api-key)",
                             "invalid_request_error", "", "invalid_api_key"});
    return false;
  };
  s.Get("/v1/models", [this, authorised](const httplib::Request& req, httplib::Response& res) {
    if (authorised(req, res)) res.set_content(models_body(options_.models, created_, options_.model_parents), "application/json");
  });
  s.Post("/v1/completions", [this, authorised](const httplib::Request& req, httplib::Response& res) {
    if (authorised(req, res)) handle_completion(req, res, ApiKind::kCompletion);
  });
  s.Post("/v1/chat/completions", [this, authorised](const httplib::Request& req, httplib::Response& res) {
    if (authorised(req, res)) handle_completion(req, res, ApiKind::kChat);
  });
}

LiveServer::~LiveServer() { stop(); }

void LiveServer::start() {
  httplib::Server& s = *server_;
  // cpp-httplib 0.11 listens with a backlog of 5: a burst of new connections beyond it has its
  // SYNs dropped and retried a second later. Listening again on the same socket raises it.
  int listen_fd = -1;
  s.set_socket_options([&listen_fd](socket_t fd) {
    int yes = 1;  // SO_REUSEADDR, not the library's SO_REUSEPORT: a second server on this port must fail
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    // no Nagle (accepted sockets inherit it): a response's small last write would otherwise wait
    // for the client's delayed ACK, 40 ms a request
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    listen_fd = fd;
  });
  if (options_.port == 0) {
    port_ = s.bind_to_any_port(options_.host);
    if (port_ < 0) port_ = 0;
  } else if (s.bind_to_port(options_.host, options_.port)) {
    port_ = options_.port;
  }
  if (port_ <= 0)
    throw ConfigError(fmt::format("--host {} --port {}: cannot listen there (in use, or not an address of this "
                                  "machine). Fix: another --port, or --port 0 for any free one",
                                  options_.host, options_.port));
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void LiveServer::stop() {
  accepting_ = false;
  closing_ = true;
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void LiveServer::handle_completion(const httplib::Request& req, httplib::Response& res, ApiKind kind) {  if (!accepting_) return send_error(res, ApiError{503, "the server is shutting down", "service_unavailable", "", ""});
  if (!options_.serves_completions)
    return send_error(res, ApiError{400,
                                    fmt::format("worker {} is a prefill worker: send completions to the cluster's "
                                                "endpoint or a decode worker's",
                                                options_.worker),
                                    "invalid_request_error", "", ""});
  if (hooks_.ready && !hooks_.ready())
    return send_error(res, ApiError{503, fmt::format("worker {} is not ready (starting, draining or stopped)", options_.worker),
                                    "service_unavailable", "", ""});
  auto parsed = parse_request(req.body, kind, options_.limits, options_.models);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  // the slot is held until the response has been sent to the end (or the client left)
  if (in_flight_.fetch_add(1) >= options_.max_concurrent) {
    --in_flight_;
    return send_error(res, ApiError{429,
                                    fmt::format("{} requests are in flight, this server's limit (--max-concurrent)",
                                                options_.max_concurrent),
                                    "rate_limit_error", "", "too_many_requests"});
  }
  struct Slot {
    explicit Slot(std::atomic<int>& count) : n(count) {}
    Slot(const Slot&) = delete;  // one slot, released once
    ~Slot() { --n; }
    std::atomic<int>& n;
  };
  auto slot = std::make_shared<Slot>(in_flight_);

  auto c = std::make_shared<ClientRequest>();
  c->client_id = next_client_id_++;
  c->api = std::move(std::get<ApiRequest>(parsed));
  c->head = ResponseHead{fmt::format("{}-{}", kind == ApiKind::kChat ? "chatcmpl" : "cmpl", c->client_id), c->api.model,
                         std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count()};
  const auto prompt_tokens = static_cast<std::uint32_t>(c->api.prompt.size());
  c->prompt_tokens = prompt_tokens;
  c->pinned_worker = options_.worker;
  c->wall_arrival_s = hooks_.wall_s();
  hooks_.submit(c);
  ++served_;

  if (!c->api.stream) {
    std::unique_lock lock(c->mu);
    // the run ends every open request before it stops the server; one that raced past the
    // shutdown into the simulation's inbox too late is answered here
    while (!c->ended && !closing_) c->cv.wait_for(lock, kKeepAlive);
    c->wall_finish_s = hooks_.wall_s();
    if (!c->ended)
      return send_error(res, ApiError{503, "the server is shutting down", "service_unavailable", "", ""});
    if (c->tokens > 0) c->wall_first_token_s = c->wall_last_token_s = c->wall_finish_s;
    if (c->status == RequestStatus::kRejected) return send_error(res, rejection(c->reject_reason));
    if (c->status != RequestStatus::kCompleted)
      return send_error(res, ApiError{503, "the request did not complete: the server is shutting down",
                                      "service_unavailable", "", ""});
    res.set_content(full_response(kind, c->head, text_of(0, c->tokens), finish_reason(c->status),
                                  Usage{prompt_tokens, c->tokens, c->cached_tokens}),
                    "application/json");
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  auto sent = std::make_shared<std::uint32_t>(0);
  auto started = std::make_shared<bool>(false);
  res.set_chunked_content_provider(
      "text/event-stream", [this, c, kind, sent, started, prompt_tokens, slot](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
        auto gone = [&] {
          if (hooks_.abort) hooks_.abort(c->client_id);
          return false;
        };
        if (!*started) {
          *started = true;
          if (kind == ApiKind::kChat && !write(role_chunk(c->head))) return gone();
        }
        std::unique_lock lock(c->mu);
        while (true) {
          if (!c->cv.wait_for(lock, kKeepAlive, [&] { return c->tokens > *sent || c->ended; })) {
            lock.unlock();
            if (closing_) {  // see the non-streaming case
              write(token_chunk(kind, c->head, "", "abort"));
              write(std::string(kDoneEvent));
              sink.done();
              return true;
            }
            if (!write(": keep-alive\n\n")) return gone();
            lock.lock();
            continue;
          }
          const std::uint32_t upto = c->tokens, total = c->api.max_tokens, cached = c->cached_tokens;
          const bool ended = c->ended;
          const RequestStatus status = c->status;
          lock.unlock();
          const std::uint32_t sent_before = *sent;
          for (; *sent < upto; ++*sent) {
            const bool last = *sent + 1 == total;
            std::optional<Usage> u;
            if (c->api.continuous_usage) u = Usage{prompt_tokens, *sent + 1, cached};
            if (!write(token_chunk(kind, c->head, filler_token(*sent), last ? "length" : "", u))) return gone();
          }
          if (upto > sent_before) {
            const double now = hooks_.wall_s();
            std::lock_guard g(c->mu);
            if (c->wall_first_token_s < 0) c->wall_first_token_s = now;
            c->wall_last_token_s = now;
          }
          if (ended) {
            if (status != RequestStatus::kCompleted && !write(token_chunk(kind, c->head, "", finish_reason(status))))
              return gone();
            if (c->api.include_usage && !write(usage_chunk(kind, c->head, Usage{prompt_tokens, upto, cached})))
              return gone();
            if (!write(std::string(kDoneEvent))) return gone();
            {
              std::lock_guard g(c->mu);
              c->wall_finish_s = hooks_.wall_s();
            }
            sink.done();
            return true;
          }
          lock.lock();
        }
      });
}

}  // namespace servesim::live
