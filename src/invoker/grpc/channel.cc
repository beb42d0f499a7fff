#include "invoker/grpc/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace eddy::grpc_invoker {
namespace {

// gRPC retries connecting with exponential backoff up to 120 s by default; while it waits, calls
// fail fast. Capping it keeps a restarted function reachable again within about a second, which
// fits call budgets of seconds to minutes. The first retry waits 100 ms.
constexpr int kInitialReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 1000;

std::string Prefix(const GrpcTransportSpec& spec) { return "gRPC endpoint " + spec.target + ": "; }

Result<std::string> ReadPem(const GrpcTransportSpec& spec, const char* field,
                            const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgument(Prefix(spec) + "tls." + field + ": cannot read file '" + path +
                           "': " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string pem = std::move(text).str();
  // gRPC would only notice at the TLS handshake, as an opaque UNAVAILABLE on every call.
  if (pem.find("-----BEGIN") == std::string::npos) {
    return InvalidArgument(Prefix(spec) + "tls." + field + ": file '" + path + "' is not PEM");
  }
  return pem;
}

Result<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(const GrpcTransportSpec& spec) {
  if (!spec.tls) return grpc::InsecureChannelCredentials();
  if (spec.client_cert.empty() != spec.client_key.empty()) {
    return InvalidArgument(Prefix(spec) +
                           "tls.client_cert and tls.client_key must be set together");
  }
  grpc::SslCredentialsOptions ssl;
  if (!spec.trust_cacerts.empty()) {
    auto roots = ReadPem(spec, "trust_cacerts", spec.trust_cacerts);
    if (!roots.ok()) return roots.status();
    ssl.pem_root_certs = std::move(roots).value();
  }
  if (!spec.client_cert.empty()) {
    auto cert = ReadPem(spec, "client_cert", spec.client_cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(spec, "client_key", spec.client_key);
    if (!key.ok()) return key.status();
    if (key->find("ENCRYPTED") != std::string::npos) {
      return InvalidArgument(Prefix(spec) + "tls.client_key: file '" + spec.client_key +
                             "' is encrypted; the gRPC transport needs an unencrypted key");
    }
    ssl.pem_cert_chain = std::move(cert).value();
    ssl.pem_private_key = std::move(key).value();
  }
  return grpc::SslCredentials(ssl);
}

int ClampToInt(int64_t v) { return static_cast<int>(std::clamp<int64_t>(v, 1, INT_MAX)); }

}  // namespace

std::string ServiceConfigJson(const std::string& policy) {
  return R"({"loadBalancingConfig":[{")" + policy + R"(":{}}]})";
}

Result<std::shared_ptr<grpc::Channel>> MakeChannel(const GrpcTransportSpec& spec) {
  if (spec.target.empty()) return InvalidArgument("gRPC endpoint: target is empty");
  if (spec.call_timeout.count() <= 0) {
    return InvalidArgument(Prefix(spec) + "call_timeout must be positive");
  }
  if (spec.connect_timeout.count() <= 0) {
    return InvalidArgument(Prefix(spec) + "connect_timeout must be positive");
  }
  if (spec.max_message_bytes <= 0) {
    return InvalidArgument(Prefix(spec) + "max_message_bytes must be positive");
  }
  if (spec.load_balancing != "round_robin" && spec.load_balancing != "pick_first") {
    return InvalidArgument(Prefix(spec) +
                           "load_balancing must be round_robin or pick_first, not '" +
                           spec.load_balancing + "'");
  }
  auto credentials = MakeCredentials(spec);
  if (!credentials.ok()) return credentials.status();

  grpc::ChannelArguments args;
  // The policy comes from our config only; a service config published in DNS must not override.
  args.SetServiceConfigJSON(ServiceConfigJson(spec.load_balancing));
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  // Without this, channels with equal arguments share connections process-wide, and every shard
  // would multiplex onto the same HTTP/2 connection (one server-side thread).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // gRPC's name for the minimum time one connection attempt may take.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, ClampToInt(spec.connect_timeout.count()));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  args.SetMaxSendMessageSize(ClampToInt(spec.max_message_bytes));
  args.SetMaxReceiveMessageSize(ClampToInt(spec.max_message_bytes));
  if (!spec.authority.empty()) {
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, spec.authority);
    if (spec.tls) args.SetSslTargetNameOverride(spec.authority);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(spec.target, std::move(credentials).value(), args);
  if (!channel) return InvalidArgument(Prefix(spec) + "could not create a channel");
  return channel;
}

}  // namespace eddy::grpc_invoker
