#pragma once
// Thin RAII layer over the HDF5 C API: a file, groups, string attributes, and extendable,
// chunked, compressed compound tables appended in blocks.
#include <hdf5.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace servesim::h5 {

// Owns an hid_t and closes it with the right H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer);
  ~Handle();
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// A compound type built field by field (name, offset, HDF5 type).
class CompoundType {
 public:
  explicit CompoundType(size_t row_bytes);
  CompoundType& add(const char* name, size_t offset, hid_t type);
  hid_t get() const { return type_.get(); }

 private:
  Handle type_;
};

Handle create_file(const std::string& path);  // truncates
Handle create_group(hid_t parent, const std::string& name);
void write_string_attribute(hid_t obj, const std::string& name, const std::string& value);
void write_int_attribute(hid_t obj, const std::string& name, std::int64_t value);

class ChunkPipeline;

// A chunk pipeline at the deflate level every Table's dataset declares, for a file's tables to
// share: depth 0 filters each chunk as it is written; depth d > 0 filters on a thread of its own,
// up to d chunks ahead of their writes (ChunkPipeline).
std::shared_ptr<ChunkPipeline> table_pipeline(size_t depth = 0);

// An extendable 1-D dataset of compound rows, chunked, shuffled and deflated. Rows of fixed-size
// fields go to the file as whole chunks filtered here (H5Dwrite_chunk), so that HDF5's own
// zlib-based pipeline is not on the path; the last chunk, while not full, is rewritten at each
// append so that what was appended is in the file once the pipeline has written it (drain()).
// Types HDF5 must convert (variable-length strings) take H5Dwrite.
class Table {
 public:
  // `chunks` filters and writes its chunks (a file's tables share one); null: one of its own,
  // depth 0.
  Table(hid_t parent, const std::string& name, const CompoundType& type, size_t row_bytes,
        size_t chunk_rows = 4096, std::shared_ptr<ChunkPipeline> chunks = nullptr);
  ~Table();  // drains the pipeline: every chunk submitted is written before the dataset closes
  void append(const void* rows, size_t count);
  size_t rows() const { return rows_; }
  hid_t id() const { return dataset_.get(); }

 private:
  void write_chunk(size_t first_row, const unsigned char* chunk);
  Handle type_;  // our own copy: the caller's CompoundType may go away
  Handle dataset_;
  size_t row_bytes_, chunk_rows_, rows_ = 0;
  std::shared_ptr<ChunkPipeline> chunks_;  // null: rows go through H5Dwrite
  std::vector<unsigned char> open_chunk_;    // the last chunk while it is not full (zero past its rows)
};

// An HDF5 enum type over int8 (for status columns).
Handle int8_enum(const std::vector<std::pair<const char*, std::int8_t>>& members);
Handle int32_enum(const std::vector<std::pair<const char*, std::int32_t>>& members);
// A variable-length UTF-8 string type.
Handle vlen_string();

// A whole table at once from named columns (all of one length), as one compound dataset with
// the fields in the order they were added: text (variable-length UTF-8), float64, int32, uint64.
class Columns {
 public:
  using Values = std::variant<std::vector<std::string>, std::vector<double>, std::vector<std::int32_t>,
                              std::vector<std::uint64_t>>;
  // A new, empty column of T, to fill (it stays where it is as more columns are added).
  template <class T>
  std::vector<T>& add(std::string name) {
    columns_.emplace_back(std::move(name), std::vector<T>{});
    return std::get<std::vector<T>>(columns_.back().second);
  }
  const std::deque<std::pair<std::string, Values>>& columns() const { return columns_; }
  size_t rows() const;  // throws std::logic_error when the columns differ in length

 private:
  std::deque<std::pair<std::string, Values>> columns_;
};
void write_columns(hid_t parent, const std::string& name, const Columns& columns);

}  // namespace servesim::h5
