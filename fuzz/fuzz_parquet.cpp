// libFuzzer target: the Parquet reader of the kernel tables (aiconfigurator's performance
// database). An InputError is the documented answer to a damaged file; anything else escaping, a
// crash, or a table whose columns disagree with its row count is a finding.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/parquet_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const servesim::ParquetTable t = servesim::ParquetTable::parse(bytes, "fuzz.parquet");
    for (const auto& c : t.columns()) {
      if (c.null.size() != t.rows()) __builtin_trap();
      if (c.kind == servesim::ParquetTable::Kind::kText) {
        if (c.text_ids.size() != t.rows()) __builtin_trap();
        for (auto id : c.text_ids)
          if (id >= c.text.size()) __builtin_trap();
      } else if (c.numbers.size() != t.rows()) {
        __builtin_trap();
      }
    }
  } catch (const servesim::InputError&) {
  }
  return 0;
}
