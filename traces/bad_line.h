#pragma once
// What a reader does with a malformed row: fail with file:line and the fix, or skip and count.
#include <cstdint>
#include <fmt/format.h>
#include <string>

#include "core/error.h"

namespace servesim {

class BadLinePolicy {
 public:
  BadLinePolicy(std::string path, bool skip) : path_(std::move(path)), skip_(skip) {}
  // Throws InputError unless skipping; returns normally when the row is to be skipped.
  void report(std::uint64_t line, const std::string& what) {
    if (!skip_)
      throw InputError(fmt::format(
          "{}:{}: {}. Fix: correct or remove the row, or set workload.on_bad_line: skip to skip and count such rows.",
          path_, line, what));
    ++skipped_;
  }
  std::uint64_t skipped() const { return skipped_; }

 private:
  std::string path_;
  bool skip_;
  std::uint64_t skipped_ = 0;
};

}  // namespace servesim
