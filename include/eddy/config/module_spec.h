#pragma once
// A StateFun 3.x module.yaml, parsed into plain values. Field names follow the YAML; defaults are
// StateFun's (docs/configuration.md lists them). Only the loader (src/config) knows YAML.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/model/address.h"

namespace eddy {

using Millis = std::chrono::milliseconds;

// Where a document came from, for error messages ("module.yaml: document 2 (line 14)").
struct SourceLocation {
  std::string file;
  int document = 0;  // 1-based
  int line = 0;      // 1-based, line of the document's `kind:`
};

// Which functions an endpoint serves: one exact type, or a whole namespace ("ns/*").
struct FunctionTypePattern {
  std::string ns;
  std::string name;  // empty when wildcard
  bool wildcard = false;
  bool Matches(const FunctionType& t) const { return t.ns == ns && (wildcard || t.name == name); }
};

struct HttpTransportSpec {
  // io.statefun.transports.v1/async (default) or io.statefun.transports.v1/okhttp.
  std::string type = "io.statefun.transports.v1/async";
  Millis call_timeout{120000};
  Millis connect_timeout{20000};
  Millis read_timeout{10000};    // okhttp only
  Millis write_timeout{10000};   // okhttp only
  Millis pool_ttl{15000};
  int pool_size = 1024;
  int64_t payload_max_bytes = 33554432;
  std::string trust_cacerts;     // TLS: parsed now, used by the TLS transport (issue 4)
  std::string client_cert;
  std::string client_key;
  std::string client_key_password;
};

// io.eddy.endpoints.v1/grpc (an Eddy kind): the request-reply exchange as one unary gRPC call
// per batch (service io.eddy.functions.v1.RequestReply, proto/eddy/function_service.proto).
struct GrpcTransportSpec {
  std::string target;  // gRPC target URI, e.g. dns:///functions:9000 or 127.0.0.1:9000
  Millis call_timeout{60000};     // budget for one batch, retries included
  Millis connect_timeout{10000};
  std::string load_balancing = "round_robin";  // round_robin | pick_first
  int64_t max_message_bytes = 33554432;
  bool tls = false;           // true when a `tls` block is present
  std::string trust_cacerts;  // PEM file; empty = system roots
  std::string client_cert;    // PEM file (mTLS), with client_key
  std::string client_key;
  std::string authority;      // overrides the TLS/HTTP2 authority (server name), optional
};

// io.eddy.embedded.v1/module (an Eddy kind): C++ functions running inside the worker process.
struct EmbeddedModuleSpec {
  std::string library;  // shared library path; empty = functions linked into the worker binary
  // Embedded handlers run on the shard thread and cannot be preempted; a batch that took longer
  // than this is treated as a failed call (its effects discarded, like a remote timeout).
  Millis call_timeout{60000};
};

enum class EndpointProtocol { kHttp, kGrpc, kEmbedded };

// Where the functions of some types run and how to reach them. One per endpoint document; an
// embedded module document yields one per function type it binds.
struct EndpointSpec {
  SourceLocation location;
  // io.statefun.endpoints.v2/http, io.statefun.endpoints.v1/http, io.eddy.endpoints.v1/grpc or
  // io.eddy.embedded.v1/module.
  std::string kind;
  EndpointProtocol protocol = EndpointProtocol::kHttp;
  FunctionTypePattern functions;
  std::string url_path_template;  // kHttp: full URL, may contain {function.name}
  int max_num_batch_requests = 1000;  // <= 0 disables the per-address limit
  HttpTransportSpec transport;    // kHttp
  GrpcTransportSpec grpc;         // kGrpc
  EmbeddedModuleSpec embedded;    // kEmbedded

  // The URL for one function type: {function.name} replaced by the type's name.
  std::string UrlFor(const FunctionType& type) const;
  // For logs and errors: the URL template, the gRPC target or "embedded:<library>".
  std::string Describe() const;
};

// Ordered key/value pairs passed to librdkafka as they are.
using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

struct KafkaIngressTopic {
  std::string topic;
  std::string value_type;                // typename of the TypedValue built from the record value
  std::vector<FunctionType> targets;
};

struct KafkaStartupPosition {
  // group-offsets | earliest | latest | specific-offsets | date
  std::string type = "latest";
  std::map<std::pair<std::string, int32_t>, int64_t> specific_offsets;  // (topic, partition) -> offset
  int64_t date_epoch_ms = 0;
};

struct KafkaIngressSpec {
  SourceLocation location;
  std::string id;  // typename, "ns/name"
  std::string address;            // bootstrap.servers
  std::string consumer_group_id;  // group.id
  std::vector<KafkaIngressTopic> topics;
  std::string auto_offset_reset_position = "latest";  // earliest | latest
  KafkaStartupPosition startup_position;
  KafkaProperties properties;  // already merged: named fields override these
};

struct KafkaEgressSpec {
  SourceLocation location;
  std::string id;  // "ns/name"
  std::string address;
  std::string delivery_semantic = "at-least-once";  // at-least-once | exactly-once | none
  Millis transaction_timeout{0};
  KafkaProperties properties;
};

// io.eddy.generator.v1/ingress (an Eddy kind, not StateFun's): synthetic records for benchmarks
// and demos, like Flink's datagen source. Record n (0-based) goes to every target with id
// "<key>" (round-robin: n mod keys; random: seeded PRNG) and the value n.
struct GeneratorIngressSpec {
  SourceLocation location;
  std::string id;                     // "ns/name", unique among all ingresses
  std::vector<FunctionType> targets;  // non-empty
  int64_t keys = 1000;                // distinct ids "0".."keys-1", >= 1
  int64_t rate = 0;                   // records per second; 0 = as fast as backpressure allows
  int64_t count = 0;                  // records in total, then stop; 0 = unbounded
  // io.statefun.types/long: the value is the built-in long (types::Long); any other typename:
  // the decimal sequence number as UTF-8 bytes.
  std::string value_type = "io.statefun.types/long";
  std::string key_order = "round-robin";  // round-robin | random
  uint64_t seed = 1;                      // PRNG seed for key_order random
};

struct ModuleSpec {
  std::vector<EndpointSpec> endpoints;
  std::vector<KafkaIngressSpec> kafka_ingresses;
  std::vector<KafkaEgressSpec> kafka_egresses;
  std::vector<GeneratorIngressSpec> generator_ingresses;

  // The endpoint serving a type: an exact binding wins over a namespace wildcard. nullptr if none.
  const EndpointSpec* FindEndpoint(const FunctionType& type) const;
};

// Loads a module.yaml (multi-document `kind`/`spec`, or the legacy `version: "3.0"` form).
// Errors name the file, document, line and field.
Result<ModuleSpec> LoadModuleFile(const std::string& path);
Result<ModuleSpec> LoadModuleString(const std::string& yaml, const std::string& file_name);

// Parses a Flink-style duration: "10s", "2m", "15min", "1 min", "500ms", "1h", "2d"; a bare
// number means milliseconds.
Result<Millis> ParseDuration(const std::string& text);

}  // namespace eddy
