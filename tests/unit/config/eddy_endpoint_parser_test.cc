// io.eddy.endpoints.v1/grpc and io.eddy.embedded.v1/module: every field, the defaults, mixed
// modules, and malformed fields (errors name the file, document, line and field).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "eddy/config/module_spec.h"
#include "unit/config/test_util.h"

namespace eddy {
namespace {

using ::eddy::testing::ExpectError;

Result<ModuleSpec> Load(const std::string& yaml) { return LoadModuleString(yaml, "module.yaml"); }

std::string Grpc(const std::string& fields) {
  return "kind: io.eddy.endpoints.v1/grpc\nspec:\n" + fields;
}
std::string Embedded(const std::string& fields) {
  return "kind: io.eddy.embedded.v1/module\nspec:\n" + fields;
}

TEST(GrpcEndpointParser, EveryFieldAndTheDefaults) {
  Result<ModuleSpec> m = Load(Grpc(
      "  functions: fns/*\n  target: dns:///functions.default.svc:9000\n"
      "  maxNumBatchRequests: 50\n  timeouts: {call: 30s, connect: 2s}\n"
      "  loadBalancing: pick_first\n  maxMessageBytes: 1048576\n"
      "  tls: {trust_cacerts: /ca.pem, client_cert: /c.pem, client_key: /c.key, "
      "authority: fns.example}\n"
      "---\n" + Grpc("  functions: other/f\n  target: 127.0.0.1:9000\n")));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->endpoints.size(), 2u);
  const EndpointSpec& full = m->endpoints[0];
  EXPECT_EQ(full.protocol, EndpointProtocol::kGrpc);
  EXPECT_EQ(full.kind, "io.eddy.endpoints.v1/grpc");
  EXPECT_TRUE(full.functions.wildcard);
  EXPECT_EQ(full.grpc.target, "dns:///functions.default.svc:9000");
  EXPECT_EQ(full.max_num_batch_requests, 50);
  EXPECT_EQ(full.grpc.call_timeout, Millis(30000));
  EXPECT_EQ(full.grpc.connect_timeout, Millis(2000));
  EXPECT_EQ(full.grpc.load_balancing, "pick_first");
  EXPECT_EQ(full.grpc.max_message_bytes, 1048576);
  EXPECT_TRUE(full.grpc.tls);
  EXPECT_EQ(full.grpc.trust_cacerts, "/ca.pem");
  EXPECT_EQ(full.grpc.client_cert, "/c.pem");
  EXPECT_EQ(full.grpc.client_key, "/c.key");
  EXPECT_EQ(full.grpc.authority, "fns.example");
  EXPECT_EQ(full.Describe(), "grpc:dns:///functions.default.svc:9000");

  const EndpointSpec& defaults = m->endpoints[1];
  EXPECT_EQ(defaults.max_num_batch_requests, 1000);
  EXPECT_EQ(defaults.grpc.call_timeout, Millis(60000));
  EXPECT_EQ(defaults.grpc.connect_timeout, Millis(10000));
  EXPECT_EQ(defaults.grpc.load_balancing, "round_robin");
  EXPECT_FALSE(defaults.grpc.tls);
  EXPECT_EQ(m->FindEndpoint({"other", "f"}), &m->endpoints[1]);

  // A call timeout below the default connect timeout lowers the connect timeout with it.
  m = Load(Grpc("  functions: a/b\n  target: x:1\n  timeouts: {call: 2s}\n"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->endpoints[0].grpc.call_timeout, Millis(2000));
  EXPECT_EQ(m->endpoints[0].grpc.connect_timeout, Millis(2000));
}

TEST(GrpcEndpointParser, MalformedFields) {
  ExpectError(Load(Grpc("  functions: a/b\n")),
              {"module.yaml: document 1 (line 2): spec.target: missing required field"});
  ExpectError(Load(Grpc("  functions: a/b\n  target: http://x:9000\n")),
              {"(line 4): spec.target: expected a gRPC target", "not a URL"});
  ExpectError(Load(Grpc("  functions: a/b\n  target: 'x y:1'\n")),
              {"spec.target: gRPC target contains whitespace"});
  ExpectError(Load(Grpc("  functions: a\n  target: x:1\n")),
              {"(line 3): spec.functions: expected a function type"});
  ExpectError(Load(Grpc("  functions: a/b\n  target: x:1\n  loadBalancing: random\n")),
              {"(line 5): spec.loadBalancing"});
  ExpectError(Load(Grpc("  functions: a/b\n  target: x:1\n  timeouts: {call: 0s}\n")),
              {"spec.timeouts.call: timeout must be larger than 0"});
  ExpectError(Load(Grpc("  functions: a/b\n  target: x:1\n  timeouts: {call: 1s, connect: 2s}\n")),
              {"spec.timeouts.connect: connect timeout cannot be larger than the call timeout"});
  ExpectError(Load(Grpc("  functions: a/b\n  target: x:1\n  tls: {client_cert: /c.pem}\n")),
              {"spec.tls: client_cert and client_key must be given together"});
  ExpectError(Load(Grpc("  functions: a/b\n  target: x:1\n  tls: yes\n")),
              {"spec.tls: expected a map"});
  ExpectError(Load(Grpc("  functions: a/b\n  target: x:1\n  maxMessageBytes: 0\n")),
              {"spec.maxMessageBytes"});
}

TEST(EmbeddedModuleParser, OneEndpointPerBoundType) {
  Result<ModuleSpec> m = Load(Embedded(
      "  library: /opt/fns/libcounter.so\n  functions: [example/counter, tools/*]\n"
      "  maxNumBatchRequests: 10\n  timeouts: {call: 5s}\n"
      "---\n" + Embedded("  functions: linked/fn\n")));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->endpoints.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    const EndpointSpec& e = m->endpoints[i];
    EXPECT_EQ(e.protocol, EndpointProtocol::kEmbedded);
    EXPECT_EQ(e.embedded.library, "/opt/fns/libcounter.so");
    EXPECT_EQ(e.embedded.call_timeout, Millis(5000));
    EXPECT_EQ(e.max_num_batch_requests, 10);
  }
  EXPECT_EQ(m->FindEndpoint({"example", "counter"}), &m->endpoints[0]);
  EXPECT_EQ(m->FindEndpoint({"tools", "x"}), &m->endpoints[1]);
  const EndpointSpec& linked = m->endpoints[2];
  EXPECT_TRUE(linked.embedded.library.empty());
  EXPECT_EQ(linked.embedded.call_timeout, Millis(60000));
  EXPECT_EQ(linked.Describe(), "embedded:<linked>");
}

TEST(EmbeddedModuleParser, RelativeLibraryPathsAreRelativeToTheModuleFile) {
  Result<ModuleSpec> m = LoadModuleString(Embedded("  library: lib/libfns.so\n  functions: a/*\n"),
                                          "/etc/eddy/module.yaml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->endpoints[0].embedded.library, "/etc/eddy/lib/libfns.so");
  m = LoadModuleString(Embedded("  library: /opt/libfns.so\n  functions: a/*\n"),
                       "/etc/eddy/module.yaml");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->endpoints[0].embedded.library, "/opt/libfns.so");
}

TEST(EmbeddedModuleParser, MixedWithRemoteAndDuplicateBindings) {
  std::string http =
      "kind: io.statefun.endpoints.v2/http\nspec:\n  functions: remote/*\n"
      "  urlPathTemplate: http://127.0.0.1:8000/{function.name}\n";
  Result<ModuleSpec> m = Load(Embedded("  functions: [local/a]\n") + "---\n" + http);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->FindEndpoint({"local", "a"})->protocol, EndpointProtocol::kEmbedded);
  EXPECT_EQ(m->FindEndpoint({"remote", "b"})->protocol, EndpointProtocol::kHttp);

  ExpectError(Load(Embedded("  functions: [local/a, local/a]\n")),
              {"(line 3): spec.functions[1]: function type 'local/a' is already bound by the "
               "endpoint in document 1"});
  ExpectError(Load(Embedded("  functions: [remote/*]\n") + "---\n" + http),
              {"document 2", "namespace wildcard 'remote/*' is already bound"});
}

TEST(EmbeddedModuleParser, MalformedFields) {
  ExpectError(Load(Embedded("  library: /x.so\n")),
              {"document 1 (line 2): spec.functions: missing required field"});
  ExpectError(Load(Embedded("  functions: []\n")),
              {"spec.functions: expected at least one function type"});
  ExpectError(Load(Embedded("  functions: [a/b, nope]\n")),
              {"spec.functions[1]: expected a function type"});
  ExpectError(Load(Embedded("  functions: a/b\n  library: ''\n")), {"spec.library"});
  ExpectError(Load(Embedded("  functions: a/b\n  timeouts: {call: -1s}\n")),
              {"spec.timeouts.call"});
  ExpectError(Load("kind: io.eddy.embedded.v2/module\nspec: {functions: a/b}\n"),
              {"unsupported kind 'io.eddy.embedded.v2/module'", "io.eddy.embedded.v1/module"});
}

}  // namespace
}  // namespace eddy
