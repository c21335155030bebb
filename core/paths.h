#pragma once
// Relative data paths in a scenario resolve against the scenario file's folder.
#include <filesystem>
#include <string>

namespace servesim {

inline std::string resolve_path(const std::string& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (path.empty() || p.is_absolute() || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

}  // namespace servesim
