#include "core/table_reader.h"

#include <charconv>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/csv_reader.h"
#include "core/error.h"
#include "core/parquet_reader.h"

namespace servesim {

namespace {

class CsvTable final : public TableReader {
 public:
  explicit CsvTable(const std::string& path) : csv_(path) {}
  size_t column(const std::string& name) const override { return csv_.column(name); }
  bool has_column(const std::string& name) const override { return csv_.has_column(name); }
  bool next() override { return csv_.next(); }
  std::string_view field(size_t col) const override { return csv_.field(col); }
  double number(size_t col) const override { return csv_.number(col); }
  const std::string& path() const override { return csv_.path(); }
  const std::string& column_name(size_t col) const override { return csv_.column_name(col); }
  std::string where() const override { return fmt::format("{}:{}", csv_.path(), csv_.line()); }

 private:
  CsvReader csv_;
};

class ParquetRows final : public TableReader {
 public:
  explicit ParquetRows(const std::string& path) : table_(ParquetTable::read(path)) {}
  size_t column(const std::string& name) const override {
    const auto& cols = table_.columns();
    for (size_t i = 0; i < cols.size(); ++i)
      if (cols[i].name == name) return i;
    std::vector<std::string> names;
    for (const auto& c : cols) names.push_back(c.name);
    throw InputError(fmt::format("{}: no column '{}' (the file has: {})", table_.path(), name, fmt::join(names, ", ")));
  }
  bool has_column(const std::string& name) const override {
    for (const auto& c : table_.columns())
      if (c.name == name) return true;
    return false;
  }
  bool next() override { return ++row_ <= table_.rows(); }
  std::string_view field(size_t col) const override {
    const auto& c = at(col);
    if (c.kind == ParquetTable::Kind::kText) return c.text[c.text_ids[row_ - 1]];
    scratch_ = fmt::format("{}", c.numbers[row_ - 1]);
    return scratch_;
  }
  double number(size_t col) const override {
    const auto& c = at(col);
    if (c.kind == ParquetTable::Kind::kNumber) return c.numbers[row_ - 1];
    const std::string& s = c.text[c.text_ids[row_ - 1]];
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size())
      throw InputError(fmt::format("{}: row {}: column '{}' is '{}', not a number", table_.path(), row_, c.name, s));
    return v;
  }
  const std::string& path() const override { return table_.path(); }
  const std::string& column_name(size_t col) const override { return table_.columns()[col].name; }
  std::string where() const override { return fmt::format("{}: row {}", table_.path(), row_); }

 private:
  const ParquetTable::Column& at(size_t col) const {
    const auto& c = table_.columns()[col];
    if (c.null[row_ - 1])
      throw InputError(fmt::format("{}: row {}: column '{}' has no value", table_.path(), row_, c.name));
    return c;
  }
  ParquetTable table_;
  size_t row_ = 0;  // 1-based once next() has been called
  mutable std::string scratch_;
};

}  // namespace

double TableReader::positive(size_t col) const {
  const double v = number(col);
  if (!(v > 0))
    throw InputError(fmt::format("{}: column '{}' is {:g}; sizes and latencies in a kernel table must be positive. "
                                 "Fix: remove or correct the row",
                                 where(), column_name(col), v));
  return v;
}

std::unique_ptr<TableReader> TableReader::open(const std::string& path) {
  const std::string_view ext = ".parquet";
  if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
    return std::make_unique<ParquetRows>(path);
  return std::make_unique<CsvTable>(path);
}

}  // namespace servesim
