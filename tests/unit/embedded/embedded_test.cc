// Embedded functions: loading libraries (good, missing, broken, duplicate types, unbound types)
// and running batches through the embedded invoker (replies, exceptions, slow calls, shutdown).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <stdexcept>
#include <thread>

#include "eddy/invoker/embedded_invoker.h"
#include "eddy/metrics/metrics.h"
#include "eddy/sdk/function.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string Lib(const std::string& name) { return std::string(EDDY_LIB_DIR) + "/lib" + name + ".so"; }
const std::string kExamples = Lib("eddy_example_functions");

EndpointSpec Embedded(const std::string& library, const std::string& pattern, int document = 1) {
  EndpointSpec e;
  e.location = {"module.yaml", document, 3 * document};
  e.kind = "io.eddy.embedded.v1/module";
  e.protocol = EndpointProtocol::kEmbedded;
  e.embedded.library = library;
  auto slash = pattern.find('/');
  e.functions.ns = pattern.substr(0, slash);
  e.functions.name = pattern.substr(slash + 1);
  e.functions.wildcard = e.functions.name == "*";
  if (e.functions.wildcard) e.functions.name.clear();
  return e;
}

ModuleSpec ModuleOf(std::vector<EndpointSpec> endpoints) {
  ModuleSpec m;
  m.endpoints = std::move(endpoints);
  return m;
}

Status LoadError(const ModuleSpec& m, const sdk::FunctionRegistry& linked = {}) {
  auto r = EmbeddedFunctions::Load(m, linked);
  return r.ok() ? Status::Ok() : r.status();
}

TEST(EmbeddedLoader, LoadsALibraryAndFindsItsFunctions) {
  ModuleSpec m = ModuleOf({Embedded(kExamples, "example/*")});
  auto loaded = EmbeddedFunctions::Load(m, sdk::FunctionRegistry());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const EndpointSpec& e = m.endpoints[0];
  ASSERT_NE((*loaded)->Find(e, {"example", "counter"}), nullptr);
  EXPECT_EQ((*loaded)->Find(e, {"example", "counter"})->states.size(), 4u);
  EXPECT_EQ((*loaded)->Find(e, {"example", "nope"}), nullptr);
  EXPECT_EQ((*loaded)->Find(e, {"other", "counter"}), nullptr);  // not bound by this endpoint
  EXPECT_THAT((*loaded)->Libraries(), ::testing::ElementsAre(kExamples));
}

TEST(EmbeddedLoader, OneLibraryWrittenTwoWaysIsLoadedOnce) {
  std::string other_spelling = std::string(EDDY_LIB_DIR) + "/./libeddy_example_functions.so";
  ModuleSpec m = ModuleOf({Embedded(kExamples, "example/counter", 1),
                           Embedded(other_spelling, "example/echo", 2)});
  auto loaded = EmbeddedFunctions::Load(m, sdk::FunctionRegistry());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->Libraries().size(), 1u);
  EXPECT_NE((*loaded)->Find(m.endpoints[1], {"example", "echo"}), nullptr);
}

TEST(EmbeddedLoader, BrokenLibrariesFailWithClearMessages) {
  Status st = LoadError(ModuleOf({Embedded("/nonexistent/libx.so", "a/*", 2)}));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("module.yaml: document 2 (line 6)"));
  EXPECT_THAT(st.message(), HasSubstr("cannot load library /nonexistent/libx.so"));

  st = LoadError(ModuleOf({Embedded(Lib("eddy_bad_library_1"), "a/*")}));
  EXPECT_THAT(st.message(), HasSubstr("is not an Eddy function library"));
  st = LoadError(ModuleOf({Embedded(Lib("eddy_bad_library_2"), "a/*")}));
  EXPECT_THAT(st.message(), HasSubstr("bad library configuration"));
  st = LoadError(ModuleOf({Embedded(Lib("eddy_bad_library_3"), "a/*")}));
  EXPECT_THAT(st.message(), HasSubstr("embedded ABI version 999"));
  st = LoadError(ModuleOf({Embedded(Lib("eddy_bad_library_5"), "a/*")}));
  EXPECT_THAT(st.message(), HasSubstr("boom at load"));
}

TEST(EmbeddedLoader, ATypeProvidedTwiceOrNotAtAllFailsStartup) {
  Status st = LoadError(ModuleOf({Embedded(kExamples, "example/counter", 1),
                                  Embedded(Lib("eddy_bad_library_4"), "other/*", 2)}));
  EXPECT_THAT(st.message(), HasSubstr("function type example/echo is provided twice"));
  EXPECT_THAT(st.message(), HasSubstr("document 2"));

  sdk::FunctionRegistry linked;
  ASSERT_TRUE(linked.Register({{"example", "counter"}, {}, [](sdk::Context&, const sdk::Message&) {}})
                  .ok());
  st = LoadError(ModuleOf({Embedded("", "example/counter", 1), Embedded(kExamples, "example/echo", 2)}),
                 linked);
  EXPECT_THAT(st.message(), HasSubstr("provided twice: by the worker binary and by library"));

  st = LoadError(ModuleOf({Embedded(kExamples, "example/nope")}));
  EXPECT_THAT(st.message(), HasSubstr("provides no function example/nope"));
  EXPECT_THAT(st.message(), HasSubstr("example/counter"));  // lists what it has
  st = LoadError(ModuleOf({Embedded("", "linked/*")}), linked);
  EXPECT_THAT(st.message(), HasSubstr("the worker binary provides no function in namespace linked"));
}

// Runs one call on a fresh io_context and returns its result.
class InvokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(linked_.Register({{"test", "slow"}, {}, [](sdk::Context&, const sdk::Message&) {
                         std::this_thread::sleep_for(30ms);
                       }}).ok());
    ModuleSpec m = ModuleOf({Embedded(kExamples, "example/*", 1), Embedded("", "test/*", 2)});
    m.endpoints[1].embedded.call_timeout = 10ms;
    module_ = m;
    auto loaded = EmbeddedFunctions::Load(module_, linked_);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    functions_ = *loaded;
  }

  Result<FunctionReply> Call(const EndpointSpec& e, InvocationBatch batch) {
    auto invoker = MakeEmbeddedInvoker(io_, e, functions_, &metrics_);
    EXPECT_TRUE(invoker.ok());
    std::optional<Result<FunctionReply>> got;
    (*invoker)->Invoke(std::move(batch), [&](Result<FunctionReply> r) { got = std::move(r); });
    EXPECT_FALSE(got.has_value()) << "callbacks must never run inline";
    io_.run();
    io_.restart();
    EXPECT_TRUE(got.has_value());
    return got ? std::move(*got) : Internal("no callback");
  }

  static InvocationBatch Batch(const std::string& type, int64_t value,
                               std::vector<std::string> states) {
    InvocationBatch b;
    b.target = {*FunctionType::Parse(type), "alice"};
    for (auto& s : states) b.states.push_back({s, std::nullopt});
    b.invocations.push_back({std::nullopt, types::Long(value)});
    return b;
  }

  uint64_t Failures(const std::string& fn, const std::string& reason) {
    return metrics_
        .GetCounter("eddy_embedded_failures_total", {{"function", fn}, {"reason", reason}})
        .Value();
  }

  sdk::FunctionRegistry linked_;
  ModuleSpec module_;
  std::shared_ptr<const EmbeddedFunctions> functions_;
  boost::asio::io_context io_;
  MetricsRegistry metrics_;
};

TEST_F(InvokerTest, RunsTheFunctionAndReturnsItsEffects) {
  auto reply = Call(module_.endpoints[0],
                    Batch("example/counter", 5, {"seen", "sum", "echoes", "timer"}));
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  const auto& r = std::get<InvocationResponse>(*reply);
  ASSERT_EQ(r.state_mutations.size(), 2u);  // seen and sum
  ASSERT_EQ(r.outgoing_messages.size(), 1u);
  EXPECT_EQ(r.outgoing_messages[0].target.ToString(), "example/echo/alice");
  EXPECT_EQ(types::AsLong(r.outgoing_messages[0].argument), 1);
  ASSERT_EQ(r.delayed_messages.size(), 2u);  // the cancellation, then the re-armed timer
  EXPECT_TRUE(r.delayed_messages[0].is_cancellation);
  EXPECT_EQ(r.delayed_messages[1].cancellation_token, "timer-alice");

  // Without the declared states the function asks for them instead of running.
  reply = Call(module_.endpoints[0], Batch("example/counter", 5, {}));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(std::get<IncompleteContext>(*reply).missing_values.size(), 4u);
}

TEST_F(InvokerTest, AThrowingFunctionIsAFailedCallAndCounted) {
  auto reply = Call(module_.endpoints[0], Batch("example/thrower", -1, {"count"}));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kInternal);
  EXPECT_THAT(reply.status().message(), HasSubstr("negative input"));
  EXPECT_EQ(Failures("example/thrower", "exception"), 1u);
  reply = Call(module_.endpoints[0], Batch("example/thrower", 3, {"count"}));
  EXPECT_TRUE(reply.ok()) << "the next batch runs normally";
  EXPECT_EQ(Failures("example/thrower", "exception"), 1u);
}

TEST_F(InvokerTest, ASlowBatchIsDroppedAsATimeout) {
  auto reply = Call(module_.endpoints[1], Batch("test/slow", 1, {}));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(reply.status().message(), HasSubstr("more than timeouts.call (10 ms)"));
  EXPECT_EQ(Failures("test/slow", "timeout"), 1u);
}

TEST_F(InvokerTest, UnknownTypeAndShutdown) {
  auto reply = Call(module_.endpoints[0], Batch("example/nope", 1, {}));
  EXPECT_EQ(reply.status().code(), StatusCode::kNotFound);

  auto invoker = MakeEmbeddedInvoker(io_, module_.endpoints[0], functions_, &metrics_);
  ASSERT_TRUE(invoker.ok());
  int calls = 0;
  Status got = Status::Ok();
  (*invoker)->Invoke(Batch("example/echo", 1, {}), [&](Result<FunctionReply> r) {
    ++calls;
    got = r.status();
  });
  (*invoker)->Shutdown();
  io_.run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got.code(), StatusCode::kUnavailable);

  EndpointSpec http;
  EXPECT_FALSE(MakeEmbeddedInvoker(io_, http, functions_, &metrics_).ok());
}

}  // namespace
}  // namespace eddy
