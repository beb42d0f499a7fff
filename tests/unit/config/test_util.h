#pragma once
// Helpers shared by the config tests.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "eddy/common/status.h"

namespace eddy::testing {

inline std::string Testdata(const std::string& name) {
  return std::string(EDDY_CONFIG_TESTDATA) + "/" + name;
}

// Asserts that `result` failed with InvalidArgument and that the message contains every part
// (file, document, line, field path, reason).
template <typename T>
void ExpectError(const Result<T>& result, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(result.ok()) << "expected an error containing '" << *parts.begin() << "'";
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << result.status().ToString();
  for (const std::string& part : parts) {
    EXPECT_THAT(result.status().message(), ::testing::HasSubstr(part));
  }
}

}  // namespace eddy::testing
