#include "live/tokenizer.h"

#include <array>

namespace servesim::live {

namespace {
std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

std::vector<std::uint32_t> tokenize(std::string_view text) {
  std::vector<std::uint32_t> tokens;
  tokens.reserve((text.size() + kBytesPerToken - 1) / kBytesPerToken);
  for (std::size_t at = 0; at < text.size(); at += kBytesPerToken) {
    std::uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a over the token's bytes
    for (unsigned char c : text.substr(at, kBytesPerToken)) h = (h ^ c) * 0x100000001B3ull;
    tokens.push_back(static_cast<std::uint32_t>(h % 128000));  // a Llama-3-sized vocabulary
  }
  return tokens;
}

std::string render_chat(std::span<const ChatMessage> messages) {
  std::string out;
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "\n";
  return out + "<|assistant|>\n";
}

std::vector<std::uint64_t> block_hash_ids(std::span<const std::uint32_t> tokens, std::uint32_t block_tokens) {
  std::vector<std::uint64_t> ids;
  if (block_tokens == 0) return ids;
  for (std::size_t b = 0; (b + 1) * block_tokens <= tokens.size(); ++b) {
    std::uint64_t h = 0x51ED270B27AF1E3Bull;
    for (std::size_t i = b * block_tokens; i < (b + 1) * block_tokens; ++i) h = mix(h ^ tokens[i]);
    ids.push_back(h);
  }
  return ids;
}

std::string_view filler_token(std::uint64_t i) {
  static constexpr std::array<std::string_view, 16> kWords = {
      " The", " simulated", " model", " writes", " this", " filler", " text", " one",
      " word", " per", " token", " until", " its", " output", " length", " ends."};
  return kWords[i % kWords.size()];
}

}  // namespace servesim::live
