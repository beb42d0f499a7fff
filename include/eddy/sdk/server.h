#pragma once
// Serving functions as a remote endpoint, so a function moves between embedded and remote by
// configuration alone. Both servers speak StateFun's request-reply protocol:
//  - HTTP (Boost.Beast): POST of a ToFunction, 200 with Content-Type application/octet-stream and
//    a FromFunction; 405 for other methods, 415 for a wrong Content-Type, 400 for an empty or
//    unparseable body, 404 for an unknown function type, 500 (text/plain) when a handler throws.
//    The function type is taken from the request (the batch target), so one URL serves all.
//  - gRPC: service io.eddy.functions.v1.RequestReply, rpc Invoke(ToFunction) returns
//    (FromFunction); errors map to INVALID_ARGUMENT, NOT_FOUND and INTERNAL.
// Heavy headers (Beast, gRPC) stay in the implementation.

#include <cstdint>
#include <memory>
#include <string>

#include "eddy/common/status.h"
#include "eddy/sdk/function.h"

namespace eddy::sdk {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;            // 0 = pick a free port (see Port())
  std::string unix_socket;      // HTTP only: listen on this unix socket path instead of TCP
  int threads = 1;              // I/O threads
  int64_t max_body_bytes = 33554432;
  // TLS (HTTP: HTTPS; gRPC: SSL credentials). Empty cert = plaintext.
  std::string tls_cert;         // PEM file
  std::string tls_key;          // PEM file
  std::string tls_client_ca;    // PEM file: when set, clients must present a certificate (mTLS)
};

class FunctionServer {
 public:
  virtual ~FunctionServer() = default;
  // The bound TCP port (0 for a unix socket).
  virtual uint16_t Port() const = 0;
  // Stops accepting, finishes nothing further, joins the threads. Idempotent.
  virtual void Stop() = 0;
};

// The registry must outlive the server. Returns once listening.
Result<std::unique_ptr<FunctionServer>> StartHttpServer(const FunctionRegistry& registry,
                                                        const ServerOptions& options);
Result<std::unique_ptr<FunctionServer>> StartGrpcServer(const FunctionRegistry& registry,
                                                        const ServerOptions& options);

// The protocol step both servers share: ToFunction bytes in, FromFunction bytes out.
// InvalidArgument for malformed bytes, NotFound for an unknown type, Internal when the handler
// threw.
Result<std::string> HandleToFunction(const FunctionRegistry& registry, std::string_view bytes);

}  // namespace eddy::sdk
