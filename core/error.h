#pragma once
// Errors users can act on: every message names where the problem is and how to fix it.
#include <optional>
#include <stdexcept>
#include <string>

namespace servesim {

enum class ErrorKind { kConfig, kInput, kInvariant };

// The last servesim error made on this thread. SystemC turns an exception that escapes a process
// into an sc_report; the run loop uses this record to throw the original kind again, so the exit
// code and message stay the ones the code chose.
struct RecordedError {
  ErrorKind kind;
  std::string message;
};
std::optional<RecordedError>& last_error();
// Rethrows the recorded error if `what` carries its message; returns otherwise.
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

// A broken simulation invariant: a bug in servesim, never a user error.
class InvariantError : public std::logic_error {
 public:
  explicit InvariantError(const std::string& m) : std::logic_error(m) { last_error() = {ErrorKind::kInvariant, m}; }
};

}  // namespace servesim
