#pragma once
// A bytes-level gRPC client for server tests: sends any bytes to any method and returns the
// status and reply bytes, so tests can send malformed requests the invoker never would.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <future>
#include <string>
#include <utility>

namespace eddy::grpc_testing {

inline constexpr char kInvokeMethod[] = "/io.eddy.functions.v1.RequestReply/Invoke";

struct RawReply {
  grpc::Status status;
  std::string bytes;
};

inline RawReply RawCall(uint16_t port, const std::string& request,
                        const std::string& method = kInvokeMethod) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1);
  grpc::ByteBuffer out;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &in, &out,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  RawReply reply{done.get_future().get(), {}};
  if (reply.status.ok() && out.Valid()) {
    grpc::Slice all;
    if (out.DumpToSingleSlice(&all).ok()) {
      reply.bytes.assign(reinterpret_cast<const char*>(all.begin()), all.size());
    }
  }
  return reply;
}

}  // namespace eddy::grpc_testing
