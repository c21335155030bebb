#pragma once
// Name -> implementation registries (STYLE practice 1). Each implementation registers itself
// in its own .cpp with one line; everything is compiled into one object library so that
// no registrar is dropped by the linker. Duplicate names are kept and reported by check(),
// which the app calls at start-up; unknown names are errors listing the known ones.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace servesim {

struct RegistryEntryInfo {
  std::string name;
  std::string description;
};

// A string literal usable as a template argument: the registry's kind, e.g. "router policy".
template <size_t N>
struct FixedString {
  char text[N];
  constexpr FixedString(const char (&s)[N]) {
    for (size_t i = 0; i < N; ++i) text[i] = s[i];
  }
};

template <FixedString Kind, class Product, class... Args>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Product>(Args...)>;
  struct Entry {
    std::string name;
    std::string description;
    Factory make;
  };

  static Registry& instance() {
    static Registry r;
    return r;
  }

  bool add(std::string name, std::string description, Factory make) {
    if (entries_.count(name)) {
      duplicates_.push_back(name);
      return false;
    }
    entries_.emplace(name, Entry{name, std::move(description), std::move(make)});
    return true;
  }

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }

  const Entry& get(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end())
      throw ConfigError(fmt::format("unknown {} '{}'; known: {}", kind(), name, fmt::join(names(), ", ")));
    return it->second;
  }

  std::unique_ptr<Product> create(const std::string& name, Args... args) const {
    return get(name).make(std::forward<Args>(args)...);
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, e] : entries_) out.push_back(n);
    return out;
  }
  std::vector<RegistryEntryInfo> list() const {
    std::vector<RegistryEntryInfo> out;
    for (const auto& [n, e] : entries_) out.push_back({n, e.description});
    return out;
  }

  // Throws if any name was registered twice.
  void check() const {
    if (!duplicates_.empty())
      throw InvariantError(fmt::format("{} registry: duplicate name(s) {}; known: {}", kind(),
                                       fmt::join(duplicates_, ", "), fmt::join(names(), ", ")));
  }

  static constexpr const char* kind() { return Kind.text; }

 private:
  Registry() = default;
  std::map<std::string, Entry> entries_;  // ordered: --list and messages are stable
  std::vector<std::string> duplicates_;
};

}  // namespace servesim

#define SERVESIM_CONCAT_INNER(a, b) a##b
#define SERVESIM_CONCAT(a, b) SERVESIM_CONCAT_INNER(a, b)
// SERVESIM_REGISTER(RegistryType, "name", "one-line description", factory-lambda)
#define SERVESIM_REGISTER(REGISTRY, NAME, DESCRIPTION, ...)                                  \
  namespace {                                                                                \
  [[maybe_unused]] const bool SERVESIM_CONCAT(servesim_registered_, __LINE__) =               \
      REGISTRY::instance().add(NAME, DESCRIPTION, __VA_ARGS__);                              \
  }
