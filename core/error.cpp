#include "core/error.h"

#include <algorithm>
#include <new>

#include <fmt/format.h>

namespace servesim {

std::optional<RecordedError>& last_error() {
  thread_local std::optional<RecordedError> e;
  return e;
}

void rethrow_recorded(const std::string& what) {
  // out of memory inside a process (SystemC reports "uncaught exception: std::bad_alloc"): the
  // same error as outside one
  if (what.find("uncaught exception: std::bad_alloc") != std::string::npos) throw std::bad_alloc();
  const auto& e = last_error();
  if (!e || what.find(e->message) == std::string::npos) return;
  switch (e->kind) {
    case ErrorKind::kConfig: throw ConfigError(e->message);
    case ErrorKind::kInput: throw InputError(e->message);
    case ErrorKind::kInvariant: throw InvariantError(e->message);
    case ErrorKind::kOutput: throw OutputError(e->message);
  }
}

std::string quote_text(std::string_view text, std::size_t max_bytes) {
  std::string out;
  const std::size_t shown = std::min(text.size(), max_bytes);
  for (std::size_t i = 0; i < shown; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0) out += "\\0";
    else if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  if (shown < text.size()) out += fmt::format("... ({} more bytes)", text.size() - shown);
  return out;
}

}  // namespace servesim
