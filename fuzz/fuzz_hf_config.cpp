// libFuzzer target: a Hugging Face config.json read as a catalog model (models/hf_config.h). An
// InputError is the documented answer to a file servesim cannot model; anything else escaping, a
// crash, or a model whose sizes are not finite and positive is a finding.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "models/catalog.h"
#include "models/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const servesim::ModelSpec m = servesim::model_from_hf_config_text(text, "fuzz_config.json", "fuzz/model");
    if (servesim::model_problem(m)) __builtin_trap();  // the reader lets no unusable shapes through
    for (double v : {m.params_b, m.weight_bytes(), m.kv_bytes_per_token(), m.active_params()})
      if (!std::isfinite(v) || v <= 0) __builtin_trap();
  } catch (const servesim::InputError&) {
  }
  return 0;
}
