#include "core/result_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "core/error.h"

namespace servesim {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// The partial snapshot's name: results/run.h5 -> results/run.partial.h5
std::string partial_name(const fs::path& target) {
  fs::path p = target;
  const std::string ext = p.extension().string();
  p.replace_extension();
  return p.string() + ".partial" + (ext.empty() ? std::string(".h5") : ext);
}

// Copies all of `from` into `to` (created or truncated) with copy_file_range, falling back to
// read/write where the kernel cannot.
void copy_file(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw OutputError(fmt::format("{}: cannot read the working file ({})", from, errno_text(errno)));
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    throw OutputError(fmt::format("{}: cannot write the partial results file ({})", to, errno_text(err)));
  }
  bool ok = true;
  for (;;) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n == 0) break;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
      ok = false;
      break;
    }
    char buf[1 << 16];  // no copy_file_range here: plain copy
    ssize_t r;
    while ((r = ::read(in, buf, sizeof buf)) > 0)
      if (::write(out, buf, static_cast<size_t>(r)) != r) {
        ok = false;
        break;
      }
    if (r < 0) ok = false;
    break;
  }
  const int err = errno;
  ::close(in);
  if (::close(out) != 0) ok = false;
  if (!ok) throw OutputError(fmt::format("{}: cannot write the partial results file ({})", to, errno_text(err)));
}

// Working files of runs that died (kill -9) before they could clean up: .NAME.<pid>.tmp whose
// process is gone. Called under the target's lock, so no live writer of this target owns one.
void remove_stale_working_files(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  const std::string prefix = "." + name + ".";
  for (const auto& e : fs::directory_iterator(dir.empty() ? fs::path(".") : dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() <= prefix.size() + 4 || f.compare(0, prefix.size(), prefix) != 0 || !f.ends_with(".tmp")) continue;
    const std::string pid_text = f.substr(prefix.size(), f.size() - prefix.size() - 4);
    char* end = nullptr;
    const long pid = std::strtol(pid_text.c_str(), &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    fs::remove(e.path(), ec);
  }
}

// The same file (an existing one by inode, else by canonical path).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

}  // namespace

ResultFile::ResultFile(std::string target, const std::vector<std::string>& inputs, double min_snapshot_interval_s)
    : target_(std::move(target)), min_interval_s_(min_snapshot_interval_s) {
  for (const auto& in : inputs)
    if (!in.empty() && same_file(target_, in))
      throw OutputError(fmt::format("{}: the output file is also an input of this run ({}); writing it would destroy "
                                    "the input. Fix: choose another -o path",
                                    target_, in));
  const fs::path t(target_);
  std::error_code ec;
  if (fs::is_directory(t, ec) || target_.ends_with("/"))
    throw OutputError(fmt::format("{}: is a directory. Fix: give -o a file name, e.g. -o {}/run.h5", target_,
                                  t.string().ends_with("/") ? t.string().substr(0, t.string().size() - 1) : t.string()));
  const fs::path dir = t.parent_path();
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec)
      throw OutputError(fmt::format("{}: cannot create the output folder {} ({}). Fix: choose another -o path",
                                    target_, dir.string(), ec.message()));
  }
  lock_path_ = target_ + ".lock";
  // The lock file is removed by its holder at the end; one opened just before that removal is
  // stale, so the lock counts only while the path still names the file that was locked.
  for (int attempt = 0;; ++attempt) {
    lock_fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0)
      throw OutputError(fmt::format("{}: cannot write in the output folder {} ({}). Fix: choose another -o path",
                                    target_, dir.empty() ? "." : dir.string(), errno_text(errno)));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      const ssize_t n = ::pread(lock_fd_, buf, sizeof buf - 1, 0);
      ::close(lock_fd_);
      lock_fd_ = -1;
      throw OutputError(fmt::format(
          "{}: another servesim run{} is writing this file. Fix: wait for it to end, or choose another -o path", target_,
          n > 0 ? fmt::format(" (pid {})", std::string(buf, static_cast<size_t>(n))) : ""));
    }
    struct stat held {}, named {};
    if (::fstat(lock_fd_, &held) == 0 && ::stat(lock_path_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev)
      break;
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (attempt == 100) throw OutputError(fmt::format("{}: cannot take the lock {}", target_, lock_path_));
  }
  const std::string pid = std::to_string(::getpid());
  // the pid only makes a second writer's error friendlier; the lock holds without it
  if (::ftruncate(lock_fd_, 0) == 0) (void)!::pwrite(lock_fd_, pid.data(), pid.size(), 0);
  const std::string name = t.filename().string();
  remove_stale_working_files(dir, name);
  working_ = (dir / ("." + name + "." + pid + ".tmp")).string();
  partial_ = partial_name(t);
}

ResultFile::~ResultFile() {
  std::error_code ec;
  if (!committed_ && !working_.empty()) {  // the run failed: its error says why; nothing of it stays
    fs::remove(working_, ec);
    fs::remove(partial_, ec);
    fs::remove(partial_ + ".tmp", ec);
  }
  if (lock_fd_ >= 0) {
    fs::remove(lock_path_, ec);  // while still holding it: a waiting writer then locks a fresh file
    ::close(lock_fd_);
  }
}

void ResultFile::snapshot() {
  const auto now = std::chrono::steady_clock::now();
  if (copied_) {
    const double since = std::chrono::duration<double>(now - last_copy_).count();
    if (since < min_interval_s_ || since < 10 * last_copy_cost_s_) return;
  }
  copy_to_partial();
  last_copy_cost_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - now).count();
  last_copy_ = now;
  copied_ = true;
}

void ResultFile::copy_to_partial() {
  const std::string tmp = partial_ + ".tmp";
  copy_file(working_, tmp);
  if (::rename(tmp.c_str(), partial_.c_str()) != 0)
    throw OutputError(fmt::format("{}: cannot replace the partial results file ({})", partial_, errno_text(errno)));
}

void ResultFile::commit() {
  if (::rename(working_.c_str(), target_.c_str()) != 0)
    throw OutputError(fmt::format("{}: cannot move the finished results into place ({})", target_, errno_text(errno)));
  committed_ = true;
  std::error_code ec;
  fs::remove(partial_, ec);
}

}  // namespace servesim
