// Well-formed module.yaml files: every kind, default and format variant Eddy accepts.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/component_parsers.h"
#include "eddy/config/module_spec.h"
#include "unit/config/test_util.h"

namespace eddy {
namespace {

using ::eddy::testing::Testdata;
using ::testing::ElementsAre;
using ::testing::Pair;

ModuleSpec MustLoad(const std::string& name) {
  Result<ModuleSpec> module = LoadModuleFile(Testdata(name));
  EXPECT_TRUE(module.ok()) << module.status().ToString();
  return module.ok() ? *module : ModuleSpec{};
}

TEST(ModuleLoader, PlaygroundGreeter) {
  ModuleSpec m = MustLoad("greeter.yaml");
  ASSERT_EQ(m.endpoints.size(), 1u);
  ASSERT_EQ(m.kafka_ingresses.size(), 1u);
  ASSERT_EQ(m.kafka_egresses.size(), 1u);

  const EndpointSpec& ep = m.endpoints[0];
  EXPECT_EQ(ep.kind, "io.statefun.endpoints.v2/http");
  EXPECT_EQ(ep.functions.ns, "greeter.fns");
  EXPECT_TRUE(ep.functions.wildcard);
  EXPECT_EQ(ep.url_path_template, "http://functions:8000/statefun");
  EXPECT_EQ(ep.location.document, 1);
  EXPECT_EQ(ep.location.line, 2);  // the line of `kind:`
  EXPECT_THAT(ep.location.file, ::testing::EndsWith("greeter.yaml"));

  const KafkaIngressSpec& in = m.kafka_ingresses[0];
  EXPECT_EQ(in.id, "greeter.io/user-logins");
  EXPECT_EQ(in.address, "kafka:9092");
  EXPECT_EQ(in.consumer_group_id, "greeter");
  EXPECT_EQ(in.startup_position.type, "earliest");
  EXPECT_EQ(in.auto_offset_reset_position, "latest");
  ASSERT_EQ(in.topics.size(), 1u);
  EXPECT_EQ(in.topics[0].topic, "user-logins");
  EXPECT_EQ(in.topics[0].value_type, "greeter.types/UserLogin");
  EXPECT_THAT(in.topics[0].targets, ElementsAre(FunctionType{"greeter.fns", "user"}));
  EXPECT_EQ(in.location.document, 2);
  EXPECT_EQ(in.location.line, 9);
  EXPECT_THAT(in.properties, ElementsAre(Pair("bootstrap.servers", "kafka:9092"),
                                         Pair("group.id", "greeter"),
                                         Pair("auto.offset.reset", "latest")));

  const KafkaEgressSpec& out = m.kafka_egresses[0];
  EXPECT_EQ(out.id, "greeter.io/user-greetings");
  EXPECT_EQ(out.address, "kafka:9092");
  EXPECT_EQ(out.delivery_semantic, "exactly-once");
  EXPECT_EQ(out.transaction_timeout, Millis(900000));
  EXPECT_THAT(out.properties, ElementsAre(Pair("bootstrap.servers", "kafka:9092"),
                                          Pair("transaction.timeout.ms", "900000")));
  EXPECT_EQ(out.location.document, 3);
}

TEST(ModuleLoader, TheDocumentedExampleLoads) {
  Result<ModuleSpec> m =
      LoadModuleFile(std::string(EDDY_CONFIG_TESTDATA) + "/../../../config/module.example.yaml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->endpoints.size(), 2u);
  EXPECT_EQ(m->FindEndpoint({"greeter.fns", "admin"}), &m->endpoints[1]);
  EXPECT_EQ(m->kafka_ingresses.at(0).startup_position.type, "group-offsets");
  EXPECT_EQ(m->kafka_egresses.at(0).delivery_semantic, "exactly-once");
}

TEST(ModuleLoader, EndpointDefaults) {
  Result<ModuleSpec> m = LoadModuleString(
      "kind: io.statefun.endpoints.v2/http\n"
      "spec: {functions: a/b, urlPathTemplate: 'http://h/{function.name}'}\n",
      "inline.yaml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const EndpointSpec& ep = m->endpoints[0];
  EXPECT_FALSE(ep.functions.wildcard);
  EXPECT_EQ(ep.functions.name, "b");
  EXPECT_EQ(ep.max_num_batch_requests, 1000);
  EXPECT_EQ(ep.transport.type, "io.statefun.transports.v1/async");
  EXPECT_EQ(ep.transport.call_timeout, Millis(120000));
  EXPECT_EQ(ep.transport.connect_timeout, Millis(20000));
  EXPECT_EQ(ep.transport.pool_ttl, Millis(15000));
  EXPECT_EQ(ep.transport.pool_size, 1024);
  EXPECT_EQ(ep.transport.payload_max_bytes, 33554432);
}

TEST(ModuleLoader, WildcardAndExactBindingsAndEmptyDocuments) {
  ModuleSpec m = MustLoad("wildcards.yaml");
  ASSERT_EQ(m.endpoints.size(), 2u);
  // Documents are numbered as written, empty ones included (the leading `---` after a comment
  // opens document 1; it does not close an empty one).
  EXPECT_EQ(m.endpoints[0].location.document, 1);
  EXPECT_EQ(m.endpoints[1].location.document, 3);
  EXPECT_EQ(m.endpoints[1].location.line, 11);
  EXPECT_EQ(m.endpoints[0].max_num_batch_requests, 50);
  EXPECT_EQ(m.endpoints[1].max_num_batch_requests, -1);

  const EndpointSpec* checkout = m.FindEndpoint({"shop", "checkout"});
  ASSERT_NE(checkout, nullptr);
  EXPECT_EQ(checkout, &m.endpoints[1]);  // exact wins although the wildcard comes first
  EXPECT_EQ(checkout->UrlFor({"shop", "checkout"}),
            "http+unix:///run/checkout.sock/checkout/checkout");

  const EndpointSpec* cart = m.FindEndpoint({"shop", "cart"});
  ASSERT_EQ(cart, &m.endpoints[0]);
  EXPECT_EQ(cart->UrlFor({"shop", "cart"}), "https://shop.example.com/fn/cart");

  EXPECT_EQ(m.FindEndpoint({"other", "cart"}), nullptr);
  EXPECT_EQ(m.FindEndpoint({"shopx", "cart"}), nullptr);
}

TEST(ModuleLoader, V1EndpointUsesOkHttpTimeouts) {
  ModuleSpec m = MustLoad("v1_endpoint.yaml");
  ASSERT_EQ(m.endpoints.size(), 1u);
  const HttpTransportSpec& t = m.endpoints[0].transport;
  EXPECT_EQ(m.endpoints[0].kind, "io.statefun.endpoints.v1/http");
  EXPECT_EQ(t.type, "io.statefun.transports.v1/okhttp");
  EXPECT_EQ(t.call_timeout, Millis(120000));
  EXPECT_EQ(t.connect_timeout, Millis(20000));
  EXPECT_EQ(t.read_timeout, Millis(30000));
  EXPECT_EQ(t.write_timeout, Millis(3000));
}

TEST(ModuleLoader, TransportFieldsAndPrecedence) {
  ModuleSpec m = MustLoad("transports.yaml");
  ASSERT_EQ(m.endpoints.size(), 4u);

  const HttpTransportSpec& all = m.endpoints[0].transport;
  EXPECT_EQ(all.call_timeout, Millis(180000));
  EXPECT_EQ(all.connect_timeout, Millis(5000));
  EXPECT_EQ(all.pool_ttl, Millis(30000));
  EXPECT_EQ(all.pool_size, 16);
  EXPECT_EQ(all.payload_max_bytes, 1048576);
  EXPECT_EQ(all.trust_cacerts, "/etc/ca.pem");
  EXPECT_EQ(all.client_cert, "/etc/client.pem");
  EXPECT_EQ(all.client_key, "/etc/client.key");
  EXPECT_EQ(all.client_key_password, "/etc/client.pass");

  // `timeouts` wins over `call`, and brings its own defaults (call 1m, connect 10s).
  const HttpTransportSpec& nested = m.endpoints[1].transport;
  EXPECT_EQ(nested.call_timeout, Millis(60000));
  EXPECT_EQ(nested.connect_timeout, Millis(3000));

  const HttpTransportSpec& okhttp = m.endpoints[2].transport;
  EXPECT_EQ(okhttp.type, "io.statefun.transports.v1/okhttp");
  EXPECT_EQ(okhttp.call_timeout, Millis(90000));
  EXPECT_EQ(okhttp.connect_timeout, Millis(10000));
  EXPECT_EQ(okhttp.read_timeout, Millis(60000));
  EXPECT_EQ(okhttp.write_timeout, Millis(10000));

  EXPECT_EQ(m.endpoints[3].transport.call_timeout, Millis(120000));
}

TEST(ModuleLoader, LegacyVersion30MapsOntoTheSameStructs) {
  ModuleSpec m = MustLoad("legacy_v30.yaml");
  ASSERT_EQ(m.endpoints.size(), 1u);
  ASSERT_EQ(m.kafka_ingresses.size(), 1u);
  ASSERT_EQ(m.kafka_egresses.size(), 1u);
  const EndpointSpec& ep = m.endpoints[0];
  EXPECT_EQ(ep.kind, "io.statefun.endpoints.v1/http");
  EXPECT_TRUE(ep.functions.wildcard);
  EXPECT_EQ(ep.functions.ns, "example");
  EXPECT_EQ(ep.transport.type, "io.statefun.transports.v1/okhttp");
  EXPECT_EQ(ep.transport.call_timeout, Millis(30000));
  EXPECT_EQ(ep.location.document, 1);
  EXPECT_EQ(ep.location.line, 7);

  EXPECT_EQ(m.kafka_ingresses[0].id, "example/names");
  EXPECT_EQ(m.kafka_ingresses[0].consumer_group_id, "my-group-id");
  EXPECT_THAT(m.kafka_ingresses[0].topics[0].targets,
              ElementsAre(FunctionType{"example", "greeter"}));
  EXPECT_EQ(m.kafka_egresses[0].id, "example/greets");
  EXPECT_EQ(m.kafka_egresses[0].delivery_semantic, "exactly-once");
  EXPECT_EQ(m.kafka_egresses[0].transaction_timeout, Millis(100000));
}

TEST(ModuleLoader, AllStartupPositions) {
  ModuleSpec m = MustLoad("startup_positions.yaml");
  ASSERT_EQ(m.kafka_ingresses.size(), 6u);
  const auto& in = m.kafka_ingresses;
  EXPECT_EQ(in[0].startup_position.type, "latest");  // default
  EXPECT_EQ(in[1].startup_position.type, "group-offsets");
  EXPECT_EQ(in[1].auto_offset_reset_position, "earliest");  // case-insensitive, normalised
  EXPECT_EQ(in[2].startup_position.type, "earliest");
  EXPECT_EQ(in[3].startup_position.type, "latest");

  EXPECT_EQ(in[4].startup_position.type, "specific-offsets");
  using Key = std::pair<std::string, int32_t>;
  EXPECT_THAT(in[4].startup_position.specific_offsets,
              ElementsAre(Pair(Key{"other", 12}, 900000000000),
                          Pair(Key{"user-logins", 0}, 15), Pair(Key{"user-logins", 1}, 0)));

  EXPECT_EQ(in[5].startup_position.type, "date");
  EXPECT_EQ(in[5].startup_position.date_epoch_ms, 1580555700000);  // 2020-02-01T11:15:00Z
}

TEST(ModuleLoader, PropertiesAreStringsAndNamedFieldsComeFromThem) {
  ModuleSpec m = MustLoad("startup_positions.yaml");
  const KafkaIngressSpec& in = m.kafka_ingresses[5];
  EXPECT_EQ(in.address, "from-props:9092");
  EXPECT_EQ(in.consumer_group_id, "props-group");
  EXPECT_EQ(in.auto_offset_reset_position, "earliest");
  EXPECT_THAT(in.properties, ElementsAre(Pair("bootstrap.servers", "from-props:9092"),
                                         Pair("group.id", "props-group"),
                                         Pair("auto.offset.reset", "earliest"),
                                         Pair("enable.auto.commit", "false"),
                                         Pair("max.poll.records", "100")));
  ASSERT_EQ(in.topics.size(), 2u);
  EXPECT_EQ(in.topics[0].value_type, "type.googleapis.com/com.example.Login");
  EXPECT_THAT(in.topics[0].targets, ElementsAre(FunctionType{"f", "a"}, FunctionType{"f", "b"}));
}

TEST(ModuleLoader, NamedFieldsOverrideProperties) {
  Result<ModuleSpec> m = LoadModuleString(R"(
kind: io.statefun.kafka.v1/ingress
spec:
  id: a/in
  address: named:9092
  consumerGroupId: named-group
  autoOffsetResetPosition: earliest
  topics: [{topic: t, valueType: a/b, targets: [a/f]}]
  properties:
    - group.id: prop-group
    - auto.offset.reset: latest
    - bootstrap.servers: prop:9092
---
kind: io.statefun.kafka.v1/egress
spec:
  id: a/out
  deliverySemantic: {type: exactly-once, transactionTimeout: 1 min, transactionTimeoutMillis: 5000}
  properties:
    - bootstrap.servers: prop:9092
    - transaction.timeout.ms: 1
    - acks: all
)",
                                          "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const KafkaIngressSpec& in = m->kafka_ingresses[0];
  EXPECT_EQ(in.address, "named:9092");
  EXPECT_EQ(in.consumer_group_id, "named-group");
  EXPECT_THAT(in.properties, ElementsAre(Pair("group.id", "named-group"),
                                         Pair("auto.offset.reset", "earliest"),
                                         Pair("bootstrap.servers", "named:9092")));
  const KafkaEgressSpec& out = m->kafka_egresses[0];
  EXPECT_EQ(out.address, "prop:9092");
  // The legacy millisecond field wins over `transactionTimeout`, as in StateFun.
  EXPECT_EQ(out.transaction_timeout, Millis(5000));
  EXPECT_THAT(out.properties, ElementsAre(Pair("bootstrap.servers", "prop:9092"),
                                          Pair("transaction.timeout.ms", "5000"),
                                          Pair("acks", "all")));
}

TEST(ModuleLoader, EgressDefaultsAndOtherSemantics) {
  Result<ModuleSpec> m = LoadModuleString(R"(
kind: io.statefun.kafka.v1/egress
spec: {id: a/one, address: k:1}
---
kind: io.statefun.kafka.v1/egress
spec: {id: a/two, address: k:1, deliverySemantic: {type: none}}
---
kind: io.statefun.kafka.v1/egress
spec: {id: a/three, address: k:1, deliverySemantic: {type: at-least-once, transactionTimeout: 5s}}
)",
                                          "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->kafka_egresses[0].delivery_semantic, "at-least-once");
  EXPECT_EQ(m->kafka_egresses[0].transaction_timeout, Millis(0));
  EXPECT_EQ(m->kafka_egresses[1].delivery_semantic, "none");
  EXPECT_EQ(m->kafka_egresses[2].transaction_timeout, Millis(0));  // ignored without exactly-once
  EXPECT_THAT(m->kafka_egresses[2].properties, ElementsAre(Pair("bootstrap.servers", "k:1")));
}

TEST(ModuleLoader, EmptyFileAndCommentOnlyFileGiveAnEmptyModule) {
  for (const char* text : {"", "# nothing\n", "---\n---\n"}) {
    Result<ModuleSpec> m = LoadModuleString(text, "empty.yaml");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_TRUE(m->endpoints.empty());
  }
}

TEST(ModuleLoader, UnknownSpecPropertiesAreIgnored) {
  Result<ModuleSpec> m = LoadModuleString(R"(
kind: io.statefun.endpoints.v2/http
spec:
  functions: a/b
  urlPathTemplate: http://h/x
  somethingNew: {nested: [1, 2]}
  transport: {futureKnob: 3}
)",
                                          "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
}

TEST(StartupDate, ParsesOffsetsAndLeapDays) {
  using config_internal::ParseStartupDate;
  EXPECT_EQ(*ParseStartupDate("2020-02-01 04:15:00.000 -0700"), 1580555700000);
  EXPECT_EQ(*ParseStartupDate("2024-02-29 23:59:59.999 +0530"), 1709231399999);
  EXPECT_EQ(*ParseStartupDate("1970-01-01 00:00:00.000 +0000"), 0);
  EXPECT_EQ(*ParseStartupDate("1969-12-31 23:00:00.000 +0000"), -3600000);
  for (const char* bad : {"2020-02-30 00:00:00.000 +0000", "2023-02-29 00:00:00.000 +0000",
                          "2020-13-01 00:00:00.000 +0000", "2020-02-01 24:00:00.000 +0000",
                          "2020-02-01 04:15:00 -0700", "2020-02-01T04:15:00.000 -0700",
                          "2020-02-01 04:15:00.000 -07:00", "2020-02-01 04:15:00.000 +1900", ""}) {
    EXPECT_FALSE(ParseStartupDate(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace eddy
