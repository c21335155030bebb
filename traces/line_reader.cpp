#include "traces/line_reader.h"

#include <cerrno>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <new>
#include <stdio.h>
#include <fmt/format.h>
#include <zlib.h>

#include "core/error.h"

namespace servesim {

LineReader::LineReader(const std::string& path) : path_(path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gz_ = gzopen(path.c_str(), "rb");
    if (!gz_)
      throw InputError(fmt::format("{}: cannot open ({}). Fix: check the path.", path, std::strerror(errno)));
    gzbuffer(static_cast<gzFile>(gz_), 1 << 17);
    return;
  }
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_)
    throw InputError(fmt::format("{}: cannot open trace file ({}). Fix: check workload.path.", path,
                                 std::strerror(errno)));
}

LineReader::~LineReader() {
  if (file_) std::fclose(file_);
  if (gz_) gzclose(static_cast<gzFile>(gz_));
  std::free(buf_);
}

// getline() for a gzFile: grows the buffer until a newline or the end of the stream.
ssize_t LineReader::gz_getline() {
  gzFile gz = static_cast<gzFile>(gz_);
  size_t len = 0;
  for (;;) {
    if (cap_ - len < 2) {
      cap_ = std::max<size_t>(256, cap_ * 2);
      buf_ = static_cast<char*>(std::realloc(buf_, cap_));
      if (!buf_) throw std::bad_alloc();
    }
    if (!gzgets(gz, buf_ + len, static_cast<int>(std::min<size_t>(cap_ - len, 1 << 30)))) {
      int err = 0;
      const char* msg = gzerror(gz, &err);
      if (err != Z_OK && err != Z_BUF_ERROR)
        throw InputError(fmt::format("{}:{}: read error ({})", path_, line_number_ + 1, msg));
      if (err == Z_BUF_ERROR)
        throw InputError(fmt::format("{}:{}: the compressed file is truncated", path_, line_number_ + 1));
      return len > 0 ? static_cast<ssize_t>(len) : -1;
    }
    len += std::strlen(buf_ + len);
    if (len > 0 && buf_[len - 1] == '\n') return static_cast<ssize_t>(len);
    if (gzeof(gz)) return len > 0 ? static_cast<ssize_t>(len) : -1;
  }
}

bool LineReader::next(std::string_view& line) {
  ssize_t n = gz_ ? gz_getline() : ::getline(&buf_, &cap_, file_);
  if (n < 0) {
    if (file_ && std::ferror(file_))
      throw InputError(fmt::format("{}:{}: read error ({})", path_, line_number_ + 1, std::strerror(errno)));
    return false;
  }
  ++line_number_;
  unterminated_ = (n == 0 || buf_[n - 1] != '\n');
  if (!unterminated_) --n;
  if (n > 0 && buf_[n - 1] == '\r') --n;
  line = std::string_view(buf_, static_cast<size_t>(n));
  return true;
}

}  // namespace servesim
