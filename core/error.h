#pragma once
// Errors users can act on: every message names where the problem is and how to fix it.
#include <stdexcept>
#include <string>

namespace servesim {

// Bad scenario/configuration input: file, line, key, and the fix.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad data input (trace files, tables): file, line, field.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A broken simulation invariant: a bug in servesim, never a user error.
class InvariantError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace servesim
