// The layers of the source tree (docs/architecture.md): each folder includes only folders below
// it, so the floor knows nothing above it and a part knows no other layer than core/.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace servesim {
namespace {

// What each folder may include besides itself. Parts may use each other (the planner's capacity
// model uses the catalog and timing models; the router reads the engine's block keys). The
// planner sees the cluster only through planner/cluster_view.h and acts on it by messages.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"core", {}},
    {"fabric", {"core"}},
    {"traces", {"core"}},
    {"models", {"core", "traces"}},
    {"router", {"core", "models"}},
    {"planner", {"core", "models", "traces"}},
    {"scenario", {"core", "fabric", "traces", "models", "router", "planner"}},
    {"cluster", {"core", "fabric", "traces", "models", "router", "planner", "scenario"}},
    {"live", {"core", "fabric", "traces", "models", "router", "planner", "scenario", "cluster"}},
};

TEST(Layers, EveryIncludePointsDown) {
  const std::filesystem::path root = SERVESIM_SOURCE_DIR;
  const std::regex include(R"re(#include "([a-z_]+)/[^"]+")re");
  int files = 0;
  for (const auto& [folder, allowed] : kAllowed) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(root / folder)) {
      const auto ext = e.path().extension();
      if (ext != ".h" && ext != ".cpp") continue;
      const std::string rel = std::filesystem::relative(e.path(), root).string();
      const auto& may = allowed;
      std::ifstream in(e.path());
      ++files;
      int line_no = 0;
      for (std::string line; std::getline(in, line);) {
        ++line_no;
        std::smatch m;
        if (!std::regex_search(line, m, include)) continue;
        const std::string target = m[1];
        if (target == folder || target == "servesim" || may.count(target)) continue;  // servesim/: generated version.h
        ADD_FAILURE() << rel << ":" << line_no << " includes " << target << "/ (" << folder
                      << "/ may include only: core and the layers below it, see docs/architecture.md)";
      }
    }
  }
  EXPECT_GT(files, 50);
}

}  // namespace
}  // namespace servesim
