#pragma once
// The OpenAI-compatible API as vLLM serves it (../reference facts copied into docs/live.md):
// request bodies parsed and checked into ApiRequest, or an ApiError with the HTTP status and the
// OpenAI error body; responses and stream chunks formatted. Pure functions: no I/O, no threads.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/json_text.h"

namespace servesim::live {

enum class ApiKind : std::uint8_t { kCompletion, kChat };

struct ApiLimits {
  std::uint32_t max_prompt_tokens = 131072;
  std::uint32_t max_tokens = 32768;          // the most output tokens one request may ask for
  std::uint32_t default_max_tokens = 256;    // output tokens of a request that gives no max_tokens
  std::uint64_t max_request_tokens = 0;      // prompt + output must fit one worker's KV cache (0: no check)
};

struct ApiRequest {
  ApiKind kind = ApiKind::kCompletion;
  std::string model;
  std::vector<std::uint32_t> prompt;  // token ids (the stand-in tokenizer's, or the client's own)
  std::uint32_t max_tokens = 0;       // the simulated model emits exactly this many (no early EOS)
  std::uint32_t min_tokens = 0;
  bool ignore_eos = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool continuous_usage = false;  // stream_options.continuous_usage_stats (vLLM): usage in every chunk
};

struct ApiError {
  int status = 400;
  std::string message, type = "invalid_request_error", param, code;
};

// `models`: the served model names; a request naming none of them is a 404. An empty or absent
// `model` means the first.
std::variant<ApiRequest, ApiError> parse_request(std::string_view body, ApiKind kind, const ApiLimits& limits,
                                                 const std::vector<std::string>& models);

std::string error_body(const ApiError& e);

struct Usage {
  std::uint32_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};
std::string usage_json(const Usage& u);

// What a response is about: the request's id (cmpl-N / chatcmpl-N), creation time, model.
struct ResponseHead {
  std::string id, model;
  std::int64_t created = 0;
};

// A whole, non-streamed response.
std::string full_response(ApiKind kind, const ResponseHead& head, std::string_view text,
                          std::string_view finish_reason, const Usage& usage);
// One Server-Sent Event, "data: {...}\n\n". A chat stream starts with role_chunk(); each token is a
// token_chunk() (finish_reason set on the last); with include_usage a usage_chunk() (empty
// choices) comes before "data: [DONE]\n\n".
std::string role_chunk(const ResponseHead& head);
std::string token_chunk(ApiKind kind, const ResponseHead& head, std::string_view text,
                        std::string_view finish_reason, const std::optional<Usage>& usage = std::nullopt);
std::string usage_chunk(ApiKind kind, const ResponseHead& head, const Usage& usage);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

// `parents`: per model, "" or (a LoRA adapter, listed as vLLM lists them) its base model.
std::string models_body(const std::vector<std::string>& models, std::int64_t created,
                        const std::vector<std::string>& parents = {});

}  // namespace servesim::live
