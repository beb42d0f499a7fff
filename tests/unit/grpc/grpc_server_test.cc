// The gRPC function server over a bytes handler: status mapping, ports, stopping.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "raw_client.h"
#include "sdk/grpc/grpc_bytes_server.h"

namespace eddy {
namespace {

using namespace grpc_testing;
using sdk::ServerOptions;
using sdk::StartGrpcBytesServer;

TEST(GrpcBytesServerTest, RepliesWithTheHandlersBytes) {
  auto server = StartGrpcBytesServer(
      [](std::string_view req) -> Result<std::string> { return "re:" + std::string(req); }, {});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_NE((*server)->Port(), 0);
  auto reply = RawCall((*server)->Port(), std::string("a\0b", 3));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.bytes, std::string("re:a\0b", 6));
}

TEST(GrpcBytesServerTest, MapsHandlerErrorsToGrpcCodes) {
  std::atomic<int> which{0};
  auto server = StartGrpcBytesServer(
      [&](std::string_view) -> Result<std::string> {
        switch (which.load()) {
          case 0:
            return InvalidArgument("malformed ToFunction");
          case 1:
            return NotFound("unknown function type ex/nope");
          case 2:
            return Internal("handler threw: boom");
          case 3:
            throw std::runtime_error("escaped");
          default:
            throw 42;
        }
      },
      {});
  ASSERT_TRUE(server.ok());
  const grpc::StatusCode expected[] = {grpc::StatusCode::INVALID_ARGUMENT,
                                       grpc::StatusCode::NOT_FOUND, grpc::StatusCode::INTERNAL,
                                       grpc::StatusCode::INTERNAL, grpc::StatusCode::INTERNAL};
  const char* needle[] = {"malformed ToFunction", "ex/nope", "boom", "escaped", "non-std"};
  for (int i = 0; i < 5; ++i) {
    which = i;
    auto reply = RawCall((*server)->Port(), "x");
    EXPECT_EQ(reply.status.error_code(), expected[i]) << i;
    EXPECT_NE(reply.status.error_message().find(needle[i]), std::string::npos)
        << reply.status.error_message();
  }
}

TEST(GrpcBytesServerTest, UnknownMethodIsUnimplemented) {
  auto server = StartGrpcBytesServer([](std::string_view) { return Result<std::string>(""); }, {});
  ASSERT_TRUE(server.ok());
  auto reply = RawCall((*server)->Port(), "x", "/io.eddy.functions.v1.RequestReply/Other");
  EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST(GrpcBytesServerTest, OversizedRequestIsRejected) {
  ServerOptions options;
  options.max_body_bytes = 100;
  std::atomic<int> calls{0};
  auto server = StartGrpcBytesServer(
      [&](std::string_view) -> Result<std::string> {
        ++calls;
        return std::string();
      },
      options);
  ASSERT_TRUE(server.ok());
  auto reply = RawCall((*server)->Port(), std::string(1000, 'x'));
  EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(calls.load(), 0);
}

TEST(GrpcBytesServerTest, TakenPortFailsInsteadOfSharingIt) {
  auto first = StartGrpcBytesServer([](std::string_view) { return Result<std::string>(""); }, {});
  ASSERT_TRUE(first.ok());
  ServerOptions options;
  options.port = (*first)->Port();
  auto second =
      StartGrpcBytesServer([](std::string_view) { return Result<std::string>(""); }, options);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
}

TEST(GrpcBytesServerTest, RejectsUnixSocketAndEmptyHandler) {
  ServerOptions options;
  options.unix_socket = "/tmp/x.sock";
  EXPECT_EQ(StartGrpcBytesServer([](std::string_view) { return Result<std::string>(""); }, options)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(StartGrpcBytesServer(nullptr, {}).status().code(), StatusCode::kInvalidArgument);
}

TEST(GrpcBytesServerTest, StopWithABusyHandlerAnswersTheRestAndIsIdempotent) {
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  auto server = StartGrpcBytesServer(
      [&](std::string_view) -> Result<std::string> {
        ++started;
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return std::string();
      },
      {});  // one handler thread: the second call waits in the queue
  ASSERT_TRUE(server.ok());
  const uint16_t port = (*server)->Port();
  RawReply first, second;
  std::thread a([&] { first = RawCall(port, "1"); });
  while (started == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread b([&] { second = RawCall(port, "2"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::thread stopper([&] { (*server)->Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  release = true;
  stopper.join();
  a.join();
  b.join();
  (*server)->Stop();
  EXPECT_EQ(started.load(), 1);  // the queued call never reached the handler
  EXPECT_FALSE(second.status.ok());
}

}  // namespace
}  // namespace eddy
