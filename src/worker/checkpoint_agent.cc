#include "worker/checkpoint_agent.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>


namespace eddy {

namespace v1 = coordinator::v1;
using SteadyClock = std::chrono::steady_clock;

namespace {

double MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

}  // namespace

CheckpointAgent::CheckpointAgent(CheckpointAgentOptions options, storage::ObjectStore* store,
                                 MetricsRegistry* metrics)
    : options_(std::move(options)), store_(store) {
  MetricsRegistry& m = *metrics;
  pause_ms_ = &m.GetHistogram("eddy_checkpoint_pause_ms", {},
                              "Synchronous pause of a checkpoint cut (ingresses and shards "
                              "stopped), in milliseconds.");
  upload_ms_ = &m.GetHistogram("eddy_checkpoint_upload_ms", {},
                               "Background upload of a checkpoint, in milliseconds.");
  upload_bytes_ = &m.GetCounter("eddy_checkpoint_uploaded_bytes_total", {},
                                "Bytes sent to checkpoint storage.");
  reused_bytes_ = &m.GetCounter("eddy_checkpoint_reused_bytes_total", {},
                                "SST bytes of checkpoints that were already stored (referenced "
                                "again, not uploaded).");
  acked_ = &m.GetCounter("eddy_checkpoint_acknowledged_total", {},
                         "Checkpoints this worker took, uploaded and acknowledged.");
  declined_ = &m.GetCounter("eddy_checkpoint_declined_total", {},
                            "Checkpoints this worker declined (cut or upload failed).");
  completed_ = &m.GetCounter("eddy_checkpoint_completed_total", {},
                             "Checkpoints the coordinator completed.");
  aborted_ = &m.GetCounter("eddy_checkpoint_aborted_total", {},
                           "Checkpoints the coordinator aborted.");
  last_completed_ = &m.GetGauge("eddy_checkpoint_last_completed_id", {},
                                "Id of the last completed checkpoint (0 = none yet).");
  pending_envelopes_ = &m.GetGauge("eddy_checkpoint_captured_envelopes", {},
                                   "Messages (mailboxes, in flight, inboxes) held by the last "
                                   "completed checkpoint.");
  thread_ = std::thread([this] { Run(); });
}

CheckpointAgent::~CheckpointAgent() { Stop(); }

Status CheckpointAgent::Connect(const coordinator::CoordinatorClientOptions& options) {
  auto client = coordinator::CoordinatorClient::Start(options, this);
  if (!client.ok()) return client.status();
  client_ = std::move(client).value();
  return Status::Ok();
}

Result<v1::Assignment> CheckpointAgent::WaitForAssignment(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return assignment_.has_value() || stopping_; }) ||
      !assignment_) {
    return DeadlineExceeded("no assignment from the coordinator within " +
                            std::to_string(timeout.count()) + " ms");
  }
  return *assignment_;
}

void CheckpointAgent::Activate(CheckpointTargets targets,
                               std::vector<v1::KeyGroupRange> key_groups) {
  Post([this, targets = std::move(targets), key_groups = std::move(key_groups)]() mutable {
    targets_ = std::move(targets);
    key_groups_ = std::move(key_groups);
    std::lock_guard lock(mu_);
    active_ = true;
  });
}

void CheckpointAgent::Stop() {
  // The client first: no callback runs after its Stop returns.
  if (client_) client_->Stop();
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  // Pending uploads fail ("shutting down"); their callbacks run before this returns.
  uploader_.reset();
  for (auto& [id, local] : locals_) RemoveDir(local.dir);
  locals_.clear();
}

std::optional<Status> CheckpointAgent::fatal() const {
  std::lock_guard lock(mu_);
  return fatal_;
}

void CheckpointAgent::Post(std::function<void()> task) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  tasks_.push_back(std::move(task));
  cv_.notify_all();
}

void CheckpointAgent::Run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

// ---- CheckpointParticipant ----

void CheckpointAgent::OnAssignment(const v1::Assignment& assignment) {
  std::lock_guard lock(mu_);
  if (assignment_) {
    // A new session (reconnect, coordinator restart). A single worker keeps its state: the
    // coordinator's restore point is this worker's past, or equal to it.
    spdlog::info("checkpoint: new assignment (generation {}, restore point {})",
                 assignment.table().generation(),
                 assignment.has_restore_from() ? assignment.restore_from().checkpoint_id() : 0);
  }
  assignment_ = assignment;
  cv_.notify_all();
}

void CheckpointAgent::OnTrigger(uint64_t checkpoint_id, int64_t) {
  {
    std::lock_guard lock(mu_);
    if (!active_) {
      // Not on the agent thread: answering right away keeps the coordinator from waiting for the
      // timeout while the worker restores.
      if (client_) (void)client_->Decline(checkpoint_id, "worker " + options_.worker_id +
                                                             " is starting");
      declined_->Inc();
      return;
    }
  }
  Post([this, checkpoint_id] { Cut(checkpoint_id); });
}

void CheckpointAgent::OnComplete(uint64_t checkpoint_id) {
  Post([this, checkpoint_id] { Complete(checkpoint_id); });
}

void CheckpointAgent::OnAbort(uint64_t checkpoint_id, const std::string& reason) {
  Post([this, checkpoint_id, reason] { Abort(checkpoint_id, reason); });
}

void CheckpointAgent::OnRejected(const std::string& reason) {
  spdlog::warn("checkpoint: the coordinator rejected a message: {}", reason);
}

void CheckpointAgent::OnConnectionChanged(bool connected) {
  if (connected) {
    spdlog::info("checkpoint: connected to the coordinator");
  } else {
    spdlog::warn("checkpoint: lost the coordinator session (reconnecting)");
  }
}

// ---- The cut ----

void CheckpointAgent::Decline(uint64_t id, const std::string& reason) {
  spdlog::warn("checkpoint {}: declined: {}", id, reason);
  declined_->Inc();
  if (client_) {
    Status st = client_->Decline(id, reason);
    if (!st.ok()) spdlog::debug("checkpoint {}: decline not sent: {}", id, st.ToString());
  }
}

void CheckpointAgent::Cut(uint64_t id) {
  const auto started = SteadyClock::now();
  const std::string dir = options_.checkpoint_dir + "/chk-" + std::to_string(id);
  std::error_code ec;
  std::filesystem::create_directories(options_.checkpoint_dir, ec);
  std::filesystem::remove_all(dir, ec);  // a leftover of an earlier run with the same id

  // 1. Ingresses stop at a record boundary first, so once every shard is stopped nothing can
  //    push into an inbox.
  checkpoint::WorkerSnapshot snapshot;
  snapshot.checkpoint_id = id;
  snapshot.worker_id = options_.worker_id;
  Local local;
  local.dir = dir;
  size_t kafka_paused = 0;
  size_t generators_paused = 0;
  auto resume_ingresses = [&] {
    for (size_t i = 0; i < kafka_paused; ++i) targets_.kafka[i].second->Resume();
    for (size_t i = 0; i < generators_paused; ++i) targets_.generators[i].second->Resume();
  };
  spdlog::debug("checkpoint {}: cut starts", id);
  for (auto& [ingress_id, ingress] : targets_.kafka) {
    auto positions = ingress->PauseAtBoundary(options_.pause_timeout);
    spdlog::debug("checkpoint {}: ingress {} paused", id, ingress_id);
    if (!positions.ok()) {
      resume_ingresses();
      return Decline(id, positions.status().message());
    }
    ++kafka_paused;
    for (const PartitionPosition& p : *positions) {
      snapshot.ingress_positions.push_back({ingress_id, p.topic, p.partition, p.next_offset});
      local.kafka_positions.push_back(p);
    }
    local.by_ingress.push_back(*positions);
  }
  for (auto& [ingress_id, generator] : targets_.generators) {
    auto sequence = generator->PauseAtBoundary(options_.pause_timeout);
    if (!sequence.ok()) {
      resume_ingresses();
      return Decline(id, sequence.status().message());
    }
    ++generators_paused;
    snapshot.ingress_positions.push_back(
        {ingress_id, kGeneratorTopic, 0, static_cast<int64_t>(*sequence)});
  }

  // 2. Every shard stops at the top of its loop; then each captures its share.
  auto barrier = std::make_shared<CutBarrier>(targets_.shards.size());
  auto cuts = std::make_shared<std::vector<ShardCut>>(targets_.shards.size());
  for (size_t i = 0; i < targets_.shards.size(); ++i) {
    targets_.shards[i]->Cut(barrier, &(*cuts)[i]);
  }
  if (!barrier->WaitAllStopped(options_.pause_timeout)) {
    barrier->Release();  // late shards find it released and capture nothing
    abandoned_.push_back(cuts);
    resume_ingresses();
    return Decline(id, "shards did not stop within " +
                           std::to_string(options_.pause_timeout.count()) + " ms");
  }
  spdlog::debug("checkpoint {}: shards stopped", id);
  barrier->StartCapture();
  if (!barrier->WaitAllCaptured(options_.pause_timeout * 6)) {
    barrier->Release();
    abandoned_.push_back(cuts);
    resume_ingresses();
    return Decline(id, "shards did not capture their messages in time");
  }

  // 3. Everything is stopped: RocksDB checkpoint (hard links + WAL copy) and egress seal.
  Status st;
  for (const ShardCut& cut : *cuts) {
    if (!cut.status.ok() && st.ok()) st = cut.status;
  }
  if (st.ok()) st = targets_.state->CreateCheckpoint(dir);
  spdlog::debug("checkpoint {}: captured, rocksdb checkpoint: {}", id, st.ToString());
  std::map<std::string, std::string> sealed;
  if (st.ok()) {
    for (auto& [egress_id, egress] : targets_.exactly_once) {
      auto bytes = egress->SealEpoch(id);
      if (!bytes.ok()) {
        // The epoch stays open and is sealed by the next checkpoint instead.
        st = Status(bytes.status().code(), "egress " + egress_id + ": " +
                                               bytes.status().message());
        break;
      }
      sealed[egress_id] = std::move(bytes).value();
    }
  }
  // At-least-once egress and dead letters sent before the cut must be acknowledged by Kafka
  // before the checkpoint may complete (a restore does not produce them again). Inside the
  // pause, because nothing produces then: a flush while shards keep producing may never find
  // the queue empty.
  for (Egress* egress : targets_.flush_egresses) {
    if (!st.ok()) break;
    Status flushed = egress->Flush(options_.flush_timeout);
    if (!flushed.ok()) st = Status(flushed.code(), "egress flush: " + flushed.message());
  }
  if (st.ok() && targets_.dead_letter) {
    Status flushed = targets_.dead_letter->Flush(options_.flush_timeout);
    if (!flushed.ok()) st = Status(flushed.code(), "dead-letter flush: " + flushed.message());
  }
  barrier->Release();
  resume_ingresses();
  const double pause_ms = MillisSince(started);
  pause_ms_->Observe(pause_ms);
  if (!st.ok()) {
    RemoveDir(dir);
    return Decline(id, "cut: " + st.message());
  }
  if (after_local_checkpoint_) after_local_checkpoint_(id, dir);

  // 4. Off the pause: the snapshot blob goes into the checkpoint directory and is uploaded with
  //    it (chk-N/<worker>/snapshot.pb), in restore order: in-flight batches, backlogs, inboxes.
  size_t envelopes = 0;
  for (const ShardCut& cut : *cuts) {
    for (const Envelope& e : cut.in_flight) snapshot.pending.push_back({e, true});
  }
  for (const ShardCut& cut : *cuts) {
    for (const Envelope& e : cut.backlog) snapshot.pending.push_back({e, false});
  }
  for (const ShardCut& cut : *cuts) {
    for (const Envelope& e : cut.inbox) snapshot.pending.push_back({e, false});
  }
  envelopes = snapshot.pending.size();
  for (auto& p : snapshot.pending) p.envelope.epoch = 0;
  local.envelopes = envelopes;
  if (!key_groups_.empty()) {
    snapshot.first_key_group = key_groups_.front().first();
    snapshot.last_key_group = key_groups_.back().last();
  }
  snapshot.sealed_egresses = std::move(sealed);
  snapshot.metadata["pause_ms"] = std::to_string(static_cast<int64_t>(pause_ms));
  auto encoded = checkpoint::EncodeWorkerSnapshot(snapshot);
  if (!encoded.ok()) {
    RemoveDir(dir);
    return Decline(id, "snapshot: " + encoded.status().message());
  }
  {
    std::ofstream out(dir + "/snapshot.pb", std::ios::binary | std::ios::trunc);
    out << *encoded;
    out.close();
    if (!out) {
      RemoveDir(dir);
      return Decline(id, "cannot write " + dir + "/snapshot.pb");
    }
  }
  spdlog::debug("checkpoint {}: cut in {:.1f} ms ({} messages, {} positions)", id, pause_ms,
                envelopes, snapshot.ingress_positions.size());

  if (Status up = EnsureUploader(); !up.ok()) {
    RemoveDir(dir);
    return Decline(id, "storage: " + up.message());
  }
  {
    std::lock_guard lock(mu_);
    local.uploading = true;
    locals_[id] = std::move(local);
    ++uploads_in_flight_;
  }
  const auto upload_started = SteadyClock::now();
  uploader_->UploadAsync(id, dir, [this, id, upload_started](Result<checkpoint::UploadResult> r) {
    Uploaded(id, upload_started, std::move(r));
  });
}

Status CheckpointAgent::EnsureUploader() {
  bool stale = false;
  {
    std::lock_guard lock(mu_);
    // Uploads of aborted checkpoints may be deleted by retention: a new uploader lists storage
    // again instead of trusting them (only when no upload uses the current one).
    stale = uploader_stale_ && uploads_in_flight_ == 0;
    if (stale) uploader_stale_ = false;
  }
  if (uploader_ && !stale) return Status::Ok();
  uploader_.reset();
  checkpoint::UploaderOptions o;
  o.db_id = options_.worker_id;
  o.worker_id = options_.worker_id;
  o.threads = options_.upload_threads;
  auto uploader = checkpoint::IncrementalUploader::Create(store_, o);
  if (!uploader.ok()) {
    std::lock_guard lock(mu_);
    uploader_stale_ = true;
    return uploader.status();
  }
  uploader_ = std::move(uploader).value();
  return Status::Ok();
}

// On an upload thread.
void CheckpointAgent::Uploaded(uint64_t id, SteadyClock::time_point started,
                               Result<checkpoint::UploadResult> result) {
  std::string dir;
  bool aborted = false;
  std::vector<PartitionPosition> positions;
  {
    std::lock_guard lock(mu_);
    --uploads_in_flight_;
    auto it = locals_.find(id);
    if (it == locals_.end()) return;
    it->second.uploading = false;
    dir = it->second.dir;
    aborted = it->second.aborted;
    positions = it->second.kafka_positions;
    if (aborted || !result.ok()) {
      if (!result.ok()) uploader_stale_ = true;  // a partial upload: trust storage, not memory
      locals_.erase(it);
    }
  }
  if (aborted) {
    RemoveDir(dir);
    return;
  }
  if (!result.ok()) {
    RemoveDir(dir);
    Decline(id, "upload: " + result.status().message());
    return;
  }
  upload_ms_->Observe(MillisSince(started));
  upload_bytes_->Inc(static_cast<uint64_t>(result->bytes_uploaded));
  reused_bytes_->Inc(static_cast<uint64_t>(result->bytes_reused));

  v1::SnapshotDescription description;
  description.set_worker_id(options_.worker_id);
  for (const auto& range : key_groups_) *description.add_key_groups() = range;
  for (const checkpoint::CheckpointFile& f : result->files) {
    v1::SnapshotFile* file = description.add_files();
    file->set_key(f.key);
    file->set_size(f.size);
    file->set_sha256(f.sha256);
  }
  for (const PartitionPosition& p : positions) {
    v1::IngressOffset* o = description.add_ingress_offsets();
    o->set_topic(p.topic);
    o->set_partition(p.partition);
    o->set_offset(p.next_offset);
  }
  if (!targets_.exactly_once.empty()) description.set_egress_epoch(id);
  (*description.mutable_metadata())["uploaded_bytes"] = std::to_string(result->bytes_uploaded);
  (*description.mutable_metadata())["reused_bytes"] = std::to_string(result->bytes_reused);
  Status st = client_ ? client_->Ack(id, description) : Unavailable("no coordinator client");
  if (!st.ok()) {
    // The coordinator aborts it (session lost or checkpoint no longer in flight).
    spdlog::warn("checkpoint {}: ack not sent: {}", id, st.ToString());
    return;
  }
  acked_->Inc();
  spdlog::debug("checkpoint {}: acknowledged ({} files, {} bytes uploaded, {} reused)", id,
                result->files.size(), result->bytes_uploaded, result->bytes_reused);
}

void CheckpointAgent::Complete(uint64_t id) {
  completed_->Inc();
  last_completed_->Set(static_cast<int64_t>(id));
  std::vector<std::vector<PartitionPosition>> by_ingress;
  std::vector<std::string> dirs;
  {
    std::lock_guard lock(mu_);
    if (auto it = locals_.find(id); it != locals_.end()) {
      by_ingress = it->second.by_ingress;
      pending_envelopes_->Set(static_cast<int64_t>(it->second.envelopes));
    }
    for (auto it = locals_.begin(); it != locals_.end() && it->first <= id;) {
      if (it->second.uploading) {
        ++it;
        continue;
      }
      dirs.push_back(it->second.dir);
      it = locals_.erase(it);
    }
  }
  for (const std::string& dir : dirs) RemoveDir(dir);
  // Exactly-once egress: epoch `id` becomes visible now, in a Kafka transaction.
  for (auto& [egress_id, egress] : targets_.exactly_once) {
    Status st = egress->OnCheckpointComplete(id);
    if (st.ok()) continue;
    if (st.code() == StatusCode::kFailedPrecondition) {
      spdlog::critical("checkpoint {}: exactly-once egress {} is unusable: {}; the worker must "
                       "stop and restore", id, egress_id, st.ToString());
      std::lock_guard lock(mu_);
      if (!fatal_) fatal_ = st;
    } else {
      spdlog::warn("checkpoint {}: committing exactly-once egress {}: {} (retried with the next "
                   "completed checkpoint)", id, egress_id, st.ToString());
    }
  }
  // Informational: the group offsets follow completed checkpoints (monitoring, lag).
  for (size_t i = 0; i < by_ingress.size() && i < targets_.kafka.size(); ++i) {
    targets_.kafka[i].second->CommitPositions(by_ingress[i]);
  }
  spdlog::info("checkpoint {} complete", id);
}

void CheckpointAgent::Abort(uint64_t id, const std::string& reason) {
  aborted_->Inc();
  std::string dir;
  {
    std::lock_guard lock(mu_);
    uploader_stale_ = true;
    auto it = locals_.find(id);
    if (it != locals_.end()) {
      if (it->second.uploading) {
        it->second.aborted = true;  // the upload callback removes the directory
      } else {
        dir = it->second.dir;
        locals_.erase(it);
      }
    }
  }
  if (!dir.empty()) RemoveDir(dir);
  spdlog::warn("checkpoint {} aborted: {}", id, reason);
}

void CheckpointAgent::RemoveDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) spdlog::warn("checkpoint: cannot remove {}: {}", dir, ec.message());
}

}  // namespace eddy
