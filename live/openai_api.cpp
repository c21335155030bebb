#include "live/openai_api.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cmath>
#include <limits>

#include "live/tokenizer.h"

namespace servesim::live {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

ApiError bad(std::string param, std::string message) {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), ""};
}

// A non-negative integer field (null or absent: nullopt). Error text names the field.
std::variant<std::optional<std::uint64_t>, ApiError> count_field(const simdjson::dom::object& obj, const char* name) {
  element v;
  if (obj[name].get(v) != simdjson::SUCCESS || v.is_null()) return std::optional<std::uint64_t>{};
  std::int64_t i = 0;
  std::uint64_t u = 0;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) return std::optional<std::uint64_t>{u};
  if (v.get_int64().get(i) == simdjson::SUCCESS)
    return bad(name, fmt::format("'{}' must be a non-negative integer, got {}", name, i));
  double d = 0;  // a whole number written as 8.0 (some clients send floats); beyond 2^53 it is no count
  if (v.get_double().get(d) == simdjson::SUCCESS && d >= 0 && d <= 9007199254740992.0 && d == std::floor(d))
    return std::optional<std::uint64_t>{static_cast<std::uint64_t>(d)};
  return bad(name, fmt::format("'{}' must be a non-negative integer", name));
}

std::variant<bool, ApiError> bool_field(const simdjson::dom::object& obj, const char* name, const char* param) {
  element v;
  if (obj[name].get(v) != simdjson::SUCCESS || v.is_null()) return false;
  bool b = false;
  if (v.get_bool().get(b) != simdjson::SUCCESS) return bad(param, fmt::format("'{}' must be true or false", param));
  return b;
}

// A token-id array: every element an integer in [0, 2^32).
std::optional<std::vector<std::uint32_t>> token_ids(const simdjson::dom::array& arr) {
  std::vector<std::uint32_t> out;
  for (element e : arr) {
    std::uint64_t u = 0;
    if (e.get_uint64().get(u) != simdjson::SUCCESS || u > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    out.push_back(static_cast<std::uint32_t>(u));
  }
  return out;
}

// The prompt of /v1/completions: a string, or token ids, or a one-element list of either.
std::variant<std::vector<std::uint32_t>, ApiError> completion_prompt(const simdjson::dom::object& obj) {
  element p;
  if (obj["prompt"].get(p) != simdjson::SUCCESS || p.is_null()) return bad("prompt", "'prompt' is required");
  std::string_view text;
  if (p.get_string().get(text) == simdjson::SUCCESS) return tokenize(text);
  simdjson::dom::array arr;
  if (p.get_array().get(arr) != simdjson::SUCCESS)
    return bad("prompt", "'prompt' must be a string, a list of token ids, or a list of one of them");
  if (arr.size() == 0) return bad("prompt", "'prompt' is empty");
  element first = arr.at(0).value_unsafe();
  if (first.is_string() || first.is_array()) {
    if (arr.size() != 1) return bad("prompt", "only one prompt per request is supported (got a batch)");
    if (first.get_string().get(text) == simdjson::SUCCESS) return tokenize(text);
    auto ids = token_ids(first.get_array().value_unsafe());
    if (!ids) return bad("prompt", "'prompt' token ids must be integers in [0, 2^32)");
    return *ids;
  }
  auto ids = token_ids(arr);
  if (!ids) return bad("prompt", "'prompt' token ids must be integers in [0, 2^32)");
  return *ids;
}

// /v1/chat/completions' messages, rendered into one prompt (tokenizer.h).
std::variant<std::vector<std::uint32_t>, ApiError> chat_prompt(const simdjson::dom::object& obj) {
  simdjson::dom::array arr;
  element m;
  if (obj["messages"].get(m) != simdjson::SUCCESS || m.is_null()) return bad("messages", "'messages' is required");
  if (m.get_array().get(arr) != simdjson::SUCCESS) return bad("messages", "'messages' must be a list of messages");
  if (arr.size() == 0) return bad("messages", "'messages' is empty");
  std::vector<ChatMessage> messages;
  size_t i = 0;
  for (element e : arr) {
    const std::string param = fmt::format("messages[{}]", i++);
    simdjson::dom::object mo;
    if (e.get_object().get(mo) != simdjson::SUCCESS) return bad(param, fmt::format("'{}' must be an object", param));
    std::string_view role;
    if (mo["role"].get_string().get(role) != simdjson::SUCCESS)
      return bad(param + ".role", fmt::format("'{}.role' must be a string", param));
    ChatMessage msg{std::string(role), ""};
    element content;
    if (mo["content"].get(content) == simdjson::SUCCESS && !content.is_null()) {
      std::string_view text;
      simdjson::dom::array parts;
      if (content.get_string().get(text) == simdjson::SUCCESS) {
        msg.content = text;
      } else if (content.get_array().get(parts) == simdjson::SUCCESS) {
        for (element part : parts) {  // content parts: the text ones count, others (images) are skipped
          std::string_view type, ptext;
          if (part["type"].get_string().get(type) == simdjson::SUCCESS && type == "text" &&
              part["text"].get_string().get(ptext) == simdjson::SUCCESS)
            msg.content += ptext;
        }
      } else {
        return bad(param + ".content", fmt::format("'{}.content' must be a string or a list of parts", param));
      }
    }
    messages.push_back(std::move(msg));
  }
  return tokenize(render_chat(messages));
}

}  // namespace

std::variant<ApiRequest, ApiError> parse_request(std::string_view body, ApiKind kind, const ApiLimits& limits,
                                                 const std::vector<std::string>& models) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  element doc;
  if (auto err = parser.parse(padded).get(doc); err)
    return bad("", fmt::format("the body is not valid JSON ({})", simdjson::error_message(err)));
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return bad("", "the body must be a JSON object");

  ApiRequest r;
  r.kind = kind;
  element model;
  std::string_view name;
  if (obj["model"].get(model) == simdjson::SUCCESS && !model.is_null()) {
    if (model.get_string().get(name) != simdjson::SUCCESS) return bad("model", "'model' must be a string");
  }
  if (name.empty()) {
    r.model = models.empty() ? "" : models.front();
  } else {
    bool known = false;
    for (const auto& m : models) known |= m == name;
    if (!known)
      return ApiError{404, fmt::format("The model `{}` does not exist. Served: {}", name, fmt::join(models, ", ")),
                      "invalid_request_error", "model", "model_not_found"};
    r.model = name;
  }

  auto prompt = kind == ApiKind::kChat ? chat_prompt(obj) : completion_prompt(obj);
  if (auto* e = std::get_if<ApiError>(&prompt)) return *e;
  r.prompt = std::move(std::get<std::vector<std::uint32_t>>(prompt));

  // a client that knows its prompt's token count says so; the stand-in tokens are cut or repeated to it
  auto exact = count_field(obj, "num_prompt_tokens");
  if (auto* e = std::get_if<ApiError>(&exact)) return *e;
  if (auto n = std::get<std::optional<std::uint64_t>>(exact)) {
    if (*n == 0) return bad("num_prompt_tokens", "'num_prompt_tokens' must be at least 1");
    if (*n > limits.max_prompt_tokens)
      return bad("num_prompt_tokens", fmt::format("'num_prompt_tokens' {} is above the limit of {}", *n,
                                                  limits.max_prompt_tokens));
    const size_t have = r.prompt.size();
    if (have == 0) r.prompt.push_back(0);
    r.prompt.resize(*n);
    for (size_t i = std::max<size_t>(have, 1); i < *n; ++i) r.prompt[i] = r.prompt[i % std::max<size_t>(have, 1)];
  }
  if (r.prompt.empty()) return bad(kind == ApiKind::kChat ? "messages" : "prompt", "the prompt is empty");
  if (r.prompt.size() > limits.max_prompt_tokens)
    return ApiError{400,
                    fmt::format("the prompt has {} tokens, above this server's limit of {} (--max-prompt-tokens)",
                                r.prompt.size(), limits.max_prompt_tokens),
                    "invalid_request_error", kind == ApiKind::kChat ? "messages" : "prompt", "context_length_exceeded"};

  std::optional<std::uint64_t> max_tokens;
  for (const char* field : {"max_completion_tokens", "max_tokens"}) {
    auto v = count_field(obj, field);
    if (auto* e = std::get_if<ApiError>(&v)) return *e;
    if (auto n = std::get<std::optional<std::uint64_t>>(v); n && !max_tokens) {
      if (*n == 0) return bad(field, fmt::format("'{}' must be at least 1", field));
      if (*n > limits.max_tokens)
        return bad(field, fmt::format("'{}' {} is above this server's limit of {} (--max-tokens-limit)", field, *n,
                                      limits.max_tokens));
      max_tokens = n;
    }
  }
  r.max_tokens = static_cast<std::uint32_t>(max_tokens.value_or(limits.default_max_tokens));
  auto min_tokens = count_field(obj, "min_tokens");
  if (auto* e = std::get_if<ApiError>(&min_tokens)) return *e;
  r.min_tokens = static_cast<std::uint32_t>(std::get<std::optional<std::uint64_t>>(min_tokens).value_or(0));
  if (r.min_tokens > r.max_tokens)
    return bad("min_tokens", fmt::format("'min_tokens' {} is above max_tokens {}", r.min_tokens, r.max_tokens));
  auto n = count_field(obj, "n");
  if (auto* e = std::get_if<ApiError>(&n)) return *e;
  if (auto v = std::get<std::optional<std::uint64_t>>(n); v && *v != 1)
    return bad("n", "only n = 1 is supported");
  if (limits.max_request_tokens && r.prompt.size() + r.max_tokens > limits.max_request_tokens)
    return ApiError{400,
                    fmt::format("this request needs {} prompt + {} output tokens of KV cache, but a worker holds at "
                                "most {}; ask for fewer tokens",
                                r.prompt.size(), r.max_tokens, limits.max_request_tokens),
                    "invalid_request_error", "max_tokens", "context_length_exceeded"};

  auto stream = bool_field(obj, "stream", "stream");
  if (auto* e = std::get_if<ApiError>(&stream)) return *e;
  r.stream = std::get<bool>(stream);
  auto ignore_eos = bool_field(obj, "ignore_eos", "ignore_eos");
  if (auto* e = std::get_if<ApiError>(&ignore_eos)) return *e;
  r.ignore_eos = std::get<bool>(ignore_eos);
  element so;
  if (obj["stream_options"].get(so) == simdjson::SUCCESS && !so.is_null()) {
    simdjson::dom::object opts;
    if (so.get_object().get(opts) != simdjson::SUCCESS)
      return bad("stream_options", "'stream_options' must be an object");
    auto usage = bool_field(opts, "include_usage", "stream_options.include_usage");
    if (auto* e = std::get_if<ApiError>(&usage)) return *e;
    auto cont = bool_field(opts, "continuous_usage_stats", "stream_options.continuous_usage_stats");
    if (auto* e = std::get_if<ApiError>(&cont)) return *e;
    r.include_usage = std::get<bool>(usage);
    r.continuous_usage = std::get<bool>(cont);
  }
  return r;
}

namespace {
std::string opt_string(const std::string& s) { return s.empty() ? "null" : "\"" + json_escape(s) + "\""; }
std::string finish_json(std::string_view reason) {
  return reason.empty() ? "null" : fmt::format("\"{}\"", json_escape(reason));
}
std::string head_json(const ResponseHead& h, std::string_view object) {
  return fmt::format(R"("id":"{}","object":"{}","created":{},"model":"{}")", json_escape(h.id), object, h.created,
                     json_escape(h.model));
}
}  // namespace

std::string error_body(const ApiError& e) {
  return fmt::format(R"({{"error":{{"message":"{}","type":"{}","param":{},"code":{}}}}})", json_escape(e.message),
                     json_escape(e.type), opt_string(e.param), opt_string(e.code));
}

std::string usage_json(const Usage& u) {
  return fmt::format(
      R"({{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{}}}}})",
      u.prompt_tokens, u.completion_tokens, u.prompt_tokens + u.completion_tokens, u.cached_tokens);
}

std::string full_response(ApiKind kind, const ResponseHead& head, std::string_view text,
                          std::string_view finish_reason, const Usage& usage) {
  if (kind == ApiKind::kChat)
    return fmt::format(
        R"({{{},"choices":[{{"index":0,"message":{{"role":"assistant","content":"{}"}},"logprobs":null,"finish_reason":{}}}],"usage":{}}})",
        head_json(head, "chat.completion"), json_escape(text), finish_json(finish_reason), usage_json(usage));
  return fmt::format(R"({{{},"choices":[{{"index":0,"text":"{}","logprobs":null,"finish_reason":{}}}],"usage":{}}})",
                     head_json(head, "text_completion"), json_escape(text), finish_json(finish_reason),
                     usage_json(usage));
}

std::string role_chunk(const ResponseHead& head) {
  return fmt::format(
      "data: {{{},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,"
      "\"finish_reason\":null}}]}}\n\n",
      head_json(head, "chat.completion.chunk"));
}

std::string token_chunk(ApiKind kind, const ResponseHead& head, std::string_view text, std::string_view finish_reason,
                        const std::optional<Usage>& usage) {
  const std::string tail = usage ? ",\"usage\":" + usage_json(*usage) : "";
  if (kind == ApiKind::kChat)
    return fmt::format(
        "data: {{{},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}},\"logprobs\":null,\"finish_reason\":{}}}]"
        "{}}}\n\n",
        head_json(head, "chat.completion.chunk"), json_escape(text), finish_json(finish_reason), tail);
  return fmt::format(
      "data: {{{},\"choices\":[{{\"index\":0,\"text\":\"{}\",\"logprobs\":null,\"finish_reason\":{}}}]{}}}\n\n",
      head_json(head, "text_completion"), json_escape(text), finish_json(finish_reason), tail);
}

std::string usage_chunk(ApiKind kind, const ResponseHead& head, const Usage& usage) {
  return fmt::format("data: {{{},\"choices\":[],\"usage\":{}}}\n\n",
                     head_json(head, kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion"),
                     usage_json(usage));
}

std::string models_body(const std::vector<std::string>& models, std::int64_t created,
                        const std::vector<std::string>& parents) {
  std::string data;
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string& m = models[i];
    const std::string parent = i < parents.size() ? parents[i] : std::string();
    if (!data.empty()) data += ",";
    data += fmt::format(
        R"({{"id":"{}","object":"model","created":{},"owned_by":"servesim","root":"{}","parent":{},"max_model_len":null}})",
        json_escape(m), created, json_escape(m), parent.empty() ? "null" : "\"" + json_escape(parent) + "\"");
  }
  return fmt::format(R"({{"object":"list","data":[{}]}})", data);
}

}  // namespace servesim::live
