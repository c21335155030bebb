// LineReader finds carriage returns and NUL bytes with one scan of each buffer it reads, not
// three scans per line: the faults must still be named on the line that has them, wherever it
// falls (first in a chunk, across a chunk boundary, after tens of thousands of clean lines).
// split_commas against a plain reference on fields of every length around its 16-byte blocks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/csv_reader.h"
#include "core/error.h"
#include "core/line_reader.h"
#include "test_util.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

std::string numbered_lines(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += "line " + std::to_string(i) + ",some,fields,of,text\n";
  return text;
}

std::vector<std::string> read_all(const std::string& path) {
  LineReader in(path);
  std::vector<std::string> lines;
  std::string_view line;
  while (in.next(line)) {
    in.throw_if_problem();
    lines.emplace_back(line);
  }
  return lines;
}

TEST(LineReader, CrlfLinesAcrossManyBuffersReadAsTheirText) {
  testing::TempDir dir;
  std::string crlf;
  for (int i = 0; i < 20000; ++i) crlf += "row " + std::to_string(i) + "\r\n";  // ~200 KB: several buffers
  dir.write("crlf.txt", crlf);
  testing::write_gz(dir.file("crlf.txt.gz"), crlf);
  for (const char* name : {"crlf.txt", "crlf.txt.gz"}) {
    const auto lines = read_all(dir.file(name));
    ASSERT_EQ(lines.size(), 20000u) << name;
    EXPECT_EQ(lines.front(), "row 0");
    EXPECT_EQ(lines[12345], "row 12345");
    EXPECT_EQ(lines.back(), "row 19999");
  }
}

TEST(LineReader, AFaultFarIntoTheFileIsNamedOnItsOwnLine) {
  testing::TempDir dir;
  const int clean = 30000;  // ~1 MB of clean lines before the fault: many buffers later
  struct Case {
    std::string fault, message;
  };
  for (const Case& c : {Case{"a stray\rreturn\n", "a stray carriage return (\\r) at column 8"},
                        Case{"doubled\r\r\n", "doubled carriage return"},
                        Case{std::string("binary\0byte\n", 12), "NUL byte at column 7"}}) {
    const std::string text = numbered_lines(clean) + c.fault + numbered_lines(3);
    dir.write("f.txt", text);
    LineReader in(dir.file("f.txt"));
    std::string_view line;
    int read = 0;
    try {
      while (in.next(line)) {
        in.throw_if_problem();
        ++read;
      }
      FAIL() << "no error for " << c.message;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr(":" + std::to_string(clean + 1) + ": ")) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(c.message));
    }
    EXPECT_EQ(read, clean);
  }
  // a fault straddling a buffer boundary: the carriage return is the first byte of a new buffer
  for (int pad = 0; pad < 40; ++pad) {
    const std::string head = std::string(65536 - 10 - pad, 'x') + "\n";
    dir.write("edge.txt", head + "abcdefghi" + std::string(static_cast<size_t>(pad), 'y') + "\rz\nlast\n");
    LineReader in(dir.file("edge.txt"));
    std::string_view line;
    ASSERT_TRUE(in.next(line));
    EXPECT_TRUE(in.problem().empty());
    EXPECT_THROW(in.next(line), InputError) << pad;
  }
}

TEST(LineReader, AnOverLongLineThenCleanLinesThenAFault) {
  testing::TempDir dir;
  const std::string text =
      "first\n" + std::string(LineReader::kMaxLineBytes + (1 << 20), 'a') + "\n" + numbered_lines(100) + "bad\rline\n";
  dir.write("long.txt", text);
  LineReader in(dir.file("long.txt"));
  std::string_view line;
  ASSERT_TRUE(in.next(line));
  EXPECT_EQ(line, "first");
  ASSERT_TRUE(in.next(line));
  EXPECT_THAT(in.problem(), HasSubstr("over the 8 MiB limit"));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(in.next(line));
    ASSERT_TRUE(in.problem().empty()) << i;
  }
  EXPECT_THROW(in.next(line), InputError);
}

std::vector<std::string> reference_split(const std::string& line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == ',') out.emplace_back();
    else out.back() += c;
  }
  return out;
}

TEST(SplitCommas, EveryFieldLengthAroundItsBlocks) {
  std::vector<std::string_view> fields;
  for (size_t length = 0; length < 70; ++length)
    for (size_t first = 0; first < 20; ++first) {
      std::string line(length, 'v');
      // commas at `first` and then every 7th byte, and fields empty where two are adjacent
      for (size_t i = first; i < length; i += 7) line[i] = ',';
      if (length > 3) line[length - 1] = ',';
      split_commas(line, fields);
      const auto want = reference_split(line);
      ASSERT_EQ(fields.size(), want.size()) << line;
      for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(fields[i], want[i]) << line;
    }
  split_commas("", fields);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_TRUE(fields[0].empty());
}

}  // namespace
}  // namespace servesim
