#pragma once
// Errors users can act on: every message names where the problem is and how to fix it.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace servesim {

enum class ErrorKind { kConfig, kInput, kInvariant, kOutput };

// The last servesim error made on this thread. SystemC turns an exception that escapes a process
// into an sc_report; the run loop uses this record to throw the original kind again, so the exit
// code and message stay the ones the code chose.
struct RecordedError {
  ErrorKind kind;
  std::string message;
};
std::optional<RecordedError>& last_error();
// Rethrows the recorded error if `what` carries its message (std::bad_alloc if it reports one
// escaping a process); returns otherwise.
void rethrow_recorded(const std::string& what);

// Bad scenario/configuration input: file, line, key, and the fix.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& m) : std::runtime_error(m) { last_error() = {ErrorKind::kConfig, m}; }
};

// Bad data input (trace files, tables): file, line, field.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& m) : std::runtime_error(m) { last_error() = {ErrorKind::kInput, m}; }
};

// The results cannot be written where asked (the path is an input, its folder is not writable,
// another run holds it): the path, the system's reason, and the fix.
class OutputError : public std::runtime_error {
 public:
  explicit OutputError(const std::string& m) : std::runtime_error(m) { last_error() = {ErrorKind::kOutput, m}; }
};

// Offending input text as an error message quotes it: control bytes escaped (\0, \r, \xNN), at
// most `max_bytes` shown and the rest counted, so a 100 MB cell or a NUL never reaches stderr raw.
std::string quote_text(std::string_view text, std::size_t max_bytes = 200);

// A broken simulation invariant: a bug in servesim, never a user error.
class InvariantError : public std::logic_error {
 public:
  explicit InvariantError(const std::string& m) : std::logic_error(m) { last_error() = {ErrorKind::kInvariant, m}; }
};

}  // namespace servesim
