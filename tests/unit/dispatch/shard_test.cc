// Dispatch semantics against a scripted in-process invoker (the network side is covered by the
// invoker and integration tests) and the real RocksDB state backend in a temporary directory.
#include "dispatch/shard.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <tuple>
#include <mutex>
#include <set>
#include <thread>

#include "dispatch/local_router.h"
#include "unit/dispatch/flaky_backend.h"

// Debian's librocksdb is not built with TSan: TSan sees the memory accesses RocksDB makes from
// our calls but not RocksDB's own synchronization (lock-free memtable), so a test thread reading
// the store while a shard writes it is reported inside RocksDB. Races without a RocksDB frame,
// i.e. in Eddy's code, are still reported. Same suppression as tests/unit/state.
extern "C" const char* __tsan_default_suppressions() {
  return "called_from_lib:librocksdb.so.7.8\n"
         "race:librocksdb.so.7.8\n";
}

namespace eddy {
namespace {

using namespace std::chrono_literals;

// Records every call; the test answers them explicitly, on the shard's thread.
class ScriptedCalls {
 public:
  struct Call {
    InvocationBatch batch;
    Invoker::Callback done;
    boost::asio::io_context* io;
  };

  void Add(Call call) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(call));
    cv_.notify_all();
  }
  // Waits until call `i` exists and returns a copy of its batch.
  InvocationBatch Batch(size_t i) {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, 5s, [&] { return calls_.size() > i; })) << "no call #" << i;
    return calls_.size() > i ? calls_[i].batch : InvocationBatch{};
  }
  void Reply(size_t i, Result<FunctionReply> reply) {
    Batch(i);
    std::lock_guard lock(mu_);
    auto done = std::move(calls_[i].done);
    boost::asio::post(*calls_[i].io, [done, reply]() mutable { done(std::move(reply)); });
  }
  size_t Count() {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Call> calls_;
};

class ScriptedInvoker : public Invoker {
 public:
  ScriptedInvoker(boost::asio::io_context& io, ScriptedCalls& calls) : io_(io), calls_(calls) {}
  void Invoke(InvocationBatch batch, Callback done) override {
    calls_.Add({std::move(batch), std::move(done), &io_});
  }
  void Shutdown() override {}

 private:
  boost::asio::io_context& io_;
  ScriptedCalls& calls_;
};

// An in-process invoker with the inline path (like the embedded one): `fn` runs on the shard's
// thread, inline or, for resends and retries, from a posted handler.
using InlineFn = std::function<Result<FunctionReply>(const InvocationBatch&)>;
class InlineInvoker : public Invoker {
 public:
  InlineInvoker(boost::asio::io_context& io, InlineFn fn) : io_(io), fn_(std::move(fn)) {}
  void Invoke(InvocationBatch batch, Callback done) override {
    posted_++;
    boost::asio::post(io_, [this, batch = std::move(batch), done = std::move(done)] {
      done(fn_(batch));
    });
  }
  void Shutdown() override {}
  bool SupportsInline() const override { return true; }
  Result<FunctionReply> InvokeInline(const InvocationBatch& batch,
                                     std::chrono::nanoseconds* took) override {
    *took = std::chrono::nanoseconds(1000);
    return fn_(batch);
  }
  std::atomic<int> posted_{0};

 private:
  boost::asio::io_context& io_;
  InlineFn fn_;
};

class RecordingEgress : public Egress {
 public:
  Status Validate(const TypedValue& value) const override {
    if (value.type_name != types::kKafkaProducerRecord) return InvalidArgument("not a record");
    return Status::Ok();
  }
  Status Send(const TypedValue& value, uint64_t) override {
    std::lock_guard lock(mu);
    sent.push_back(value);
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }
  std::mutex mu;
  std::vector<TypedValue> sent;
};

class RecordingDeadLetters : public DeadLetterSink {
 public:
  Status Send(const DeadLetter& letter, uint64_t) override {
    std::lock_guard lock(mu);
    letters.push_back(letter);
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }
  size_t Count() {
    std::lock_guard lock(mu);
    return letters.size();
  }
  std::mutex mu;
  std::vector<DeadLetter> letters;
};

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

Address Addr(const std::string& id, const std::string& name = "fn") {
  return Address{FunctionType{"test", name}, id};
}

InvocationResponse Modify(const std::string& state, TypedValue v) {
  InvocationResponse r;
  r.state_mutations.push_back({StateMutation::Kind::kModify, state, std::move(v)});
  return r;
}

// The reply of a function that lacks the state `name` of type `type`.
FunctionReply Missing(const std::string& name, std::string_view type) {
  IncompleteContext missing;
  missing.missing_values.push_back({name, std::string(type), ExpireMode::kNone, 0});
  return FunctionReply{missing};
}

TypedValue KafkaRecord() {
  return TypedValue{std::string(types::kKafkaProducerRecord), true, "\x1a\x01t"};
}

using ::eddy::testing::FlakyBackend;

class ShardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("eddy-shard-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    OpenState();
    EndpointSpec endpoint;
    endpoint.functions = FunctionTypePattern{"test", "", true};
    endpoint.url_path_template = "http://127.0.0.1:1/{function.name}";
    endpoint.max_num_batch_requests = 3;
    module_.endpoints.push_back(endpoint);
    egresses_["test/out"] = &egress_;
  }
  void TearDown() override {
    StopShard();
    if (state_) (void)state_->Close();
    std::filesystem::remove_all(dir_);
  }
  void OpenState() {
    auto state = OpenRocksDbBackend(RocksDbOptions{dir_.string()});
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    state_ = std::move(state).value();
  }

  void StartShard(std::string policy = "retry") {
    ShardDeps deps;
    deps.max_parallelism = 16;
    deps.key_groups = KeyGroupRange{0, 15};
    deps.module = &module_;
    deps.state = failing_state_ ? static_cast<StateBackend*>(failing_state_.get()) : state_.get();
    deps.flow = &flow_;
    deps.progress = &progress_;
    deps.metrics = &metrics_;
    deps.dead_letter = &dead_letters_;
    deps.egresses = &egresses_;
    deps.invoker_factory = [this](boost::asio::io_context& io,
                                  const EndpointSpec&) -> Result<InvokerPtr> {
      if (inline_fn_) {
        auto invoker = std::make_unique<InlineInvoker>(io, inline_fn_);
        inline_invoker_ = invoker.get();
        return InvokerPtr(std::move(invoker));
      }
      return InvokerPtr(std::make_unique<ScriptedInvoker>(io, calls_));
    };
    deps.options.failure_policy = policy;
    deps.options.retry_backoff_initial = backoff_;
    deps.options.retry_backoff_max = 2 * backoff_;
    deps.options.now_ms = [this] { return now_ms_.load(); };
    deps.options.max_inflight_requests = max_inflight_;
    deps.options.state_cache_bytes = state_cache_bytes_;
    deps.options.state_flush_interval = flush_interval_;
    deps.options.checkpointing = checkpointing_;
    shard_ = std::make_unique<Shard>(std::move(deps));
    router_ = std::make_unique<LocalRouter>(16, std::vector<Shard*>{shard_.get()});
    shard_->set_router(router_.get());
    Status st = shard_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void StopShard() {
    if (shard_) shard_->Stop();
    shard_.reset();
  }

  void Send(const Address& to, TypedValue v) {
    uint64_t epoch = progress_.Pin(1);
    flow_.Add(1);
    router_->Route(Envelope{to, std::nullopt, std::move(v), epoch});
  }

  size_t StoredDelayed() {
    size_t n = 0;
    Status st = state_->ScanDelayed(0, 15, [&](KeyGroup, DelayedRecord) {
      ++n;
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return n;
  }

  // Cache tests: "a"'s first message registers "count" (one missing-state round trip), its
  // second call writes `value`.
  void WriteCountOfA(int64_t value) {
    Send(Addr("a"), types::Int(1));
    calls_.Reply(0, Missing("count", types::kLong));
    calls_.Batch(1);
    calls_.Reply(1, FunctionReply{Modify("count", types::Long(value))});
  }
  // What RocksDB itself holds for `id`'s state `name` (nullopt: nothing written yet).
  std::optional<StoredValue> Durable(const std::string& id, const std::string& name = "count") {
    auto stored = state_->ReadValues(KeyGroupOf(id, 16), Addr(id), {name}, now_ms_);
    EXPECT_TRUE(stored.ok()) << stored.status().ToString();
    return stored.ok() ? stored.value()[0] : std::nullopt;
  }
  // Closes epochs until every one is complete (the progress of every message was released).
  bool AwaitEpochsComplete() {
    return WaitFor([&] {
      progress_.CloseEpoch();
      return progress_.CompletedThrough() >= 0;
    });
  }

  int64_t Gauge(const std::string& name) {
    return metrics_.GetGauge(name, {{"namespace", "test"}, {"type", "fn"}}).Value();
  }

  std::filesystem::path dir_;
  ModuleSpec module_;
  StateBackendPtr state_;
  MetricsRegistry metrics_;
  FlowControl flow_{1000};
  ProgressTracker progress_;
  RecordingEgress egress_;
  RecordingDeadLetters dead_letters_;
  std::map<std::string, Egress*> egresses_;
  ScriptedCalls calls_;
  std::atomic<int64_t> now_ms_{1'000'000};
  size_t max_inflight_ = 32768;
  size_t state_cache_bytes_ = 0;  // the write-back cache is off unless a test turns it on
  std::chrono::milliseconds flush_interval_{10};
  std::chrono::milliseconds backoff_{10};
  bool checkpointing_ = false;
  std::unique_ptr<FlakyBackend> failing_state_;  // set: the shard's state goes through it
  InlineFn inline_fn_;  // set: the shard's invoker is an InlineInvoker running this
  InlineInvoker* inline_invoker_ = nullptr;
  std::unique_ptr<Shard> shard_;
  std::unique_ptr<LocalRouter> router_;
};

// StateFun's per-address batching: one request in flight per address; what arrives meanwhile
// goes out as the next batch, in arrival order, capped at maxNumBatchRequests.
TEST_F(ShardTest, BatchesMessagesBehindTheInflightRequest) {
  StartShard();
  Send(Addr("a"), types::Int(0));
  EXPECT_EQ(calls_.Batch(0).invocations.size(), 1u);
  for (int i = 1; i <= 5; ++i) Send(Addr("a"), types::Int(i));
  ASSERT_TRUE(WaitFor([&] { return Gauge("eddy_function_num_backlog") == 5; }));
  EXPECT_EQ(calls_.Count(), 1u) << "a second request was sent while one is in flight";
  EXPECT_EQ(Gauge("eddy_function_num_blocked_address"), 1) << "5 >= maxNumBatchRequests (3)";

  calls_.Reply(0, FunctionReply{InvocationResponse{}});
  InvocationBatch second = calls_.Batch(1);
  ASSERT_EQ(second.invocations.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(types::AsInt(second.invocations[i].argument), i + 1);
  EXPECT_FALSE(second.invocations[0].caller.has_value()) << "ingress messages have no caller";
  EXPECT_EQ(Gauge("eddy_function_num_blocked_address"), 0);
  calls_.Reply(1, FunctionReply{InvocationResponse{}});
  InvocationBatch third = calls_.Batch(2);
  ASSERT_EQ(third.invocations.size(), 2u);
  EXPECT_EQ(types::AsInt(third.invocations[1].argument), 5);
  calls_.Reply(2, FunctionReply{InvocationResponse{}});
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  progress_.CloseEpoch();
  EXPECT_EQ(progress_.CompletedThrough(), 0) << "all work of epoch 0 is done";
}

TEST_F(ShardTest, OtherAddressesFlowWhileOneIsBusy) {
  StartShard();
  Send(Addr("a"), types::Int(1));
  calls_.Batch(0);
  Send(Addr("b"), types::Int(2));
  InvocationBatch b = calls_.Batch(1);
  EXPECT_EQ(b.target.id, "b");
}

// At most max_inflight_requests requests per shard; other addresses wait their turn in order.
TEST_F(ShardTest, InflightLimitQueuesAddressesFairly) {
  max_inflight_ = 1;
  StartShard();
  Send(Addr("a"), types::Int(1));
  EXPECT_EQ(calls_.Batch(0).target.id, "a");
  Send(Addr("b"), types::Int(2));
  Send(Addr("c"), types::Int(3));
  Send(Addr("a"), types::Int(4));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls_.Count(), 1u) << "the limit is one request in flight";
  calls_.Reply(0, FunctionReply{InvocationResponse{}});
  EXPECT_EQ(calls_.Batch(1).target.id, "b") << "b waited longest";
  calls_.Reply(1, FunctionReply{InvocationResponse{}});
  EXPECT_EQ(calls_.Batch(2).target.id, "c");
  calls_.Reply(2, FunctionReply{InvocationResponse{}});
  InvocationBatch a_again = calls_.Batch(3);
  EXPECT_EQ(a_again.target.id, "a");
  EXPECT_EQ(types::AsInt(a_again.invocations[0].argument), 4);
  calls_.Reply(3, FunctionReply{InvocationResponse{}});
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
}

// IncompleteInvocationContext: register the missing states, resend the same invocations with
// every registered state (empty ones by name only).
TEST_F(ShardTest, IncompleteContextRegistersStatesAndResends) {
  StartShard();
  Send(Addr("a"), types::String("hello"));
  InvocationBatch first = calls_.Batch(0);
  EXPECT_TRUE(first.states.empty());
  IncompleteContext missing;
  missing.missing_values.push_back({"visits", std::string(types::kInt), ExpireMode::kNone, 0});
  missing.missing_values.push_back({"name", std::string(types::kString), ExpireMode::kNone, 0});
  calls_.Reply(0, FunctionReply{missing});
  InvocationBatch retry = calls_.Batch(1);
  ASSERT_EQ(retry.invocations.size(), 1u);
  EXPECT_EQ(types::AsString(retry.invocations[0].argument), "hello");
  ASSERT_EQ(retry.states.size(), 2u);
  EXPECT_EQ(retry.states[0].name, "visits");
  EXPECT_FALSE(retry.states[0].value.has_value());
  EXPECT_EQ(retry.states[1].name, "name");

  calls_.Reply(1, FunctionReply{Modify("visits", types::Int(1))});
  Send(Addr("a"), types::String("again"));
  InvocationBatch next = calls_.Batch(2);
  ASSERT_EQ(next.states.size(), 2u);
  ASSERT_TRUE(next.states[0].value.has_value());
  EXPECT_EQ(types::AsInt(*next.states[0].value), 1);
  EXPECT_FALSE(next.states[1].value.has_value());
}

TEST_F(ShardTest, IncompleteContextForAlreadySentStatesIsAFailure) {
  StartShard("dead-letter");
  Send(Addr("a"), types::Int(1));
  calls_.Reply(0, Missing("s", types::kInt));
  calls_.Reply(1, Missing("s", types::kInt));  // same state again: the function is broken
  ASSERT_TRUE(WaitFor([&] { return dead_letters_.Count() == 1; }));
  EXPECT_NE(dead_letters_.letters[0].reason.find("function-failed"), std::string::npos);
}

// Effects are applied in StateFun's order; messages carry the sender as caller.
TEST_F(ShardTest, AppliesMessagesDelayedEgressAndState) {
  StartShard();
  Send(Addr("a"), types::Int(1));
  calls_.Reply(0, Missing("count", types::kLong));
  calls_.Batch(1);
  InvocationResponse r = Modify("count", types::Long(7));
  r.outgoing_messages.push_back({Addr("b", "other"), types::String("hi")});
  r.egress_messages.push_back({"test", "out", KafkaRecord()});
  calls_.Reply(1, FunctionReply{r});
  InvocationBatch to_b = calls_.Batch(2);
  EXPECT_EQ(to_b.target, Addr("b", "other"));
  ASSERT_TRUE(to_b.invocations[0].caller.has_value());
  EXPECT_EQ(*to_b.invocations[0].caller, Addr("a"));
  {
    std::lock_guard lock(egress_.mu);
    ASSERT_EQ(egress_.sent.size(), 1u);
  }
  auto stored = Durable("a");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->value, types::Long(7).value);
}

// Messages leave in the order the function listed them, before its egress records; the
// reply's state is already committed when they leave.
TEST_F(ShardTest, EffectsLeaveInStateFunOrder) {
  StartShard();
  Send(Addr("a"), types::Int(1));
  calls_.Reply(0, Missing("count", types::kLong));
  calls_.Batch(1);
  InvocationResponse r = Modify("count", types::Long(3));
  for (int i = 0; i < 5; ++i) r.outgoing_messages.push_back({Addr("a"), types::Int(100 + i)});
  r.egress_messages.push_back({"test", "out", KafkaRecord()});
  calls_.Reply(1, FunctionReply{r});
  InvocationBatch next = calls_.Batch(2);  // the self-messages, batched, in order
  ASSERT_TRUE(next.states[0].value.has_value()) << "state is committed before messages leave";
  EXPECT_EQ(types::AsLong(*next.states[0].value), 3);
  std::vector<int> order;
  for (auto& inv : next.invocations) order.push_back(*types::AsInt(inv.argument));
  calls_.Reply(2, FunctionReply{InvocationResponse{}});
  for (size_t call = 3; order.size() < 5 && call < 6; ++call) {  // batches of <= 3
    for (auto& inv : calls_.Batch(call).invocations) order.push_back(*types::AsInt(inv.argument));
    calls_.Reply(call, FunctionReply{InvocationResponse{}});
  }
  EXPECT_EQ(order, (std::vector<int>{100, 101, 102, 103, 104}));
  std::lock_guard lock(egress_.mu);
  EXPECT_EQ(egress_.sent.size(), 1u);
}

TEST_F(ShardTest, ModifyWithWrongTypeIsRejectedWithoutEffects) {
  StartShard("dead-letter");
  Send(Addr("a"), types::Int(1));
  calls_.Reply(0, Missing("count", types::kLong));
  InvocationResponse r = Modify("count", types::Int(7));  // registered as long
  r.egress_messages.push_back({"test", "out", KafkaRecord()});
  calls_.Reply(1, FunctionReply{r});
  ASSERT_TRUE(WaitFor([&] { return dead_letters_.Count() == 1; }));
  std::lock_guard lock(egress_.mu);
  EXPECT_TRUE(egress_.sent.empty()) << "a rejected reply must have no effect";
}

TEST_F(ShardTest, UnknownEgressAndWrongEgressTypeAreFailures) {
  StartShard("dead-letter");
  Send(Addr("a"), types::Int(1));
  InvocationResponse r;
  r.egress_messages.push_back({"test", "nope", KafkaRecord()});
  calls_.Reply(0, FunctionReply{r});
  Send(Addr("b"), types::Int(1));
  InvocationResponse r2;
  r2.egress_messages.push_back({"test", "out", types::String("not a record")});
  calls_.Reply(1, FunctionReply{r2});
  ASSERT_TRUE(WaitFor([&] { return dead_letters_.Count() == 2; }));
}

// With the retry policy a failing function keeps its messages and is retried with backoff;
// other addresses keep flowing, and nothing is lost once it recovers.
TEST_F(ShardTest, RetryPolicyKeepsMessagesUntilTheFunctionRecovers) {
  StartShard("retry");
  Send(Addr("a"), types::Int(1));
  calls_.Reply(0, Status(StatusCode::kDeadlineExceeded, "call budget spent"));
  InvocationBatch again = calls_.Batch(1);  // retried after backoff
  EXPECT_EQ(types::AsInt(again.invocations[0].argument), 1);
  EXPECT_EQ(Gauge("eddy_function_num_blocked_address"), 1);
  Send(Addr("b"), types::Int(2));
  EXPECT_EQ(calls_.Batch(2).target.id, "b");
  calls_.Reply(1, FunctionReply{InvocationResponse{}});
  calls_.Reply(2, FunctionReply{InvocationResponse{}});
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  EXPECT_EQ(Gauge("eddy_function_num_blocked_address"), 0);
  EXPECT_EQ(dead_letters_.Count(), 0u);
  EXPECT_EQ(metrics_
                .GetCounter("eddy_function_remote_invocation_failures_total",
                            {{"namespace", "test"}, {"type", "fn"}})
                .Value(),
            1u);
}

// An address waiting to retry does not hold one of the shard's in-flight slots.
TEST_F(ShardTest, BackingOffAddressDoesNotStarveOthers) {
  max_inflight_ = 1;
  backoff_ = 400ms;
  StartShard("retry");
  Send(Addr("a"), types::Int(1));
  calls_.Reply(0, Status(StatusCode::kDeadlineExceeded, "call budget spent"));
  Send(Addr("b"), types::Int(2));
  EXPECT_EQ(calls_.Batch(1).target.id, "b") << "b must not wait for a's retry";
  calls_.Reply(1, FunctionReply{InvocationResponse{}});
  EXPECT_EQ(calls_.Batch(2).target.id, "a") << "a is retried after its backoff";
  calls_.Reply(2, FunctionReply{InvocationResponse{}});
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
}

TEST_F(ShardTest, UnknownFunctionTypeIsDeadLettered) {
  module_.endpoints[0].functions = FunctionTypePattern{"test", "fn", false};
  StartShard();
  Send(Address{FunctionType{"nobody", "home"}, "x"}, types::Int(1));
  ASSERT_TRUE(WaitFor([&] { return dead_letters_.Count() == 1; }));
  EXPECT_EQ(dead_letters_.letters[0].reason, "unknown-function-type");
  EXPECT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
}

TEST_F(ShardTest, ExpiredStateIsNotSent) {
  StartShard();
  Send(Addr("a"), types::Int(1));
  IncompleteContext missing;
  missing.missing_values.push_back({"w", std::string(types::kInt), ExpireMode::kAfterWrite, 1000});
  missing.missing_values.push_back({"i", std::string(types::kInt), ExpireMode::kAfterInvoke, 1000});
  calls_.Reply(0, FunctionReply{missing});
  InvocationResponse r = Modify("w", types::Int(5));
  r.state_mutations.push_back({StateMutation::Kind::kModify, "i", types::Int(6)});
  calls_.Reply(1, FunctionReply{r});
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));  // applied at the old time

  now_ms_ += 600;  // both alive; the invocation refreshes "i" (expire after invoke)
  Send(Addr("a"), types::Int(2));
  InvocationBatch b = calls_.Batch(2);
  EXPECT_TRUE(b.states[0].value.has_value());
  EXPECT_TRUE(b.states[1].value.has_value());
  calls_.Reply(2, FunctionReply{InvocationResponse{}});
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));

  now_ms_ += 600;  // "w" written 1200 ms ago: expired; "i" touched 600 ms ago: alive
  Send(Addr("a"), types::Int(3));
  InvocationBatch c = calls_.Batch(3);
  EXPECT_FALSE(c.states[0].value.has_value()) << "expired value must never be returned";
  EXPECT_TRUE(c.states[1].value.has_value());
}

TEST_F(ShardTest, DelayedMessageFiresWithSenderAsCaller) {
  now_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch()).count();
  StartShard();
  Send(Addr("a"), types::Int(1));
  InvocationResponse r;
  r.delayed_messages.push_back({false, "", 0, Addr("b"), types::Int(42)});
  calls_.Reply(0, FunctionReply{r});
  InvocationBatch fired = calls_.Batch(1);
  EXPECT_EQ(fired.target.id, "b");
  ASSERT_TRUE(fired.invocations[0].caller.has_value());
  EXPECT_EQ(fired.invocations[0].caller->id, "a");
  EXPECT_EQ(types::AsInt(fired.invocations[0].argument), 42);
  EXPECT_EQ(shard_->PendingDelayed(), 0);
}

TEST_F(ShardTest, CancelledDelayedMessageNeverFires) {
  StartShard();  // fake clock stays put: nothing is due until we say so
  Send(Addr("a"), types::Int(1));
  InvocationResponse r;
  r.delayed_messages.push_back({false, "tok", 50, Addr("b"), types::Int(1)});
  r.delayed_messages.push_back({false, "", 50, Addr("c"), types::Int(2)});
  calls_.Reply(0, FunctionReply{r});
  ASSERT_TRUE(WaitFor([&] { return shard_->PendingDelayed() == 2; }));
  Send(Addr("a"), types::Int(2));
  InvocationResponse cancel;
  cancel.delayed_messages.push_back({true, "tok", 0, {}, {}});
  cancel.delayed_messages.push_back({true, "unknown-token", 0, {}, {}});  // best effort: no-op
  calls_.Reply(1, FunctionReply{cancel});
  ASSERT_TRUE(WaitFor([&] { return shard_->PendingDelayed() == 1; }));
  now_ms_ += 100;
  Send(Addr("d"), types::Int(0));  // any activity; the timer re-checks on its own too
  // The uncancelled message to "c" fires (timer computes the wait from the fake clock).
  bool saw_c = false, saw_b = false;
  for (size_t i = 2; i < 4; ++i) {
    InvocationBatch b = calls_.Batch(i);
    saw_c |= b.target.id == "c";
    saw_b |= b.target.id == "b";
  }
  EXPECT_TRUE(saw_c);
  EXPECT_FALSE(saw_b);
}

TEST_F(ShardTest, TokenReuseWhilePendingAndEmptyCancellationAreFailures) {
  StartShard("dead-letter");
  Send(Addr("a"), types::Int(1));
  InvocationResponse r;
  r.delayed_messages.push_back({false, "tok", 60000, Addr("b"), types::Int(1)});
  calls_.Reply(0, FunctionReply{r});
  ASSERT_TRUE(WaitFor([&] { return shard_->PendingDelayed() == 1; }));
  Send(Addr("a"), types::Int(2));
  calls_.Reply(1, FunctionReply{r});  // same token again while pending
  ASSERT_TRUE(WaitFor([&] { return dead_letters_.Count() == 1; }));
  Send(Addr("a"), types::Int(3));
  InvocationResponse empty_cancel;
  empty_cancel.delayed_messages.push_back({true, "", 0, {}, {}});
  calls_.Reply(2, FunctionReply{empty_cancel});
  ASSERT_TRUE(WaitFor([&] { return dead_letters_.Count() == 2; }));
  EXPECT_EQ(shard_->PendingDelayed(), 1);
}

TEST_F(ShardTest, DelayedMessagesSurviveRestart) {
  StartShard();
  Send(Addr("a"), types::Int(1));
  InvocationResponse r;
  r.delayed_messages.push_back({false, "t1", 500, Addr("b"), types::Int(7)});
  calls_.Reply(0, FunctionReply{r});
  ASSERT_TRUE(WaitFor([&] { return shard_->PendingDelayed() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  StopShard();
  ASSERT_TRUE(state_->Close().ok());
  OpenState();

  StartShard();
  EXPECT_EQ(shard_->PendingDelayed(), 1);
  EXPECT_EQ(calls_.Count(), 1u) << "not due yet";
  now_ms_ += 1000;
  Send(Addr("z"), types::Int(0));
  bool fired = false;
  for (size_t i = 1; i < 3; ++i) fired |= calls_.Batch(i).target.id == "b";
  EXPECT_TRUE(fired);
}

// A fired delayed message keeps its stored record (token freed) until it is processed, so a
// crash or stop in between fires it again after restart instead of losing it.
TEST_F(ShardTest, FiredDelayedMessageIsKeptUntilProcessed) {
  StartShard();
  Send(Addr("a"), types::Int(1));
  InvocationResponse r;
  r.delayed_messages.push_back({false, "t", 0, Addr("b"), types::Int(9)});
  calls_.Reply(0, FunctionReply{r});
  EXPECT_EQ(calls_.Batch(1).target.id, "b");  // fired; b does not answer before the stop
  EXPECT_EQ(StoredDelayed(), 1u);
  auto token = state_->FindDelayedByToken(KeyGroupOf("a", 16), Addr("a"), "t");
  ASSERT_TRUE(token.ok());
  EXPECT_FALSE(token.value().has_value()) << "a fired message's token is free for reuse";
  StopShard();
  // A restarted process has fresh counters; drop the count the stopped shard still held for the
  // unprocessed message (epoch 0: no epoch was closed yet).
  progress_.Release(0, 1);
  flow_.Add(-1);

  StartShard();
  InvocationBatch again = calls_.Batch(2);
  EXPECT_EQ(again.target.id, "b");
  EXPECT_EQ(types::AsInt(again.invocations[0].argument), 9);
  calls_.Reply(2, FunctionReply{InvocationResponse{}});
  ASSERT_TRUE(WaitFor([&] {
    progress_.CloseEpoch();
    return StoredDelayed() == 0;
  })) << "the record is removed once its message is processed";
}

// With the write-back cache, a processed message counts as finished for offsets only once its
// state is durable: the cache holds the write, the progress count waits for the flush. Its flow
// count goes at once (the cache's capacity bounds what it left behind).
TEST_F(ShardTest, CachedStateIsDurableBeforeTheMessageCountsAsDone) {
  state_cache_bytes_ = 1 << 20;
  flush_interval_ = std::chrono::hours(1);  // only Stop flushes here
  StartShard();
  WriteCountOfA(7);
  // The reply is applied (the next batch for "a" would see it) but not yet written.
  Send(Addr("a"), types::Int(2));
  InvocationBatch next = calls_.Batch(2);
  ASSERT_EQ(next.states.size(), 1u);
  ASSERT_TRUE(next.states[0].value.has_value());
  EXPECT_EQ(next.states[0].value->value, types::Long(7).value) << "reads see the cached write";
  EXPECT_FALSE(Durable("a").has_value()) << "not flushed yet";
  EXPECT_EQ(flow_.Buffered(), 1) << "only the message in flight is buffered";
  progress_.CloseEpoch();
  EXPECT_LT(progress_.CompletedThrough(), 0) << "the first message's epoch must not complete";

  calls_.Reply(2, FunctionReply{Modify("count", types::Long(8))});
  StopShard();  // flushes
  auto stored = Durable("a");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->value, types::Long(8).value);
  EXPECT_EQ(flow_.Buffered(), 0);
}

TEST_F(ShardTest, CachedStateIsFlushedOnTheInterval) {
  state_cache_bytes_ = 1 << 20;
  flush_interval_ = 5ms;
  StartShard();
  WriteCountOfA(7);
  ASSERT_TRUE(AwaitEpochsComplete());
  auto stored = Durable("a");
  ASSERT_TRUE(stored.has_value()) << "released only after the flush wrote it";
  EXPECT_EQ(stored->value, types::Long(7).value);
}

// FlushNow (the drain's last step before the final offset commit) writes the cache and releases
// the progress it held, without waiting for the interval.
TEST_F(ShardTest, FlushNowReleasesProgressHeldByTheCache) {
  state_cache_bytes_ = 1 << 20;
  flush_interval_ = std::chrono::hours(1);
  StartShard();
  WriteCountOfA(7);
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  progress_.CloseEpoch();
  EXPECT_LT(progress_.CompletedThrough(), 0);
  Status st = shard_->FlushNow();
  ASSERT_TRUE(st.ok()) << st.ToString();
  progress_.CloseEpoch();
  EXPECT_GE(progress_.CompletedThrough(), 0);
  EXPECT_EQ(metrics_.GetCounter("eddy_state_flushed_values_total", {}).Value(), 1u);
  EXPECT_EQ(metrics_.GetHistogram("eddy_state_flush_ms", {}).Count(), 1u);
  auto stored = Durable("a");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->value, types::Long(7).value);
}

// A flush that fails holds FlowControl (dirty state cannot be evicted, so ingestion must stop
// rather than grow it) and keeps the progress; once a flush succeeds both are released.
TEST_F(ShardTest, FailingFlushHoldsIngestionUntilAFlushSucceeds) {
  state_cache_bytes_ = 1 << 20;
  flush_interval_ = 5ms;
  failing_state_ = std::make_unique<FlakyBackend>(state_.get());
  StartShard();
  failing_state_->fail_commits = true;  // reads still work: the first round trip is unaffected
  WriteCountOfA(7);
  ASSERT_TRUE(WaitFor([&] { return flow_.Holds() == 1; })) << "a failed flush holds ingestion";
  EXPECT_TRUE(flow_.ShouldPause());
  progress_.CloseEpoch();
  EXPECT_LT(progress_.CompletedThrough(), 0);
  failing_state_->fail_commits = false;
  ASSERT_TRUE(WaitFor([&] { return flow_.Holds() == 0; })) << "a later flush succeeds";
  ASSERT_TRUE(AwaitEpochsComplete());
  auto stored = Durable("a");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->value, types::Long(7).value);
}

// With checkpointing the interval does not apply: the cache is written at cuts (or when full).
TEST_F(ShardTest, CheckpointingWritesTheCacheOnlyAtCutsOrWhenFull) {
  state_cache_bytes_ = 1 << 20;
  flush_interval_ = 1ms;
  checkpointing_ = true;
  StartShard();
  WriteCountOfA(7);
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  std::this_thread::sleep_for(50ms);  // many intervals
  EXPECT_FALSE(Durable("a").has_value()) << "not written between cuts";
}

// A reply with delayed messages is written at once, with every cached write before it: state
// and delayed messages never diverge in what is durable.
TEST_F(ShardTest, DelayedMessagesCommitTogetherWithCachedState) {
  state_cache_bytes_ = 1 << 20;
  flush_interval_ = std::chrono::hours(1);
  StartShard();
  WriteCountOfA(7);  // cached only
  Send(Addr("b"), types::Int(1));  // "count" is registered by now: sent with the first request
  ASSERT_EQ(calls_.Batch(2).states.size(), 1u);
  InvocationResponse r = Modify("count", types::Long(1));
  r.delayed_messages.push_back({false, "tok", 60000, Addr("b"), types::Int(9)});
  calls_.Reply(2, FunctionReply{r});
  ASSERT_TRUE(WaitFor([&] { return StoredDelayed() == 1; }));
  EXPECT_TRUE(Durable("a").has_value()) << "the earlier cached write went with the delayed one";
  EXPECT_TRUE(Durable("b").has_value());
}

// ---- Inline path (invokers with SupportsInline, i.e. embedded functions) ----

// A keyed counter as an inline function: registers "n" on the first call, then counts. Records
// (on the shard thread) every batch's address, argument and the count it saw.
struct CounterLog {
  std::mutex mu;
  std::vector<std::tuple<std::string, int32_t, int64_t>> seen;  // id, argument, n before
  std::vector<size_t> batch_sizes;
  std::optional<int32_t> fail_first_of;  // this argument's first call fails (Unavailable)
  bool failed = false;
  bool wrong_type_once = false;  // the first reply writes "n" with the wrong type
};

InlineFn CounterFn(CounterLog& log) {
  return [&log](const InvocationBatch& batch) -> Result<FunctionReply> {
    if (batch.states.empty()) return Missing("n", types::kLong);
    std::lock_guard lock(log.mu);
    log.batch_sizes.push_back(batch.invocations.size());
    int64_t n = batch.states[0].value ? types::AsLong(*batch.states[0].value).value_or(-1) : 0;
    for (const Invocation& inv : batch.invocations) {
      int32_t arg = types::AsInt(inv.argument).value_or(-1);
      if (arg == log.fail_first_of && !log.failed) {
        log.failed = true;
        return Unavailable("first call fails");
      }
      log.seen.emplace_back(batch.target.id, arg, n);
      ++n;
    }
    if (log.wrong_type_once) {
      log.wrong_type_once = false;
      return FunctionReply{Modify("n", types::Int(1))};
    }
    return FunctionReply{Modify("n", types::Long(n))};
  };
}

int64_t DurableCount(StateBackend& state, const std::string& id, int64_t now) {
  auto stored = state.ReadValues(KeyGroupOf(id, 16), Addr(id), {"n"}, now);
  if (!stored.ok() || !stored.value()[0]) return -1;
  return types::AsLong(TypedValue{std::string(types::kLong), true, stored.value()[0]->value})
      .value_or(-1);
}

// Messages for idle addresses run at once, one per call, state carried from one to the next,
// through RouteBatch (one inbox node per batch), with and without the write-back cache.
TEST_F(ShardTest, InlineRunsMessagesInOrderWithState) {
  for (size_t cache : {size_t{0}, size_t{1} << 20}) {
    SCOPED_TRACE(cache ? "with cache" : "without cache");
    CounterLog log;
    inline_fn_ = CounterFn(log);
    state_cache_bytes_ = cache;
    flush_interval_ = 1ms;
    StartShard();
    // The first call registers "n" (IncompleteInvocationContext, resent through Invoke); every
    // later message finds it registered and runs inline.
    Send(Addr("k0"), types::Int(-1));
    ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
    {
      std::lock_guard lock(log.mu);
      log.seen.clear();
      log.batch_sizes.clear();
    }
    std::vector<Envelope> batch;
    for (int i = 0; i < 200; ++i) {
      uint64_t epoch = progress_.Pin(1);
      flow_.Add(1);
      batch.push_back(Envelope{Addr("k" + std::to_string(i % 7)), std::nullopt, types::Int(i),
                               epoch});
      if (batch.size() == 50) router_->RouteBatch(batch);
      EXPECT_TRUE(batch.empty() || batch.size() < 50);
    }
    ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
    EXPECT_EQ(inline_invoker_->posted_.load(), 1) << "only the resend after registering";
    StopShard();
    std::lock_guard lock(log.mu);
    ASSERT_EQ(log.seen.size(), 200u);
    std::map<std::string, int64_t> next{{"k0", 1}};  // after the registering message
    std::map<std::string, int32_t> last_arg;
    for (const auto& [id, arg, n] : log.seen) {
      EXPECT_EQ(n, next[id]) << id << ": every message sees the previous one's state";
      next[id] = n + 1;
      EXPECT_GT(arg, last_arg.count(id) ? last_arg[id] : -1) << id << ": arrival order";
      last_arg[id] = arg;
    }
    for (size_t size : log.batch_sizes) EXPECT_EQ(size, 1u);
    for (int k = 0; k < 7; ++k) {
      std::string id = "k" + std::to_string(k);
      EXPECT_EQ(DurableCount(*state_, id, now_ms_), next[id]) << id;
    }
    EXPECT_EQ(metrics_.GetCounter("eddy_function_in_total", {{"namespace", "test"}, {"type", "fn"}})
                  .Value(),
              cache ? 402u : 201u)
        << "counted once per message (the counter is shared by both rounds)";
    // Fresh state for the second round.
    (void)state_->Close();
    state_.reset();
    std::filesystem::remove_all(dir_);
    OpenState();
  }
}

// An inline call that fails becomes an ordinary mailbox: retried with backoff, and later
// messages for that address wait behind it (order kept), while other addresses go on inline.
TEST_F(ShardTest, InlineFailureFallsBackToRetryKeepingOrder) {
  CounterLog log;
  log.fail_first_of = 1;
  inline_fn_ = CounterFn(log);
  StartShard();
  Send(Addr("a"), types::Int(0));  // registers "n" (Invoke), then counts
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  Send(Addr("a"), types::Int(1));  // fails inline
  Send(Addr("a"), types::Int(2));
  Send(Addr("a"), types::Int(3));
  Send(Addr("b"), types::Int(4));
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  EXPECT_EQ(metrics_
                .GetCounter("eddy_function_remote_invocation_failures_total",
                            {{"namespace", "test"}, {"type", "fn"}})
                .Value(),
            1u);
  std::lock_guard lock(log.mu);
  std::vector<int32_t> a_args;
  for (const auto& [id, arg, n] : log.seen) {
    if (id == "a") a_args.push_back(arg);
  }
  EXPECT_EQ(a_args, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(DurableCount(*state_, "a", now_ms_), 4);
  EXPECT_EQ(DurableCount(*state_, "b", now_ms_), 1);
}

// A refused reply (wrong state type) has no effect and is retried like a failed call.
TEST_F(ShardTest, InlineRefusedReplyHasNoEffectAndIsRetried) {
  CounterLog log;
  inline_fn_ = CounterFn(log);
  state_cache_bytes_ = 1 << 20;
  StartShard();
  Send(Addr("a"), types::Int(0));
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  {
    std::lock_guard lock(log.mu);
    log.wrong_type_once = true;
  }
  Send(Addr("a"), types::Int(1));
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  StopShard();
  std::lock_guard lock(log.mu);
  ASSERT_EQ(log.seen.size(), 3u) << "message 1 ran twice: refused, then retried";
  EXPECT_EQ(std::get<2>(log.seen[2]), 1) << "the refused reply left the state untouched";
  EXPECT_EQ(DurableCount(*state_, "a", now_ms_), 2);
}

// Inline calls run inside the shard's inbox drain: a slow function must not hold a checkpoint
// cut back for a whole drain turn (up to 1024 calls); the turn yields after a few ms, and the
// cut captures what is still in the inbox, which runs after the release.
TEST_F(ShardTest, SlowInlineCallsDoNotHoldACutBack) {
  std::atomic<int> calls{0};
  inline_fn_ = [&calls](const InvocationBatch& batch) -> Result<FunctionReply> {
    if (batch.states.empty()) return Missing("n", types::kLong);
    calls++;
    std::this_thread::sleep_for(2ms);
    return FunctionReply{InvocationResponse{}};
  };
  StartShard();
  Send(Addr("warm-up"), types::Int(0));
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  std::vector<Envelope> batch;
  for (int i = 0; i < 300; ++i) {
    uint64_t epoch = progress_.Pin(1);
    flow_.Add(1);
    batch.push_back(Envelope{Addr(std::to_string(i)), std::nullopt, types::Int(i), epoch});
  }
  router_->RouteBatch(batch);  // 300 x 2 ms = 600 ms of work in the inbox
  ASSERT_TRUE(WaitFor([&] { return calls.load() > 1; }));
  auto barrier = std::make_shared<CutBarrier>(1);
  ShardCut cut;
  auto asked = std::chrono::steady_clock::now();
  shard_->Cut(barrier, &cut);
  ASSERT_TRUE(barrier->WaitAllStopped(2s));
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 300ms) << "the cut waited for the inbox";
  barrier->StartCapture();
  ASSERT_TRUE(barrier->WaitAllCaptured(2s));
  EXPECT_FALSE(cut.inbox.empty()) << "unprocessed envelopes are captured from the inbox";
  EXPECT_EQ(static_cast<int>(cut.inbox.size()) + calls.load(), 301) << "each message once";
  barrier->Release();
  ASSERT_TRUE(WaitFor([&] { return flow_.Buffered() == 0; }));
  EXPECT_EQ(calls.load(), 301) << "the captured envelopes are delivered after the release";
}

// ---- Checkpoint cut (Shard::Cut) ----

int64_t ArgOf(const Envelope& env) { return types::AsInt(env.argument).value_or(-1); }

// The cut captures the batch in flight, the backlog and what sits in the inbox, in that order
// per address, flushes the write-back cache first, and resumes normally after the release.
TEST_F(ShardTest, CutCapturesInflightBacklogAndInbox) {
  state_cache_bytes_ = 1 << 20;
  flush_interval_ = std::chrono::hours(1);
  StartShard();
  Send(Addr("a"), types::Int(0));
  calls_.Reply(0, Missing("count", types::kLong));
  calls_.Batch(1);
  calls_.Reply(1, FunctionReply{Modify("count", types::Long(5))});  // cached only
  Send(Addr("a"), types::Int(1));                                    // in flight
  calls_.Batch(2);
  Send(Addr("a"), types::Int(2));  // backlog
  Send(Addr("b"), types::Int(3));  // in flight (another address)
  calls_.Batch(3);
  Send(Addr("b"), types::Int(4));  // backlog
  ASSERT_TRUE(WaitFor([&] { return Gauge("eddy_function_num_backlog") == 2; }));

  auto barrier = std::make_shared<CutBarrier>(1);
  ShardCut cut;
  shard_->Cut(barrier, &cut);
  ASSERT_TRUE(barrier->WaitAllStopped(5s));
  // Pushed while the shard is stopped: stays in the inbox and is captured from there.
  Send(Addr("a"), types::Int(5));
  calls_.Reply(2, FunctionReply{InvocationResponse{}});  // queued behind the cut, not applied
  barrier->StartCapture();
  ASSERT_TRUE(barrier->WaitAllCaptured(5s));
  EXPECT_TRUE(cut.status.ok()) << cut.status.ToString();
  auto stored = Durable("a");
  ASSERT_TRUE(stored.has_value()) << "the cut flushes the write-back cache";
  EXPECT_EQ(stored->value, types::Long(5).value);

  std::multiset<int64_t> in_flight, backlog;
  for (auto& e : cut.in_flight) in_flight.insert(ArgOf(e));
  for (auto& e : cut.backlog) backlog.insert(ArgOf(e));
  EXPECT_EQ(in_flight, (std::multiset<int64_t>{1, 3}));
  EXPECT_EQ(backlog, (std::multiset<int64_t>{2, 4}));
  ASSERT_EQ(cut.inbox.size(), 1u);
  EXPECT_EQ(ArgOf(cut.inbox[0]), 5);
  barrier->Release();

  // After the release the queued reply is applied and the inbox envelope goes out behind the
  // backlog, in order.
  InvocationBatch next = calls_.Batch(4);
  EXPECT_EQ(next.target.id, "a");
  ASSERT_EQ(next.invocations.size(), 2u);
  EXPECT_EQ(types::AsInt(next.invocations[0].argument), 2);
  EXPECT_EQ(types::AsInt(next.invocations[1].argument), 5);
}

// An agent that gives up before every shard stopped releases the barrier: the shard captures
// nothing and continues.
TEST_F(ShardTest, CutReleasedBeforeCaptureLeavesTheShardRunning) {
  StartShard();
  auto barrier = std::make_shared<CutBarrier>(2);  // a second shard never arrives
  ShardCut cut;
  shard_->Cut(barrier, &cut);
  EXPECT_FALSE(barrier->WaitAllStopped(50ms));
  barrier->Release();
  Send(Addr("a"), types::Int(1));
  EXPECT_EQ(calls_.Batch(0).target.id, "a");
  EXPECT_TRUE(cut.in_flight.empty() && cut.backlog.empty() && cut.inbox.empty());
}

// In checkpoint mode a fired delayed message's record is deleted when it fires: the checkpoint
// holds the envelope instead, so a restore never fires it twice.
TEST_F(ShardTest, CheckpointModeDeletesDelayedRecordsWhenFired) {
  checkpointing_ = true;
  StartShard();
  Send(Addr("a"), types::Int(1));
  InvocationResponse r;
  r.delayed_messages.push_back({false, "t", 0, Addr("b"), types::Int(9)});
  calls_.Reply(0, FunctionReply{r});
  EXPECT_EQ(calls_.Batch(1).target.id, "b");
  EXPECT_EQ(StoredDelayed(), 0u);
  EXPECT_EQ(shard_->PendingDelayed(), 0);
}

}  // namespace
}  // namespace eddy
