#include "core/error.h"

namespace servesim {

std::optional<RecordedError>& last_error() {
  thread_local std::optional<RecordedError> e;
  return e;
}

void rethrow_recorded(const std::string& what) {
  const auto& e = last_error();
  if (!e || what.find(e->message) == std::string::npos) return;
  switch (e->kind) {
    case ErrorKind::kConfig: throw ConfigError(e->message);
    case ErrorKind::kInput: throw InputError(e->message);
    case ErrorKind::kInvariant: throw InvariantError(e->message);
  }
}

}  // namespace servesim
