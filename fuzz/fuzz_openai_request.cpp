// libFuzzer target: servesim live's request-body parser (completions and chat completions) and the
// responses built from what it accepts. An ApiError is the documented answer to a bad body;
// anything else escaping, or a response that is not what the parser accepted, is a finding.
#include <cstdint>
#include <string>

#include "live/openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace servesim::live;
  const std::string body(reinterpret_cast<const char*>(data), size);
  static const std::vector<std::string> models{"llama-3.1-8b", "m\"odel\\"};
  ApiLimits limits;
  limits.max_prompt_tokens = 4096;
  limits.max_request_tokens = 8192;
  for (ApiKind kind : {ApiKind::kCompletion, ApiKind::kChat}) {
    auto parsed = parse_request(body, kind, limits, models);
    if (auto* e = std::get_if<ApiError>(&parsed)) {
      if (e->status < 400 || e->status > 499 || e->message.empty()) __builtin_trap();
      (void)error_body(*e);
      continue;
    }
    const ApiRequest& r = std::get<ApiRequest>(parsed);
    if (r.prompt.empty() || r.prompt.size() > limits.max_prompt_tokens || r.max_tokens == 0 ||
        r.prompt.size() + r.max_tokens > limits.max_request_tokens || r.min_tokens > r.max_tokens)
      __builtin_trap();
    const ResponseHead head{"cmpl-1", r.model, 0};
    (void)full_response(kind, head, "x", "length", Usage{static_cast<std::uint32_t>(r.prompt.size()), r.max_tokens, 0});
    (void)token_chunk(kind, head, "x", "");
  }
  return 0;
}
