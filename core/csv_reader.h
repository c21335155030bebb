#pragma once
// A headered CSV file without quoting (the measurement tables in data/), read row by
// row with fields found by column name. Errors name the file, line and column.
#include <string>
#include <string_view>
#include <vector>

#include "core/line_reader.h"

namespace servesim {

// Splits a line at every comma (no quoting) into views of it.
void split_commas(std::string_view line, std::vector<std::string_view>& out);

class CsvReader {
 public:
  explicit CsvReader(const std::string& path);  // reads the header; throws InputError
  // Column index of `name`; throws InputError listing the header when it is absent.
  size_t column(const std::string& name) const;
  bool has_column(const std::string& name) const;
  bool next();  // the next non-empty row; false at the end
  std::string_view field(size_t col) const { return fields_[col]; }
  // The field as a number; throws InputError naming the line and column if it is not one.
  double number(size_t col) const;
  bool empty(size_t col) const { return fields_[col].empty(); }
  std::uint64_t line() const { return in_.line_number(); }
  const std::string& path() const { return in_.path(); }
  const std::string& column_name(size_t col) const { return header_[col]; }

 private:
  LineReader in_;
  std::vector<std::string> header_;
  std::vector<std::string_view> fields_;
};

}  // namespace servesim
