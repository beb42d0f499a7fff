// IncrementalUploader: a job per checkpoint, its files spread over a small pool of threads that
// the uploader owns. See include/eddy/checkpoint/incremental_uploader.h and README.md.

#include "eddy/checkpoint/incremental_uploader.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>

#include "checkpoint/file_digest.h"
#include "checkpoint/quote.h"

namespace eddy::checkpoint {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxThreads = 16;

// "000012.sst" -> "000012"; empty for any other name (uploaded per checkpoint instead).
std::string SstNumber(const std::string& name) {
  constexpr std::string_view kSuffix = ".sst";
  if (name.size() <= kSuffix.size() || name.size() > kSuffix.size() + 19) return {};
  std::string digits = name.substr(0, name.size() - kSuffix.size());
  if (name.compare(digits.size(), kSuffix.size(), kSuffix) != 0) return {};
  for (char c : digits) {
    if (c < '0' || c > '9') return {};
  }
  return digits;
}

Status WithContext(const Status& s, const std::string& context) {
  return Status(s.code(), context + ": " + s.message());
}

class UploaderImpl final : public IncrementalUploader {
 public:
  using IncrementalUploader::UploadAsync;

  UploaderImpl(storage::ObjectStore* store, UploaderOptions options,
               std::unordered_set<std::string> known)
      : store_(store), options_(std::move(options)), known_(std::move(known)) {
    threads_.reserve(options_.threads);
    for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Run(); });
  }

  ~UploaderImpl() override {
    std::vector<std::shared_ptr<Job>> done_now;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      // Unclaimed files of every queued job fail; jobs with files still being sent complete
      // when those finish.
      for (auto& job : jobs_) {
        size_t unclaimed = job->items.size() - job->next;
        job->next = job->items.size();
        job->finished += unclaimed;
        if (job->error.ok()) {
          job->error = Unavailable("checkpoint " + std::to_string(job->checkpoint_id) +
                                   " upload cancelled: the uploader is shutting down");
        }
        if (job->finished == job->items.size()) done_now.push_back(job);
      }
      jobs_.clear();
    }
    cv_.notify_all();
    for (auto& job : done_now) Finish(*job);
    for (auto& t : threads_) t.join();
  }

  void UploadAsync(uint64_t checkpoint_id, std::string local_dir, Callback done) override {
    auto job = std::make_shared<Job>();
    job->checkpoint_id = checkpoint_id;
    job->done = std::move(done);
    Status listed = ListDir(local_dir, &job->items);
    if (!listed.ok()) {
      job->done(WithContext(listed, "checkpoint " + std::to_string(checkpoint_id) +
                                        " of worker " + options_.worker_id));
      return;
    }
    job->files.resize(job->items.size());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_) {
        jobs_.push_back(job);
        cv_.notify_all();
        return;
      }
    }
    job->done(Unavailable("the checkpoint uploader is shutting down"));
  }

  size_t known_sst_count() const override {
    std::lock_guard<std::mutex> lock(known_mu_);
    return known_.size();
  }

 private:
  struct Item {
    std::string name;        // local file name
    std::string path;        // local path
    std::string sst_number;  // non-empty for SST files
  };

  struct Job {
    uint64_t checkpoint_id = 0;
    Callback done;
    std::vector<Item> items;  // sorted by name
    std::vector<CheckpointFile> files;  // files[i] describes items[i] once it finished
    // Guarded by mu_.
    size_t next = 0;      // first unclaimed item
    size_t finished = 0;  // items done (uploaded, reused, failed or skipped)
    Status error;         // the first failure
    int64_t bytes_uploaded = 0;
    int64_t bytes_reused = 0;
    int64_t files_uploaded = 0;
    int64_t files_reused = 0;
  };

  struct ItemOutcome {
    Status status;
    CheckpointFile file;
    bool reused = false;
  };

  Status ListDir(const std::string& dir, std::vector<Item>* items) {
    std::error_code ec;
    fs::file_status st = fs::status(dir, ec);
    if (ec || !fs::is_directory(st)) {
      return NotFound("checkpoint directory " + dir + " does not exist or is not a directory");
    }
    bool has_current = false;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      std::error_code type_ec;
      if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) {
        return InvalidArgument("checkpoint directory " + dir + " holds " + Quote(name) +
                               ", which is not a regular file");
      }
      if (!IsSafeLocalName(name)) {
        return InvalidArgument("checkpoint directory " + dir + " holds " + Quote(name) +
                               ", a name outside the storage key alphabet");
      }
      if (name == "LOCK") {
        return InvalidArgument(dir + " holds a LOCK file: it is a live database, not a "
                               "checkpoint made by StateBackend::CreateCheckpoint");
      }
      if (name == "CURRENT") has_current = true;
      items->push_back(Item{name, it->path().string(), SstNumber(name)});
    }
    if (ec) return Unavailable("cannot list checkpoint directory " + dir + ": " + ec.message());
    if (!has_current) {
      return InvalidArgument("checkpoint directory " + dir +
                             " has no CURRENT file: not a RocksDB checkpoint");
    }
    std::sort(items->begin(), items->end(),
              [](const Item& a, const Item& b) { return a.name < b.name; });
    return Status::Ok();
  }

  void Run() {
    for (;;) {
      std::shared_ptr<Job> job;
      size_t index = 0;
      bool skip = false;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, nothing left to claim
        job = jobs_.front();
        index = job->next++;
        if (job->next == job->items.size()) jobs_.pop_front();
        skip = !job->error.ok();  // the job already failed: do not send more
      }
      ItemOutcome outcome;
      if (!skip) outcome = Process(*job, job->items[index]);
      bool complete = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!skip) {
          if (!outcome.status.ok()) {
            if (job->error.ok()) job->error = outcome.status;
          } else {
            job->files[index] = std::move(outcome.file);
            int64_t size = job->files[index].size;
            if (outcome.reused) {
              job->bytes_reused += size;
              ++job->files_reused;
            } else {
              job->bytes_uploaded += size;
              ++job->files_uploaded;
            }
          }
        }
        complete = ++job->finished == job->items.size();
      }
      if (complete) Finish(*job);
    }
  }

  // Called once per job, without mu_, after every item finished (no other thread touches it).
  static void Finish(Job& job) {
    Callback done = std::move(job.done);
    if (!job.error.ok()) {
      done(job.error);
      return;
    }
    UploadResult result;
    result.files = std::move(job.files);
    result.bytes_uploaded = job.bytes_uploaded;
    result.bytes_reused = job.bytes_reused;
    result.files_uploaded = job.files_uploaded;
    result.files_reused = job.files_reused;
    done(std::move(result));
  }

  ItemOutcome Process(const Job& job, const Item& item) {
    ItemOutcome out;
    auto digest = DigestFile(item.path);
    if (!digest.ok()) {
      out.status = WithContext(digest.status(), "checkpoint " + std::to_string(job.checkpoint_id));
      return out;
    }
    out.file.local_name = item.name;
    out.file.size = digest->size;
    out.file.sha256 = digest->sha256;
    if (!item.sst_number.empty()) {
      out.file.key = SstKey(options_.key_prefix, options_.db_id, item.sst_number, digest->sha256);
      {
        std::lock_guard<std::mutex> lock(known_mu_);
        if (known_.count(out.file.key) != 0) {
          out.reused = true;
          return out;
        }
      }
    } else {
      out.file.key =
          CheckpointFolder(options_.key_prefix, job.checkpoint_id, options_.worker_id) + item.name;
    }
    Status put = store_->PutFile(out.file.key, item.path);
    if (!put.ok()) {
      out.status = WithContext(put, "checkpoint " + std::to_string(job.checkpoint_id) +
                                        ": uploading " + item.path + " to " + out.file.key +
                                        " in " + store_->Describe());
      return out;
    }
    if (!item.sst_number.empty()) {
      std::lock_guard<std::mutex> lock(known_mu_);
      known_.insert(out.file.key);
    }
    return out;
  }

  storage::ObjectStore* const store_;
  const UploaderOptions options_;

  mutable std::mutex known_mu_;
  std::unordered_set<std::string> known_;  // SST keys stored

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> jobs_;  // jobs with unclaimed items, in call order
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: started after everything above exists
};

}  // namespace

Result<std::unique_ptr<IncrementalUploader>> IncrementalUploader::Create(
    storage::ObjectStore* store, UploaderOptions options) {
  if (store == nullptr) return InvalidArgument("checkpoint uploader needs an object store");
  EDDY_RETURN_IF_ERROR(CheckKeyPrefix(options.key_prefix));
  EDDY_RETURN_IF_ERROR(CheckKeySegment(options.db_id, "checkpoint uploader's db id"));
  EDDY_RETURN_IF_ERROR(CheckKeySegment(options.worker_id, "checkpoint uploader's worker id"));
  if (options.threads < 1 || options.threads > kMaxThreads) {
    return InvalidArgument("checkpoint uploader threads must be 1.." + std::to_string(kMaxThreads) +
                           ", got " + std::to_string(options.threads));
  }
  const std::string folder = SstFolder(options.key_prefix, options.db_id);
  auto listed = store->List(folder);
  if (!listed.ok()) {
    return WithContext(listed.status(), "listing stored SST files under " + folder + " in " +
                                            store->Describe());
  }
  std::unordered_set<std::string> known;
  for (const storage::ObjectInfo& info : *listed) {
    // Only keys of our own shape: anything else under sst/ is never reused.
    if (LocalNameForKey(info.key).ok()) known.insert(info.key);
  }
  return std::unique_ptr<IncrementalUploader>(
      std::make_unique<UploaderImpl>(store, std::move(options), std::move(known)));
}

std::future<Result<UploadResult>> IncrementalUploader::UploadAsync(uint64_t checkpoint_id,
                                                                   std::string local_dir) {
  // shared_ptr: std::function needs a copyable callable, std::promise is move-only.
  auto promise = std::make_shared<std::promise<Result<UploadResult>>>();
  std::future<Result<UploadResult>> future = promise->get_future();
  UploadAsync(checkpoint_id, std::move(local_dir),
              [promise](Result<UploadResult> result) { promise->set_value(std::move(result)); });
  return future;
}

Result<UploadResult> IncrementalUploader::Upload(uint64_t checkpoint_id, std::string local_dir) {
  return UploadAsync(checkpoint_id, std::move(local_dir)).get();
}

}  // namespace eddy::checkpoint
