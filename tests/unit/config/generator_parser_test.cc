// io.eddy.generator.v1/ingress: a good file (every field, then defaults) and malformed fields.
// Every error must name the file, document, line and field.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "eddy/config/module_spec.h"
#include "unit/config/test_util.h"

namespace eddy {
namespace {

using ::eddy::testing::ExpectError;
using ::eddy::testing::Testdata;
using ::testing::ElementsAre;
using ::testing::EndsWith;

Result<ModuleSpec> Load(const std::string& yaml) { return LoadModuleString(yaml, "module.yaml"); }

// A generator document whose spec lines are `fields` (each indented by two spaces).
std::string Generator(const std::string& fields) {
  return "kind: io.eddy.generator.v1/ingress\nspec:\n" + fields;
}

constexpr const char* kIdAndTargets = "  id: bench/gen\n  targets: [bench/counter]\n";

TEST(GeneratorParser, EveryFieldAndTheDefaults) {
  Result<ModuleSpec> m = LoadModuleFile(Testdata("generator.yaml"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->generator_ingresses.size(), 2u);
  EXPECT_EQ(m->kafka_ingresses.size(), 1u);
  EXPECT_EQ(m->endpoints.size(), 1u);

  const GeneratorIngressSpec& full = m->generator_ingresses[0];
  EXPECT_EQ(full.id, "bench/gen");
  EXPECT_THAT(full.targets,
              ElementsAre(FunctionType{"bench", "counter"}, FunctionType{"bench", "echo"}));
  EXPECT_EQ(full.keys, 10);
  EXPECT_EQ(full.rate, 5000);
  EXPECT_EQ(full.count, 200);
  EXPECT_EQ(full.value_type, "bench.types/seq");
  EXPECT_EQ(full.key_order, "random");
  EXPECT_EQ(full.seed, 42u);
  EXPECT_THAT(full.location.file, EndsWith("generator.yaml"));
  EXPECT_EQ(full.location.document, 2);
  EXPECT_EQ(full.location.line, 8);  // the line of `kind:`

  const GeneratorIngressSpec& defaults = m->generator_ingresses[1];
  EXPECT_EQ(defaults.id, "bench/defaults");
  EXPECT_THAT(defaults.targets, ElementsAre(FunctionType{"bench", "counter"}));
  EXPECT_EQ(defaults.keys, 1000);
  EXPECT_EQ(defaults.rate, 0);
  EXPECT_EQ(defaults.count, 0);
  EXPECT_EQ(defaults.value_type, "io.statefun.types/long");
  EXPECT_EQ(defaults.key_order, "round-robin");
  EXPECT_EQ(defaults.seed, 1u);
  EXPECT_EQ(defaults.location.document, 3);
}

TEST(GeneratorParser, BoundaryValuesAndUnknownFields) {
  Result<ModuleSpec> m =
      Load(Generator(std::string(kIdAndTargets) +
                     "  keys: 1\n  rate: 1000000000\n  count: 9223372036854775807\n"
                     "  seed: 0\n  keyOrder: round-robin\n  futureField: {x: 1}\n"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const GeneratorIngressSpec& g = m->generator_ingresses.at(0);
  EXPECT_EQ(g.keys, 1);
  EXPECT_EQ(g.rate, 1000000000);
  EXPECT_EQ(g.count, 9223372036854775807);
  EXPECT_EQ(g.seed, 0u);
  // "key:" with nothing after it counts as absent, so the default applies.
  m = Load(Generator(std::string(kIdAndTargets) + "  keys:\n  valueType:\n"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->generator_ingresses.at(0).keys, 1000);
  EXPECT_EQ(m->generator_ingresses.at(0).value_type, "io.statefun.types/long");
}

TEST(GeneratorParser, MissingOrMalformedIdAndTargets) {
  ExpectError(Load(Generator("  targets: [a/b]\n")),
              {"module.yaml: document 1 (line 2): spec.id: missing required field"});
  ExpectError(Load(Generator("  id: nonamespace\n  targets: [a/b]\n")),
              {"document 1 (line 3): spec.id: expected an ingress id 'namespace/name', got "
               "'nonamespace'"});
  ExpectError(Load(Generator("  id: a/*\n  targets: [a/b]\n")),
              {"(line 3): spec.id: expected an ingress id"});
  ExpectError(Load(Generator("  id: a/gen\n")),
              {"document 1 (line 2): spec.targets: missing required field"});
  ExpectError(Load(Generator("  id: a/gen\n  targets: []\n")),
              {"(line 4): spec.targets: at least one target function is required"});
  ExpectError(Load(Generator("  id: a/gen\n  targets: a/b\n")),
              {"(line 4): spec.targets: expected a list, got 'a/b'"});
  ExpectError(Load(Generator("  id: a/gen\n  targets:\n    - a/b\n    - foo\n")),
              {"(line 6): spec.targets[1]: expected a function type 'namespace/name', got 'foo'"});
  ExpectError(Load(Generator("  id: a/gen\n  targets:\n    - {x: y}\n")),
              {"(line 5): spec.targets[0]: expected a function type"});
  ExpectError(Load("kind: io.eddy.generator.v1/ingress\nspec: [1, 2]\n"),
              {"document 1 (line 2): spec: expected a map, got a list"});
  ExpectError(Load("kind: io.eddy.generator.v1/ingress\n"),
              {"document 1 (line 1): spec: missing required field"});
}

TEST(GeneratorParser, MalformedNumbers) {
  struct Case {
    std::string field;
    std::string expected;
  };
  const Case cases[] = {
      {"  keys: 0\n", "spec.keys: must be between 1 and 9223372036854775807, got 0"},
      {"  keys: -3\n", "spec.keys: must be between 1"},
      {"  keys: many\n", "spec.keys: expected an integer, got 'many'"},
      {"  keys: 1.5\n", "spec.keys: expected an integer, got '1.5'"},
      {"  keys: [1]\n", "spec.keys: expected an integer, got a list"},
      {"  keys: 99999999999999999999\n", "spec.keys: expected an integer"},
      {"  rate: -1\n", "spec.rate: must be between 0 and 1000000000, got -1"},
      {"  rate: 1000000001\n", "spec.rate: must be between 0 and 1000000000"},
      {"  rate: fast\n", "spec.rate: expected an integer, got 'fast'"},
      {"  count: -1\n", "spec.count: must be between 0 and"},
      {"  count: {n: 1}\n", "spec.count: expected an integer, got a map"},
      {"  seed: -1\n", "spec.seed: must be between 0 and"},
      {"  seed: abc\n", "spec.seed: expected an integer, got 'abc'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    // The bad field is the spec's third line: line 5 of the document.
    ExpectError(Load(Generator(std::string(kIdAndTargets) + c.field)),
                {"module.yaml: document 1 (line 5): " + c.expected});
  }
}

TEST(GeneratorParser, MalformedValueTypeAndKeyOrder) {
  const std::string head = std::string(kIdAndTargets);
  ExpectError(Load(Generator(head + "  valueType: long\n")),
              {"(line 5): spec.valueType: expected a typename 'namespace/name', got 'long'"});
  ExpectError(Load(Generator(head + "  valueType: a/\n")),
              {"(line 5): spec.valueType: expected a typename"});
  ExpectError(Load(Generator(head + "  valueType: ''\n")),
              {"(line 5): spec.valueType: must not be empty"});
  ExpectError(Load(Generator(head + "  valueType: {a: b}\n")),
              {"(line 5): spec.valueType: expected a string, got a map"});
  ExpectError(Load(Generator(head + "  keyOrder: sequential\n")),
              {"(line 5): spec.keyOrder: expected one of [round-robin, random], got "
               "'sequential'"});
  ExpectError(Load(Generator(head + "  keyOrder: Random\n")),
              {"(line 5): spec.keyOrder: expected one of [round-robin, random]"});
  ExpectError(Load(Generator(head + "  keys: 1\n  keys: 2\n")),
              {"(line 6): spec.keys: duplicate key (first defined at line 5)"});
}

TEST(GeneratorParser, IngressIdsAreUniqueAcrossKafkaAndGeneratorIngresses) {
  const std::string gen = Generator(kIdAndTargets);
  ExpectError(Load(gen + "---\n" + gen),
              {"module.yaml: document 2 (line 8): spec.id: ingress id 'bench/gen' is already "
               "used by the ingress in document 1 (line 1)"});
  const std::string kafka =
      "kind: io.statefun.kafka.v1/ingress\nspec:\n  id: bench/gen\n  address: k:9092\n"
      "  consumerGroupId: g\n  topics:\n    - topic: t\n      valueType: a/b\n"
      "      targets: [a/c]\n";
  ExpectError(Load(kafka + "---\n" + gen),
              {"document 2 (line 13): spec.id: ingress id 'bench/gen' is already used by the "
               "ingress in document 1 (line 1)"});
  ExpectError(Load(gen + "---\n" + kafka),
              {"document 2 (line 8): spec.id: ingress id 'bench/gen' is already used"});
  // An egress may share the id: ingresses and egresses are separate namespaces.
  EXPECT_TRUE(
      Load(gen + "---\nkind: io.statefun.kafka.v1/egress\nspec: {id: bench/gen, address: k}\n")
          .ok());
}

TEST(GeneratorParser, LegacyFormatAcceptsTheKindToo) {
  Result<ModuleSpec> m = Load(
      "version: \"3.0\"\nmodule:\n  meta:\n    type: remote\n  spec:\n    ingresses:\n"
      "      - ingress:\n          meta: {type: io.eddy.generator.v1/ingress, id: a/gen}\n"
      "          spec: {targets: [a/b], count: 5}\n");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->generator_ingresses.size(), 1u);
  EXPECT_EQ(m->generator_ingresses[0].id, "a/gen");
  EXPECT_EQ(m->generator_ingresses[0].count, 5);
}

TEST(GeneratorParser, UnsupportedKindListsTheGenerator) {
  ExpectError(Load("kind: io.eddy.generator.v2/ingress\nspec: {}\n"),
              {"unsupported kind 'io.eddy.generator.v2/ingress'", "io.eddy.generator.v1/ingress"});
}

}  // namespace
}  // namespace eddy
