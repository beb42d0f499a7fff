#include "coordinator/checkpoint_store.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace eddy::coordinator {
namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-' || c == '/';
}

// The storage key alphabet (object_store.h): checked here too so that a bad key in an Ack is
// reported as the worker's mistake, not as a storage error during verification.
Status CheckKey(const std::string& key) {
  if (key.empty()) return InvalidArgument("empty file key");
  if (key.size() > 1024) return InvalidArgument("file key longer than 1024 bytes");
  for (char c : key) {
    if (!IsKeyChar(c)) {
      return InvalidArgument("file key '" + key + "' has a character outside [A-Za-z0-9._~/-]");
    }
  }
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string_view seg(key.data() + start, end - start);
    if (seg.empty() || seg == "." || seg == "..") {
      return InvalidArgument("file key '" + key + "' has an empty, '.' or '..' segment");
    }
    start = end + 1;
  }
  if (key == kLatestKey) return InvalidArgument("file key 'LATEST' is reserved");
  return Status::Ok();
}

bool IsLowerHex64(const std::string& s) {
  if (s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string FolderOf(const std::string& key) {
  size_t slash = key.rfind('/');
  return slash == std::string::npos ? std::string() : key.substr(0, slash + 1);
}

// sst/<db>/<num>-... -> (db, num)
std::optional<std::pair<std::string, uint64_t>> ParseSstKey(const std::string& key) {
  if (key.rfind("sst/", 0) != 0) return std::nullopt;
  size_t slash = key.find('/', 4);
  if (slash == std::string::npos || slash == 4) return std::nullopt;
  std::string db = key.substr(4, slash - 4);
  std::string_view name(key.data() + slash + 1, key.size() - slash - 1);
  if (name.find('/') != std::string_view::npos) return std::nullopt;
  size_t dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view digits = name.substr(0, dash);
  uint64_t v = 0;
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  return std::make_pair(std::move(db), v);
}

}  // namespace

std::string ManifestKey(uint64_t checkpoint_id) {
  return "chk-" + std::to_string(checkpoint_id) + "/manifest.pb";
}

std::optional<uint64_t> CheckpointIdOfKey(std::string_view key) {
  if (key.rfind("chk-", 0) != 0) return std::nullopt;
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return ParseDecimal(key.substr(4, slash - 4));
}

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

Status CheckSnapshotDescription(const v1::SnapshotDescription& snapshot) {
  if (snapshot.worker_id().empty()) return InvalidArgument("snapshot has no worker_id");
  std::unordered_set<std::string> seen;
  for (const auto& f : snapshot.files()) {
    EDDY_RETURN_IF_ERROR(CheckKey(f.key()));
    if (auto id = CheckpointIdOfKey(f.key()); id && f.key() == ManifestKey(*id)) {
      return InvalidArgument("file key '" + f.key() + "' is reserved for the coordinator");
    }
    if (f.size() < 0) return InvalidArgument("file '" + f.key() + "' has a negative size");
    if (!IsLowerHex64(f.sha256())) {
      return InvalidArgument("file '" + f.key() + "' sha256 is not 64 lowercase hex digits");
    }
    if (!seen.insert(f.key()).second) {
      return InvalidArgument("file '" + f.key() + "' is listed twice");
    }
  }
  for (const auto& r : snapshot.key_groups()) {
    if (r.first() > r.last()) return InvalidArgument("snapshot has an empty key-group range");
  }
  return Status::Ok();
}

bool IsDataProblem(const Status& status) {
  return status.code() == StatusCode::kNotFound || status.code() == StatusCode::kDataLoss ||
         status.code() == StatusCode::kInvalidArgument;
}

Status VerifyFiles(storage::ObjectStore& store,
                   const google::protobuf::RepeatedPtrField<v1::SnapshotDescription>& snapshots,
                   bool checksums) {
  std::map<std::string, std::vector<const v1::SnapshotFile*>> by_folder;
  for (const auto& s : snapshots) {
    for (const auto& f : s.files()) by_folder[FolderOf(f.key())].push_back(&f);
  }
  for (const auto& [folder, files] : by_folder) {
    auto listed = store.List(folder);
    if (!listed.ok()) return listed.status();
    std::unordered_map<std::string, int64_t> sizes;
    for (const auto& o : *listed) sizes.emplace(o.key, o.size);
    for (const v1::SnapshotFile* f : files) {
      auto it = sizes.find(f->key());
      if (it == sizes.end()) return NotFound("file '" + f->key() + "' is missing");
      if (it->second != f->size()) {
        return DataLoss("file '" + f->key() + "' has " + std::to_string(it->second) +
                        " bytes, the snapshot says " + std::to_string(f->size()));
      }
      if (checksums) {
        auto data = store.Get(f->key());
        if (!data.ok()) return data.status();
        std::string sha = Sha256Hex(*data);
        if (sha != f->sha256()) {
          return DataLoss("file '" + f->key() + "' has SHA-256 " + sha + ", the snapshot says " +
                          f->sha256());
        }
      }
    }
  }
  return Status::Ok();
}

Result<v1::Manifest> ReadVerifiedManifest(storage::ObjectStore& store, uint64_t id,
                                          const std::string& expected_sha256, bool checksums) {
  const std::string key = ManifestKey(id);
  auto bytes = store.Get(key);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) return NotFound(key + " is missing");
    return bytes.status();
  }
  if (!expected_sha256.empty()) {
    std::string sha = Sha256Hex(*bytes);
    if (sha != expected_sha256) {
      return DataLoss(key + " checksum mismatch (LATEST says " + expected_sha256 +
                      ", the object has " + sha + ")");
    }
  }
  v1::Manifest manifest;
  if (!manifest.ParseFromString(*bytes)) return DataLoss(key + " does not parse as a Manifest");
  if (manifest.checkpoint_id() != id) {
    return DataLoss(key + " names checkpoint " + std::to_string(manifest.checkpoint_id()));
  }
  if (manifest.format_version() != kManifestFormatVersion) {
    return DataLoss(key + " has unknown format_version " +
                    std::to_string(manifest.format_version()));
  }
  for (const auto& s : manifest.snapshots()) {
    if (Status st = CheckSnapshotDescription(s); !st.ok()) {
      return DataLoss(key + ": " + st.message());
    }
  }
  if (Status st = VerifyFiles(store, manifest.snapshots(), checksums); !st.ok()) {
    if (!IsDataProblem(st)) return st;
    return DataLoss("checkpoint " + std::to_string(id) + ": " + st.message());
  }
  return manifest;
}

Result<RecoveryResult> Recover(storage::ObjectStore& store, bool verify_checksums,
                               uint32_t keep_older) {
  RecoveryResult r;
  auto chk = store.List("chk-");
  if (!chk.ok()) return chk.status();
  std::set<uint64_t, std::greater<>> manifests;
  for (const auto& o : *chk) {
    auto id = CheckpointIdOfKey(o.key);
    if (!id) continue;
    r.highest_id_seen = std::max(r.highest_id_seen, *id);
    if (o.key == ManifestKey(*id)) manifests.insert(*id);
  }

  std::optional<uint64_t> latest_id;
  auto latest = store.Get(kLatestKey);
  if (latest.ok()) {
    v1::LatestPointer ptr;
    if (!ptr.ParseFromString(*latest) || ptr.checkpoint_id() == 0 ||
        !IsLowerHex64(ptr.manifest_sha256())) {
      r.log.push_back("LATEST is corrupt (" + std::to_string(latest->size()) +
                      " bytes that are no valid LatestPointer); trying the newest manifests");
    } else {
      latest_id = ptr.checkpoint_id();
      r.highest_id_seen = std::max(r.highest_id_seen, *latest_id);
      auto m = ReadVerifiedManifest(store, *latest_id, ptr.manifest_sha256(), verify_checksums);
      if (m.ok()) {
        r.log.push_back("restoring checkpoint " + std::to_string(*latest_id) + " (LATEST)");
        r.restore = std::move(m).value();
      } else if (!IsDataProblem(m.status())) {
        return m.status();
      } else {
        r.log.push_back("skipped checkpoint " + std::to_string(*latest_id) +
                        " named by LATEST: " + m.status().message());
      }
    }
  } else if (latest.status().code() == StatusCode::kNotFound) {
    if (!manifests.empty()) {
      r.log.push_back("LATEST is missing although manifests exist; trying the newest manifests");
    }
  } else {
    return latest.status();
  }

  bool had_checkpoints = latest.ok() || !manifests.empty();
  if (!r.restore) {
    for (uint64_t id : manifests) {
      if (latest_id && id >= *latest_id) continue;
      auto m = ReadVerifiedManifest(store, id, "", verify_checksums);
      if (m.ok()) {
        r.log.push_back("restoring checkpoint " + std::to_string(id) +
                        " (fallback: the newest older manifest that verifies)");
        r.restore = std::move(m).value();
        break;
      }
      if (!IsDataProblem(m.status())) return m.status();
      r.log.push_back("skipped checkpoint " + std::to_string(id) + ": " + m.status().message());
    }
  }
  if (!r.restore) {
    if (had_checkpoints) {
      std::string all;
      for (const auto& l : r.log) all += (all.empty() ? "" : "; ") + l;
      return DataLoss("no checkpoint in " + store.Describe() +
                      " verifies, refusing to start from empty state (" + all +
                      "); to really start over, delete the checkpoint prefix");
    }
    r.log.push_back("no checkpoint in " + store.Describe() + ": starting with empty state");
    return r;
  }
  // The rest of the retained set: readable older manifests (checked lightly: they are only kept,
  // not restored).
  for (uint64_t id : manifests) {
    if (r.older.size() >= keep_older) break;
    if (id >= r.restore->checkpoint_id()) continue;
    auto bytes = store.Get(ManifestKey(id));
    if (!bytes.ok()) {
      if (!IsDataProblem(bytes.status())) return bytes.status();
      continue;
    }
    v1::Manifest m;
    if (m.ParseFromString(*bytes) && m.checkpoint_id() == id) {
      r.older.push_back(std::move(m));
    } else {
      r.log.push_back("chk-" + std::to_string(id) + "/manifest.pb is unreadable; retention " +
                      "will delete that checkpoint");
    }
  }
  return r;
}

std::vector<std::string> PlanRetention(const std::vector<storage::ObjectInfo>& objects,
                                       const std::vector<const v1::Manifest*>& retained,
                                       uint64_t newest) {
  std::unordered_set<std::string> referenced;
  std::set<uint64_t> retained_ids;
  std::unordered_map<std::string, uint64_t> max_sst_number;  // per db
  for (const v1::Manifest* m : retained) {
    retained_ids.insert(m->checkpoint_id());
    for (const auto& s : m->snapshots()) {
      for (const auto& f : s.files()) {
        referenced.insert(f.key());
        if (auto sst = ParseSstKey(f.key())) {
          auto& mx = max_sst_number[sst->first];
          mx = std::max(mx, sst->second);
        }
      }
    }
  }
  std::vector<std::string> manifests_first;
  std::vector<std::string> rest;
  for (const auto& o : objects) {
    const std::string& key = o.key;
    if (referenced.count(key)) continue;
    if (auto id = CheckpointIdOfKey(key)) {
      if (retained_ids.count(*id) || *id > newest) continue;
      (key == ManifestKey(*id) ? manifests_first : rest).push_back(key);
      continue;
    }
    if (key.rfind("sst/", 0) != 0) continue;
    if (auto sst = ParseSstKey(key)) {
      auto it = max_sst_number.find(sst->first);
      if (it != max_sst_number.end() && sst->second > it->second) continue;
    }
    rest.push_back(key);
  }
  manifests_first.insert(manifests_first.end(), rest.begin(), rest.end());
  return manifests_first;
}

}  // namespace eddy::coordinator
