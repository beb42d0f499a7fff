#include "eddy/common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace eddy {
namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Parses one line with a strict JSON parser (it rejects raw control characters and invalid
// UTF-8 inside strings), failing the test if the line is not a valid JSON object.
boost::property_tree::ptree ParseJson(const std::string& line) {
  boost::property_tree::ptree tree;
  std::istringstream in(line);
  try {
    boost::property_tree::read_json(in, tree);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not valid JSON: " << e.what() << "\n" << line;
  }
  return tree;
}

class LoggingTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(ConfigureLogging("info", "text").ok()); }
};

TEST_F(LoggingTest, JsonLinesStayValidForHostileMessages) {
  ASSERT_TRUE(ConfigureLogging("info", "json").ok());
  const std::string hostile = "say \"hi\"\nback\\slash\ttab\r\x01\x1f caf\xc3\xa9 {\"x\":1}";
  ::testing::internal::CaptureStderr();
  spdlog::info("{}", hostile);
  spdlog::warn("bad utf8 \xff\xfe end");
  std::string err = ::testing::internal::GetCapturedStderr();

  std::vector<std::string> lines = Lines(err);
  ASSERT_EQ(lines.size(), 2u) << err;  // the embedded newline must not split the record

  boost::property_tree::ptree first = ParseJson(lines[0]);
  EXPECT_EQ(first.get<std::string>("msg", ""), hostile);
  EXPECT_EQ(first.get<std::string>("level", ""), "info");
  EXPECT_EQ(first.get<std::string>("logger", ""), "eddy");
  EXPECT_TRUE(std::regex_match(first.get<std::string>("ts", ""),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << lines[0];

  boost::property_tree::ptree second = ParseJson(lines[1]);
  EXPECT_EQ(second.get<std::string>("msg", ""), "bad utf8 \xef\xbf\xbd\xef\xbf\xbd end");
  EXPECT_EQ(second.get<std::string>("level", ""), "warning");
}

TEST_F(LoggingTest, LoggersCreatedLaterGetJsonAndEscapedName) {
  ASSERT_TRUE(ConfigureLogging("info", "json").ok());
  auto logger = spdlog::stderr_logger_mt("we\"ird");
  ::testing::internal::CaptureStderr();
  logger->info("hello");
  std::string err = ::testing::internal::GetCapturedStderr();
  spdlog::drop("we\"ird");
  std::vector<std::string> lines = Lines(err);
  ASSERT_EQ(lines.size(), 1u) << err;
  EXPECT_EQ(ParseJson(lines[0]).get<std::string>("logger", ""), "we\"ird");
}

TEST_F(LoggingTest, TextFormatAndLevelFilter) {
  ASSERT_TRUE(ConfigureLogging("warn", "text").ok());
  ::testing::internal::CaptureStderr();
  spdlog::info("hidden");
  spdlog::error("shown {}", 42);
  std::string err = ::testing::internal::GetCapturedStderr();
  std::vector<std::string> lines = Lines(err);
  ASSERT_EQ(lines.size(), 1u) << err;
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[error\] shown 42)")))
      << lines[0];
}

TEST_F(LoggingTest, OffSilencesEverything) {
  ASSERT_TRUE(ConfigureLogging("off", "json").ok());
  ::testing::internal::CaptureStderr();
  spdlog::error("nope");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(LoggingTest, RejectsUnknownLevelAndFormat) {
  Status s = ConfigureLogging("verbose", "text");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("verbose"), std::string::npos);
  s = ConfigureLogging("info", "xml");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("xml"), std::string::npos);
  EXPECT_EQ(ConfigureLogging("", "").code(), StatusCode::kInvalidArgument);
}

TEST(AppendJsonEscaped, EscapesEachClass) {
  auto esc = [](std::string_view in) {
    std::string out;
    AppendJsonEscaped(in, &out);
    return out;
  };
  EXPECT_EQ(esc("plain"), "plain");
  EXPECT_EQ(esc("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(esc("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
  EXPECT_EQ(esc(std::string_view("\0\x1f\x7f", 3)), "\\u0000\\u001f\x7f");
  EXPECT_EQ(esc("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(esc("\xc3"), "\\ufffd");              // truncated sequence
  EXPECT_EQ(esc("\xc0\xaf"), "\\ufffd\\ufffd");   // overlong '/'
  EXPECT_EQ(esc("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");  // surrogate
  EXPECT_EQ(esc("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");  // > U+10FFFF
}

}  // namespace
}  // namespace eddy
