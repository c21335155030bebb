#include "core/hdf5_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <type_traits>

#include <fmt/format.h>

#include <stdexcept>

#include "core/chunk_pipeline.h"

namespace servesim::h5 {

namespace {
hid_t check(hid_t id, const char* what) {
  if (id < 0) throw std::runtime_error(fmt::format("HDF5: {} failed", what));
  return id;
}
void check_status(herr_t s, const char* what) {
  if (s < 0) throw std::runtime_error(fmt::format("HDF5: {} failed", what));
}
}  // namespace

Handle::Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
Handle::~Handle() {
  if (id_ >= 0 && closer_) closer_(id_);
}
Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = std::exchange(o.id_, -1);
    closer_ = o.closer_;
  }
  return *this;
}

CompoundType::CompoundType(size_t row_bytes)
    : type_(check(H5Tcreate(H5T_COMPOUND, row_bytes), "H5Tcreate"), H5Tclose) {}

CompoundType& CompoundType::add(const char* name, size_t offset, hid_t type) {
  check_status(H5Tinsert(type_.get(), name, offset, type), "H5Tinsert");
  return *this;
}

Handle create_file(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions with context
  // No file lock: a live run's file can be opened by readers (h5py, h5dump) to watch it;
  // the writer only changes it at flush points, so what they see is consistent.
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"), H5Pclose);
  check_status(H5Pset_file_locking(fapl.get(), false, true), "H5Pset_file_locking");
  // open() first, for the system's own reason when the path cannot be written
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error(fmt::format("{}: cannot create the HDF5 output file ({})", path, std::strerror(errno)));
  ::close(fd);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (f < 0) throw std::runtime_error(fmt::format("{}: cannot create the HDF5 output file", path));
  return Handle(f, H5Fclose);
}

Handle create_group(hid_t parent, const std::string& name) {
  return Handle(check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate"),
                H5Gclose);
}

Handle vlen_string() {
  Handle t(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  check_status(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size");
  check_status(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset");
  return t;
}

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle type = vlen_string();
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  Handle attr(check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), "H5Acreate"),
              H5Aclose);
  const char* p = value.c_str();
  check_status(H5Awrite(attr.get(), type.get(), &p), "H5Awrite");
}

void write_int_attribute(hid_t obj, const std::string& name, std::int64_t value) {
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  Handle attr(check(H5Acreate2(obj, name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    "H5Acreate"),
              H5Aclose);
  check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), "H5Awrite");
}

namespace {
template <class T>
Handle enum_of(hid_t base, const std::vector<std::pair<const char*, T>>& members) {
  Handle t(check(H5Tenum_create(base), "H5Tenum_create"), H5Tclose);
  for (const auto& [name, v] : members) check_status(H5Tenum_insert(t.get(), name, &v), "H5Tenum_insert");
  return t;
}
}  // namespace

Handle int8_enum(const std::vector<std::pair<const char*, std::int8_t>>& members) {
  return enum_of(H5T_NATIVE_INT8, members);
}

Handle int32_enum(const std::vector<std::pair<const char*, std::int32_t>>& members) {
  return enum_of(H5T_NATIVE_INT32, members);
}

namespace {
constexpr int kDeflateLevel = 1;
}  // namespace

std::shared_ptr<ChunkPipeline> table_pipeline(size_t depth) {
  return std::make_shared<ChunkPipeline>(kDeflateLevel, depth);
}

Table::Table(hid_t parent, const std::string& name, const CompoundType& type, size_t row_bytes,
             size_t chunk_rows, std::shared_ptr<ChunkPipeline> chunks)
    : type_(check(H5Tcopy(type.get()), "H5Tcopy"), H5Tclose), row_bytes_(row_bytes), chunk_rows_(chunk_rows) {
  hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {chunk_rows};
  Handle space(check(H5Screate_simple(1, dims, maxdims), "H5Screate_simple"), H5Sclose);
  Handle props(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"), H5Pclose);
  check_status(H5Pset_chunk(props.get(), 1, chunk), "H5Pset_chunk");
  check_status(H5Pset_shuffle(props.get()), "H5Pset_shuffle");
  check_status(H5Pset_deflate(props.get(), kDeflateLevel), "H5Pset_deflate");
  dataset_ = Handle(check(H5Dcreate2(parent, name.c_str(), type_.get(), space.get(), H5P_DEFAULT, props.get(), H5P_DEFAULT),
                          "H5Dcreate"),
                    H5Dclose);
  // Whole chunks can be written as they are in memory only where the file stores the very type
  // of the rows: no strings (a variable-length one is a heap reference in the file, a pointer here).
  Handle stored(check(H5Dget_type(dataset_.get()), "H5Dget_type"), H5Tclose);
  const bool as_in_memory = H5Tequal(stored.get(), type_.get()) > 0 && H5Tget_size(stored.get()) == row_bytes &&
                            H5Tdetect_class(type_.get(), H5T_VLEN) == 0 && H5Tdetect_class(type_.get(), H5T_STRING) == 0;
  if (as_in_memory) chunks_ = chunks ? std::move(chunks) : table_pipeline();
}

Table::~Table() {
  if (!chunks_) return;
  try {
    chunks_->drain();
  } catch (const std::exception&) {
    // (a destructor cannot throw: the file's owner drains before closing, where errors surface)
  }
}

void Table::write_chunk(size_t first_row, const unsigned char* chunk) {
  const hid_t dataset = dataset_.get();
  chunks_->submit(chunk, chunk_rows_, row_bytes_, [dataset, first_row](std::span<const unsigned char> filtered) {
    const hsize_t offset[1] = {first_row};
    check_status(H5Dwrite_chunk(dataset, H5P_DEFAULT, 0, offset, filtered.size(), filtered.data()), "H5Dwrite_chunk");
  });
}

void Table::append(const void* rows, size_t count) {
  if (count == 0) return;
  hsize_t new_size[1] = {rows_ + count};
  check_status(H5Dset_extent(dataset_.get(), new_size), "H5Dset_extent");
  if (chunks_) {
    const auto* from = static_cast<const unsigned char*>(rows);
    while (count > 0) {
      const size_t in_chunk = rows_ % chunk_rows_, take = std::min(count, chunk_rows_ - in_chunk);
      const size_t first_row = rows_ - in_chunk;
      if (take == chunk_rows_) {
        write_chunk(first_row, from);  // a whole chunk: filtered from the caller's rows
      } else {
        open_chunk_.resize(chunk_rows_ * row_bytes_);  // zeros, as HDF5's fill value, past the rows
        std::memcpy(&open_chunk_[in_chunk * row_bytes_], from, take * row_bytes_);
        const bool full = in_chunk + take == chunk_rows_;
        if (full || take == count) write_chunk(first_row, open_chunk_.data());
        if (full) std::fill(open_chunk_.begin(), open_chunk_.end(), 0);
      }
      rows_ += take;
      from += take * row_bytes_;
      count -= take;
    }
    return;
  }
  Handle file_space(check(H5Dget_space(dataset_.get()), "H5Dget_space"), H5Sclose);
  hsize_t start[1] = {rows_}, n[1] = {count};
  check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr), "H5Sselect_hyperslab");
  Handle mem_space(check(H5Screate_simple(1, n, nullptr), "H5Screate_simple"), H5Sclose);
  check_status(H5Dwrite(dataset_.get(), type_.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, rows), "H5Dwrite");
  rows_ += count;
}

size_t Columns::rows() const {
  size_t n = 0;
  for (size_t i = 0; i < columns_.size(); ++i) {
    const size_t k = std::visit([](const auto& v) { return v.size(); }, columns_[i].second);
    if (i > 0 && k != n)
      throw std::logic_error("h5::Columns: column '" + columns_[i].first + "' has " + std::to_string(k) +
                             " rows, the ones before it " + std::to_string(n));
    n = k;
  }
  return n;
}

namespace {
template <class T>
constexpr size_t field_bytes() {
  return std::is_same_v<T, std::string> ? sizeof(char*) : sizeof(T);
}
template <class T>
hid_t field_type(hid_t str) {
  if constexpr (std::is_same_v<T, std::string>) return str;
  else if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int32_t>) return H5T_NATIVE_INT32;
  else return H5T_NATIVE_UINT64;
}
}  // namespace

void write_columns(hid_t parent, const std::string& name, const Columns& c) {
  const size_t n = c.rows();
  std::vector<size_t> offset;
  size_t row_bytes = 0;
  for (const auto& [field, values] : c.columns()) {
    offset.push_back(row_bytes);
    row_bytes += std::visit([](const auto& v) { return field_bytes<typename std::decay_t<decltype(v)>::value_type>(); },
                            values);
  }
  if (row_bytes == 0) return;
  Handle str = vlen_string();
  CompoundType type(row_bytes);
  std::vector<unsigned char> rows(row_bytes * n);
  for (size_t i = 0; i < c.columns().size(); ++i) {
    const std::string& field = c.columns()[i].first;  // not a structured binding: clang 14 lambdas cannot capture one
    const auto& values = c.columns()[i].second;
    std::visit(
        [&](const auto& v) {
          using T = typename std::decay_t<decltype(v)>::value_type;
          type.add(field.c_str(), offset[i], field_type<T>(str.get()));
          for (size_t r = 0; r < n; ++r) {
            unsigned char* at = rows.data() + r * row_bytes + offset[i];
            if constexpr (std::is_same_v<T, std::string>) {
              const char* p = v[r].c_str();  // the strings outlive the write
              std::memcpy(at, &p, sizeof(char*));
            } else {
              std::memcpy(at, &v[r], sizeof(T));
            }
          }
        },
        values);
  }
  Table t(parent, name, type, row_bytes, std::max<size_t>(1, std::min<size_t>(n, 4096)));
  if (n > 0) t.append(rows.data(), n);
}

}  // namespace servesim::h5
