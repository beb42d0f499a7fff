#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/config/module_spec.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;

int64_t Ms(const std::string& text) {
  Result<Millis> d = ParseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status().ToString();
  return d.ok() ? d->count() : -1;
}

TEST(ParseDuration, FlinkUnitsAndSpellings) {
  EXPECT_EQ(Ms("10s"), 10000);
  EXPECT_EQ(Ms("2m"), 120000);
  EXPECT_EQ(Ms("15min"), 900000);
  EXPECT_EQ(Ms("1 min"), 60000);
  EXPECT_EQ(Ms("500ms"), 500);
  EXPECT_EQ(Ms("1h"), 3600000);
  EXPECT_EQ(Ms("2d"), 172800000);
  EXPECT_EQ(Ms("100 milliseconds"), 100);
  EXPECT_EQ(Ms("5 seconds"), 5000);
  EXPECT_EQ(Ms("3 minutes"), 180000);
  EXPECT_EQ(Ms("1 hours"), 3600000);
  EXPECT_EQ(Ms("1 day"), 86400000);
  EXPECT_EQ(Ms("7 SEC"), 7000);  // labels are case-insensitive
  EXPECT_EQ(Ms("  30s  "), 30000);
}

TEST(ParseDuration, BareNumberIsMilliseconds) {
  EXPECT_EQ(Ms("250"), 250);
  EXPECT_EQ(Ms("0"), 0);
}

TEST(ParseDuration, SubMillisecondUnitsTruncate) {
  EXPECT_EQ(Ms("1500us"), 1);
  EXPECT_EQ(Ms("999999 nanos"), 0);
}

TEST(ParseDuration, RejectsNegativeEmptyAndGarbageQuotingTheText) {
  for (const char* text : {"-5s", "", "   ", "abc", "10 parsecs", "1.5s", "s10", "10s5",
                           "99999999999999999999"}) {
    Result<Millis> d = ParseDuration(text);
    ASSERT_FALSE(d.ok()) << "'" << text << "' was accepted";
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(d.status().message(), HasSubstr("'" + std::string(text) + "'"));
  }
  EXPECT_THAT(ParseDuration("-5s").status().message(), HasSubstr("negative"));
  EXPECT_THAT(ParseDuration("10 parsecs").status().message(), HasSubstr("unknown time unit"));
}

TEST(ParseDuration, RejectsOverflowInsteadOfWrapping) {
  EXPECT_FALSE(ParseDuration("9223372036854775807d").ok());
  EXPECT_TRUE(ParseDuration("9223372036854775807").ok());
}

}  // namespace
}  // namespace eddy
