#pragma once
// Shared by the coordinator tests: a temp folder store, a store whose faults can be switched on
// and off during a test, a fake WorkerSession, and a fake worker that uploads snapshot files.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/checkpoint_store.h"
#include "eddy/coordinator/checkpoint_coordinator.h"
#include "eddy/storage/object_store.h"
#include "fakes/process.h"

namespace eddy::coordinator::testing {

class TempDir {
 public:
  TempDir() : path_(eddy::testing::MakeTempDir("eddy-coord")) {}
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string uri() const { return "file://" + path_; }

 private:
  std::string path_;
};

inline storage::ObjectStorePtr OpenFolder(const std::string& uri) {
  storage::StorageConfig c;
  c.uri = uri;
  auto s = storage::OpenObjectStore(c);
  EDDY_CHECK(s.ok());
  return std::move(s).value();
}

// Forwards to a plain store over the folder, or, while faulty() is set, to a fault-injecting one
// over the same folder (storage/object_store.h's MakeFaultInjectingStore with `plan`).
class SwitchableStore : public storage::ObjectStore {
 public:
  SwitchableStore(const std::string& uri, storage::FaultPlan plan,
                  std::shared_ptr<std::atomic<bool>> faulty)
      : plain_(OpenFolder(uri)),
        faulty_store_(storage::MakeFaultInjectingStore(OpenFolder(uri), std::move(plan))),
        faulty_(std::move(faulty)) {}
  Status Put(const std::string& k, std::string_view d) override { return S().Put(k, d); }
  Status PutFile(const std::string& k, const std::string& p) override { return S().PutFile(k, p); }
  Result<std::string> Get(const std::string& k) override { return S().Get(k); }
  Status GetFile(const std::string& k, const std::string& p) override { return S().GetFile(k, p); }
  Result<std::vector<storage::ObjectInfo>> List(const std::string& p) override {
    return S().List(p);
  }
  Status Delete(const std::string& k) override { return S().Delete(k); }
  std::string Describe() const override { return plain_->Describe(); }

 private:
  storage::ObjectStore& S() { return faulty_->load() ? *faulty_store_ : *plain_; }
  storage::ObjectStorePtr plain_;
  storage::ObjectStorePtr faulty_store_;
  std::shared_ptr<std::atomic<bool>> faulty_;
};

// Records what the coordinator sends. Thread-safe.
class FakeSession : public WorkerSession {
 public:
  void Send(const v1::CoordinatorMessage& m) override {
    std::lock_guard lock(mu_);
    if (!closed_) messages_.push_back(m);
  }
  void Close(const Status& reason) override {
    std::lock_guard lock(mu_);
    closed_ = true;
    close_reason_ = reason;
  }
  std::vector<v1::CoordinatorMessage> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  // Messages of one kind, in order.
  std::vector<v1::CoordinatorMessage> Of(v1::CoordinatorMessage::KindCase kind) {
    std::vector<v1::CoordinatorMessage> out;
    for (auto& m : messages()) {
      if (m.kind_case() == kind) out.push_back(m);
    }
    return out;
  }
  bool closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }
  Status close_reason() {
    std::lock_guard lock(mu_);
    return close_reason_;
  }

 private:
  std::mutex mu_;
  std::vector<v1::CoordinatorMessage> messages_;
  bool closed_ = false;
  Status close_reason_;
};

inline v1::WorkerMessage RegisterMsg(const std::string& worker) {
  v1::WorkerMessage m;
  m.mutable_register_worker()->set_worker_id(worker);
  m.mutable_register_worker()->set_address(worker + ".local:1");
  return m;
}

inline v1::WorkerMessage AckMsg(uint64_t id, const v1::SnapshotDescription& snap) {
  v1::WorkerMessage m;
  m.mutable_ack()->set_checkpoint_id(id);
  *m.mutable_ack()->mutable_snapshot() = snap;
  return m;
}

inline v1::WorkerMessage DeclineMsg(uint64_t id, const std::string& reason) {
  v1::WorkerMessage m;
  m.mutable_decline()->set_checkpoint_id(id);
  m.mutable_decline()->set_reason(reason);
  return m;
}

inline std::string SstKey(const std::string& worker, uint64_t number) {
  std::string data = "sst-data-" + worker + "-" + std::to_string(number);
  return "sst/" + worker + "-db/" + std::to_string(number) + "-" + Sha256Hex(data).substr(0, 8) +
         ".sst";
}

// Uploads what a worker would for checkpoint `id`: shared SSTs (numbers; the same number is the
// same object) and a snapshot blob under chk-<id>/<worker>/, and describes them.
inline v1::SnapshotDescription UploadSnapshot(storage::ObjectStore& store,
                                              const std::string& worker, uint64_t id,
                                              const v1::Assignment& assignment,
                                              std::vector<uint64_t> sst_numbers = {1}) {
  v1::SnapshotDescription d;
  d.set_worker_id(worker);
  *d.mutable_key_groups() = assignment.key_groups();
  auto add = [&](const std::string& key, const std::string& data) {
    EDDY_CHECK(store.Put(key, data).ok());
    auto* f = d.add_files();
    f->set_key(key);
    f->set_size(static_cast<int64_t>(data.size()));
    f->set_sha256(Sha256Hex(data));
  };
  for (uint64_t n : sst_numbers) {
    add(SstKey(worker, n), "sst-data-" + worker + "-" + std::to_string(n));
  }
  add("chk-" + std::to_string(id) + "/" + worker + "/snapshot.pb",
      "snapshot-" + worker + "-" + std::to_string(id));
  auto* off = d.add_ingress_offsets();
  off->set_topic("in");
  off->set_partition(0);
  off->set_offset(static_cast<int64_t>(100 * id));
  d.set_egress_epoch(id);
  (*d.mutable_metadata())["note"] = "test";
  return d;
}

// Every key in the store, sorted.
inline std::vector<std::string> Keys(storage::ObjectStore& store) {
  auto l = store.List("");
  EDDY_CHECK(l.ok());
  std::vector<std::string> keys;
  for (auto& o : *l) keys.push_back(o.key);
  return keys;
}

// Polls `pred` every 5 ms for up to `timeout`.
inline bool WaitFor(const std::function<bool()>& pred,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace eddy::coordinator::testing
