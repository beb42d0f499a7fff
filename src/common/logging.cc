#include "eddy/common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <memory>
#include <optional>

namespace eddy {
namespace {

constexpr const char* kTextPattern = "[%Y-%m-%d %H:%M:%S.%e] [%l] %v";
// %* and %& are the custom flags below: the message and the logger name, JSON-escaped.
// Level names and the timestamp never need escaping.
constexpr const char* kJsonPattern =
    R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%&","msg":"%*"})";

std::optional<spdlog::level::level_enum> ParseLevel(const std::string& level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  if (level == "off") return spdlog::level::off;
  return std::nullopt;
}

void AppendToBuf(const std::string& s, spdlog::memory_buf_t& dest) {
  dest.append(s.data(), s.data() + s.size());
}

class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    AppendJsonEscaped(std::string_view(msg.payload.data(), msg.payload.size()), &escaped);
    AppendToBuf(escaped, dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

class JsonLoggerNameFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    AppendJsonEscaped(std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                      &escaped);
    AppendToBuf(escaped, dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonLoggerNameFlag>();
  }
};

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not one
// (overlong forms, surrogates and code points above U+10FFFF are rejected, as JSON parsers do).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  unsigned char b = byte(i);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    unsigned char b1 = byte(i + 1);
    if (b == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b == 0xED && b1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    unsigned char b1 = byte(i + 1);
    if (b == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

void AppendJsonEscaped(std::string_view in, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(in, i);
      if (n == 0) {
        out->append("\\ufffd");
        ++i;
      } else {
        out->append(in.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
}

Status ConfigureLogging(const std::string& level, const std::string& format) {
  std::optional<spdlog::level::level_enum> lvl = ParseLevel(level);
  if (!lvl) {
    return InvalidArgument("unknown log level '" + level +
                           "' (expected trace, debug, info, warn, error or off)");
  }
  if (format != "text" && format != "json") {
    return InvalidArgument("unknown log format '" + format + "' (expected text or json)");
  }
  // spdlog reports misuse with exceptions; keep them from escaping into startup code.
  try {
    std::unique_ptr<spdlog::pattern_formatter> formatter;
    if (format == "json") {
      formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
      formatter->add_flag<JsonMessageFlag>('*');
      formatter->add_flag<JsonLoggerNameFlag>('&');
      formatter->set_pattern(kJsonPattern);
    } else {
      formatter = std::make_unique<spdlog::pattern_formatter>(kTextPattern);
    }
    // The plain (not colour) sink: logs are usually collected, and escape codes would end up
    // inside JSON strings. It flushes after every line.
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>("eddy", std::move(sink));
    spdlog::set_default_logger(std::move(logger));
    // Applies to every registered logger, and to loggers created later through spdlog's
    // registry, so subsystems that make their own named loggers get the same format.
    spdlog::set_formatter(std::move(formatter));
    spdlog::set_level(*lvl);
  } catch (const std::exception& e) {
    return Internal(std::string("configuring logging failed: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace eddy
