#pragma once
// Reads a text file line by line through one reusable buffer; a path ending in .gz is
// decompressed on the fly (zlib). Byte-level faults are named, never guessed around:
// - the path must be a regular file or a named pipe (a directory, device or socket is an
//   InputError: /dev/zero would never end);
// - a UTF-8 byte-order mark is skipped; a UTF-16 one is an InputError;
// - "\n" and "\r\n" end lines; a carriage return anywhere else (CR-only or "\r\r\n" line
//   endings) is an InputError naming the cause;
// - a line longer than kMaxLineBytes, or holding a NUL byte, is returned (its first bytes) with
//   problem() set, for the caller's bad-line policy; memory stays bounded by the limit.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace servesim {

class LineReader {
 public:
  static constexpr std::size_t kMaxLineBytes = std::size_t{8} << 20;  // 8 MiB

  explicit LineReader(const std::string& path);  // throws InputError if it cannot open
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line without its line ending; false at end of file.
  bool next(std::string_view& line);
  // Why the last line returned is unusable ("" when it is fine): too long, or a NUL byte.
  const std::string& problem() const { return problem_; }
  // For readers that fail on any such line: throws InputError "path:line: problem".
  void throw_if_problem() const;
  std::uint64_t line_number() const { return line_number_; }
  // True when the last line returned had no terminating newline (a truncated file).
  bool last_line_unterminated() const { return unterminated_; }
  const std::string& path() const { return path_; }

 private:
  // Reads more bytes to the end of buf_; false at end of file.
  bool fill();
  // The first carriage return or NUL byte in buf_[from, end_), or kNone.
  std::size_t find_special(std::size_t from) const;
  static constexpr std::size_t kNone = ~std::size_t{0};
  void check_line_endings(std::string_view line);

  std::string path_;
  std::FILE* file_ = nullptr;
  void* gz_ = nullptr;  // gzFile when the path ends in .gz
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes: buf_[begin_, end_)
  // The first carriage return or NUL byte among them (kNone: none): lines before it need no
  // check for either, so most lines are scanned once, for their newline.
  std::size_t special_ = kNone;
  bool eof_ = false;
  std::string long_prefix_;  // the start of an over-long line
  std::string problem_;
  std::uint64_t line_number_ = 0;
  bool unterminated_ = false;
};

}  // namespace servesim
