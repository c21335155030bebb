#include "core/line_reader.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "core/error.h"

namespace servesim {

namespace {
constexpr std::size_t kChunkBytes = std::size_t{1} << 16;
constexpr std::size_t kQuotedPrefix = 200;

const char* file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}
}  // namespace

LineReader::LineReader(const std::string& path) : path_(path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw InputError(fmt::format("{}: cannot open ({}). Fix: check the path (workload.path is relative to the "
                                 "scenario file).",
                                 path, std::strerror(errno)));
  // a named pipe streams a trace from another program (memory stays bounded by the line limit);
  // a directory, device or socket is never a trace (/dev/zero would be read for ever)
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    throw InputError(fmt::format("{}: is {}, not a trace file. Fix: point the path at a regular file (or a named "
                                 "pipe that streams one).",
                                 path, file_kind(st.st_mode)));
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gz_ = gzopen(path.c_str(), "rb");
    if (!gz_) throw InputError(fmt::format("{}: cannot open ({}). Fix: check the path.", path, std::strerror(errno)));
    gzbuffer(static_cast<gzFile>(gz_), 1 << 17);
  } else {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_)
      throw InputError(fmt::format("{}: cannot open trace file ({}). Fix: check workload.path.", path,
                                   std::strerror(errno)));
  }
  buf_.resize(kChunkBytes * 2);
  fill();
  std::string_view head(buf_.data(), end_);
  if (head.starts_with("\xEF\xBB\xBF")) begin_ = 3;  // UTF-8 byte-order mark: unambiguous, skipped
  else if (head.starts_with("\xFF\xFE") || head.starts_with("\xFE\xFF"))
    throw InputError(fmt::format("{}: the file starts with a UTF-16 byte-order mark: it is UTF-16 text. Fix: save it "
                                 "as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)",
                                 path));
}

LineReader::~LineReader() {
  if (file_) std::fclose(file_);
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {  // keep the unread bytes at the front
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    if (special_ != kNone) special_ -= begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() - end_ < kChunkBytes) buf_.resize(end_ + kChunkBytes);
  std::size_t got = 0;
  if (gz_) {
    gzFile gz = static_cast<gzFile>(gz_);
    const int n = gzread(gz, buf_.data() + end_, static_cast<unsigned>(kChunkBytes));
    if (n < 0) {
      int err = 0;
      const char* msg = gzerror(gz, &err);
      throw InputError(fmt::format("{}:{}: read error ({})", path_, line_number_ + 1, msg));
    }
    got = static_cast<std::size_t>(n);
    if (got == 0) {
      int err = 0;
      gzerror(gz, &err);
      if (err == Z_BUF_ERROR)
        throw InputError(fmt::format("{}:{}: the compressed file is truncated", path_, line_number_ + 1));
    }
  } else {
    got = std::fread(buf_.data() + end_, 1, kChunkBytes, file_);
    if (got == 0 && std::ferror(file_))
      throw InputError(fmt::format("{}:{}: read error ({})", path_, line_number_ + 1, std::strerror(errno)));
  }
  const std::size_t read_from = end_;
  end_ += got;
  if (special_ == kNone) special_ = find_special(read_from);
  if (got == 0) eof_ = true;
  return got > 0;
}

bool LineReader::next(std::string_view& line) {
  problem_.clear();
  std::size_t scanned = 0;  // bytes of the current line already searched for '\n'
  bool check = true;  // whether the line may hold a carriage return or a NUL byte
  for (;;) {
    const char* start = buf_.data() + begin_;
    const char* nl = static_cast<const char*>(std::memchr(start + scanned, '\n', end_ - begin_ - scanned));
    if (nl) {
      line = std::string_view(start, static_cast<std::size_t>(nl - start));
      begin_ += line.size() + 1;
      unterminated_ = false;
      check = special_ != kNone && special_ < begin_;
      if (check) special_ = find_special(begin_);
      break;
    }
    scanned = end_ - begin_;
    if (scanned > kMaxLineBytes) {
      // an over-long line: keep its start for the message, drop the rest as it streams past
      long_prefix_.assign(start, kQuotedPrefix);
      std::size_t length = scanned;
      begin_ = end_;
      special_ = kNone;  // the bytes read are dropped
      bool terminated = false;
      while (fill()) {
        const char* p = static_cast<const char*>(std::memchr(buf_.data(), '\n', end_));
        if (p) {
          length += static_cast<std::size_t>(p - buf_.data());
          begin_ = static_cast<std::size_t>(p - buf_.data()) + 1;
          terminated = true;
          break;
        }
        length += end_;
        begin_ = end_;
      }
      ++line_number_;
      unterminated_ = !terminated;
      problem_ = fmt::format("the line is {} bytes long, over the {} MiB limit (starts '{}')", length,
                             kMaxLineBytes >> 20, quote_text(long_prefix_, 80));
      line = long_prefix_;
      special_ = find_special(begin_);
      return true;
    }
    if (!fill()) {
      if (begin_ == end_) return false;
      line = std::string_view(buf_.data() + begin_, end_ - begin_);
      begin_ = end_;
      unterminated_ = true;
      special_ = kNone;
      break;
    }
  }
  ++line_number_;
  if (!check) return true;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  check_line_endings(line);
  if (line.find('\0') != std::string_view::npos)
    problem_ = fmt::format("the line holds a NUL byte at column {} (binary data in a text file?): '{}'",
                           line.find('\0') + 1, quote_text(line));
  return true;
}

std::size_t LineReader::find_special(std::size_t from) const {
  const char* p = buf_.data() + from;
  const auto* cr = static_cast<const char*>(std::memchr(p, '\r', end_ - from));
  // a NUL byte matters only before the next carriage return (the search stops there)
  const std::size_t nul_span = cr ? static_cast<std::size_t>(cr - p) : end_ - from;
  if (const auto* nul = static_cast<const char*>(std::memchr(p, '\0', nul_span)))
    return from + static_cast<std::size_t>(nul - p);
  return cr ? from + static_cast<std::size_t>(cr - p) : kNone;
}

void LineReader::throw_if_problem() const {
  if (!problem_.empty()) throw InputError(fmt::format("{}:{}: {}", path_, line_number_, problem_));
}

void LineReader::check_line_endings(std::string_view line) {
  const std::size_t cr = line.find('\r');
  if (cr == std::string_view::npos) return;
  if (cr + 1 == line.size())
    throw InputError(fmt::format("{}:{}: the line ends in \"\\r\\r\\n\" (a doubled carriage return: converted twice "
                                 "from Windows line endings?). Fix: convert the file to \\n or \\r\\n line endings "
                                 "(e.g. sed -i 's/\\r*$//' FILE)",
                                 path_, line_number_));
  if (unterminated_ || line.find('\r', cr + 1) != std::string_view::npos)
    throw InputError(fmt::format("{}:{}: the file has CR-only line endings (classic Mac): its lines are separated by "
                                 "\\r alone. Fix: convert them to \\n (e.g. tr '\\r' '\\n' < FILE > NEW)",
                                 path_, line_number_));
  throw InputError(fmt::format("{}:{}: a stray carriage return (\\r) at column {}: '{}'. Fix: remove it, or convert "
                               "the file's line endings to \\n",
                               path_, line_number_, cr + 1, quote_text(line)));
}

}  // namespace servesim
