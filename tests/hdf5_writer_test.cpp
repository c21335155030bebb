// h5::Columns / write_columns: typed columns land as one compound dataset, fields in the order
// added with their own HDF5 classes, and read back exactly. h5::Table: rows appended in any
// pieces read back through HDF5's own filter pipeline (zlib's inflate) as they were written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/chunk_pipeline.h"
#include "core/hdf5_deflate.h"
#include "core/hdf5_writer.h"
#include "test_util.h"

namespace servesim {
namespace {

TEST(Hdf5Columns, MixedColumnsRoundTripInTheOrderAdded) {
  testing::TempDir dir;
  const std::string path = dir.file("t.h5");
  {
    h5::Columns c;
    auto& id = c.add<std::uint64_t>("id");
    auto& name = c.add<std::string>("name");
    auto& ok = c.add<std::int32_t>("ok");
    auto& x = c.add<double>("x");
    auto& more = c.add<std::string>("more");  // a column added after the others leaves them in place
    const std::uint64_t big = (std::uint64_t{1} << 40) + 3;
    id = {big, 7};
    name = {"alpha", "b,\"c\""};
    ok = {1, -2};
    x = {0.25, std::numeric_limits<double>::quiet_NaN()};
    more = {"", "z"};
    EXPECT_EQ(c.rows(), 2u);
    h5::Handle file = h5::create_file(path);
    h5::write_columns(file.get(), "table", c);
  }
  testing::H5File f(path);
  ASSERT_GE(f.id, 0);
  EXPECT_EQ(testing::dataset_rows(f.id, "/table"), 2u);
  EXPECT_EQ(testing::read_double_column(f.id, "/table", "id"),
            (std::vector<double>{static_cast<double>((std::uint64_t{1} << 40) + 3), 7}));
  EXPECT_EQ(testing::read_string_column(f.id, "/table", "name"), (std::vector<std::string>{"alpha", "b,\"c\""}));
  EXPECT_EQ(testing::read_double_column(f.id, "/table", "ok"), (std::vector<double>{1, -2}));
  auto x = testing::read_double_column(f.id, "/table", "x");
  EXPECT_EQ(x[0], 0.25);
  EXPECT_TRUE(std::isnan(x[1]));
  EXPECT_EQ(testing::read_string_column(f.id, "/table", "more"), (std::vector<std::string>{"", "z"}));

  // the file's own type: fields in order, each with its class and size
  hid_t set = H5Dopen2(f.id, "/table", H5P_DEFAULT);
  hid_t type = H5Dget_type(set);
  ASSERT_EQ(H5Tget_nmembers(type), 5);
  const std::vector<std::string> names{"id", "name", "ok", "x", "more"};
  const std::vector<H5T_class_t> classes{H5T_INTEGER, H5T_STRING, H5T_INTEGER, H5T_FLOAT, H5T_STRING};
  for (unsigned i = 0; i < 5; ++i) {
    char* n = H5Tget_member_name(type, i);
    EXPECT_EQ(std::string(n), names[i]);
    H5free_memory(n);
    EXPECT_EQ(H5Tget_member_class(type, i), classes[i]) << names[i];
  }
  hid_t id_type = H5Tget_member_type(type, 0), ok_type = H5Tget_member_type(type, 2);
  EXPECT_EQ(H5Tget_size(id_type), 8u);
  EXPECT_EQ(H5Tget_sign(id_type), H5T_SGN_NONE);
  EXPECT_EQ(H5Tget_size(ok_type), 4u);
  EXPECT_EQ(H5Tget_sign(ok_type), H5T_SGN_2);
  H5Tclose(id_type);
  H5Tclose(ok_type);
  H5Tclose(type);
  H5Dclose(set);
}

TEST(Hdf5Columns, ColumnsOfDifferentLengthsAreRefused) {
  h5::Columns c;
  c.add<double>("a") = {1, 2, 3};
  c.add<std::string>("b") = {"x"};
  EXPECT_THROW(c.rows(), std::logic_error);
  testing::TempDir dir;
  h5::Handle file = h5::create_file(dir.file("t.h5"));
  EXPECT_THROW(h5::write_columns(file.get(), "table", c), std::logic_error);
}

// Rows of fixed-size fields, written as whole filtered chunks (H5Dwrite_chunk): appends that
// fill part of a chunk, cross chunk boundaries, fill exactly one, or span several; the file,
// read after each append, holds every row appended so far, through the standard decoder.
TEST(Hdf5Table, RowsAppendedInAnyPiecesReadBackThroughHdf5sOwnFilters) {
  struct Row {
    std::uint64_t id;
    double x;
    std::int8_t state;
  };
  h5::Handle state_type = h5::int8_enum({{"off", 0}, {"on", 1}});
  h5::CompoundType type(sizeof(Row));
  type.add("id", offsetof(Row, id), H5T_NATIVE_UINT64)
      .add("x", offsetof(Row, x), H5T_NATIVE_DOUBLE)
      .add("state", offsetof(Row, state), state_type.get());
  testing::TempDir dir;
  const std::string path = dir.file("t.h5");
  auto expect_rows = [](hid_t f, const std::vector<Row>& all) {
    ASSERT_EQ(testing::dataset_rows(f, "/rows"), all.size());
    const auto ids = testing::read_double_column(f, "/rows", "id");
    const auto xs = testing::read_double_column(f, "/rows", "x");
    const auto states = testing::read_double_column(f, "/rows", "state");
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(ids[i], static_cast<double>(all[i].id)) << "row " << i << " of " << all.size();
      EXPECT_EQ(xs[i], all[i].x) << "row " << i << " of " << all.size();
      EXPECT_EQ(states[i], all[i].state) << "row " << i << " of " << all.size();
    }
  };
  std::vector<Row> all;
  {
    h5::Handle file = h5::create_file(path);
    constexpr size_t kChunk = 8;
    h5::Table table(file.get(), "rows", type, sizeof(Row), kChunk);
    for (size_t piece : {3, 2, 6, 8, 1, 23, 5}) {  // 3+2 in one chunk, 6 across, 8 from mid-chunk, ...
      std::vector<Row> rows;
      for (size_t i = 0; i < piece; ++i) {
        const auto n = all.size() + rows.size();
        rows.push_back({(std::uint64_t{1} << 50) + n, 0.5 * static_cast<double>(n) - 3.0, static_cast<std::int8_t>(n % 2)});
      }
      table.append(rows.data(), rows.size());
      all.insert(all.end(), rows.begin(), rows.end());
      expect_rows(file.get(), all);  // through the writer's own handle: the chunks come from the file
    }
    EXPECT_EQ(table.rows(), all.size());
    // the dataset declares HDF5's standard pipeline, so any reader decodes it: shuffle, deflate
    hid_t plist = H5Dget_create_plist(table.id());
    ASSERT_EQ(H5Pget_nfilters(plist), 2);
    unsigned flags = 0, level[1] = {0};
    size_t n_values = 1;
    EXPECT_EQ(H5Pget_filter2(plist, 0, &flags, &n_values, level, 0, nullptr, nullptr), H5Z_FILTER_SHUFFLE);
    n_values = 1;
    EXPECT_EQ(H5Pget_filter2(plist, 1, &flags, &n_values, level, 0, nullptr, nullptr), H5Z_FILTER_DEFLATE);
    EXPECT_EQ(level[0], 1u);
    H5Pclose(plist);
  }
  testing::H5File f(path);  // closed and opened again
  ASSERT_GE(f.id, 0);
  expect_rows(f.id, all);
}

// A pipeline of depth 2 filters on its own thread but writes on the submitting one, each chunk
// once two more were submitted after it (or at drain), in submission order: the writes happen at
// the same points whatever the threads' timing, and carry the bytes a synchronous filter makes.
TEST(Hdf5Table, AThreadedPipelineWritesInOrderAtFixedPoints) {
  h5::ChunkPipeline pipeline(1, 2);
  h5::ChunkDeflater reference(1);
  std::vector<int> written;
  std::vector<std::vector<unsigned char>> expected, got;
  for (int k = 0; k < 6; ++k) {
    std::vector<unsigned char> chunk(64 * 24);
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<unsigned char>((i * (k + 3)) % 251);
    const auto filtered = reference.filter(chunk.data(), 64, 24);
    expected.emplace_back(filtered.begin(), filtered.end());
    pipeline.submit(chunk.data(), 64, 24, [&, k](std::span<const unsigned char> bytes) {
      written.push_back(k);
      got.emplace_back(bytes.begin(), bytes.end());
    });
    EXPECT_EQ(written.size(), static_cast<size_t>(std::max(0, k - 1))) << "after submitting chunk " << k;
  }
  pipeline.drain();
  EXPECT_EQ(written, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(got, expected);
  // a write that fails is reported by the call that writes it, and the pipeline goes on
  pipeline.submit(expected[0].data(), 8, 1, [](std::span<const unsigned char>) { throw std::runtime_error("disk"); });
  EXPECT_THROW(pipeline.drain(), std::runtime_error);
  pipeline.submit(expected[0].data(), 8, 1, [&](std::span<const unsigned char>) { written.push_back(6); });
  pipeline.drain();
  EXPECT_EQ(written.back(), 6);
}

// Tables sharing a threaded pipeline, appended in pieces that fill, cross and rewrite chunks, read
// back exactly once drained, and again after the file is closed.
TEST(Hdf5Table, TablesSharingAThreadedPipelineReadBack) {
  struct Row {
    std::int64_t id;
    double x;
  };
  h5::CompoundType type(sizeof(Row));
  type.add("id", offsetof(Row, id), H5T_NATIVE_INT64).add("x", offsetof(Row, x), H5T_NATIVE_DOUBLE);
  testing::TempDir dir;
  const std::string path = dir.file("t.h5");
  std::vector<Row> a_rows, b_rows;
  auto expect_rows = [](hid_t f, const std::string& name, const std::vector<Row>& rows) {
    const auto ids = testing::read_double_column(f, name, "id"), xs = testing::read_double_column(f, name, "x");
    ASSERT_EQ(ids.size(), rows.size()) << name;
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(ids[i], static_cast<double>(rows[i].id)) << name << " row " << i;
      EXPECT_EQ(xs[i], rows[i].x) << name << " row " << i;
    }
  };
  {
    h5::Handle file = h5::create_file(path);
    auto pipeline = h5::table_pipeline(2);
    h5::Table a(file.get(), "a", type, sizeof(Row), 16, pipeline), b(file.get(), "b", type, sizeof(Row), 7, pipeline);
    for (size_t piece : {5, 11, 16, 40, 3, 1, 30}) {
      std::vector<Row> rows;
      for (size_t i = 0; i < piece; ++i) {
        const auto n = static_cast<std::int64_t>(a_rows.size() + i);
        rows.push_back({n, 0.25 * static_cast<double>(n)});
      }
      a.append(rows.data(), rows.size());
      b.append(rows.data(), std::min<size_t>(rows.size(), 9));
      a_rows.insert(a_rows.end(), rows.begin(), rows.end());
      b_rows.insert(b_rows.end(), rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(rows.size(), 9)));
    }
    pipeline->drain();
    expect_rows(file.get(), "/a", a_rows);
    expect_rows(file.get(), "/b", b_rows);
    std::vector<Row> more{{-1, -1.5}, {-2, -2.5}};
    a.append(more.data(), more.size());  // written as the tables close
    a_rows.insert(a_rows.end(), more.begin(), more.end());
  }
  testing::H5File f(path);
  ASSERT_GE(f.id, 0);
  expect_rows(f.id, "/a", a_rows);
  expect_rows(f.id, "/b", b_rows);
}

// The shuffle's 8x8 byte transposes and its scalar edges give HDF5's definition exactly, for
// element counts and sizes on and off multiples of 8.
TEST(Hdf5Table, ShuffleIsHdf5sByteShuffle) {
  for (size_t elements : {0, 1, 7, 8, 9, 16, 23}) {
    for (size_t element_bytes : {1, 3, 8, 12, 16, 25}) {
      std::vector<unsigned char> in(elements * element_bytes), out(in.size()), expected(in.size());
      for (size_t k = 0; k < in.size(); ++k) in[k] = static_cast<unsigned char>(k * 37 + 11);
      for (size_t i = 0; i < elements; ++i)
        for (size_t j = 0; j < element_bytes; ++j) expected[j * elements + i] = in[i * element_bytes + j];
      h5::shuffle(in.data(), elements, element_bytes, out.data());
      EXPECT_EQ(out, expected) << elements << " elements of " << element_bytes << " bytes";
    }
  }
}

// Rows whose size is not a multiple of 8 bytes, in chunks of 5: the shuffle's scalar paths
TEST(Hdf5Table, OddRowAndChunkSizesReadBack) {
  struct Row {
    std::int32_t a, b, c;
  };
  h5::CompoundType type(sizeof(Row));
  type.add("a", offsetof(Row, a), H5T_NATIVE_INT32).add("b", offsetof(Row, b), H5T_NATIVE_INT32).add("c", offsetof(Row, c), H5T_NATIVE_INT32);
  testing::TempDir dir;
  const std::string path = dir.file("t.h5");
  std::vector<Row> rows;
  for (std::int32_t i = 0; i < 37; ++i) rows.push_back({i, -7 * i, i * i});
  {
    h5::Handle file = h5::create_file(path);
    h5::Table table(file.get(), "rows", type, sizeof(Row), 5);
    table.append(rows.data(), 3);
    table.append(rows.data() + 3, 34);
  }
  testing::H5File f(path);
  ASSERT_GE(f.id, 0);
  const auto a = testing::read_double_column(f.id, "/rows", "a"), b = testing::read_double_column(f.id, "/rows", "b"),
             c = testing::read_double_column(f.id, "/rows", "c");
  ASSERT_EQ(a.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(a[i], rows[i].a);
    EXPECT_EQ(b[i], rows[i].b);
    EXPECT_EQ(c[i], rows[i].c);
  }
}

}  // namespace
}  // namespace servesim
