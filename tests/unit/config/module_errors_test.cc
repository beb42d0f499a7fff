// Malformed module.yaml files: every failure must name the file, document, line and field, and
// nothing may crash or throw out of the loader.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "eddy/config/module_spec.h"
#include "unit/config/test_util.h"

namespace eddy {
namespace {

using ::eddy::testing::ExpectError;
using ::eddy::testing::Testdata;
using ::testing::HasSubstr;

Result<ModuleSpec> Load(const std::string& yaml) { return LoadModuleString(yaml, "module.yaml"); }

// The common prefix of the small documents below: an endpoint spec with one field replaced.
constexpr const char* kEndpointHead = "kind: io.statefun.endpoints.v2/http\nspec:\n";

struct Case {
  const char* yaml;
  std::vector<std::string> parts;  // all must appear in the message
};

void ExpectAll(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    Result<ModuleSpec> m = Load(c.yaml);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(m.status().message(), HasSubstr("module.yaml: document "));
    for (const std::string& part : c.parts) {
      EXPECT_THAT(m.status().message(), HasSubstr(part));
    }
  }
}

TEST(ModuleErrors, ExampleMessageForABadTarget) {
  Result<ModuleSpec> m = LoadModuleFile(Testdata("bad_target.yaml"));
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(),
              ::testing::EndsWith("bad_target.yaml: document 2 (line 14): "
                                  "spec.topics[0].targets[1]: expected a function type "
                                  "'namespace/name', got 'foo'"));
}

TEST(ModuleErrors, SyntaxErrorReportsDocumentLineAndColumn) {
  Result<ModuleSpec> m = LoadModuleFile(Testdata("bad_syntax.yaml"));
  ExpectError(m, {"bad_syntax.yaml", "document 2", "line 8", "column", "invalid YAML"});
}

TEST(ModuleErrors, SyntaxErrorInFirstDocument) {
  ExpectError(Load("kind: [a\nspec: 1\n"), {"module.yaml", "document 1", "line 2, column 5"});
  ExpectError(Load("kind: a\n  bad indent: : x\n"), {"module.yaml", "document 1", "line 2"});
}

TEST(ModuleErrors, UnsupportedKindNamesDocumentAndLine) {
  Result<ModuleSpec> m = LoadModuleFile(Testdata("unsupported_kind.yaml"));
  ExpectError(m, {"unsupported_kind.yaml: document 3 (line 8): kind: unsupported kind "
                  "'io.statefun.kinesis.v1/ingress'",
                  "Kinesis"});
  ExpectError(Load("kind: com.example/custom\nspec: {}\n"),
              {"document 1 (line 1): kind: unsupported kind 'com.example/custom'"});
}

TEST(ModuleErrors, MissingKindOrSpec) {
  ExpectAll({
      {"spec: {functions: a/b}\n", {"document 1 (line 1): kind: missing required field"}},
      {"kind: io.statefun.endpoints.v2/http\n", {"(line 1): spec: missing required field"}},
      {"kind: io.statefun.kafka.v1/ingress\nspec:\n", {"(line 2): spec: missing required field"}},
      {"kind: ''\nspec: {}\n", {"(line 1): kind: must not be empty"}},
      {"kind: {a: b}\nspec: {}\n", {"(line 1): kind: expected a string, got a map"}},
      {"- kind: a\n", {"document 1 (line 1): expected a map, got a list"}},
      {"just a string\n", {"document 1 (line 1): expected a map, got 'just a string'"}},
      {"kind: io.statefun.kafka.v1/egress\nspec: [1, 2]\n",
       {"(line 2): spec: expected a map, got a list"}},
  });
}

TEST(ModuleErrors, MissingEndpointFields) {
  ExpectAll({
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  urlPathTemplate: http://h/\n",
       {"(line 2): spec.functions: missing required field"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n",
       {"(line 2): spec.urlPathTemplate: missing required field"}},
      {"kind: io.statefun.endpoints.v1/http\nspec:\n  functions: a/b\n  urlPathTemplate:\n",
       {"(line 4): spec.urlPathTemplate: missing required field"}},
  });
}

TEST(ModuleErrors, BadFunctionPatterns) {
  for (const char* pattern : {"a*/b", "a/b*", "'*'", "a", "a/b/c", "'*/x'", "/b", "a/", "a/*x"}) {
    std::string yaml = std::string(kEndpointHead) + "  urlPathTemplate: http://h/\n" +
                       "  functions: " + pattern + "\n";
    SCOPED_TRACE(yaml);
    ExpectError(Load(yaml), {"module.yaml: document 1 (line 4): spec.functions: expected a "
                             "function type 'namespace/name' or a namespace wildcard"});
  }
}

TEST(ModuleErrors, BadUrls) {
  for (const char* url : {"ftp://h/x", "'http://'", "h/{function.name}", "'http://a b/'",
                          "'https+unix://relative.sock'", "'https:///path'"}) {
    std::string yaml =
        std::string(kEndpointHead) + "  functions: a/b\n" + "  urlPathTemplate: " + url + "\n";
    SCOPED_TRACE(yaml);
    ExpectError(Load(yaml), {"document 1 (line 4): spec.urlPathTemplate: expected an http://, "
                             "https://, http+unix:// or https+unix:// URL"});
  }
}

TEST(ModuleErrors, WrongTypesNeverThrow) {
  ExpectAll({
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: {a: b}\n  urlPathTemplate: x\n",
       {"(line 3): spec.functions: expected a string, got a map"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  maxNumBatchRequests: many\n",
       {"(line 5): spec.maxNumBatchRequests: expected an integer, got 'many'"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  maxNumBatchRequests: [1]\n",
       {"(line 5): spec.maxNumBatchRequests: expected an integer, got a list"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  maxNumBatchRequests: 99999999999\n",
       {"(line 5): spec.maxNumBatchRequests: must be between"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  transport: async\n",
       {"(line 5): spec.transport: expected a map, got 'async'"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  transport:\n    pool_size: big\n",
       {"(line 6): spec.transport.pool_size: expected an integer, got 'big'"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  transport:\n    client_cert: [a]\n",
       {"(line 6): spec.transport.client_cert: expected a string, got a list"}},
      {"kind: io.statefun.kafka.v1/ingress\nspec:\n  id: a/b\n  address: k\n"
       "  consumerGroupId: g\n  topics: {topic: t}\n",
       {"(line 6): spec.topics: expected a list, got a map"}},
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: a/b\n  address: k\n"
       "  properties: {acks: all}\n",
       {"(line 5): spec.properties: expected a list of single-key maps"}},
  });
}

TEST(ModuleErrors, BadDurations) {
  ExpectAll({
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  transport:\n    call: 10 parsecs\n",
       {"(line 6): spec.transport.call: invalid duration '10 parsecs'"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  transport:\n    timeouts:\n      connect: -1s\n",
       {"(line 7): spec.transport.timeouts.connect: invalid duration '-1s'", "negative"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  transport:\n    pool_ttl: {a: 1}\n",
       {"(line 6): spec.transport.pool_ttl: expected a duration"}},
      {"kind: io.statefun.endpoints.v1/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  timeouts:\n    call: 0\n",
       {"(line 6): spec.timeouts.call: timeout must be larger than 0"}},
      {"kind: io.statefun.endpoints.v1/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  timeouts:\n    call: 5s\n    connect: 1s\n    read: 6s\n",
       {"(line 8): spec.timeouts.read: read timeout (6000ms) cannot be larger than the call "
        "timeout (5000ms)"}},
      {"kind: io.statefun.endpoints.v1/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  timeouts:\n    call: 5s\n",
       {"(line 5): spec.timeouts.connect: connect timeout (10000ms, the default) cannot be larger "
        "than the call timeout (5000ms)"}},
      {"kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
       "  urlPathTemplate: http://h/\n  transport:\n"
       "    type: io.statefun.transports.v1/okhttp\n    timeouts: {connect: 2m}\n",
       {"(line 7): spec.transport.timeouts.connect: connect timeout (120000ms) cannot be larger"}},
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: a/b\n  address: k\n"
       "  deliverySemantic:\n    type: exactly-once\n    transactionTimeout: soon\n",
       {"(line 7): spec.deliverySemantic.transactionTimeout: invalid duration 'soon'"}},
  });
}

TEST(ModuleErrors, LongValuesAreCutInMessages) {
  Result<ModuleSpec> m = Load("kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
                              "  urlPathTemplate: http://h/\n  maxNumBatchRequests: " +
                              std::string(100000, '7') + "x\n");
  ExpectError(m, {"(line 5): spec.maxNumBatchRequests: expected an integer, got '7777", "...'"});
  EXPECT_LT(m.status().message().size(), 300u);
}

TEST(ModuleErrors, UnsupportedTransportType) {
  ExpectError(Load("kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
                   "  urlPathTemplate: http://h/\n  transport:\n    type: com.example/grpc\n"),
              {"module.yaml: document 1 (line 6): spec.transport.type: expected one of "
               "[io.statefun.transports.v1/async, io.statefun.transports.v1/okhttp], got "
               "'com.example/grpc'"});
}

// An ingress spec with one line swapped in (`extra` is appended after the fixed fields).
std::string Ingress(const std::string& id_line, const std::string& topics,
                    const std::string& extra = "") {
  return "kind: io.statefun.kafka.v1/ingress\nspec:\n" + id_line +
         "  address: k:9092\n  consumerGroupId: g\n" + topics + extra;
}
const std::string kTopics = "  topics: [{topic: t, valueType: a/v, targets: [a/f]}]\n";

TEST(ModuleErrors, KafkaIngressIdAndTopics) {
  auto expect = [](const std::string& yaml, std::vector<std::string> parts) {
    SCOPED_TRACE(yaml);
    Result<ModuleSpec> m = Load(yaml);
    ASSERT_FALSE(m.ok());
    for (const auto& p : parts) EXPECT_THAT(m.status().message(), HasSubstr(p));
  };
  expect(Ingress("", kTopics), {"document 1 (line 2): spec.id: missing required field"});
  expect(Ingress("  id: names\n", kTopics),
         {"(line 3): spec.id: expected an ingress id 'namespace/name', got 'names'"});
  expect(Ingress("  id: a/*\n", kTopics), {"(line 3): spec.id: expected an ingress id"});
  expect(Ingress("  id: a/b\n", ""), {"(line 2): spec.topics: missing required field"});
  expect(Ingress("  id: a/b\n", "  topics: []\n"),
         {"(line 6): spec.topics: at least one topic is required"});
  expect(Ingress("  id: a/b\n", "  topics:\n    - topic: t\n      targets: [a/f]\n"),
         {"(line 7): spec.topics[0].valueType: missing required field"});
  expect(Ingress("  id: a/b\n",
                 "  topics:\n    - topic: t\n      valueType: nope\n"
                 "      targets: [a/f]\n"),
         {"(line 8): spec.topics[0].valueType: expected a typename 'namespace/name', got 'nope'"});
  expect(Ingress("  id: a/b\n", "  topics:\n    - {topic: t, valueType: a/v}\n"),
         {"(line 7): spec.topics[0].targets: missing required field"});
  expect(Ingress("  id: a/b\n", "  topics:\n    - {topic: t, valueType: a/v, targets: []}\n"),
         {"(line 7): spec.topics[0].targets: at least one target function is required"});
  expect(Ingress("  id: a/b\n",
                 "  topics:\n    - topic: t\n      valueType: a/v\n"
                 "      targets:\n        - a/f\n        - a/*\n"),
         {"(line 11): spec.topics[0].targets[1]: expected a function type 'namespace/name', "
          "got 'a/*'"});
  expect(Ingress("  id: a/b\n",
                 "  topics:\n    - {topic: t, valueType: a/v, targets: [a/f]}\n"
                 "    - {topic: t, valueType: a/w, targets: [a/g]}\n"),
         {"(line 8): spec.topics[1].topic: topic 't' is listed twice"});
  expect(Ingress("  id: a/b\n", "  topics:\n    - just-a-topic\n"),
         {"(line 7): spec.topics[0]: expected a map, got 'just-a-topic'"});
}

TEST(ModuleErrors, KafkaIngressPositionValues) {
  auto expect = [](const std::string& extra, const std::string& part) {
    SCOPED_TRACE(extra);
    Result<ModuleSpec> m = Load(Ingress("  id: a/b\n", kTopics, extra));
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(m.status().message(), HasSubstr("module.yaml: document 1 (line "));
    EXPECT_THAT(m.status().message(), HasSubstr(part));
  };
  expect(
      "  autoOffsetResetPosition: middle\n",
      "(line 7): spec.autoOffsetResetPosition: expected one of [earliest, latest], got 'middle'");
  expect("  startupPosition: {type: sometimes}\n",
         "(line 7): spec.startupPosition.type: expected one of [group-offsets, earliest, latest, "
         "specific-offsets, date], got 'sometimes'");
  expect("  startupPosition: earliest\n",
         "(line 7): spec.startupPosition: expected a map, got 'earliest'");
  expect("  startupPosition: {offsets: []}\n",
         "(line 7): spec.startupPosition.type: missing required field");
  expect("  startupPosition:\n    type: specific-offsets\n",
         "(line 7): spec.startupPosition.offsets: missing required field");
  expect("  startupPosition:\n    type: specific-offsets\n    offsets:\n      - topic-only: 5\n",
         "(line 10): spec.startupPosition.offsets[0].topic-only: expected a key 'topic/partition'");
  expect("  startupPosition:\n    type: specific-offsets\n    offsets:\n      - t/x: 5\n",
         "(line 10): spec.startupPosition.offsets[0].t/x: expected a key 'topic/partition'");
  expect("  startupPosition:\n    type: specific-offsets\n    offsets:\n      - t/0: -5\n",
         "(line 10): spec.startupPosition.offsets[0].t/0: must be between 0 and");
  expect(
      "  startupPosition:\n    type: specific-offsets\n    offsets:\n      - t/0: 1\n"
      "      - t/0: 2\n",
      "(line 11): spec.startupPosition.offsets[1].t/0: offset for 't/0' given twice");
  expect("  startupPosition:\n    type: date\n    date: yesterday\n",
         "(line 9): spec.startupPosition.date: invalid startup date 'yesterday'");
  expect("  startupPosition:\n    type: date\n    date: 2020-02-01 04:15:00 -0700\n",
         "expected the pattern yyyy-MM-dd HH:mm:ss.SSS Z");
  expect("  startupPosition:\n    type: date\n",
         "(line 7): spec.startupPosition.date: missing required field");
}

TEST(ModuleErrors, KafkaIngressMandatoryAddressAndGroup) {
  ExpectAll({
      {"kind: io.statefun.kafka.v1/ingress\nspec:\n  id: a/b\n  consumerGroupId: g\n"
       "  topics: [{topic: t, valueType: a/v, targets: [a/f]}]\n",
       {"(line 2): spec.address: missing required field (set 'address' or 'bootstrap.servers' "
        "in properties)"}},
      {"kind: io.statefun.kafka.v1/ingress\nspec:\n  id: a/b\n  address: k\n"
       "  topics: [{topic: t, valueType: a/v, targets: [a/f]}]\n",
       {"spec.consumerGroupId: missing required field (set 'consumerGroupId' or 'group.id'"}},
      {"kind: io.statefun.kafka.v1/ingress\nspec:\n  id: a/b\n  address: ''\n  consumerGroupId: g\n"
       "  topics: [{topic: t, valueType: a/v, targets: [a/f]}]\n",
       {"(line 4): spec.address: must not be empty"}},
  });
}

TEST(ModuleErrors, MalformedProperties) {
  ExpectAll({
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: a/b\n  address: k\n  properties:\n"
       "    - acks: all\n      retries: 3\n",
       {"(line 6): spec.properties[0]: expected a single-key map ('- key: value'), got a map"}},
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: a/b\n  address: k\n  properties:\n"
       "    - acks\n",
       {"(line 6): spec.properties[0]: expected a single-key map"}},
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: a/b\n  address: k\n  properties:\n"
       "    - acks: [1, 2]\n",
       {"(line 6): spec.properties[0].acks: expected a scalar property value, got a list"}},
  });
}

TEST(ModuleErrors, KafkaEgressFields) {
  ExpectAll({
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  address: k\n",
       {"(line 2): spec.id: missing required field"}},
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: out\n  address: k\n",
       {"(line 3): spec.id: expected an egress id 'namespace/name', got 'out'"}},
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: a/out\n",
       {"(line 2): spec.address: missing required field (set 'address' or 'bootstrap.servers'"}},
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: a/out\n  address: k\n"
       "  deliverySemantic: {type: twice}\n",
       {"(line 5): spec.deliverySemantic.type: expected one of [at-least-once, exactly-once, "
        "none], got 'twice'"}},
      {"kind: io.statefun.kafka.v1/egress\nspec:\n  id: a/out\n  address: k\n"
       "  deliverySemantic:\n    type: exactly-once\n    transactionTimeoutMillis: 0\n",
       {"(line 7): spec.deliverySemantic.transactionTimeoutMillis: must be between 1 and"}},
  });
}

TEST(ModuleErrors, ExactlyOnceWithoutTimeout) {
  ExpectError(LoadModuleFile(Testdata("exactly_once_no_timeout.yaml")),
              {"exactly_once_no_timeout.yaml: document 1 (line 5): spec.deliverySemantic: "
               "exactly-once delivery requires 'transactionTimeout'"});
}

TEST(ModuleErrors, DuplicateBindingNamesBothDocuments) {
  ExpectError(LoadModuleFile(Testdata("duplicate_binding.yaml")),
              {"duplicate_binding.yaml: document 3 (line 14): spec.functions: function type "
               "'shop/cart' is already bound by the endpoint in document 1 (line 1)"});
  ExpectError(Load("kind: io.statefun.endpoints.v2/http\nspec: {functions: a/*, "
                   "urlPathTemplate: 'http://h/'}\n---\nkind: io.statefun.endpoints.v2/http\n"
                   "spec: {functions: a/*, urlPathTemplate: 'http://i/'}\n"),
              {"document 2 (line 5): spec.functions: namespace wildcard 'a/*' is already bound "
               "by the endpoint in document 1 (line 1)"});
}

TEST(ModuleErrors, DuplicateIngressAndEgressIds) {
  const std::string ingress = Ingress("  id: a/in\n", kTopics);
  ExpectError(Load(ingress + "---\n" + ingress),
              {"document 2 (line 10): spec.id: ingress id 'a/in' is already used by the ingress "
               "in document 1 (line 1)"});
  const std::string egress = "kind: io.statefun.kafka.v1/egress\nspec: {id: a/out, address: k}\n";
  ExpectError(Load(egress + "---\n" + egress),
              {"document 2 (line 5): spec.id: egress id 'a/out' is already used by the egress in "
               "document 1 (line 1)"});
  // An ingress and an egress may share an id: they live in different namespaces.
  EXPECT_TRUE(Load(ingress + "---\nkind: io.statefun.kafka.v1/egress\n"
                             "spec: {id: a/in, address: k}\n")
                  .ok());
}

TEST(ModuleErrors, DuplicateKeysAreRejected) {
  ExpectError(Load("kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/b\n"
                   "  urlPathTemplate: http://h/\n  functions: a/c\n"),
              {"document 1 (line 5): spec.functions: duplicate key (first defined at line 3)"});
}

TEST(ModuleErrors, LegacyFormatVersions) {
  ExpectError(LoadModuleFile(Testdata("legacy_v2.yaml")),
              {"legacy_v2.yaml: document 1 (line 1): version: module format version '2.0' is no "
               "longer supported"});
  ExpectError(Load("version: '1.0'\nmodule: {}\n"), {"version '1.0' is no longer supported"});
  ExpectError(Load("version: '4.0'\nmodule: {}\n"),
              {"(line 1): version: unknown module format version '4.0'"});
  ExpectError(Load("version: '3.0'\nmodule:\n  meta: {type: embedded}\n  spec: {}\n"),
              {"(line 3): module.meta.type: unsupported module type 'embedded'"});
  ExpectError(Load("version: '3.0'\n---\nkind: io.statefun.kafka.v1/egress\n"
                   "spec: {id: a/b, address: k}\n"),
              {"document 1 (line 1): version: the legacy 'version' format must be the only "
               "document"});
}

TEST(ModuleErrors, LegacyComponentErrorsUseTheFullPath) {
  ExpectError(Load("version: \"3.0\"\nmodule:\n  meta: {type: remote}\n  spec:\n"
                   "    endpoints:\n      - endpoint:\n          meta: {kind: http}\n"
                   "          spec:\n            functions: bad\n"
                   "            urlPathTemplate: http://h/\n"),
              {"document 1 (line 9): module.spec.endpoints[0].endpoint.spec.functions: expected"});
  ExpectError(
      Load("version: \"3.0\"\nmodule:\n  meta: {type: remote}\n  spec:\n"
           "    ingresses:\n      - ingress:\n          meta: {type: io.statefun.kafka/ingress}\n"
           "          spec: {address: k, consumerGroupId: g}\n"),
      {"(line 7): module.spec.ingresses[0].ingress.meta.id: missing required field"});
  ExpectError(Load("version: \"3.0\"\nmodule:\n  meta: {type: remote}\n  spec:\n"
                   "    egresses:\n      - egress:\n"
                   "          meta: {type: io.statefun.kinesis/egress, id: a/b}\n"
                   "          spec: {}\n"),
              {"(line 7): module.spec.egresses[0].egress.meta.type: unsupported kind "
               "'io.statefun.kinesis.v1/egress'"});
}

TEST(ModuleErrors, MissingFileIsNotFound) {
  Result<ModuleSpec> m = LoadModuleFile("/nonexistent/dir/module.yaml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(m.status().message(), HasSubstr("/nonexistent/dir/module.yaml"));

  Result<ModuleSpec> dir = LoadModuleFile(EDDY_CONFIG_TESTDATA);
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(dir.status().message(), HasSubstr("not a regular file"));
}

TEST(ModuleErrors, AliasCyclesAndDeepNestingDoNotCrash) {
  ExpectError(Load("kind: io.statefun.endpoints.v2/http\nspec: &s\n  functions: *s\n"),
              {"(line 3): spec.functions: expected a string, got a map"});
  ExpectError(Load("kind: io.statefun.kafka.v1/ingress\nspec:\n  id: a/b\n  topics: &t [*t]\n"),
              {"spec.topics[0]: expected a map, got a list"});
  Result<ModuleSpec> deep = Load(std::string(100000, '['));
  EXPECT_FALSE(deep.ok());
}

// Every truncation and many random single-byte corruptions of a valid file must produce either
// a module or an InvalidArgument error: never a crash, a hang or an exception.
TEST(ModuleErrors, TruncatedAndCorruptedInputNeverCrashes) {
  std::ifstream in(Testdata("greeter.yaml"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string good = buffer.str();
  ASSERT_TRUE(Load(good).ok());
  int failures = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    Result<ModuleSpec> m = Load(good.substr(0, n));
    if (!m.ok()) {
      ++failures;
      EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(failures, 0);
  std::mt19937 rng(42);
  const char kNoise[] = ":-[]{}&*!|>'\"#%@`\n\t ,?x0";
  for (int i = 0; i < 400; ++i) {
    std::string bad = good;
    bad[rng() % bad.size()] = kNoise[rng() % (sizeof(kNoise) - 1)];
    Result<ModuleSpec> m = Load(bad);
    if (!m.ok()) {
      EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace eddy
