// ParseDuration: Flink's TimeUtils.parseDuration grammar, which StateFun uses for every duration
// in module.yaml: digits, optional whitespace, optional unit label (case-insensitive). A bare
// number is milliseconds. Sub-millisecond units are accepted and truncated to whole ms.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "eddy/config/module_spec.h"

namespace eddy {
namespace {

struct Unit {
  std::string_view label;
  int64_t numerator;    // value * numerator / denominator = milliseconds
  int64_t denominator;
};

// Every label Flink accepts (singular and plural forms).
constexpr Unit kUnits[] = {
    {"d", 86400000, 1},      {"day", 86400000, 1},      {"days", 86400000, 1},
    {"h", 3600000, 1},       {"hour", 3600000, 1},      {"hours", 3600000, 1},
    {"min", 60000, 1},       {"m", 60000, 1},           {"minute", 60000, 1},
    {"minutes", 60000, 1},   {"s", 1000, 1},            {"sec", 1000, 1},
    {"secs", 1000, 1},       {"second", 1000, 1},       {"seconds", 1000, 1},
    {"ms", 1, 1},            {"milli", 1, 1},           {"millis", 1, 1},
    {"millisecond", 1, 1},   {"milliseconds", 1, 1},    {"\xC2\xB5s", 1, 1000},
    {"us", 1, 1000},         {"micro", 1, 1000},        {"micros", 1, 1000},
    {"microsecond", 1, 1000}, {"microseconds", 1, 1000}, {"ns", 1, 1000000},
    {"nano", 1, 1000000},    {"nanos", 1, 1000000},     {"nanosecond", 1, 1000000},
    {"nanoseconds", 1, 1000000},
};

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

}  // namespace

Result<Millis> ParseDuration(const std::string& text) {
  auto fail = [&](const std::string& why) -> Status {
    return InvalidArgument("invalid duration '" + text + "': " + why);
  };
  std::string_view s(text);
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  if (s.empty()) return fail("empty (expected e.g. '10s', '2 min', '500ms')");
  if (s.front() == '-') return fail("durations must not be negative");

  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0) return fail("must start with a number (e.g. '10s', '2 min', '500ms')");

  int64_t value = 0;
  for (size_t i = 0; i < digits; ++i) {
    int d = s[i] - '0';
    if (value > (std::numeric_limits<int64_t>::max() - d) / 10) return fail("number too large");
    value = value * 10 + d;
  }

  std::string_view rest = s.substr(digits);
  while (!rest.empty() && IsSpace(rest.front())) rest.remove_prefix(1);
  if (rest.empty()) return Millis(value);  // bare number = milliseconds

  std::string label(rest);
  std::transform(label.begin(), label.end(), label.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const Unit& unit : kUnits) {
    if (unit.label != label) continue;
    if (value > std::numeric_limits<int64_t>::max() / unit.numerator) {
      return fail("number too large");
    }
    return Millis(value * unit.numerator / unit.denominator);
  }
  return fail("unknown time unit '" + std::string(rest) +
              "' (use ms, s, min, h or d, or their long forms such as 'seconds')");
}

}  // namespace eddy
