#include "traces/line_reader.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdio.h>
#include <fmt/format.h>

#include "core/error.h"

namespace servesim {

LineReader::LineReader(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_)
    throw InputError(fmt::format("{}: cannot open trace file ({}). Fix: check workload.path.", path,
                                 std::strerror(errno)));
}

LineReader::~LineReader() {
  if (file_) std::fclose(file_);
  std::free(buf_);
}

bool LineReader::next(std::string_view& line) {
  ssize_t n = ::getline(&buf_, &cap_, file_);
  if (n < 0) {
    if (std::ferror(file_))
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
