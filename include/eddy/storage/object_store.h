#pragma once
// ObjectStore: where checkpoints live (docs/design/checkpoints.md). Two backends behind one
// interface: a local folder (file:///path) and S3 or anything that speaks its API
// (s3://bucket/prefix, signed with SigV4). A fault-injecting wrapper serves the tests of the
// checkpoint code above it.
//
// Keys are relative to the URI's prefix, '/'-separated, and use only [A-Za-z0-9._~/-]; no empty,
// "." or ".." segment and no leading or trailing '/'. Both backends enforce the same rules, so
// code that works on a local folder also works on S3. A bad key is InvalidArgument.
//
// Threading: every ObjectStore is safe to use from several threads at once (checkpoint uploads run
// on a small pool). Calls block; the S3 backend bounds each HTTP attempt by request_timeout and
// retries transient failures itself, so callers should not add their own retry loop.
// Ownership: OpenObjectStore returns a unique_ptr; the store owns no threads.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/common/status.h"

namespace eddy::storage {

struct ObjectInfo {
  std::string key;  // relative to the store's prefix
  int64_t size = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Writes the whole object; readers see the old object or the new one, never a mix.
  virtual Status Put(const std::string& key, std::string_view data) = 0;
  // Streams a local file into the object without loading it whole. On S3, files larger than
  // multipart_threshold go up as a multipart upload (aborted on failure, so a failed upload leaves
  // nothing at the key). NotFound when the local file does not exist.
  virtual Status PutFile(const std::string& key, const std::string& local_path) = 0;
  // The object's bytes; NotFound when absent.
  virtual Result<std::string> Get(const std::string& key) = 0;
  // Downloads into local_path atomically (temporary file in the same folder, fsync, rename): on
  // failure local_path is untouched. NotFound when absent.
  virtual Status GetFile(const std::string& key, const std::string& local_path) = 0;
  // Every object whose key starts with `prefix` (plain string prefix, "" = all), all pages,
  // sorted by key.
  virtual Result<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;
  // Removes the object; an absent object is OK.
  virtual Status Delete(const std::string& key) = 0;
  // For logs: "file:///var/eddy" or "s3://bucket/prefix/ at http://127.0.0.1:9000".
  virtual std::string Describe() const = 0;
};
using ObjectStorePtr = std::unique_ptr<ObjectStore>;

struct StorageConfig {
  // "s3://bucket" or "s3://bucket/some/prefix", or "file:///absolute/path".
  std::string uri;
  // S3 only. "http://127.0.0.1:9000"; empty = AWS_ENDPOINT_URL, else
  // https://s3.<region>.amazonaws.com.
  std::string endpoint;
  // Empty = AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
  std::string region = "us-east-1";
  // Both empty = AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN from the
  // environment (the token is taken from the environment only together with the key).
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // http://host/bucket/key (true) or http://bucket.host/key (false).
  bool path_style = true;
  // Attempts per request for transient failures (5xx, 429, timeouts, connection errors), >= 1.
  int max_attempts = 5;
  // Bound on one HTTP attempt (connect + transfer); a multipart upload is bounded per part.
  std::chrono::milliseconds request_timeout{30000};
  // First backoff delay; doubled per attempt (capped at 5 s), with jitter.
  std::chrono::milliseconds retry_base_delay{100};
  // PutFile above this size uses multipart upload with parts of part_size (S3: >= 5 MiB).
  int64_t multipart_threshold = int64_t{16} << 20;
  int64_t part_size = int64_t{8} << 20;
  // ListObjectsV2 max-keys (1..1000); small values only to exercise pagination in tests.
  int list_page_size = 1000;
};

// file:// -> local folder (created if missing), s3:// -> S3. Any other or malformed URI, or an
// invalid setting, is InvalidArgument naming it. Opening does not contact S3.
Result<ObjectStorePtr> OpenObjectStore(const StorageConfig& config);

// ---- Fault injection (tests of the code that uses an ObjectStore) ----

enum class StoreOp { kPut = 0, kPutFile, kGet, kGetFile, kList, kDelete };
inline constexpr int kStoreOpCount = 6;
const char* StoreOpName(StoreOp op);

// Calls seen by a fault-injecting store, shared between the store and the test that reads them
// (hence shared_ptr: either may be destroyed first). Thread-safe.
class FaultCounters {
 public:
  int64_t calls(StoreOp op) const { return calls_[static_cast<int>(op)].load(); }
  int64_t faults() const { return faults_.load(); }

 private:
  friend class FaultInjectingStore;
  std::atomic<int64_t> calls_[kStoreOpCount] = {};
  std::atomic<int64_t> faults_{0};
};

struct FaultPlan {
  struct NthCall {
    StoreOp op;
    int64_t n;  // 1-based: the n-th call of `op` fails (once)
  };
  std::vector<NthCall> fail_nth;
  // The n-th call of `op` first waits `delay` (once): a slow upload, e.g. to time out a checkpoint.
  std::vector<NthCall> delay_nth;
  std::chrono::milliseconds delay{0};
  // Every call whose key (or List prefix) contains this substring fails; empty = off.
  std::string fail_key_substring;
  // >= 0: every PutFile reads this many bytes of the file, then fails as if the connection had
  // dropped mid-upload; nothing becomes visible at the key (what S3 guarantees for an aborted
  // multipart upload and the local backend for its temporary file).
  int64_t put_file_fail_after_bytes = -1;
  // Get and GetFile return the object with one byte flipped (an empty object gains a byte).
  bool corrupt_get = false;
  // The code of injected failures (the default is what a network fault becomes).
  StatusCode fault_code = StatusCode::kUnavailable;
  std::shared_ptr<FaultCounters> counters = std::make_shared<FaultCounters>();
};

// Wraps `inner`; injected failures say "injected fault" in their message. Calls that do not
// fail are forwarded unchanged.
ObjectStorePtr MakeFaultInjectingStore(ObjectStorePtr inner, FaultPlan plan);

}  // namespace eddy::storage
