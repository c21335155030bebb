#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/registry.h"
#include "router/router_policy.h"

namespace servesim {
namespace {

struct Widget {
  virtual ~Widget() = default;
};
using WidgetRegistry = Registry<"test widget", Widget>;

TEST(Registry, DuplicateNamesAreReportedByCheck) {
  auto& r = WidgetRegistry::instance();
  EXPECT_TRUE(r.add("a", "first", [] { return std::make_unique<Widget>(); }));
  EXPECT_FALSE(r.add("a", "again", [] { return std::make_unique<Widget>(); }));
  try {
    r.check();
    FAIL() << "check() accepted a duplicate";
  } catch (const InvariantError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("duplicate name(s) a"));
  }
}

TEST(Registry, UnknownNameListsKnownNames) {
  try {
    RouterRegistry::instance().get("nope");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("unknown router policy 'nope'"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("least_loaded, random, round_robin"));
  }
  RouterRegistry::instance().check();  // the real registry has no duplicates
}

}  // namespace
}  // namespace servesim
