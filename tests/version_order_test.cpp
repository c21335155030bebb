#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/version_order.h"

namespace servesim {
namespace {

TEST(VersionOrder, ReleasesCompareByNumberNotText) {
  EXPECT_TRUE(version_less("0.5.9", "0.5.14"));
  EXPECT_FALSE(version_less("0.5.14", "0.5.9"));
  EXPECT_TRUE(version_less("0.18.0", "0.22.0"));
  EXPECT_TRUE(version_less("2.9.1", "2.29.2"));
  EXPECT_FALSE(version_less("1.0", "1.0.0"));  // equal
  EXPECT_FALSE(version_less("1.0.0", "1.0"));
  EXPECT_TRUE(version_less("1.0", "1.0.1"));
  EXPECT_TRUE(version_less("v1.2", "1.10"));
}

TEST(VersionOrder, PreReleasesComeBeforeTheReleaseAndPostReleasesAfter) {
  EXPECT_TRUE(version_less("1.3.0rc15", "1.3.0rc20"));
  EXPECT_TRUE(version_less("1.3.0rc20", "1.3.0"));
  EXPECT_TRUE(version_less("1.3.0a1", "1.3.0b1"));
  EXPECT_TRUE(version_less("1.3.0b2", "1.3.0rc1"));
  EXPECT_TRUE(version_less("1.3.0alpha2", "1.3.0beta1"));
  EXPECT_TRUE(version_less("1.3.0.dev1", "1.3.0a1"));
  EXPECT_TRUE(version_less("1.3.0rc1.dev2", "1.3.0rc1"));
  EXPECT_TRUE(version_less("0.5.6", "0.5.6.post2"));
  EXPECT_TRUE(version_less("0.5.6.post2", "0.5.6.post10"));
  EXPECT_TRUE(version_less("0.5.6.post2", "0.5.9"));
  EXPECT_TRUE(version_less("1.2.0rc5", "1.3.0rc10"));
}

TEST(VersionOrder, TheFoldersOfThePerformanceDatabaseSortAsReleased) {
  // version folders as aiconfigurator publishes them (systems/data/h200_sxm/attention/...)
  std::vector<std::string> v{"0.5.14", "0.5.6.post2", "1.3.0rc15", "0.5.10", "1.2.0rc5", "0.5.9",
                             "1.3.0rc20", "0.5.12", "1.3.0rc10"};
  std::sort(v.begin(), v.end(), version_less);
  EXPECT_EQ(v, (std::vector<std::string>{"0.5.6.post2", "0.5.9", "0.5.10", "0.5.12", "0.5.14", "1.2.0rc5",
                                         "1.3.0rc10", "1.3.0rc15", "1.3.0rc20"}));
}

TEST(VersionOrder, NamesThatAreNotVersionsComeFirst) {
  EXPECT_TRUE(version_less("latest", "0.1"));
  EXPECT_FALSE(version_less("0.1", "latest"));
  EXPECT_TRUE(version_less("experimental", "latest"));  // between themselves: as text
  EXPECT_TRUE(version_less("0.5.x", "0.5.1"));           // not a version
  EXPECT_FALSE(version_less("", ""));
}

}  // namespace
}  // namespace servesim
