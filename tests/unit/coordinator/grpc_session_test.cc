// Coordinator and CoordinatorClient over real gRPC on 127.0.0.1 (port 0), with in-process fake
// participants that upload snapshot files to a folder store and acknowledge.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "eddy/coordinator.grpc.pb.h"
#include "eddy/coordinator/client.h"
#include "eddy/coordinator/coordinator.h"
#include "unit/coordinator/coordinator_test_util.h"

namespace eddy::coordinator {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::OpenFolder;
using testing::TempDir;
using testing::UploadSnapshot;
using testing::WaitFor;

enum class Mode { kAck, kDecline, kIgnore };

class FakeParticipant : public CheckpointParticipant {
 public:
  FakeParticipant(std::string worker, const std::string& uri, Mode mode)
      : worker_(std::move(worker)), store_(OpenFolder(uri)), mode_(mode) {}

  void Attach(CoordinatorClient* c) { client_.store(c); }

  void OnAssignment(const v1::Assignment& a) override {
    std::lock_guard lock(mu_);
    assignments_.push_back(a);
  }
  void OnTrigger(uint64_t id, int64_t) override {
    v1::Assignment a;
    {
      std::lock_guard lock(mu_);
      triggers_.push_back(id);
      a = assignments_.back();
    }
    CoordinatorClient* c = client_.load();
    if (!c) return;
    Status st;
    if (mode_ == Mode::kAck) {
      st = c->Ack(id, UploadSnapshot(*store_, worker_, id, a));
    } else if (mode_ == Mode::kDecline) {
      st = c->Decline(id, "not ready");
    }
    // Not an EXPECT: at the end of a test the coordinator may stop while a trigger is answered.
    if (!st.ok()) {
      std::lock_guard lock(mu_);
      answer_errors_.push_back(st.ToString());
    }
  }
  void OnComplete(uint64_t id) override {
    std::lock_guard lock(mu_);
    completes_.push_back(id);
  }
  void OnAbort(uint64_t id, const std::string& reason) override {
    std::lock_guard lock(mu_);
    aborts_.emplace_back(id, reason);
  }
  void OnRejected(const std::string& reason) override {
    std::lock_guard lock(mu_);
    rejections_.push_back(reason);
  }
  void OnConnectionChanged(bool connected) override {
    std::lock_guard lock(mu_);
    (connected ? connects_ : disconnects_)++;
  }

  std::vector<v1::Assignment> assignments() { return Locked(assignments_); }
  std::vector<uint64_t> triggers() { return Locked(triggers_); }
  std::vector<uint64_t> completes() { return Locked(completes_); }
  std::vector<std::pair<uint64_t, std::string>> aborts() { return Locked(aborts_); }
  int disconnects() { return Locked(disconnects_); }
  std::vector<std::string> answer_errors() { return Locked(answer_errors_); }

 private:
  template <typename T>
  T Locked(const T& v) {
    std::lock_guard lock(mu_);
    return v;
  }

  const std::string worker_;
  storage::ObjectStorePtr store_;
  const Mode mode_;
  std::atomic<CoordinatorClient*> client_{nullptr};
  std::mutex mu_;
  std::vector<v1::Assignment> assignments_;
  std::vector<uint64_t> triggers_;
  std::vector<uint64_t> completes_;
  std::vector<std::pair<uint64_t, std::string>> aborts_;
  std::vector<std::string> rejections_;
  std::vector<std::string> answer_errors_;
  int connects_ = 0;
  int disconnects_ = 0;
};

class GrpcSessionTest : public ::testing::Test {
 protected:
  CoordinatorConfig Config(uint32_t workers = 1, const std::string& listen = "127.0.0.1:0") {
    CoordinatorConfig c;
    c.listen_address = listen;
    c.storage.uri = dir_.uri();
    c.checkpoint.expected_workers = workers;
    c.checkpoint.max_parallelism = 32;
    c.checkpoint.checkpoint_interval = 40ms;
    c.checkpoint.checkpoint_timeout = 2000ms;
    c.checkpoint.heartbeat_timeout = 1000ms;
    c.checkpoint.retain = 2;
    return c;
  }

  CoordinatorHandlePtr Start(const CoordinatorConfig& c) {
    auto h = StartEmbeddedCoordinator(c);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? std::move(h).value() : nullptr;
  }

  std::unique_ptr<CoordinatorClient> Connect(const std::string& address, const std::string& id,
                                             FakeParticipant* p) {
    CoordinatorClientOptions o;
    o.coordinator_address = address;
    o.worker_id = id;
    o.worker_address = id + ":0";
    o.heartbeat_interval = 50ms;
    o.reconnect_backoff_initial = 20ms;
    o.reconnect_backoff_max = 200ms;
    auto c = CoordinatorClient::Start(o, p);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return nullptr;
    p->Attach(c->get());
    return std::move(c).value();
  }

  TempDir dir_;
};

TEST_F(GrpcSessionTest, EmbeddedCoordinatorRunsCheckpointsOverGrpc) {
  auto h = Start(Config());
  ASSERT_NE(h, nullptr);
  EXPECT_THAT(h->address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_NE(h->address(), "127.0.0.1:0");
  FakeParticipant p("w0", dir_.uri(), Mode::kAck);
  auto client = Connect(h->address(), "w0", &p);
  ASSERT_TRUE(WaitFor([&] { return p.completes().size() >= 3; }))
      << "completed: " << h->status().completed << ", aborted: " << h->status().aborted << " "
      << h->status().last_abort_reason;
  EXPECT_TRUE(client->connected());
  ASSERT_EQ(p.assignments().size(), 1u);
  EXPECT_EQ(p.assignments()[0].key_groups(0).last(), 31u);
  auto completes = p.completes();
  EXPECT_EQ(completes[0], 1u);
  EXPECT_EQ(completes[1], 2u);
  EXPECT_EQ(h->status().aborted, 0u);  // heartbeats kept the 1 s heartbeat timeout at bay
  auto latest = OpenFolder(dir_.uri())->Get("LATEST");
  EXPECT_TRUE(latest.ok());
  // Ack for a checkpoint not triggered on this session is refused locally.
  EXPECT_EQ(client->Ack(999, v1::SnapshotDescription()).code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(p.answer_errors(), ::testing::IsEmpty());
  client->Stop();
  h->Stop();
}

TEST_F(GrpcSessionTest, TwoWorkersGetDisjointRangesAndCompleteTogether) {
  auto h = Start(Config(2));
  ASSERT_NE(h, nullptr);
  FakeParticipant a("a", dir_.uri(), Mode::kAck);
  FakeParticipant b("b", dir_.uri(), Mode::kAck);
  auto ca = Connect(h->address(), "a", &a);
  auto cb = Connect(h->address(), "b", &b);
  ASSERT_TRUE(WaitFor([&] { return a.completes().size() >= 2 && b.completes().size() >= 2; }));
  EXPECT_EQ(a.assignments()[0].key_groups(0).first(), 0u);
  EXPECT_EQ(a.assignments()[0].key_groups(0).last(), 15u);
  EXPECT_EQ(b.assignments()[0].key_groups(0).first(), 16u);
  EXPECT_EQ(b.assignments()[0].key_groups(0).last(), 31u);
  v1::Manifest m;
  ASSERT_TRUE(m.ParseFromString(*OpenFolder(dir_.uri())->Get("chk-1/manifest.pb")));
  EXPECT_EQ(m.snapshots_size(), 2);
}

TEST_F(GrpcSessionTest, DeclineAndLostSessionAbortTheCheckpoint) {
  CoordinatorConfig cfg = Config();
  auto h = Start(cfg);
  ASSERT_NE(h, nullptr);
  {
    FakeParticipant p("w0", dir_.uri(), Mode::kDecline);
    auto c = Connect(h->address(), "w0", &p);
    ASSERT_TRUE(WaitFor([&] { return h->status().aborted >= 1; }));
    EXPECT_THAT(h->status().last_abort_reason, HasSubstr("declined: not ready"));
    ASSERT_TRUE(WaitFor([&] { return !p.aborts().empty(); }));
    c->Stop();
  }
  ASSERT_TRUE(WaitFor([&] { return h->status().registered_workers.empty(); }));
  uint64_t aborted = h->status().aborted;
  {
    FakeParticipant p("w0", dir_.uri(), Mode::kIgnore);
    auto c = Connect(h->address(), "w0", &p);
    ASSERT_TRUE(WaitFor([&] { return !p.triggers().empty(); }));
    uint64_t id = p.triggers().back();
    c->Stop();  // the worker goes away mid-checkpoint
    ASSERT_TRUE(WaitFor([&] { return h->status().aborted > aborted; }));
    EXPECT_THAT(h->status().last_abort_reason, HasSubstr("lost its session"));
    // The client told its participant too: the checkpoint can no longer complete.
    auto aborts = p.aborts();
    ASSERT_FALSE(aborts.empty());
    EXPECT_EQ(aborts.back().first, id);
  }
  FakeParticipant p("w0", dir_.uri(), Mode::kAck);
  auto c = Connect(h->address(), "w0", &p);
  ASSERT_TRUE(WaitFor([&] { return !p.completes().empty(); }));
  EXPECT_EQ(h->status().last_completed_checkpoint, p.completes().back());
}

TEST_F(GrpcSessionTest, ClientReconnectsToARestartedCoordinatorWhichRecovers) {
  auto h = Start(Config());
  ASSERT_NE(h, nullptr);
  std::string address = h->address();
  FakeParticipant p("w0", dir_.uri(), Mode::kAck);
  auto client = Connect(address, "w0", &p);
  ASSERT_TRUE(WaitFor([&] { return p.completes().size() >= 2; }));
  h->Stop();
  h.reset();
  ASSERT_TRUE(WaitFor([&] { return p.disconnects() >= 1; }));
  uint64_t last = p.completes().back();

  auto h2 = Start(Config(1, address));  // same port: the client knows only this address
  ASSERT_NE(h2, nullptr);
  EXPECT_GE(h2->status().restored_from, last);
  ASSERT_TRUE(WaitFor([&] { return p.assignments().size() >= 2; }));
  v1::Assignment a = p.assignments().back();
  ASSERT_TRUE(a.has_restore_from());
  EXPECT_EQ(a.restore_from().checkpoint_id(), h2->status().restored_from);
  size_t before = p.completes().size();
  ASSERT_TRUE(WaitFor([&] { return p.completes().size() > before; }));
  EXPECT_GT(p.completes().back(), last);  // ids continue
}

// The protocol spoken by hand through the generated stub, to send what CoordinatorClient never
// would.
class RawStream {
 public:
  explicit RawStream(const std::string& address) {
    stub_ = v1::Coordinator::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    context_.set_deadline(std::chrono::system_clock::now() + 10s);
    rw_ = stub_->Session(&context_);
  }
  bool Send(const v1::WorkerMessage& m) { return rw_->Write(m); }
  // Next message of `kind`, skipping others; false when the stream ended.
  bool Next(v1::CoordinatorMessage::KindCase kind, v1::CoordinatorMessage* out) {
    while (rw_->Read(out)) {
      if (out->kind_case() == kind) return true;
    }
    return false;
  }
  // Reads until the coordinator ends the stream (no half-close first: that would end it too).
  grpc::Status Finish() {
    v1::CoordinatorMessage m;
    while (rw_->Read(&m)) {
    }
    return rw_->Finish();
  }

 private:
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>> rw_;
};

TEST_F(GrpcSessionTest, MalformedMessagesGetErrorsAndTheCoordinatorCarriesOn) {
  CoordinatorConfig cfg = Config();
  cfg.checkpoint.checkpoint_interval = 100ms;
  auto h = Start(cfg);
  ASSERT_NE(h, nullptr);
  using Kind = v1::CoordinatorMessage::KindCase;
  {
    RawStream s(h->address());
    ASSERT_TRUE(s.Send(testing::AckMsg(1, v1::SnapshotDescription())));
    v1::CoordinatorMessage m;
    ASSERT_TRUE(s.Next(Kind::kRejected, &m));
    EXPECT_THAT(m.rejected().reason(), HasSubstr("register first"));
    grpc::Status st = s.Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    RawStream s(h->address());
    ASSERT_TRUE(s.Send(testing::RegisterMsg("bad/id")));
    EXPECT_EQ(s.Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  RawStream s(h->address());
  ASSERT_TRUE(s.Send(testing::RegisterMsg("w0")));
  v1::CoordinatorMessage m;
  ASSERT_TRUE(s.Next(Kind::kAssignment, &m));
  v1::Assignment assignment = m.assignment();
  ASSERT_TRUE(s.Send(testing::RegisterMsg("w0")));
  ASSERT_TRUE(s.Next(Kind::kRejected, &m));
  EXPECT_THAT(m.rejected().reason(), HasSubstr("already registered"));
  ASSERT_TRUE(s.Send(testing::AckMsg(77, v1::SnapshotDescription())));
  ASSERT_TRUE(s.Next(Kind::kRejected, &m));
  EXPECT_THAT(m.rejected().reason(), HasSubstr("unknown checkpoint 77"));
  ASSERT_TRUE(s.Send(v1::WorkerMessage()));
  ASSERT_TRUE(s.Next(Kind::kRejected, &m));

  ASSERT_TRUE(s.Next(Kind::kTrigger, &m));
  uint64_t id = m.trigger().checkpoint_id();
  auto store = OpenFolder(dir_.uri());
  auto snap = UploadSnapshot(*store, "w0", id, assignment);
  snap.set_worker_id("someone-else");
  ASSERT_TRUE(s.Send(testing::AckMsg(id, snap)));
  ASSERT_TRUE(s.Next(Kind::kRejected, &m));
  EXPECT_THAT(m.rejected().reason(), HasSubstr("carries the snapshot of worker 'someone-else'"));
  ASSERT_TRUE(s.Next(Kind::kAbort, &m));
  EXPECT_EQ(m.abort().checkpoint_id(), id);

  // Still serving: the next checkpoint completes.
  ASSERT_TRUE(s.Next(Kind::kTrigger, &m));
  id = m.trigger().checkpoint_id();
  ASSERT_TRUE(s.Send(testing::AckMsg(id, UploadSnapshot(*store, "w0", id, assignment))));
  ASSERT_TRUE(s.Next(Kind::kComplete, &m));
  EXPECT_EQ(m.complete().checkpoint_id(), id);
  EXPECT_GE(h->status().rejected_messages, 5u);
}

TEST_F(GrpcSessionTest, StartFailsCleanlyOnBadSettings) {
  CoordinatorConfig c = Config();
  c.listen_address = "no-port";
  EXPECT_EQ(StartEmbeddedCoordinator(c).status().code(), StatusCode::kInvalidArgument);
  c = Config();
  c.storage.uri = "ftp://nowhere";
  EXPECT_EQ(StartEmbeddedCoordinator(c).status().code(), StatusCode::kInvalidArgument);
  c = Config();
  c.listen_address = "203.0.113.1:0";  // not an address of this machine: cannot bind
  auto h = StartEmbeddedCoordinator(c);
  EXPECT_EQ(h.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(h.status().message(), HasSubstr("cannot listen"));
}

TEST_F(GrpcSessionTest, ClientRejectsBadOptions) {
  FakeParticipant p("w0", dir_.uri(), Mode::kAck);
  CoordinatorClientOptions o;
  o.coordinator_address = "127.0.0.1:1";
  o.worker_id = "has space";
  EXPECT_EQ(CoordinatorClient::Start(o, &p).status().code(), StatusCode::kInvalidArgument);
  o.worker_id = "w0";
  EXPECT_EQ(CoordinatorClient::Start(o, nullptr).status().code(), StatusCode::kInvalidArgument);
  o.heartbeat_interval = 0ms;
  EXPECT_EQ(CoordinatorClient::Start(o, &p).status().code(), StatusCode::kInvalidArgument);
  // Nothing listens at 127.0.0.1:1: the client keeps trying, Ack says "not connected".
  o.heartbeat_interval = 50ms;
  o.reconnect_backoff_initial = 10ms;
  o.reconnect_backoff_max = 20ms;
  auto c = CoordinatorClient::Start(o, &p);
  ASSERT_TRUE(c.ok());
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE((*c)->connected());
  EXPECT_EQ((*c)->Ack(1, v1::SnapshotDescription()).code(), StatusCode::kUnavailable);
  (*c)->Stop();
}

}  // namespace
}  // namespace eddy::coordinator
