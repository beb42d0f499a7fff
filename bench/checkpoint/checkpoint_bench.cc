// eddy-checkpoint-bench: what a checkpoint costs on a RocksDB state backend of a given size.
//
// Fills a backend with --state-mb of incompressible values, then for the initial state and after
// changing each --changes percentage of the keys: takes a checkpoint (the synchronous pause),
// uploads it incrementally, and restores it (download + verify + open). Prints one line per step.
//
//   eddy-checkpoint-bench [--state-mb=100] [--value-bytes=1024] [--changes=1,100]
//                         [--store=file:///tmp/x | s3://bucket/prefix] [--endpoint=http://...]
//                         [--region=us-east-1] [--threads=2] [--dir=/tmp/work] [--keep]
//                         [--flush-after-cut]
//
// --flush-after-cut flushes the memtables right after each checkpoint (outside the pause, as a
// worker could do in the background), so the next checkpoint's WAL holds only the changes since.
//
// S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), the
// endpoint from --endpoint or AWS_ENDPOINT_URL. Without --store, a file:// store in the work dir.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "eddy/checkpoint/incremental_uploader.h"
#include "eddy/checkpoint/restore_downloader.h"
#include "eddy/state/state_backend.h"
#include "eddy/storage/object_store.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using eddy::Status;

struct Flags {
  int64_t state_mb = 100;
  int64_t value_bytes = 1024;
  std::vector<int> changes = {1, 100};
  std::string store;
  std::string endpoint;
  std::string region;
  int threads = 2;
  std::string dir;
  bool keep = false;
  bool flush_after_cut = false;
};

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(stderr,
               "%s\nusage: eddy-checkpoint-bench [--state-mb=100] [--value-bytes=1024] "
               "[--changes=1,100] [--store=URI] [--endpoint=URL] [--region=R] [--threads=2] "
               "[--dir=PATH] [--keep] [--flush-after-cut]\n",
               problem.c_str());
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const std::string& name) -> std::optional<std::string> {
      std::string p = "--" + name + "=";
      if (arg.rfind(p, 0) == 0) return arg.substr(p.size());
      return std::nullopt;
    };
    auto number = [&](const std::string& text) -> int64_t {
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || v <= 0) Usage("not a positive number: " + arg);
      return v;
    };
    if (auto v = value("state-mb")) {
      f.state_mb = number(*v);
    } else if (auto v = value("value-bytes")) {
      f.value_bytes = number(*v);
    } else if (auto v = value("changes")) {
      f.changes.clear();
      std::stringstream ss(*v);
      for (std::string part; std::getline(ss, part, ',');) {
        int64_t p = number(part);
        if (p > 100) Usage("a change is a percentage, 1..100: " + part);
        f.changes.push_back(static_cast<int>(p));
      }
    } else if (auto v = value("store")) {
      f.store = *v;
    } else if (auto v = value("endpoint")) {
      f.endpoint = *v;
    } else if (auto v = value("region")) {
      f.region = *v;
    } else if (auto v = value("threads")) {
      f.threads = static_cast<int>(number(*v));
    } else if (auto v = value("dir")) {
      f.dir = *v;
    } else if (arg == "--keep") {
      f.keep = true;
    } else if (arg == "--flush-after-cut") {
      f.flush_after_cut = true;
    } else {
      Usage("unknown argument: " + arg);
    }
  }
  return f;
}

void Check(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s failed: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Take(eddy::Result<T> r, const char* what) {
  Check(r.ok() ? Status::Ok() : r.status(), what);
  return std::move(r).value();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Mb(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

eddy::Address KeyAddr(int64_t i) {
  return eddy::Address{eddy::FunctionType{"bench", "fn"}, "k" + std::to_string(i)};
}

// Rewrites the keys i with i % stride == 0 (stride 1 = all) with fresh random bytes.
void Write(eddy::StateBackend& db, int64_t keys, int64_t stride, int64_t value_bytes,
           uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string value(static_cast<size_t>(value_bytes), '\0');
  auto batch = db.NewWriteBatch();
  int64_t in_batch = 0;
  for (int64_t i = 0; i < keys; i += stride) {
    for (size_t b = 0; b < value.size(); b += 8) {
      uint64_t r = rng();
      for (size_t j = 0; j < 8 && b + j < value.size(); ++j) {
        value[b + j] = static_cast<char>(r >> (8 * j));
      }
    }
    batch->PutValue(static_cast<eddy::KeyGroup>(i % 128), KeyAddr(i), "s",
                    eddy::StoredValue{"bench/bytes", value, 0});
    if (++in_batch == 1000) {
      Check(db.Commit(*batch), "commit");
      in_batch = 0;
    }
  }
  if (in_batch > 0) Check(db.Commit(*batch), "commit");
}

int64_t WalBytes(const std::string& dir) {
  int64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".log") n += static_cast<int64_t>(e.file_size());
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  if (flags.dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "eddy-checkpoint-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) Usage("cannot create a temporary directory");
    flags.dir = tmpl;
  }
  fs::create_directories(flags.dir);
  if (flags.store.empty()) flags.store = "file://" + fs::absolute(flags.dir).string() + "/store";

  eddy::storage::StorageConfig config;
  config.uri = flags.store;
  config.endpoint = flags.endpoint;
  if (!flags.region.empty()) config.region = flags.region;
  auto store = Take(eddy::storage::OpenObjectStore(config), "opening the store");

  eddy::RocksDbOptions db_options;
  db_options.path = flags.dir + "/db";
  auto db = Take(eddy::OpenRocksDbBackend(db_options), "opening the state backend");

  const int64_t keys = flags.state_mb * (1 << 20) / flags.value_bytes;
  std::printf("state %lld MB: %lld keys x %lld B values; store %s; %d upload threads\n",
              static_cast<long long>(flags.state_mb), static_cast<long long>(keys),
              static_cast<long long>(flags.value_bytes), store->Describe().c_str(),
              flags.threads);
  auto t0 = Clock::now();
  Write(*db, keys, 1, flags.value_bytes, 1);
  std::printf("fill: %.2f s\n", Seconds(Clock::now() - t0));

  eddy::checkpoint::UploaderOptions uploader_options;
  uploader_options.db_id = "bench-db";
  uploader_options.worker_id = "bench";
  uploader_options.threads = flags.threads;
  auto uploader = Take(eddy::checkpoint::IncrementalUploader::Create(store.get(), uploader_options),
                       "creating the uploader");
  eddy::checkpoint::RestoreDownloader downloader(store.get(), flags.threads);

  std::vector<int> steps = {0};
  steps.insert(steps.end(), flags.changes.begin(), flags.changes.end());
  uint64_t id = 0;
  for (int percent : steps) {
    ++id;
    std::string label =
        percent == 0 ? "initial" : "after changing " + std::to_string(percent) + "%";
    if (percent > 0) {
      auto tw = Clock::now();
      Write(*db, keys, 100 / percent, flags.value_bytes, 1000 + id);
      std::printf("change %d%%: %.2f s\n", percent, Seconds(Clock::now() - tw));
    }
    const std::string chk_dir = flags.dir + "/chk-" + std::to_string(id);
    auto tc = Clock::now();
    Check(db->CreateCheckpoint(chk_dir), "checkpoint");
    double pause = Seconds(Clock::now() - tc);
    int64_t wal = WalBytes(chk_dir);
    double flush = 0;
    if (flags.flush_after_cut) {
      auto tf = Clock::now();
      Check(db->FlushMemtables(), "flush after the cut");
      flush = Seconds(Clock::now() - tf);
    }

    auto tu = Clock::now();
    auto uploaded = Take(uploader->Upload(id, chk_dir), "upload");
    double upload = Seconds(Clock::now() - tu);

    const std::string restore_dir = flags.dir + "/restore-" + std::to_string(id);
    auto tr = Clock::now();
    auto stats = Take(downloader.Download(uploaded.files, restore_dir), "restore download");
    double download = Seconds(Clock::now() - tr);
    auto to = Clock::now();
    eddy::RocksDbOptions restored_options;
    restored_options.path = restore_dir;
    auto restored = Take(eddy::OpenRocksDbBackend(restored_options), "opening the restored copy");
    auto probe = Take(restored->ReadValues(static_cast<eddy::KeyGroup>((keys - 1) % 128),
                                           KeyAddr(keys - 1), {"s"}, 0),
                      "reading the restored copy");
    double open = Seconds(Clock::now() - to);
    if (!probe[0].has_value()) {
      std::fprintf(stderr, "restored copy lacks the last key\n");
      return 1;
    }
    Check(restored->Close(), "closing the restored copy");

    std::printf(
        "checkpoint %llu (%s): pause %.1f ms (WAL copied %.1f MB)%s | upload %.2f s, uploaded "
        "%.1f MB in %lld files, reused %.1f MB in %lld files (%.1f%% of %.1f MB) | restore "
        "%.2f s (download+verify %.2f s of %.1f MB, open %.2f s)\n",
        static_cast<unsigned long long>(id), label.c_str(), pause * 1000, Mb(wal),
        flags.flush_after_cut
            ? (" [flush after cut " + std::to_string(static_cast<int>(flush * 1000)) + " ms]")
                  .c_str()
            : "",
        upload,
        Mb(uploaded.bytes_uploaded), static_cast<long long>(uploaded.files_uploaded),
        Mb(uploaded.bytes_reused), static_cast<long long>(uploaded.files_reused),
        uploaded.total_bytes() ? 100.0 * uploaded.bytes_reused / uploaded.total_bytes() : 0.0,
        Mb(uploaded.total_bytes()), download + open, download, Mb(stats.bytes), open);
    std::fflush(stdout);
    std::error_code ec;
    fs::remove_all(chk_dir, ec);
    fs::remove_all(restore_dir, ec);
  }
  Check(db->Close(), "closing the state backend");
  uploader.reset();
  if (!flags.keep) {
    std::error_code ec;
    fs::remove_all(flags.dir, ec);
  } else {
    std::printf("kept %s\n", flags.dir.c_str());
  }
  return 0;
}
