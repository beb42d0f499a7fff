#include "io/kafka/kafka_util.h"

#include <gtest/gtest.h>

namespace eddy::kafka {
namespace {

using Kind = StartOffset::Kind;

KafkaIngressSpec Spec(const std::string& type, const std::string& reset = "latest") {
  KafkaIngressSpec spec;
  spec.id = "ns/in";
  spec.startup_position.type = type;
  spec.auto_offset_reset_position = reset;
  return spec;
}

TEST(StartupOffsetTest, FollowsStartupPositionType) {
  EXPECT_EQ(StartupOffsetFor(Spec("earliest"), "t", 0), (StartOffset{Kind::kBeginning, 0}));
  EXPECT_EQ(StartupOffsetFor(Spec("latest", "earliest"), "t", 0), (StartOffset{Kind::kEnd, 0}));
  EXPECT_EQ(StartupOffsetFor(Spec("group-offsets"), "t", 0), (StartOffset{Kind::kCommitted, 0}));
  KafkaIngressSpec date = Spec("date");
  date.startup_position.date_epoch_ms = 1700000000123;
  EXPECT_EQ(StartupOffsetFor(date, "t", 3), (StartOffset{Kind::kTimestamp, 1700000000123}));
}

TEST(StartupOffsetTest, SpecificOffsetsFallBackToAutoOffsetReset) {
  KafkaIngressSpec spec = Spec("specific-offsets", "earliest");
  spec.startup_position.specific_offsets[{"t", 1}] = 42;
  EXPECT_EQ(StartupOffsetFor(spec, "t", 1), (StartOffset{Kind::kAbsolute, 42}));
  EXPECT_EQ(StartupOffsetFor(spec, "t", 0), (StartOffset{Kind::kBeginning, 0}));
  EXPECT_EQ(StartupOffsetFor(spec, "u", 1), (StartOffset{Kind::kBeginning, 0}));
  spec.auto_offset_reset_position = "latest";
  EXPECT_EQ(StartupOffsetFor(spec, "t", 0), (StartOffset{Kind::kEnd, 0}));
}

TEST(StartupOffsetTest, ValidateRejectsUnknownValues) {
  EXPECT_TRUE(ValidateStartup(Spec("group-offsets")).ok());
  EXPECT_EQ(ValidateStartup(Spec("from-the-top")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateStartup(Spec("earliest", "")).code(), StatusCode::kInvalidArgument);
  KafkaIngressSpec negative = Spec("specific-offsets");
  negative.startup_position.specific_offsets[{"t", 0}] = -5;
  EXPECT_EQ(ValidateStartup(negative).code(), StatusCode::kInvalidArgument);
  KafkaIngressSpec bad_date = Spec("date");
  bad_date.startup_position.date_epoch_ms = -1;
  EXPECT_EQ(ValidateStartup(bad_date).code(), StatusCode::kInvalidArgument);
}

TEST(SanitizeUtf8Test, KeepsValidText) {
  EXPECT_EQ(SanitizeUtf8(""), "");
  EXPECT_EQ(SanitizeUtf8("user-42"), "user-42");
  EXPECT_EQ(SanitizeUtf8("gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(SanitizeUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(SanitizeUtf8Test, ReplacesMalformedSequences) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(SanitizeUtf8("\xff"), r);
  EXPECT_EQ(SanitizeUtf8("a\xC3"), "a" + r);                   // truncated
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), r + r);                  // overlong '/'
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), r + r + r);          // surrogate
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(SanitizeUtf8("\x80x"), r + "x");                   // stray continuation
}

TEST(RecordSourceTest, Format) {
  EXPECT_EQ(RecordSource("orders", 3, 1234), "kafka:orders/3@1234");
}

TEST(LogLimiterTest, LetsOneThroughPerInterval) {
  LogLimiter limiter(std::chrono::hours(1));
  uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(limiter.Allow(&suppressed));
  EXPECT_FALSE(limiter.Allow(&suppressed));
  LogLimiter fast(std::chrono::milliseconds(0));
  EXPECT_TRUE(fast.Allow(&suppressed));
  EXPECT_TRUE(fast.Allow(&suppressed));
}

}  // namespace
}  // namespace eddy::kafka
