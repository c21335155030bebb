#pragma once
// A measurement table read row by row, fields found by column name, from either format the
// kernel tables come in: headered CSV (optionally .gz) or Parquet (aiconfigurator's published
// performance database). Errors name the file, the row and the column.
#include <memory>
#include <string>
#include <string_view>

namespace servesim {

class TableReader {
 public:
  // Opens `path` by its extension: .parquet is read as Parquet, anything else as CSV.
  static std::unique_ptr<TableReader> open(const std::string& path);
  virtual ~TableReader() = default;

  // Column index of `name`; throws InputError listing the columns when it is absent.
  virtual size_t column(const std::string& name) const = 0;
  virtual bool has_column(const std::string& name) const = 0;
  virtual bool next() = 0;  // the next row; false at the end
  // The field as text (numbers in Parquet are formatted) and as a number (text is parsed); a
  // missing value or text that is not a number throws InputError naming the row and column.
  virtual std::string_view field(size_t col) const = 0;
  virtual double number(size_t col) const = 0;
  // The field as a size or latency: a number > 0, else InputError naming the row and column.
  double positive(size_t col) const;
  virtual const std::string& path() const = 0;
  virtual const std::string& column_name(size_t col) const = 0;
  // Where the current row is, for error messages: "file:line" (CSV) or "file: row N" (Parquet).
  virtual std::string where() const = 0;
};

}  // namespace servesim
