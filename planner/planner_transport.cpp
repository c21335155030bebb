#include "planner/planner_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "core/error.h"

namespace servesim {

namespace {

constexpr size_t kMaxReplyBytes = 64u << 20;
constexpr size_t kStderrLinesKept = 20;

// A planner child process: `sh -c command` in the scenario's folder. Its stdin and stdout are one
// end of socket pairs (writes never raise SIGPIPE when it dies: MSG_NOSIGNAL); its stderr is a
// pipe read by a thread that forwards each line to ours, prefixed, and keeps the last ones.
class ChildProcess final : public PlannerTransport {
 public:
  ChildProcess(const ExternalPlannerConfig& cfg, const std::string& base_dir)
      : command_(cfg.command), timeout_ms_(static_cast<int>(cfg.timeout.seconds * 1000)) {
    int in[2], out[2], err[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) ||
        pipe2(err, O_CLOEXEC))
      throw ConfigError(fmt::format("planner.external.command: cannot open pipes to '{}': {}", command_,
                                    std::strerror(errno)));
    pid_ = fork();
    if (pid_ < 0)
      throw ConfigError(fmt::format("planner.external.command: cannot start '{}': {}", command_, std::strerror(errno)));
    if (pid_ == 0) {  // the child: only async-signal-safe calls until exec
      setpgid(0, 0);  // its own process group, so that killing it kills what sh started too
      dup2(in[1], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      if (!base_dir.empty() && chdir(base_dir.c_str()) != 0) _exit(126);
      execl("/bin/sh", "sh", "-c", command_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ::close(in[1]);
    ::close(out[1]);
    ::close(err[1]);
    to_child_ = in[0];
    from_child_ = out[0];
    stderr_fd_ = err[0];
    stderr_thread_ = std::thread([this] { forward_stderr(); });
  }

  ~ChildProcess() override {
    if (to_child_ >= 0) ::close(to_child_);
    if (pid_ > 0 && !reaped_) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (pid_ > 0) kill(-pid_, SIGKILL);  // anything it left behind holding its stderr
    if (from_child_ >= 0) ::close(from_child_);
    if (stderr_thread_.joinable()) stderr_thread_.join();
    if (stderr_fd_ >= 0) ::close(stderr_fd_);
  }

  std::string describe() const override { return fmt::format("'{}'", command_); }

  void abandon() override {
    if (pid_ > 0 && !reaped_) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      reaped_ = true;
    }
  }

  std::string exchange(const std::string& message, const PlannerAsk&) override {
    send_line(message);
    return read_line();
  }

  void close(const std::string& last_message) override {
    try {
      send_line(last_message);
    } catch (const InputError&) {
      // it is gone already: its exit status says why
    }
    ::shutdown(to_child_, SHUT_WR);
    // it has a few seconds to finish (flush its own output) before it is killed
    int status = 0;
    for (int waited_ms = 0; waited_ms < 5000; waited_ms += 10) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!reaped_) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      reaped_ = true;
    }
    kill(-pid_, SIGKILL);
    if (stderr_thread_.joinable()) stderr_thread_.join();
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
      std::fprintf(stderr, "servesim: warning: the external planner %s exited with status %d at the end of the run\n",
                   describe().c_str(), WEXITSTATUS(status));
  }

 private:
  [[noreturn]] void gone(const std::string& what) {
    // its exit status and last words, when it has exited
    int status = 0;
    std::string how;
    for (int waited_ms = 0; waited_ms < 1000 && !reaped_; waited_ms += 10) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) reaped_ = true;
      else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (reaped_ && WIFEXITED(status)) how = fmt::format(" (it exited with status {})", WEXITSTATUS(status));
    if (reaped_ && WIFSIGNALED(status)) how = fmt::format(" (it was killed by signal {})", WTERMSIG(status));
    if (reaped_) {
      kill(-pid_, SIGKILL);
      if (stderr_thread_.joinable()) stderr_thread_.join();
    }
    throw InputError(fmt::format("external planner {}: {}{}{}", describe(), what, how, stderr_tail()));
  }

  std::string stderr_tail() {
    std::lock_guard lock(mutex_);
    if (last_lines_.empty()) return "; it wrote nothing on stderr";
    std::string out = "; the last lines of its stderr:";
    for (const auto& l : last_lines_) out += "\n  " + l;
    return out;
  }

  void send_line(const std::string& message) {
    std::string line = message + "\n";
    for (size_t sent = 0; sent < line.size();) {
      const ssize_t n = ::send(to_child_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) gone(fmt::format("cannot write to its stdin ({})", std::strerror(errno)));
      sent += static_cast<size_t>(n);
    }
  }

  std::string read_line() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
    for (;;) {
      const size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      if (buffer_.size() > kMaxReplyBytes) gone(fmt::format("a reply line is longer than {} MiB", kMaxReplyBytes >> 20));
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        gone(fmt::format("no reply within {} s (planner.external.timeout; the simulation waits, frozen, for every "
                         "decision)", timeout_ms_ / 1000.0));
      pollfd p{from_child_, POLLIN, 0};
      const int r = poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::read(from_child_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) gone("it closed its stdout before replying");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  void forward_stderr() {
    std::string pending;
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::read(stderr_fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(chunk, static_cast<size_t>(n));
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        keep(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
    if (!pending.empty()) keep(pending);
  }

  void keep(const std::string& line) {
    std::fprintf(stderr, "[planner] %s\n", line.c_str());
    std::lock_guard lock(mutex_);
    last_lines_.push_back(quote_text(line, 300));
    if (last_lines_.size() > kStderrLinesKept) last_lines_.pop_front();
  }

  std::string command_;
  int timeout_ms_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int to_child_ = -1, from_child_ = -1, stderr_fd_ = -1;
  std::string buffer_;
  std::thread stderr_thread_;
  std::mutex mutex_;
  std::deque<std::string> last_lines_;
};

// A planner listening on a ZeroMQ REP socket: each message is one request, its reply the answer.
class ZmqPeer final : public PlannerTransport {
 public:
  ZmqPeer(const ExternalPlannerConfig& cfg) : endpoint_(cfg.connect), socket_(context_, zmq::socket_type::req) {
    const int timeout_ms = static_cast<int>(cfg.timeout.seconds * 1000);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, timeout_ms);
    socket_.set(zmq::sockopt::sndtimeo, timeout_ms);
    try {
      socket_.connect(endpoint_);
    } catch (const zmq::error_t& e) {
      throw ConfigError(fmt::format("planner.external.connect: cannot connect to '{}': {} (write tcp://host:port)",
                                    endpoint_, e.what()));
    }
    timeout_s_ = cfg.timeout.seconds;
  }
  std::string describe() const override { return fmt::format("at {}", endpoint_); }
  std::string exchange(const std::string& message, const PlannerAsk&) override {
    if (!socket_.send(zmq::buffer(message), zmq::send_flags::none))
      throw InputError(fmt::format("external planner {}: cannot send within {} s (planner.external.timeout)",
                                   describe(), timeout_s_));
    zmq::message_t reply;
    if (!socket_.recv(reply, zmq::recv_flags::none))
      throw InputError(fmt::format("external planner {}: no reply within {} s (planner.external.timeout; is it "
                                   "listening?)", describe(), timeout_s_));
    std::string line = reply.to_string();
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
  }
  void close(const std::string& last_message) override {
    // REQ/REP: the bye is a request too; its reply (if any comes soon) is not read
    socket_.set(zmq::sockopt::sndtimeo, 1000);
    (void)socket_.send(zmq::buffer(last_message), zmq::send_flags::dontwait);
  }

 private:
  std::string endpoint_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  double timeout_s_ = 0;
};

class InProcess final : public PlannerTransport {
 public:
  explicit InProcess(InProcessPlanner f) : f_(std::move(f)) {}
  std::string describe() const override { return "in this process"; }
  std::string exchange(const std::string& message, const PlannerAsk& ask) override { return f_(message, ask); }
  void close(const std::string& last_message) override { (void)f_(last_message, nullptr); }

 private:
  InProcessPlanner f_;
};

}  // namespace

std::unique_ptr<PlannerTransport> make_planner_transport(const ExternalPlannerConfig& cfg, const std::string& base_dir,
                                                         const InProcessPlanner& in_process) {
  if (cfg.connect == "inprocess://") {
    if (!in_process)
      throw ConfigError("planner.external.connect: inprocess:// is for planners given to the Python API "
                        "(servesim.Simulation(..., planner=f)); from the command line use command or tcp://");
    return std::make_unique<InProcess>(in_process);
  }
  if (!cfg.connect.empty()) return std::make_unique<ZmqPeer>(cfg);
  return std::make_unique<ChildProcess>(cfg, base_dir);
}

}  // namespace servesim
