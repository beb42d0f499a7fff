// libeddy_checkpoint_verify_functions.so: the verification function of checkpoint_crash_it, in
// the spirit of StateFun's smoke test. verify/counter interprets a command tree carried in the
// message (type verify/cmd, UTF-8 text):
//
//   cmds := cmd (',' cmd)*
//   cmd  := 'I'                  count += 1, then egress "<id>" -> "<count>" (verify/out, topic out)
//         | 'S' id '(' cmds ')'  send cmds to verify/counter <id> now
//         | 'D' id '(' cmds ')'  send cmds to <id> after 30 ms
//         | 'X' id '(' cmds ')'  send cmds to <id> after 30 ms with a token, and cancel it in the
//                                same invocation (never delivered)
//         | 'L' id '(' cmds ')'  send cmds to <id> after 2 min with a token, and immediately a
//                                message to self that cancels it: the cancel goes through state
//         | 'W'                  sleep 10 ms (a slow function: messages pile up in mailboxes)
//
// A malformed tree is ignored (nothing counted), so the test would see the difference.
#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "eddy/sdk/embedded.h"
#include "eddy/sdk/function.h"

namespace {

using eddy::Address;
using eddy::FunctionType;
using eddy::TypedValue;
using eddy::sdk::Context;
using eddy::sdk::LongType;
using eddy::sdk::Message;
using eddy::sdk::ValueSpec;

const FunctionType kCounter{"verify", "counter"};
const FunctionType kOut{"verify", "out"};
constexpr const char* kCmdType = "verify/cmd";
const auto kCount = ValueSpec<int64_t>::Of("count", LongType());
const auto kTokens = ValueSpec<int64_t>::Of("tokens", LongType());

TypedValue Cmd(std::string_view text) { return TypedValue{kCmdType, true, std::string(text)}; }

// Splits "a(b,c),d" at top-level commas. False when brackets do not match.
bool SplitTop(std::string_view s, std::vector<std::string_view>& out) {
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    if (s[i] == ')' && --depth < 0) return false;
    if (s[i] == ',' && depth == 0) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) return false;
  out.push_back(s.substr(start));
  return true;
}

void Run(Context& ctx, std::string_view cmds) {
  if (cmds.rfind("K", 0) == 0) {  // cancel a pending 'L' message
    ctx.CancelDelayedMessage(std::string(cmds.substr(1)));
    return;
  }
  std::vector<std::string_view> parts;
  if (!SplitTop(cmds, parts)) return;
  auto& storage = ctx.Storage();
  for (std::string_view c : parts) {
    if (c == "W") {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (c == "I") {
      int64_t count = storage.Get(kCount).value_or(0) + 1;
      storage.Set(kCount, count);
      ctx.SendKafka(kOut, "out", ctx.Self().id, std::to_string(count));
      continue;
    }
    size_t open = c.find('(');
    if (c.size() < 4 || open == std::string_view::npos || c.back() != ')') continue;
    Address target{kCounter, std::string(c.substr(1, open - 1))};
    std::string_view inner = c.substr(open + 1, c.size() - open - 2);
    switch (c[0]) {
      case 'S':
        ctx.Send(target, Cmd(inner));
        break;
      case 'D':
        ctx.SendAfter(std::chrono::milliseconds(30), target, Cmd(inner));
        break;
      case 'X':
        ctx.SendAfter(std::chrono::milliseconds(30), target, Cmd(inner), "x");
        ctx.CancelDelayedMessage("x");
        break;
      case 'L': {
        int64_t n = storage.Get(kTokens).value_or(0) + 1;
        storage.Set(kTokens, n);
        std::string token = "l" + std::to_string(n);
        ctx.SendAfter(std::chrono::minutes(2), target, Cmd(inner), token);
        ctx.Send(ctx.Self(), Cmd("K" + token));
        break;
      }
      default:
        break;
    }
  }
}

void Counter(Context& ctx, const Message& msg) {
  if (msg.TypeName() != kCmdType) return;
  Run(ctx, msg.Raw().value);
}

}  // namespace

EDDY_EMBEDDED_MODULE(registry) {
  return registry.Register({kCounter, {kCount.Describe(), kTokens.Describe()}, Counter});
}
