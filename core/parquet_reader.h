#pragma once
// A flat Apache Parquet file read whole into columns: the format aiconfigurator publishes its
// performance database in (data/aiconfigurator/systems/). Debian 12 has no Arrow, so this reads
// the subset those files use and names anything else as an error:
//   - a flat schema (no nested or repeated columns), any number of row groups;
//   - BOOLEAN, INT32, INT64, FLOAT, DOUBLE and BYTE_ARRAY (text) columns, REQUIRED or OPTIONAL;
//   - data pages v1 and v2, dictionary pages; PLAIN and RLE_DICTIONARY/PLAIN_DICTIONARY values,
//     RLE/bit-packed definition levels;
//   - codecs UNCOMPRESSED, SNAPPY, GZIP and ZSTD.
// The file footer and page headers are Thrift compact protocol (parquet.thrift's field ids).
// Errors are InputErrors that name the file and what is wrong with it (truncated, not Parquet, a
// feature outside the subset).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace servesim {

class ParquetTable {
 public:
  enum class Kind { kNumber, kText };
  struct Column {
    std::string name;
    Kind kind = Kind::kNumber;
    std::vector<double> numbers;          // kNumber: one per row (NaN where null); booleans as 0/1
    std::vector<std::uint32_t> text_ids;  // kText: one per row, an index into text
    std::vector<std::string> text;        // kText: the distinct strings (dictionary order)
    std::vector<std::uint8_t> null;       // one per row: 1 where the value is absent
  };

  // Reads and decodes the whole file; throws InputError.
  static ParquetTable read(const std::string& path);
  // The same from the file's bytes; `name` is what errors call it.
  static ParquetTable parse(const std::string& bytes, const std::string& name);

  const std::string& path() const { return path_; }
  size_t rows() const { return rows_; }
  const std::vector<Column>& columns() const { return columns_; }

 private:
  std::string path_;
  size_t rows_ = 0;
  std::vector<Column> columns_;
};

}  // namespace servesim
