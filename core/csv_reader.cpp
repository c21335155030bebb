#include "core/csv_reader.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <charconv>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace servesim {

void split_commas(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  const char* const data = line.data();
  const size_t n = line.size();
  size_t field = 0, i = 0;
  auto cut = [&](size_t comma) {
    out.emplace_back(data + field, comma - field);
    field = comma + 1;
  };
#if defined(__SSE2__)
  // sixteen bytes compared at a time: a table's rows are ~100 bytes of short fields, where a
  // search call per field costs more than the fields
  const __m128i comma = _mm_set1_epi8(',');
  for (; i + 16 <= n; i += 16) {
    auto mask = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i)), comma)));
    for (; mask != 0; mask &= mask - 1) cut(i + static_cast<size_t>(__builtin_ctz(mask)));
  }
#endif
  for (; i < n; ++i)
    if (data[i] == ',') cut(i);
  out.emplace_back(data + field, n - field);
}

CsvReader::CsvReader(const std::string& path) : in_(path) {
  std::string_view line;
  if (!in_.next(line)) throw InputError(fmt::format("{}: empty file (expected a CSV header)", path));
  in_.throw_if_problem();
  std::vector<std::string_view> h;
  split_commas(line, h);
  for (auto f : h) header_.emplace_back(f);
}

bool CsvReader::has_column(const std::string& name) const {
  for (auto& h : header_)
    if (h == name) return true;
  return false;
}

size_t CsvReader::column(const std::string& name) const {
  for (size_t i = 0; i < header_.size(); ++i)
    if (header_[i] == name) return i;
  throw InputError(fmt::format("{}: no column '{}' (the header has: {})", in_.path(), name, fmt::join(header_, ", ")));
}

bool CsvReader::next() {
  std::string_view line;
  do {
    if (!in_.next(line)) return false;
  } while (line.empty());
  in_.throw_if_problem();
  if (in_.last_line_unterminated())
    throw InputError(fmt::format("{}:{}: the last line has no newline: the file looks truncated", in_.path(),
                                 in_.line_number()));
  split_commas(line, fields_);  // views into the reader's buffer, valid until the next row
  if (fields_.size() != header_.size())
    throw InputError(fmt::format("{}:{}: {} fields, the header has {}", in_.path(), in_.line_number(), fields_.size(),
                                 header_.size()));
  return true;
}

double CsvReader::number(size_t col) const {
  // the plain decimal field, the common case, without a copy; anything else strtod reads
  const std::string_view field = fields_[col];
  double v = 0;
  if (auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
      ec == std::errc() && end == field.data() + field.size())
    return v;
  std::string s(field);
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size())
    throw InputError(fmt::format("{}:{}: column '{}' must be a number (got '{}')", in_.path(), in_.line_number(),
                                 header_[col], quote_text(s)));
  return v;
}

}  // namespace servesim
