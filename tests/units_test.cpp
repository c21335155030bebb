#include <gtest/gtest.h>

#include "core/units.h"

namespace servesim {

TEST(Duration, ParsesEveryUnit) {
  std::string why;
  EXPECT_DOUBLE_EQ(parse_duration("500ms", &why)->seconds, 0.5);
  EXPECT_DOUBLE_EQ(parse_duration("2s", &why)->seconds, 2.0);
  EXPECT_DOUBLE_EQ(parse_duration("3h", &why)->seconds, 10800.0);
  EXPECT_DOUBLE_EQ(parse_duration("1.5m", &why)->seconds, 90.0);
  EXPECT_DOUBLE_EQ(parse_duration("2min", &why)->seconds, 120.0);
  EXPECT_DOUBLE_EQ(parse_duration("250us", &why)->seconds, 250e-6);
  EXPECT_DOUBLE_EQ(parse_duration("10ns", &why)->seconds, 10e-9);
  EXPECT_DOUBLE_EQ(parse_duration("1d", &why)->seconds, 86400.0);
  EXPECT_DOUBLE_EQ(parse_duration("1e3s", &why)->seconds, 1000.0);
  EXPECT_DOUBLE_EQ(parse_duration("0", &why)->seconds, 0.0);
}

TEST(Duration, RejectsMissingOrUnknownUnits) {
  std::string why;
  EXPECT_FALSE(parse_duration("5", &why));
  EXPECT_NE(why.find("no unit"), std::string::npos);
  EXPECT_FALSE(parse_duration("5 parsecs", &why));
  EXPECT_NE(why.find("unknown unit"), std::string::npos);
  EXPECT_FALSE(parse_duration("fast", &why));
  EXPECT_FALSE(parse_duration("", &why));
}

TEST(Duration, FormatsRoundTrip) {
  for (double s : {0.5, 2.0, 10800.0, 90.0, 250e-6, 0.0}) {
    std::string why;
    auto d = parse_duration(format_duration(Duration{s}), &why);
    ASSERT_TRUE(d) << why;
    EXPECT_NEAR(d->seconds, s, 1e-12);
  }
}

}  // namespace servesim
