#pragma once
// The live endpoint's stand-in tokenizer. servesim models no vocabulary, only token counts and
// which prompt prefixes are equal, so a deterministic byte-level stand-in is enough: every
// kBytesPerToken bytes of UTF-8 text are one token (the last may be shorter), its id a hash of
// those bytes. Equal text prefixes give equal token prefixes, so equal prompt prefixes reach the
// engine as equal KV-block chains and prefix caching and KV-aware routing see live traffic as
// they see traces. A client that knows its token ids sends them instead (completions' `prompt`
// as a list of integers).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace servesim::live {

inline constexpr std::size_t kBytesPerToken = 4;  // ~ English text in Llama-3's tokenizer

std::vector<std::uint32_t> tokenize(std::string_view text);

// A chat conversation as one prompt: each message as "<|role|>\n" + content + "\n", then
// "<|assistant|>\n". A conversation that grows turn by turn keeps its earlier prompt as a prefix.
struct ChatMessage {
  std::string role, content;
};
std::string render_chat(std::span<const ChatMessage> messages);

// One hash id per full block of `block_tokens` tokens, each a hash of that block's tokens alone
// (the engine chains them into prefix keys). A partial last block gets none: it is never reused.
std::vector<std::uint64_t> block_hash_ids(std::span<const std::uint32_t> tokens, std::uint32_t block_tokens);

// Synthetic output text: token i of a completion (from 0) is one word with its leading space.
std::string_view filler_token(std::uint64_t i);

}  // namespace servesim::live
