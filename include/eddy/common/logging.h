#pragma once
// Process-wide logging setup. Eddy logs through spdlog's default logger (spdlog::info(...) and
// friends, or SPDLOG_* macros); this header only configures where and how lines are written, so
// it stays free of spdlog headers. Call ConfigureLogging once at startup, before other threads
// log; calling it again replaces the previous configuration.

#include <string>
#include <string_view>

#include "eddy/common/status.h"

namespace eddy {

// level: trace | debug | info | warn | error | off (case-sensitive).
// format: "text" -> `[2026-11-24 01:02:03.456] [info] message` (local time);
//         "json" -> one object per line:
//         {"ts":"2026-11-24T01:02:03.456Z","level":"info","logger":"eddy","msg":"..."}
//         (UTC; the message and logger name are JSON-escaped, invalid UTF-8 becomes U+FFFD).
// Lines go to stderr, flushed per line. Returns InvalidArgument for an unknown level or format,
// leaving the previous configuration in place.
Status ConfigureLogging(const std::string& level, const std::string& format);

// Appends `in` as the inside of a JSON string literal (no surrounding quotes): escapes `"`, `\`
// and control characters, and replaces invalid UTF-8 with \ufffd so the output is always valid.
void AppendJsonEscaped(std::string_view in, std::string* out);

}  // namespace eddy
