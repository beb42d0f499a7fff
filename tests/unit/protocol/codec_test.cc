#include "eddy/protocol/codec.h"

#include <random>
#include <string>

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

namespace eddy {
namespace {

std::string Hex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

Address Addr(std::string ns, std::string name, std::string id) {
  return Address{FunctionType{std::move(ns), std::move(name)}, std::move(id)};
}

// ---- exact bytes: what StateFun SDKs put on / expect from the wire ----

TEST(CodecBytes, ToFunctionOneIngressInvocationAndAnEmptyState) {
  InvocationBatch batch;
  batch.target = Addr("n", "f", "1");
  batch.states.push_back(StateValue{"s", std::nullopt});
  batch.invocations.push_back(Invocation{std::nullopt, TypedValue{"ex/t", true, "A"}});
  EXPECT_EQ(Hex(EncodeToFunction(batch)),
            "a2061f"                              // field 100 (invocation), 31 bytes
            "0a09" "0a016e" "120166" "1a0131"     // target n/f/1
            "1203" "0a0173"                       // state: only state_name "s", no state_value
            "1a0d" "120b"                         // invocation: no caller, argument:
            "0a0465782f74" "1001" "1a0141");      //   typename ex/t, has_value, value "A"
}

TEST(CodecBytes, ToFunctionStateWithValueAndCaller) {
  InvocationBatch batch;
  batch.target = Addr("n", "f", "1");
  batch.states.push_back(StateValue{"s", TypedValue{"ex/t", true, "B"}});
  batch.invocations.push_back(Invocation{Addr("n", "g", "2"), TypedValue{"ex/t", true, ""}});
  EXPECT_EQ(Hex(EncodeToFunction(batch)),
            "a20634"                              // 11 + 18 + 23 bytes
            "0a09" "0a016e" "120166" "1a0131"
            "1210" "0a0173" "120b" "0a0465782f74" "1001" "1a0142"
            "1a15" "0a09" "0a016e" "120167" "1a0132" "1208" "0a0465782f74" "1001");
}

TEST(CodecBytes, FromFunctionModifyOfIntOne) {
  InvocationResponse r;
  r.state_mutations.push_back(StateMutation{StateMutation::Kind::kModify, "s", types::Int(1)});
  const std::string expected = "a20629" "0a27" "0801" "120173" "1a20" "0a15" +
                               Hex("io.statefun.types/int") + "1001" "1a05" "0d01000000";
  EXPECT_EQ(Hex(EncodeFromFunction(FunctionReply(r))), expected);

  auto decoded = DecodeFromFunction(Unhex(expected));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const auto& resp = std::get<InvocationResponse>(*decoded);
  ASSERT_EQ(resp.state_mutations.size(), 1u);
  EXPECT_EQ(resp.state_mutations[0].kind, StateMutation::Kind::kModify);
  EXPECT_EQ(resp.state_mutations[0].name, "s");
  EXPECT_EQ(Hex(resp.state_mutations[0].value.value), "0d01000000");
  EXPECT_EQ(types::AsInt(resp.state_mutations[0].value), 1);
}

TEST(CodecBytes, DeleteIsTheDefaultEnumValueAndIsOmittedOnTheWire) {
  InvocationResponse r;
  r.state_mutations.push_back(StateMutation{StateMutation::Kind::kDelete, "s", {}});
  EXPECT_EQ(Hex(EncodeFromFunction(FunctionReply(r))), "a20605" "0a03" "120173");
  auto decoded = DecodeFromFunction(Unhex("a20605" "0a03" "120173"));
  ASSERT_TRUE(decoded.ok());
  const auto& m = std::get<InvocationResponse>(*decoded).state_mutations.at(0);
  EXPECT_EQ(m.kind, StateMutation::Kind::kDelete);
  EXPECT_EQ(m.name, "s");
}

// What the Python SDK answers for ValueSpec(name="visits", type=IntType) (statefun-compat.md §5).
TEST(CodecBytes, IncompleteInvocationContextUsesTag101) {
  const std::string wire = "aa0623" "0a21" "0a06" + Hex("visits") + "1200" + "1a15" +
                           Hex("io.statefun.types/int");
  auto decoded = DecodeFromFunction(Unhex(wire));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const auto& ctx = std::get<IncompleteContext>(*decoded);
  ASSERT_EQ(ctx.missing_values.size(), 1u);
  EXPECT_EQ(ctx.missing_values[0].name, "visits");
  EXPECT_EQ(ctx.missing_values[0].type_name, "io.statefun.types/int");
  EXPECT_EQ(ctx.missing_values[0].expire_mode, ExpireMode::kNone);
  EXPECT_EQ(Hex(EncodeFromFunction(FunctionReply(ctx))), wire);
}

TEST(CodecBytes, EmptyFromFunctionIsAnEmptyResponse) {
  auto decoded = DecodeFromFunction("");
  ASSERT_TRUE(decoded.ok());
  const auto* r = std::get_if<InvocationResponse>(&*decoded);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->state_mutations.empty() && r->outgoing_messages.empty() &&
              r->delayed_messages.empty() && r->egress_messages.empty());
  // An invocation_result that is present but empty is the same thing.
  EXPECT_TRUE(DecodeFromFunction(Unhex("a20600")).ok());
}

// ---- round trips ----

TEST(CodecRoundTrip, ToFunction) {
  InvocationBatch batch;
  batch.target = Addr("com.example", "greeter", "user-1");
  batch.states.push_back(StateValue{"visits", types::Int(7)});
  batch.states.push_back(StateValue{"empty", std::nullopt});
  batch.states.push_back(StateValue{"present-but-no-value", TypedValue{"ex/t", false, ""}});
  batch.invocations.push_back(Invocation{std::nullopt, types::String("hello")});
  batch.invocations.push_back(Invocation{Addr("a", "b", "c"), types::Long(-5)});
  batch.invocations.push_back(Invocation{Addr("", "", ""), TypedValue{}});

  auto decoded = DecodeToFunction(EncodeToFunction(batch));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->target, batch.target);
  ASSERT_EQ(decoded->states.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(decoded->states[i].name, batch.states[i].name);
    EXPECT_EQ(decoded->states[i].value, batch.states[i].value) << i;
  }
  ASSERT_EQ(decoded->invocations.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(decoded->invocations[i].caller, batch.invocations[i].caller) << i;
    EXPECT_EQ(decoded->invocations[i].argument, batch.invocations[i].argument) << i;
  }
}

TEST(CodecRoundTrip, FullInvocationResponse) {
  InvocationResponse r;
  r.state_mutations.push_back({StateMutation::Kind::kModify, "a", types::String("x")});
  r.state_mutations.push_back({StateMutation::Kind::kDelete, "b", {}});
  r.outgoing_messages.push_back({Addr("n", "f", "2"), types::Int(3)});
  r.delayed_messages.push_back({false, "tok", 1500, Addr("n", "f", "3"), types::Bool(true)});
  r.delayed_messages.push_back({true, "tok", 0, Address{}, TypedValue{}});
  r.egress_messages.push_back({"io.eddy", "out", TypedValue{std::string(types::kKafkaProducerRecord),
                                                             true, std::string("\0\1\2", 3)}});

  auto decoded = DecodeFromFunction(EncodeFromFunction(FunctionReply(r)));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const auto& d = std::get<InvocationResponse>(*decoded);
  ASSERT_EQ(d.state_mutations.size(), 2u);
  EXPECT_EQ(d.state_mutations[0].kind, StateMutation::Kind::kModify);
  EXPECT_EQ(d.state_mutations[0].value, types::String("x"));
  EXPECT_EQ(d.state_mutations[1].kind, StateMutation::Kind::kDelete);
  EXPECT_EQ(d.state_mutations[1].name, "b");
  ASSERT_EQ(d.outgoing_messages.size(), 1u);
  EXPECT_EQ(d.outgoing_messages[0].target, Addr("n", "f", "2"));
  EXPECT_EQ(d.outgoing_messages[0].argument, types::Int(3));
  ASSERT_EQ(d.delayed_messages.size(), 2u);
  EXPECT_FALSE(d.delayed_messages[0].is_cancellation);
  EXPECT_EQ(d.delayed_messages[0].cancellation_token, "tok");
  EXPECT_EQ(d.delayed_messages[0].delay_ms, 1500);
  EXPECT_EQ(d.delayed_messages[0].target, Addr("n", "f", "3"));
  EXPECT_EQ(d.delayed_messages[0].argument, types::Bool(true));
  EXPECT_TRUE(d.delayed_messages[1].is_cancellation);
  EXPECT_EQ(d.delayed_messages[1].cancellation_token, "tok");
  ASSERT_EQ(d.egress_messages.size(), 1u);
  EXPECT_EQ(d.egress_messages[0].egress_namespace, "io.eddy");
  EXPECT_EQ(d.egress_messages[0].egress_type, "out");
  EXPECT_EQ(d.egress_messages[0].argument, r.egress_messages[0].argument);
}

TEST(CodecRoundTrip, IncompleteContextWithExpiration) {
  IncompleteContext c;
  c.missing_values.push_back({"a", "io.statefun.types/int", ExpireMode::kAfterWrite, 1000});
  c.missing_values.push_back({"b", "", ExpireMode::kAfterInvoke, 5});
  c.missing_values.push_back({"c", "ex/t", ExpireMode::kNone, 0});
  auto decoded = DecodeFromFunction(EncodeFromFunction(FunctionReply(c)));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const auto& d = std::get<IncompleteContext>(*decoded);
  ASSERT_EQ(d.missing_values.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(d.missing_values[i].name, c.missing_values[i].name);
    EXPECT_EQ(d.missing_values[i].type_name, c.missing_values[i].type_name);
    EXPECT_EQ(d.missing_values[i].expire_mode, c.missing_values[i].expire_mode);
    EXPECT_EQ(d.missing_values[i].expire_after_ms, c.missing_values[i].expire_after_ms);
  }
}

// ---- malformed input ----

// Protobuf logs every invalid UTF-8 string it rejects; keep fuzz output readable.
class QuietProtobufLogs {
 public:
  QuietProtobufLogs()
      : previous_(google::protobuf::SetLogHandler(
            [](google::protobuf::LogLevel, const char*, int, const std::string&) {})) {}
  ~QuietProtobufLogs() { google::protobuf::SetLogHandler(previous_); }

 private:
  google::protobuf::LogHandler* previous_;
};

void ExpectInvalid(std::string_view hex, std::string_view why) {
  auto r = DecodeFromFunction(Unhex(hex));
  ASSERT_FALSE(r.ok()) << why;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << why;
  EXPECT_FALSE(r.status().message().empty());
}

TEST(CodecMalformed, UnknownEnumValuesAreRejected) {
  // mutation_type = 2 (neither DELETE nor MODIFY).
  ExpectInvalid("a20609" "0a07" "0802" "120173" "1a00", "mutation type 2");
  // mutation_type = a huge varint.
  ExpectInvalid("a2060d" "0a0b" "08ffffffff07" "120173" "1a00", "mutation type 2^31-1");
  // expiration_spec.mode = 7.
  ExpectInvalid("aa060b" "0a09" "0a0176" "1204" "0807" "1001", "expire mode 7");
}

TEST(CodecMalformed, ModifyWithoutValueIsRejected) {
  auto r = DecodeFromFunction(Unhex("a20607" "0a05" "0801" "120173"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'s'"), std::string::npos) << r.status().message();
}

TEST(CodecMalformed, WrongWireTypesAreRejected) {
  ExpectInvalid("a00601", "field 100 sent as a varint");
  ExpectInvalid("a806" "01", "field 101 sent as a varint");
  // mutation_type sent length-delimited.
  ExpectInvalid("a20608" "0a06" "0a0101" "120173", "mutation_type as bytes");
  // state_mutations (field 1 of InvocationResponse) sent as a fixed32.
  ExpectInvalid("a20605" "0d01000000", "state_mutations as fixed32");
  // TypedValue.value (bytes) sent as a varint inside a MODIFY.
  ExpectInvalid("a2060b" "0a09" "0801" "120173" "1a02" "1801", "value as varint");
  // delay_in_ms sent as bytes.
  ExpectInvalid("a20606" "1a04" "0a020000", "delay_in_ms as bytes");
}

TEST(CodecMalformed, UnknownFieldNumbersAreIgnored) {
  // Field 200 (varint) next to a valid DELETE: a newer SDK may add fields.
  auto r = DecodeFromFunction(Unhex("c00c01" "a20605" "0a03" "120173"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(std::get<InvocationResponse>(*r).state_mutations.size(), 1u);
}

TEST(CodecMalformed, EveryTruncationOfAReplyFails) {
  InvocationResponse r;
  r.state_mutations.push_back({StateMutation::Kind::kModify, "s", types::Int(1)});
  r.outgoing_messages.push_back({Addr("n", "f", "2"), types::String("payload")});
  const std::string full = EncodeFromFunction(FunctionReply(r));
  for (size_t len = 1; len < full.size(); ++len) {
    auto d = DecodeFromFunction(std::string_view(full).substr(0, len));
    ASSERT_FALSE(d.ok()) << "prefix of " << len << " bytes decoded";
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(CodecMalformed, InvalidUtf8InAStringFieldIsRejected) {
  QuietProtobufLogs quiet;
  // state_name = "\xff" (proto3 strings must be UTF-8).
  ExpectInvalid("a20605" "0a03" "1201ff", "invalid utf-8");
}

TEST(CodecMalformed, RandomAndMutatedBytesNeverCrash) {
  QuietProtobufLogs quiet;
  std::mt19937 rng(42);
  InvocationResponse r;
  r.state_mutations.push_back({StateMutation::Kind::kModify, "s", types::Int(1)});
  r.delayed_messages.push_back({false, "t", 5, Addr("n", "f", "2"), types::Long(9)});
  const std::string valid = EncodeFromFunction(FunctionReply(r));
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 64);
      for (char& c : bytes) c = static_cast<char>(rng());
    } else {
      bytes = valid;
      for (int flips = 1 + rng() % 3; flips > 0; --flips) {
        bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8));
      }
    }
    auto d = DecodeFromFunction(bytes);
    if (d.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    }
    auto t = DecodeToFunction(bytes);
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_LT(accepted, 3000);  // the test must actually exercise the error paths
}

TEST(CodecMalformed, ToFunctionWithoutBatchOrGarbage) {
  EXPECT_EQ(DecodeToFunction("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeToFunction("\xff\xff\xff").status().code(), StatusCode::kInvalidArgument);
  // caller (Address) sent as a varint.
  EXPECT_EQ(DecodeToFunction(Unhex("a20604" "1a02" "0801")).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace eddy
