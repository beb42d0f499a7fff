// FaultInjectingStore: a wrapper for tests of checkpoint code (see object_store.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "eddy/storage/object_store.h"

namespace eddy::storage {

class FaultInjectingStore final : public ObjectStore {
 public:
  FaultInjectingStore(ObjectStorePtr inner, FaultPlan plan)
      : inner_(std::move(inner)), plan_(std::move(plan)) {
    if (!plan_.counters) plan_.counters = std::make_shared<FaultCounters>();
    for (const auto& nth : plan_.fail_nth) pending_nth_.push_back(nth);
    for (const auto& nth : plan_.delay_nth) pending_delays_.push_back(nth);
  }

  Status Put(const std::string& key, std::string_view data) override {
    EDDY_RETURN_IF_ERROR(Enter(StoreOp::kPut, key));
    return inner_->Put(key, data);
  }

  Status PutFile(const std::string& key, const std::string& local_path) override {
    EDDY_RETURN_IF_ERROR(Enter(StoreOp::kPutFile, key));
    if (plan_.put_file_fail_after_bytes >= 0) {
      // Read what a real upload would have sent before the connection dropped, then fail
      // without forwarding: the key stays as it was.
      int fd = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return NotFound("local file not found: " + local_path);
      std::vector<char> buf(64 << 10);
      int64_t sent = 0;
      while (sent < plan_.put_file_fail_after_bytes) {
        size_t want = static_cast<size_t>(
            std::min<int64_t>(buf.size(), plan_.put_file_fail_after_bytes - sent));
        ssize_t n = ::read(fd, buf.data(), want);
        if (n <= 0) break;
        sent += n;
      }
      ::close(fd);
      return Inject(StoreOp::kPutFile, key,
                    "connection lost after " + std::to_string(sent) + " bytes of PutFile");
    }
    return inner_->PutFile(key, local_path);
  }

  Result<std::string> Get(const std::string& key) override {
    EDDY_RETURN_IF_ERROR(Enter(StoreOp::kGet, key));
    auto r = inner_->Get(key);
    if (r.ok() && plan_.corrupt_get) Corrupt(&r.value());
    return r;
  }

  Status GetFile(const std::string& key, const std::string& local_path) override {
    EDDY_RETURN_IF_ERROR(Enter(StoreOp::kGetFile, key));
    EDDY_RETURN_IF_ERROR(inner_->GetFile(key, local_path));
    if (!plan_.corrupt_get) return Status::Ok();
    std::string bytes;
    {
      std::ifstream in(local_path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    Corrupt(&bytes);
    std::ofstream out(local_path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return Internal("fault injection could not rewrite " + local_path);
    return Status::Ok();
  }

  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    EDDY_RETURN_IF_ERROR(Enter(StoreOp::kList, prefix));
    return inner_->List(prefix);
  }

  Status Delete(const std::string& key) override {
    EDDY_RETURN_IF_ERROR(Enter(StoreOp::kDelete, key));
    return inner_->Delete(key);
  }

  std::string Describe() const override { return "fault-injecting " + inner_->Describe(); }

 private:
  // Counts the call and decides whether it fails before reaching the inner store.
  Status Enter(StoreOp op, const std::string& key) {
    int64_t n = ++plan_.counters->calls_[static_cast<int>(op)];
    if (!plan_.fail_key_substring.empty() &&
        key.find(plan_.fail_key_substring) != std::string::npos) {
      return Inject(op, key, "key matches '" + plan_.fail_key_substring + "'");
    }
    bool delay = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = pending_nth_.begin(); it != pending_nth_.end(); ++it) {
        if (it->op == op && it->n == n) {
          pending_nth_.erase(it);
          return Inject(op, key, "call #" + std::to_string(n));
        }
      }
      for (auto it = pending_delays_.begin(); it != pending_delays_.end(); ++it) {
        if (it->op == op && it->n == n) {
          pending_delays_.erase(it);
          delay = true;
          break;
        }
      }
    }
    if (delay) std::this_thread::sleep_for(plan_.delay);  // outside mu_: other calls go on
    return Status::Ok();
  }

  Status Inject(StoreOp op, const std::string& key, const std::string& why) {
    ++plan_.counters->faults_;
    return Status(plan_.fault_code, std::string("injected fault: ") + StoreOpName(op) + " '" + key +
                                        "' (" + why + ")");
  }

  static void Corrupt(std::string* bytes) {
    if (bytes->empty()) {
      bytes->push_back('\x01');
    } else {
      (*bytes)[bytes->size() / 2] ^= 0x5A;
    }
  }

  ObjectStorePtr inner_;
  FaultPlan plan_;
  std::mutex mu_;
  std::vector<FaultPlan::NthCall> pending_nth_;
  std::vector<FaultPlan::NthCall> pending_delays_;
};

ObjectStorePtr MakeFaultInjectingStore(ObjectStorePtr inner, FaultPlan plan) {
  return std::make_unique<FaultInjectingStore>(std::move(inner), std::move(plan));
}

}  // namespace eddy::storage
