#include <gtest/gtest.h>

#include "eddy/sdk/embedded.h"
#include "eddy/sdk/function.h"

namespace eddy::sdk {
namespace {

void Noop(Context&, const Message&) {}

FunctionSpec Spec(std::string ns, std::string name, std::vector<StateSpec> states = {}) {
  return FunctionSpec{{std::move(ns), std::move(name)}, std::move(states), Noop};
}

TEST(FunctionRegistry, RegisterFindTypes) {
  FunctionRegistry registry;
  ASSERT_TRUE(registry.Register(Spec("example", "b")).ok());
  ASSERT_TRUE(registry.Register(Spec("example", "a", {{"seen", "io.statefun.types/long"}})).ok());
  const FunctionSpec* a = registry.Find({"example", "a"});
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->states.size(), 1u);
  EXPECT_EQ(registry.Find({"example", "c"}), nullptr);
  EXPECT_EQ(registry.Find({"example/a", ""}), nullptr);
  std::vector<FunctionType> types = registry.Types();
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[0], (FunctionType{"example", "a"}));
  EXPECT_EQ(types[1], (FunctionType{"example", "b"}));
}

TEST(FunctionRegistry, RejectsDuplicate) {
  FunctionRegistry registry;
  ASSERT_TRUE(registry.Register(Spec("example", "a")).ok());
  Status st = registry.Register(Spec("example", "a"));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("example/a"), std::string::npos) << st.message();
}

TEST(FunctionRegistry, RejectsMalformedType) {
  FunctionRegistry registry;
  EXPECT_EQ(registry.Register(Spec("", "a")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register(Spec("example", "")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register(Spec("ex/ample", "a")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register(Spec("example", "a/b")).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry.Types().empty());
}

TEST(FunctionRegistry, RejectsEmptyHandler) {
  FunctionRegistry registry;
  FunctionSpec spec = Spec("example", "a");
  spec.handler = nullptr;
  Status st = registry.Register(std::move(spec));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("handler"), std::string::npos) << st.message();
}

TEST(FunctionRegistry, RejectsBadStateDeclarations) {
  FunctionRegistry registry;
  Status dup = registry.Register(
      Spec("example", "a", {{"seen", "io.statefun.types/long"}, {"seen", "io.statefun.types/int"}}));
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.message().find("'seen'"), std::string::npos) << dup.message();
  EXPECT_EQ(registry.Register(Spec("example", "a", {{"", "io.statefun.types/long"}})).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register(Spec("example", "a", {{"x", ""}})).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Find({"example", "a"}), nullptr);
}

TEST(FunctionRegistry, MergeMovesAllOrNothing) {
  FunctionRegistry target;
  ASSERT_TRUE(target.Register(Spec("example", "a")).ok());
  FunctionRegistry clash;
  ASSERT_TRUE(clash.Register(Spec("example", "b")).ok());
  ASSERT_TRUE(clash.Register(Spec("example", "a")).ok());
  EXPECT_EQ(target.Merge(std::move(clash)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(target.Find({"example", "b"}), nullptr);  // nothing registered

  FunctionRegistry more;
  ASSERT_TRUE(more.Register(Spec("example", "b")).ok());
  ASSERT_TRUE(more.Register(Spec("other", "c")).ok());
  ASSERT_TRUE(target.Merge(std::move(more)).ok());
  EXPECT_EQ(target.Types().size(), 3u);
  EXPECT_NE(target.Find({"other", "c"}), nullptr);
}

TEST(LinkedFunctions, ProcessWideRegistry) {
  ASSERT_TRUE(RegisterLinkedFunctions(Spec("linked-test", "fn")).ok());
  EXPECT_EQ(RegisterLinkedFunctions(Spec("linked-test", "fn")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_NE(LinkedFunctions().Find({"linked-test", "fn"}), nullptr);
  EXPECT_EQ(&LinkedFunctions(), &LinkedFunctions());
}

}  // namespace
}  // namespace eddy::sdk
