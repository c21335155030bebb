#pragma once
// One fuzz input through a trace format: every row read, the workload knobs applied. An
// InputError (a bad line, an empty trace) is the documented answer to bad bytes; anything else
// escaping (std::bad_alloc, an InvariantError, a crash, a sanitizer report) is a finding.
#include <cstdint>
#include <exception>

#include "core/error.h"
#include "fuzz/fuzz_input.h"
#include "scenario/scenario.h"
#include "traces/trace_source.h"

namespace servesim::fuzz {

inline int read_trace(const char* format, const std::uint8_t* data, std::size_t size) {
  static InputFile file(format);
  WorkloadConfig w;
  w.source = format;
  w.path = file.write(data, size);
  // the first byte picks the bad-line policy, so both paths are explored
  w.on_bad_line = size > 0 && (data[0] & 1) ? "skip" : "fail";
  w.hash_block_tokens = 16;
  TraceContext ctx{w, "", 1};
  try {
    auto source = make_trace_source(ctx);
    std::uint64_t rows = 0;
    while (auto r = source->next()) {
      if (r->input_tokens < 1 || r->output_tokens < 1 || !(r->arrival_s >= 0) || r->arrival_s > kMaxTraceTimeS)
        std::abort();  // a reader let a value outside its documented range through
      if (++rows > 1'000'000) break;
    }
  } catch (const InputError&) {
  } catch (const ConfigError&) {
  }
  return 0;
}

}  // namespace servesim::fuzz
