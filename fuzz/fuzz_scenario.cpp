// libFuzzer target: the scenario loader (YAML parse, duplicate keys, typed read, validation).
// A ConfigError or InputError is the documented answer to a bad scenario; anything else
// escaping is a finding.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "scenario/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    servesim::load_scenario_string(text, "fuzz.yaml", {}, SERVESIM_SOURCE_DIR "/scenarios");
  } catch (const servesim::ConfigError&) {
  } catch (const servesim::InputError&) {
  }
  return 0;
}
