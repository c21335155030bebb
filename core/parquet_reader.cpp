#include "core/parquet_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include "core/error.h"

namespace servesim {

namespace {

// parquet.thrift's enums, the values this reader handles
enum PhysicalType { kBoolean = 0, kInt32 = 1, kInt64 = 2, kInt96 = 3, kFloat = 4, kDouble = 5, kByteArray = 6 };
enum Repetition { kRequired = 0, kOptional = 1, kRepeated = 2 };
enum PageType { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };
enum Encoding { kPlain = 0, kPlainDictionary = 2, kRle = 3, kRleDictionary = 8 };
enum Codec { kUncompressed = 0, kSnappy = 1, kGzip = 2, kZstd = 6 };

// A page larger than this is a corrupt header, not a table (the largest page here is a few MB).
constexpr std::int64_t kMaxPageBytes = std::int64_t{1} << 30;
// Likewise rows: aiconfigurator's largest table has ~1M rows.
constexpr std::int64_t kMaxRows = std::int64_t{1} << 26;

const char* type_name(int t) {
  static const char* names[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY",
                                "FIXED_LEN_BYTE_ARRAY"};
  return t >= 0 && t < 8 ? names[t] : "an unknown type";
}

const char* codec_name(int c) {
  static const char* names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
  return c >= 0 && c < 8 ? names[c] : "an unknown codec";
}

// Reads Thrift's compact protocol from a byte range; every read is bounds-checked.
class Thrift {
 public:
  Thrift(const std::string& file, const std::uint8_t* begin, const std::uint8_t* end)
      : file_(file), p_(begin), end_(end) {}
  const std::uint8_t* position() const { return p_; }

  std::uint8_t byte() {
    if (p_ >= end_) fail("metadata ends inside a field");
    return *p_++;
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t c = byte();
      v |= std::uint64_t{c & 0x7fu} << shift;
      if (!(c & 0x80)) return v;
    }
    fail("a varint longer than 10 bytes");
  }
  std::int64_t zigzag() {
    const std::uint64_t v = varint();
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
  }
  std::int64_t integer(int type) {
    if (type == 3) return static_cast<std::int8_t>(byte());
    if (type >= 4 && type <= 6) return zigzag();
    fail(fmt::format("an integer field has compact type {}", type));
  }
  std::string_view binary() {
    const std::uint64_t n = varint();
    if (n > static_cast<std::uint64_t>(end_ - p_)) fail("a string runs past the metadata");
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }

  // Calls f(field_id, compact_type) for each field of a struct; f reads the value or skip()s it.
  template <class F>
  void fields(F&& f) {
    int last = 0;
    for (;;) {
      const std::uint8_t h = byte();
      if (h == 0) return;
      const int type = h & 0x0f, delta = h >> 4;
      const int id = delta ? last + delta : static_cast<int>(zigzag());
      last = id;
      f(id, type);
    }
  }
  // Calls f(element_type) once per element of a list; returns the count.
  template <class F>
  size_t list(F&& f) {
    const std::uint8_t h = byte();
    std::uint64_t n = h >> 4;
    if (n == 15) n = varint();
    if (n > static_cast<std::uint64_t>(end_ - p_)) fail("a list is longer than the metadata");
    for (std::uint64_t i = 0; i < n; ++i) f(h & 0x0f);
    return n;
  }
  void skip(int type, int depth = 0) {
    if (depth > 32) fail("metadata nested deeper than 32 levels");
    switch (type) {
      case 1: case 2: return;  // a struct field's boolean is its type
      case 3: byte(); return;
      case 4: case 5: case 6: varint(); return;
      case 7: advance(8); return;
      case 8: binary(); return;
      case 9: case 10: list([&](int et) { et == 1 || et == 2 ? void(byte()) : skip(et, depth + 1); }); return;
      case 11: {
        const std::uint64_t n = varint();
        if (n == 0) return;
        const std::uint8_t kv = byte();
        if (n > static_cast<std::uint64_t>(end_ - p_)) fail("a map is longer than the metadata");
        for (std::uint64_t i = 0; i < n; ++i) {
          skip(kv >> 4, depth + 1);
          skip(kv & 0x0f, depth + 1);
        }
        return;
      }
      case 12: fields([&](int, int t) { skip(t, depth + 1); }); return;
      default: fail(fmt::format("unknown compact type {}", type));
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("{}: corrupt Parquet metadata ({}). Fix: the file is truncated or not "
                                 "Parquet; copy it again from its source",
                                 file_, what));
  }

 private:
  void advance(size_t n) {
    if (n > static_cast<size_t>(end_ - p_)) fail("metadata ends inside a field");
    p_ += n;
  }
  const std::string& file_;
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

struct Leaf {
  std::string name;
  int type = -1;
  int repetition = kRequired;
};

struct ChunkMeta {
  int type = -1, codec = 0;
  std::int64_t num_values = 0, compressed_bytes = 0, data_offset = -1, dictionary_offset = -1;
  std::string path;
};

struct RowGroupMeta {
  std::int64_t rows = 0;
  std::vector<ChunkMeta> chunks;
};

struct PageHeader {
  int type = -1;
  std::int64_t uncompressed = -1, compressed = -1;
  std::int64_t num_values = 0;
  int encoding = -1, definition_encoding = kRle;
  std::int64_t definition_bytes = 0, repetition_bytes = 0;  // v2: levels stored uncompressed
  bool v2_compressed = true;
};

ChunkMeta read_chunk(Thrift& t) {
  ChunkMeta c;
  bool has_meta = false;
  t.fields([&](int id, int type) {
    if (id == 1 && type == 8) {
      t.fail(fmt::format("a column chunk lives in another file ({})", t.binary()));
    } else if (id == 3 && type == 12) {
      has_meta = true;
      t.fields([&](int mid, int mtype) {
        switch (mid) {
          case 1: c.type = static_cast<int>(t.integer(mtype)); break;
          case 3: t.list([&](int et) {
              if (et != 8) t.fail("path_in_schema is not a list of strings");
              if (!c.path.empty()) c.path += '.';
              c.path += t.binary();
            });
            break;
          case 4: c.codec = static_cast<int>(t.integer(mtype)); break;
          case 5: c.num_values = t.integer(mtype); break;
          case 7: c.compressed_bytes = t.integer(mtype); break;
          case 9: c.data_offset = t.integer(mtype); break;
          case 11: c.dictionary_offset = t.integer(mtype); break;
          default: t.skip(mtype);
        }
      });
    } else {
      t.skip(type);
    }
  });
  if (!has_meta) t.fail("a column chunk without its metadata");
  return c;
}

PageHeader read_page_header(Thrift& t) {
  PageHeader h;
  t.fields([&](int id, int type) {
    switch (id) {
      case 1: h.type = static_cast<int>(t.integer(type)); break;
      case 2: h.uncompressed = t.integer(type); break;
      case 3: h.compressed = t.integer(type); break;
      case 5:  // DataPageHeader
        t.fields([&](int f, int ft) {
          if (f == 1) h.num_values = t.integer(ft);
          else if (f == 2) h.encoding = static_cast<int>(t.integer(ft));
          else if (f == 3) h.definition_encoding = static_cast<int>(t.integer(ft));
          else t.skip(ft);
        });
        break;
      case 7:  // DictionaryPageHeader
        t.fields([&](int f, int ft) {
          if (f == 1) h.num_values = t.integer(ft);
          else if (f == 2) h.encoding = static_cast<int>(t.integer(ft));
          else t.skip(ft);
        });
        break;
      case 8:  // DataPageHeaderV2
        t.fields([&](int f, int ft) {
          if (f == 1) h.num_values = t.integer(ft);
          else if (f == 4) h.encoding = static_cast<int>(t.integer(ft));
          else if (f == 5) h.definition_bytes = t.integer(ft);
          else if (f == 6) h.repetition_bytes = t.integer(ft);
          else if (f == 7) h.v2_compressed = ft == 1;
          else t.skip(ft);
        });
        break;
      default: t.skip(type);
    }
  });
  if (h.compressed < 0 || h.uncompressed < 0 || h.compressed > kMaxPageBytes || h.uncompressed > kMaxPageBytes ||
      h.num_values < 0 || h.definition_bytes < 0 || h.repetition_bytes < 0)
    t.fail("a page header with negative or implausible sizes");
  return h;
}

// A bounds-checked cursor over one decoded page.
struct Bytes {
  const std::uint8_t* p;
  const std::uint8_t* end;
  size_t left() const { return static_cast<size_t>(end - p); }
};

class ColumnDecoder {
 public:
  ColumnDecoder(const std::string& file, const Leaf& leaf, ParquetTable::Column* out)
      : file_(file), leaf_(leaf), out_(out) {}

  void chunk(const std::string& data, const ChunkMeta& c) {
    if (c.type != leaf_.type)
      fail(fmt::format("the chunk's type {} differs from the schema's {}", type_name(c.type), type_name(leaf_.type)));
    if (c.codec != kUncompressed && c.codec != kSnappy && c.codec != kGzip && c.codec != kZstd)
      fail(fmt::format("codec {} is not supported (UNCOMPRESSED, SNAPPY, GZIP and ZSTD are). Fix: rewrite the "
                       "file with one of those",
                       codec_name(c.codec)));
    const std::int64_t start =
        c.dictionary_offset > 0 && c.dictionary_offset < c.data_offset ? c.dictionary_offset : c.data_offset;
    const auto size = static_cast<std::int64_t>(data.size());
    if (start < 4 || c.compressed_bytes < 0 || start > size - 8 || c.compressed_bytes > size - 8 - start)
      fail("a column chunk lies outside the file: the file is truncated");
    const auto* base = reinterpret_cast<const std::uint8_t*>(data.data());
    const std::uint8_t* p = base + start;
    const std::uint8_t* end = p + c.compressed_bytes;
    dictionary_size_ = 0;
    std::int64_t values = 0;
    while (values < c.num_values) {
      if (p >= end) fail(fmt::format("the chunk ends after {} of its {} values", values, c.num_values));
      Thrift t(file_, p, end);
      const PageHeader h = read_page_header(t);
      p = t.position();
      if (h.compressed > end - p) fail("a page runs past its column chunk: the file is truncated");
      if (h.type != kDictionaryPage && h.num_values > c.num_values - values)
        fail(fmt::format("a page holds {} values, past the chunk's {}", h.num_values, c.num_values));
      Bytes payload{p, p + h.compressed};
      p += h.compressed;
      if (h.type == kDictionaryPage) {
        dictionary(decompress(payload, h.uncompressed, c.codec), h);
      } else if (h.type == kDataPage) {
        const std::string& page = decompress(payload, h.uncompressed, c.codec);
        data_page(Bytes{reinterpret_cast<const std::uint8_t*>(page.data()),
                        reinterpret_cast<const std::uint8_t*>(page.data()) + page.size()},
                  h);
        values += h.num_values;
      } else if (h.type == kDataPageV2) {
        const std::int64_t levels = h.definition_bytes + h.repetition_bytes;
        if (h.repetition_bytes != 0) fail("repetition levels (a nested column) are not supported");
        if (levels > h.compressed) fail("a v2 page's levels are longer than the page");
        Bytes def{payload.p, payload.p + h.definition_bytes};
        Bytes rest{payload.p + levels, payload.end};
        const std::string& page = h.v2_compressed ? decompress(rest, h.uncompressed - levels, c.codec)
                                                  : copy(rest);
        const auto* q = reinterpret_cast<const std::uint8_t*>(page.data());
        data_page_v2(def, Bytes{q, q + page.size()}, h);
        values += h.num_values;
      }  // index pages carry no values
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("{}: column '{}': {}", file_, leaf_.name, what));
  }

 private:
  const std::string& copy(Bytes in) {
    buffer_.assign(reinterpret_cast<const char*>(in.p), in.left());
    return buffer_;
  }

  const std::string& decompress(Bytes in, std::int64_t expected, int codec) {
    if (expected < 0) fail("a page's uncompressed size is negative");
    const auto n = static_cast<size_t>(expected);
    const char* src = reinterpret_cast<const char*>(in.p);
    if (codec == kUncompressed) {
      if (in.left() != n) fail("an uncompressed page's two sizes differ");
      return copy(in);
    }
    buffer_.resize(n);
    bool ok = false;
    if (codec == kSnappy) {
      size_t length = 0;
      ok = snappy::GetUncompressedLength(src, in.left(), &length) && length == n &&
           snappy::RawUncompress(src, in.left(), buffer_.data());
    } else if (codec == kZstd) {
      const size_t got = ZSTD_decompress(buffer_.data(), n, src, in.left());
      ok = !ZSTD_isError(got) && got == n;
    } else if (codec == kGzip) {
      z_stream z{};
      if (inflateInit2(&z, 15 + 32) == Z_OK) {
        z.next_in = const_cast<Bytef*>(in.p);
        z.avail_in = static_cast<uInt>(in.left());
        z.next_out = reinterpret_cast<Bytef*>(buffer_.data());
        z.avail_out = static_cast<uInt>(n);
        ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == n;
        inflateEnd(&z);
      }
    }
    if (!ok) fail(fmt::format("a {} page does not decompress to its {} bytes: the file is corrupt", codec_name(codec), n));
    return buffer_;
  }

  void dictionary(const std::string& page, const PageHeader& h) {
    if (h.encoding != kPlain && h.encoding != kPlainDictionary)
      fail(fmt::format("dictionary page encoding {} (expected PLAIN)", h.encoding));
    Bytes in{reinterpret_cast<const std::uint8_t*>(page.data()),
             reinterpret_cast<const std::uint8_t*>(page.data()) + page.size()};
    dictionary_numbers_.clear();
    dictionary_base_ = out_->text.size();
    dictionary_size_ = static_cast<size_t>(h.num_values);
    if (leaf_.type == kByteArray) {
      for (size_t i = 0; i < dictionary_size_; ++i) out_->text.emplace_back(plain_text(in));
    } else {
      for (size_t i = 0; i < dictionary_size_; ++i) dictionary_numbers_.push_back(plain_number(in, i));
    }
  }

  // v1: [definition levels, 4-byte length first, when OPTIONAL][values]
  void data_page(Bytes in, const PageHeader& h) {
    const auto count = static_cast<size_t>(h.num_values);
    if (leaf_.repetition == kOptional) {
      if (h.definition_encoding != kRle) fail(fmt::format("definition level encoding {} (expected RLE)", h.definition_encoding));
      if (in.left() < 4) fail("a data page ends before its definition levels");
      std::uint32_t length;
      std::memcpy(&length, in.p, 4);
      in.p += 4;
      if (length > in.left()) fail("definition levels run past their page");
      levels(Bytes{in.p, in.p + length}, count);
      in.p += length;
    } else {
      defined_.assign(count, 1);
    }
    values(in, h.encoding);
  }

  void data_page_v2(Bytes def, Bytes in, const PageHeader& h) {
    const auto count = static_cast<size_t>(h.num_values);
    if (leaf_.repetition == kOptional) levels(def, count);
    else defined_.assign(count, 1);
    values(in, h.encoding);
  }

  void levels(Bytes in, size_t count) {
    rle(in, 1, count, &scratch_);
    defined_.resize(count);
    for (size_t i = 0; i < count; ++i) {
      if (scratch_[i] > 1) fail("a definition level above 1 in a flat column");
      defined_[i] = static_cast<std::uint8_t>(scratch_[i]);
    }
  }

  void values(Bytes in, int encoding) {
    size_t present = 0;
    for (auto d : defined_) present += d;
    if (encoding == kRleDictionary || encoding == kPlainDictionary) {
      if (present > 0 && in.left() < 1) fail("a dictionary-coded page without its bit width");
      const int width = present > 0 ? *in.p++ : 0;
      if (width > 32) fail(fmt::format("dictionary index bit width {} (at most 32)", width));
      rle(in, width, present, &scratch_);
      size_t k = 0;
      for (auto d : defined_) {
        if (!d) { push_null(); continue; }
        const std::uint32_t id = scratch_[k++];
        if (id >= dictionary_size_)
          fail(fmt::format("dictionary index {} past the dictionary's {} entries", id, dictionary_size_));
        if (leaf_.type == kByteArray) push_text(static_cast<std::uint32_t>(dictionary_base_ + id));
        else push_number(dictionary_numbers_[id]);
      }
    } else if (encoding == kPlain) {
      size_t k = 0;
      for (auto d : defined_) {
        if (!d) { push_null(); continue; }
        if (leaf_.type == kByteArray) {
          out_->text.emplace_back(plain_text(in));
          push_text(static_cast<std::uint32_t>(out_->text.size() - 1));
        } else {
          push_number(plain_number(in, k));
        }
        ++k;
      }
    } else {
      fail(fmt::format("value encoding {} is not supported (PLAIN and RLE_DICTIONARY are)", encoding));
    }
  }

  std::string plain_text(Bytes& in) {
    if (in.left() < 4) fail("a page ends inside a string's length");
    std::uint32_t n;
    std::memcpy(&n, in.p, 4);
    in.p += 4;
    if (n > in.left()) fail("a string runs past its page");
    std::string s(reinterpret_cast<const char*>(in.p), n);
    in.p += n;
    return s;
  }

  // PLAIN numbers; booleans are bit-packed, one bit each, so the value's index within the page
  // locates it.
  double plain_number(Bytes& in, size_t index) {
    auto take = [&](auto value) {
      if (in.left() < sizeof(value)) fail("a page ends inside a value");
      std::memcpy(&value, in.p, sizeof(value));
      in.p += sizeof(value);
      return static_cast<double>(value);
    };
    switch (leaf_.type) {
      case kInt32: return take(std::int32_t{});
      case kInt64: return take(std::int64_t{});
      case kFloat: return take(float{});
      case kDouble: return take(double{});
      case kBoolean: {
        if (index % 8 == 0 && index > 0) ++in.p;
        if (in.left() < 1) fail("a page ends inside its booleans");
        const double v = (*in.p >> (index % 8)) & 1;
        return v;
      }
      default: fail(fmt::format("type {} is not supported", type_name(leaf_.type)));
    }
  }

  // The RLE/bit-packed hybrid: runs of one value, or groups of 8 values packed LSB first.
  void rle(Bytes in, int width, size_t count, std::vector<std::uint32_t>* out) {
    out->clear();
    out->reserve(count);
    const size_t value_bytes = (static_cast<size_t>(width) + 7) / 8;
    while (out->size() < count) {
      Thrift t(file_, in.p, in.end);
      const std::uint64_t header = t.varint();
      in.p = t.position();
      if (header & 1) {
        const std::uint64_t groups = header >> 1;
        if (groups == 0 || groups > in.left() + 1) fail("a bit-packed run with an impossible length");
        const size_t bytes = static_cast<size_t>(groups) * static_cast<size_t>(width);
        if (bytes > in.left()) fail("a bit-packed run passes the end of its page");
        const size_t n = std::min<size_t>(groups * 8, count - out->size());
        for (size_t i = 0; i < n; ++i) {
          std::uint64_t v = 0;
          const size_t bit = i * static_cast<size_t>(width);
          for (int b = 0; b < width; ++b)
            v |= std::uint64_t{(in.p[(bit + b) / 8] >> ((bit + b) % 8)) & 1u} << b;
          out->push_back(static_cast<std::uint32_t>(v));
        }
        in.p += bytes;
      } else {
        const std::uint64_t run = header >> 1;
        if (run == 0) fail("an empty RLE run");
        if (value_bytes > in.left()) fail("an RLE run passes the end of its page");
        std::uint64_t v = 0;
        for (size_t b = 0; b < value_bytes; ++b) v |= std::uint64_t{in.p[b]} << (8 * b);
        in.p += value_bytes;
        const size_t n = std::min<size_t>(run, count - out->size());
        out->insert(out->end(), n, static_cast<std::uint32_t>(v));
      }
    }
  }

  void push_null() {
    out_->null.push_back(1);
    if (out_->kind == ParquetTable::Kind::kText) {
      if (empty_text_ == UINT32_MAX) {
        out_->text.emplace_back();
        empty_text_ = static_cast<std::uint32_t>(out_->text.size() - 1);
      }
      out_->text_ids.push_back(empty_text_);
    } else {
      out_->numbers.push_back(std::numeric_limits<double>::quiet_NaN());
    }
  }
  void push_text(std::uint32_t id) {
    out_->null.push_back(0);
    out_->text_ids.push_back(id);
  }
  void push_number(double v) {
    out_->null.push_back(0);
    out_->numbers.push_back(v);
  }

  const std::string& file_;
  const Leaf& leaf_;
  ParquetTable::Column* out_;
  std::string buffer_;
  std::vector<double> dictionary_numbers_;
  size_t dictionary_base_ = 0, dictionary_size_ = 0;
  std::uint32_t empty_text_ = UINT32_MAX;
  std::vector<std::uint32_t> scratch_;
  std::vector<std::uint8_t> defined_;
};

}  // namespace

ParquetTable ParquetTable::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the file", path));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(fmt::format("{}: read error", path));
  return parse(data, path);
}

ParquetTable ParquetTable::parse(const std::string& data, const std::string& path) {
  if (data.size() < 12 || data.compare(0, 4, "PAR1") != 0 || data.compare(data.size() - 4, 4, "PAR1") != 0)
    throw InputError(fmt::format("{}: not a Parquet file (no PAR1 at both ends{}). Fix: the file is truncated "
                                 "or of another format; copy it again from its source",
                                 path, data.size() < 12 ? ", and shorter than 12 bytes" : ""));
  std::uint32_t footer_bytes;
  std::memcpy(&footer_bytes, data.data() + data.size() - 8, 4);
  if (footer_bytes > data.size() - 12)
    throw InputError(fmt::format("{}: the footer claims {} bytes, more than the file holds: the file is truncated",
                                 path, footer_bytes));
  const auto* end = reinterpret_cast<const std::uint8_t*>(data.data()) + data.size() - 8;
  Thrift t(path, end - footer_bytes, end);

  std::vector<Leaf> schema;
  std::vector<RowGroupMeta> groups;
  std::int64_t num_rows = -1;
  t.fields([&](int id, int type) {
    if (id == 2 && type == 9) {
      t.list([&](int et) {
        if (et != 12) t.fail("a schema element is not a struct");
        Leaf leaf;
        std::int64_t children = 0;
        t.fields([&](int f, int ft) {
          if (f == 1) leaf.type = static_cast<int>(t.integer(ft));
          else if (f == 3) leaf.repetition = static_cast<int>(t.integer(ft));
          else if (f == 4) leaf.name = std::string(t.binary());
          else if (f == 5) children = t.integer(ft);
          else t.skip(ft);
        });
        if (!schema.empty() && children > 0)
          throw InputError(fmt::format("{}: column '{}' is a nested group; only flat tables are supported", path,
                                       leaf.name));
        schema.push_back(leaf);
      });
    } else if (id == 3) {
      num_rows = t.integer(type);
    } else if (id == 4 && type == 9) {
      t.list([&](int et) {
        if (et != 12) t.fail("a row group is not a struct");
        RowGroupMeta g;
        t.fields([&](int f, int ft) {
          if (f == 1 && ft == 9) t.list([&](int) { g.chunks.push_back(read_chunk(t)); });
          else if (f == 3) g.rows = t.integer(ft);
          else t.skip(ft);
        });
        groups.push_back(std::move(g));
      });
    } else {
      t.skip(type);
    }
  });
  if (schema.empty()) t.fail("no schema");
  schema.erase(schema.begin());  // the root
  if (num_rows < 0 || num_rows > kMaxRows)
    t.fail(fmt::format("a row count of {} (this reader takes 0 to {} rows)", num_rows, kMaxRows));

  ParquetTable table;
  table.path_ = path;
  table.rows_ = static_cast<size_t>(num_rows);
  for (const Leaf& leaf : schema) {
    if (leaf.repetition == kRepeated)
      throw InputError(fmt::format("{}: column '{}' is repeated (a list); only flat tables are supported", path, leaf.name));
    if (leaf.type != kBoolean && leaf.type != kInt32 && leaf.type != kInt64 && leaf.type != kFloat &&
        leaf.type != kDouble && leaf.type != kByteArray)
      throw InputError(fmt::format("{}: column '{}' has type {}, which this reader does not support", path, leaf.name,
                                   type_name(leaf.type)));
    Column c;
    c.name = leaf.name;
    c.kind = leaf.type == kByteArray ? Kind::kText : Kind::kNumber;
    table.columns_.push_back(std::move(c));
  }
  std::int64_t rows_seen = 0;
  std::vector<ColumnDecoder> decoders;
  for (size_t i = 0; i < schema.size(); ++i) decoders.emplace_back(path, schema[i], &table.columns_[i]);
  for (const RowGroupMeta& g : groups) {
    if (g.chunks.size() != schema.size())
      t.fail(fmt::format("a row group has {} columns, the schema {}", g.chunks.size(), schema.size()));
    for (size_t i = 0; i < schema.size(); ++i) {
      if (g.chunks[i].path != schema[i].name)
        decoders[i].fail(fmt::format("the row group's column {} is '{}'", i, g.chunks[i].path));
      if (g.chunks[i].num_values != g.rows)
        decoders[i].fail(fmt::format("{} values in a row group of {} rows", g.chunks[i].num_values, g.rows));
      decoders[i].chunk(data, g.chunks[i]);
    }
    rows_seen += g.rows;
  }
  if (rows_seen != num_rows) t.fail(fmt::format("the row groups hold {} rows, the footer says {}", rows_seen, num_rows));
  for (size_t i = 0; i < schema.size(); ++i)
    if (table.columns_[i].null.size() != table.rows_)
      decoders[i].fail(fmt::format("{} values decoded for {} rows", table.columns_[i].null.size(), table.rows_));
  return table;
}

}  // namespace servesim
