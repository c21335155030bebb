#pragma once
// Reads a text file line by line through one reusable buffer; a path ending in .gz is
// decompressed on the fly (zlib).
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace servesim {

class LineReader {
 public:
  explicit LineReader(const std::string& path);  // throws InputError if it cannot open
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line without its newline (and without a trailing '\r'); false at end of file.
  bool next(std::string_view& line);
  std::uint64_t line_number() const { return line_number_; }
  // True when the last line returned had no terminating newline (a truncated file).
  bool last_line_unterminated() const { return unterminated_; }
  const std::string& path() const { return path_; }

 private:
  ssize_t gz_getline();
  std::string path_;
  std::FILE* file_ = nullptr;
  void* gz_ = nullptr;  // gzFile when the path ends in .gz
  char* buf_ = nullptr;
  size_t cap_ = 0;
  std::uint64_t line_number_ = 0;
  bool unterminated_ = false;
};

}  // namespace servesim
