#pragma once
// Orders release version strings the way their projects mean them (PEP 440, which vLLM, SGLang
// and TensorRT-LLM follow), not as text: 0.5.9 < 0.5.14, 1.3.0rc15 < 1.3.0rc20 < 1.3.0,
// 0.5.6 < 0.5.6.post2 < 0.5.9, 1.0 == 1.0.0. A string that is not such a version (e.g. "latest")
// sorts before every version, and among such strings by text.
#include <string_view>

namespace servesim {

bool version_less(std::string_view a, std::string_view b);

}  // namespace servesim
