#include "eddy/coordinator/checkpoint_coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "coordinator/checkpoint_store.h"
#include "dispatch/key_group_ranges.h"

namespace eddy::coordinator {
namespace {

constexpr uint32_t kMaxParallelismLimit = 32768;
constexpr size_t kMaxWorkerIdLength = 128;

class SystemClockImpl : public Clock {
 public:
  SteadyTime Now() override { return std::chrono::steady_clock::now(); }
  int64_t UnixMillis() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

Status CheckWorkerId(const std::string& id) {
  if (id.empty()) return InvalidArgument("Register has an empty worker_id");
  if (id.size() > kMaxWorkerIdLength) return InvalidArgument("Register worker_id is too long");
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '-';
    if (!ok) {
      return InvalidArgument("Register worker_id '" + id +
                             "' has a character outside [A-Za-z0-9._~-]");
    }
  }
  if (id == "." || id == "..") {
    return InvalidArgument("Register worker_id '" + id + "' is reserved");
  }
  return Status::Ok();
}

bool Overlaps(const v1::KeyGroupRange& a, const v1::KeyGroupRange& b) {
  return a.first() <= b.last() && b.first() <= a.last();
}

bool SameRanges(const google::protobuf::RepeatedPtrField<v1::KeyGroupRange>& a,
                const google::protobuf::RepeatedPtrField<v1::KeyGroupRange>& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    if (a[i].first() != b[i].first() || a[i].last() != b[i].last()) return false;
  }
  return true;
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Clock* SystemClock() {
  static Clock* clock = new SystemClockImpl();
  return clock;
}

SteadyTime ManualClock::Now() {
  std::lock_guard lock(mu_);
  return now_;
}
int64_t ManualClock::UnixMillis() {
  std::lock_guard lock(mu_);
  return unix_ms_;
}
void ManualClock::Advance(std::chrono::milliseconds d) {
  std::lock_guard lock(mu_);
  now_ += d;
  unix_ms_ += d.count();
}

Status ValidateCoordinatorOptions(const CoordinatorOptions& o) {
  if (o.max_parallelism < 1 || o.max_parallelism > kMaxParallelismLimit) {
    return InvalidArgument("max_parallelism must be between 1 and " +
                           std::to_string(kMaxParallelismLimit) + ", got " +
                           std::to_string(o.max_parallelism));
  }
  if (o.expected_workers < 1 || o.expected_workers > o.max_parallelism) {
    return InvalidArgument("expected_workers must be between 1 and max_parallelism (" +
                           std::to_string(o.max_parallelism) + "), got " +
                           std::to_string(o.expected_workers));
  }
  if (o.checkpoint_interval.count() <= 0) {
    return InvalidArgument("checkpoint.interval must be larger than 0");
  }
  if (o.checkpoint_timeout.count() <= 0) {
    return InvalidArgument("checkpoint.timeout must be larger than 0");
  }
  if (o.heartbeat_timeout.count() <= 0) {
    return InvalidArgument("heartbeat_timeout must be larger than 0");
  }
  if (o.retain < 1) return InvalidArgument("checkpoint.retain must be at least 1");
  return Status::Ok();
}

class CheckpointCoordinator::Impl {
 public:
  Impl(const CoordinatorOptions& options, storage::ObjectStorePtr store, Clock* clock)
      : options_(options), store_(std::move(store)), clock_(clock) {}

  Status Init() {
    auto r = Recover(*store_, options_.verify_restore_checksums, options_.retain - 1);
    if (!r.ok()) return r.status();
    for (const auto& line : r->log) spdlog::info("coordinator recovery: {}", line);
    recovery_log_ = r->log;
    next_id_ = r->highest_id_seen + 1;
    if (r->restore) {
      restored_from_ = r->restore->checkpoint_id();
      history_[restored_from_] = *r->restore;
      latest_ = std::move(r->restore);
      for (auto& m : r->older) history_[m.checkpoint_id()] = std::move(m);
    }
    spdlog::info("coordinator: store {}, restore point {}, next checkpoint id {}",
                 store_->Describe(), restored_from_, next_id_);
    next_trigger_ = clock_->Now() + options_.checkpoint_interval;
    return Status::Ok();
  }

  SessionId OpenSession(std::shared_ptr<WorkerSession> conn) {
    std::lock_guard lock(mu_);
    SessionId id = ++last_session_id_;
    Session s;
    s.conn = std::move(conn);
    s.last_seen = clock_->Now();
    sessions_.emplace(id, std::move(s));
    return id;
  }

  Status HandleMessage(SessionId sid, const v1::WorkerMessage& msg) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return NotFound("unknown session " + std::to_string(sid));
    Session& s = it->second;
    s.last_seen = clock_->Now();
    switch (msg.kind_case()) {
      case v1::WorkerMessage::kRegisterWorker:
        return OnRegister(sid, msg.register_worker());
      case v1::WorkerMessage::kHeartbeat:
        return Status::Ok();
      case v1::WorkerMessage::kAck:
        if (s.worker_id.empty()) return CloseUnregistered(sid, "Ack");
        return OnAck(sid, msg.ack());
      case v1::WorkerMessage::kDecline:
        if (s.worker_id.empty()) return CloseUnregistered(sid, "Decline");
        return OnDecline(sid, msg.decline());
      case v1::WorkerMessage::KIND_NOT_SET:
        break;
    }
    return Reject(sid, "message without a known kind (empty WorkerMessage or a newer protocol)");
  }

  void CloseSession(SessionId sid, const Status& reason) {
    std::lock_guard lock(mu_);
    CloseLocked(sid, reason);
  }

  void Poll() {
    std::lock_guard lock(mu_);
    SteadyTime now = clock_->Now();
    std::vector<SessionId> silent;
    for (const auto& [id, s] : sessions_) {
      if (now - s.last_seen >= options_.heartbeat_timeout) silent.push_back(id);
    }
    for (SessionId id : silent) {
      Status why = DeadlineExceeded("no message (heartbeat) for " +
                                    Ms(options_.heartbeat_timeout));
      auto conn = sessions_[id].conn;
      CloseLocked(id, why);
      conn->Close(why);
    }
    if (in_flight_ && now >= in_flight_->deadline) {
      std::string missing;
      for (const auto& [w, ack] : in_flight_->acks) {
        if (!ack) missing += (missing.empty() ? "" : ", ") + w;
      }
      AbortLocked("timed out after " + Ms(options_.checkpoint_timeout) +
                  " waiting for acks from [" + missing + "]");
    }
    if (!in_flight_ && AllAssigned() && (requested_ || now >= next_trigger_)) TriggerLocked();
  }

  SteadyTime NextDeadline() {
    std::lock_guard lock(mu_);
    SteadyTime now = clock_->Now();
    SteadyTime next = now + std::chrono::hours(1);
    for (const auto& [id, s] : sessions_) {
      next = std::min(next, s.last_seen + options_.heartbeat_timeout);
    }
    if (in_flight_) next = std::min(next, in_flight_->deadline);
    if (!in_flight_ && AllAssigned()) next = std::min(next, requested_ ? now : next_trigger_);
    return next;
  }

  void RequestCheckpoint() {
    std::lock_guard lock(mu_);
    requested_ = true;
  }

  CoordinatorStatus GetStatus() {
    std::lock_guard lock(mu_);
    CoordinatorStatus st;
    for (const auto& [w, sid] : workers_) st.registered_workers.push_back(w);
    st.assignment_generation = table_.generation();
    st.in_flight_checkpoint = in_flight_ ? in_flight_->id : 0;
    st.last_completed_checkpoint = latest_ ? latest_->checkpoint_id() : 0;
    st.next_checkpoint_id = next_id_;
    st.restored_from = restored_from_;
    for (const auto& [id, m] : history_) st.retained_checkpoints.push_back(id);
    st.recovery_log = recovery_log_;
    st.completed = completed_;
    st.aborted = aborted_;
    st.last_abort_reason = last_abort_reason_;
    st.rejected_messages = rejected_;
    return st;
  }

  std::string DescribeStore() const { return store_->Describe(); }

 private:
  struct Session {
    std::shared_ptr<WorkerSession> conn;
    std::string worker_id;  // empty until Register
    std::string address;
    SteadyTime last_seen;
    uint64_t assigned_generation = 0;  // the table generation this session was sent
  };
  struct InFlight {
    uint64_t id = 0;
    SteadyTime started;
    SteadyTime deadline;
    v1::AssignmentTable table;
    std::map<std::string, std::optional<v1::SnapshotDescription>> acks;  // per participant
  };

  static v1::CoordinatorMessage MakeRejected(const std::string& reason) {
    v1::CoordinatorMessage m;
    m.mutable_rejected()->set_reason(reason);
    return m;
  }

  Status Reject(SessionId sid, const std::string& reason) {
    Session& s = sessions_.at(sid);
    ++rejected_;
    spdlog::warn("coordinator: rejected a message from {}: {}",
                 s.worker_id.empty() ? "session " + std::to_string(sid) : s.worker_id, reason);
    s.conn->Send(MakeRejected(reason));
    return FailedPrecondition(reason);
  }

  // Ends a session that broke the protocol in a way that leaves nothing to talk about.
  Status CloseWithError(SessionId sid, const Status& error) {
    auto conn = sessions_.at(sid).conn;
    ++rejected_;
    spdlog::warn("coordinator: closing session {}: {}", sid, error.message());
    conn->Send(MakeRejected(error.message()));
    CloseLocked(sid, error);
    conn->Close(error);
    return error;
  }

  Status CloseUnregistered(SessionId sid, const char* what) {
    return CloseWithError(sid, FailedPrecondition(std::string(what) +
                                                  " before Register: register first"));
  }

  Status OnRegister(SessionId sid, const v1::Register& reg) {
    Session& s = sessions_.at(sid);
    if (!s.worker_id.empty()) {
      return Reject(sid, "this session is already registered as worker '" + s.worker_id +
                             "'; Register was ignored");
    }
    if (Status st = CheckWorkerId(reg.worker_id()); !st.ok()) return CloseWithError(sid, st);
    auto existing = workers_.find(reg.worker_id());
    if (existing != workers_.end()) {
      // The newest session wins: a worker that reconnects often does so before the server has
      // noticed that the old stream is dead.
      SessionId old = existing->second;
      auto old_conn = sessions_.at(old).conn;
      Status why = FailedPrecondition("replaced by a newer session of worker '" +
                                      reg.worker_id() + "'");
      spdlog::info("coordinator: worker {} re-registered; closing its previous session",
                   reg.worker_id());
      CloseLocked(old, why);
      old_conn->Close(why);
    } else if (workers_.size() >= options_.expected_workers) {
      std::string names;
      for (const auto& [w, id] : workers_) names += (names.empty() ? "" : ", ") + w;
      return CloseWithError(
          sid, ResourceExhausted("the coordinator expects " +
                                 std::to_string(options_.expected_workers) +
                                 " worker(s) and all are registered: [" + names + "]"));
    }
    s.worker_id = reg.worker_id();
    s.address = reg.address();
    workers_[s.worker_id] = sid;
    spdlog::info("coordinator: worker {} registered ({} of {})", s.worker_id, workers_.size(),
                 options_.expected_workers);
    MaybeAssign();
    return Status::Ok();
  }

  // Once every expected worker is registered: the table over them (sorted by id, contiguous
  // ranges as in src/dispatch/key_group_ranges.h), sent to every session that lacks it.
  void MaybeAssign() {
    if (workers_.size() != options_.expected_workers) return;
    v1::AssignmentTable table;
    table.set_max_parallelism(options_.max_parallelism);
    uint32_t n = static_cast<uint32_t>(workers_.size());
    uint32_t i = 0;
    for (const auto& [w, sid] : workers_) {
      auto* wr = table.add_workers();
      wr->set_worker_id(w);
      wr->set_address(sessions_.at(sid).address);
      eddy::KeyGroupRange r = eddy::RangeOf(i++, n, options_.max_parallelism);
      auto* kg = wr->add_key_groups();
      kg->set_first(r.first);
      kg->set_last(r.last);
    }
    table.set_generation(table_.generation());
    if (table_.generation() == 0 ||
        SerializeDeterministic(table) != SerializeDeterministic(table_)) {
      table.set_generation(table_.generation() + 1);
      table_ = std::move(table);
      spdlog::info("coordinator: assignment generation {} over {} worker(s)", table_.generation(),
                   n);
    }
    bool sent = false;
    for (const auto& [w, sid] : workers_) {
      Session& s = sessions_.at(sid);
      if (s.assigned_generation == table_.generation()) continue;
      s.conn->Send(MakeAssignment(w));
      s.assigned_generation = table_.generation();
      sent = true;
    }
    // Workers restore after an assignment; the first trigger waits one interval for them.
    if (sent) next_trigger_ = std::max(next_trigger_, clock_->Now() + options_.checkpoint_interval);
  }

  v1::CoordinatorMessage MakeAssignment(const std::string& worker) {
    v1::CoordinatorMessage m;
    v1::Assignment* a = m.mutable_assignment();
    *a->mutable_table() = table_;
    for (const auto& wr : table_.workers()) {
      if (wr.worker_id() == worker) *a->mutable_key_groups() = wr.key_groups();
    }
    if (latest_) {
      v1::RestorePoint* rp = a->mutable_restore_from();
      rp->set_checkpoint_id(latest_->checkpoint_id());
      rp->set_manifest_key(ManifestKey(latest_->checkpoint_id()));
      for (const auto& snap : latest_->snapshots()) {
        bool overlap = false;
        for (const auto& mine : a->key_groups()) {
          for (const auto& theirs : snap.key_groups()) overlap = overlap || Overlaps(mine, theirs);
        }
        if (overlap) *rp->add_snapshots() = snap;
      }
    }
    return m;
  }

  bool AllAssigned() const {
    if (workers_.size() != options_.expected_workers || table_.generation() == 0) return false;
    for (const auto& [w, sid] : workers_) {
      if (sessions_.at(sid).assigned_generation != table_.generation()) return false;
    }
    return true;
  }

  void TriggerLocked() {
    requested_ = false;
    SteadyTime now = clock_->Now();
    InFlight f;
    f.id = next_id_++;
    f.started = now;
    f.deadline = now + options_.checkpoint_timeout;
    f.table = table_;
    v1::CoordinatorMessage m;
    m.mutable_trigger()->set_checkpoint_id(f.id);
    m.mutable_trigger()->set_timestamp_unix_ms(clock_->UnixMillis());
    for (const auto& wr : table_.workers()) {
      f.acks[wr.worker_id()] = std::nullopt;
      sessions_.at(workers_.at(wr.worker_id())).conn->Send(m);
    }
    spdlog::info("coordinator: triggered checkpoint {}", f.id);
    next_trigger_ = now + options_.checkpoint_interval;
    in_flight_ = std::move(f);
  }

  void SendToParticipants(const v1::CoordinatorMessage& m) {
    for (const auto& [w, ack] : in_flight_->acks) {
      auto it = workers_.find(w);
      if (it != workers_.end()) sessions_.at(it->second).conn->Send(m);
    }
  }

  void AbortLocked(const std::string& reason) {
    uint64_t id = in_flight_->id;
    v1::CoordinatorMessage m;
    m.mutable_abort()->set_checkpoint_id(id);
    m.mutable_abort()->set_reason(reason);
    SendToParticipants(m);
    spdlog::warn("coordinator: aborted checkpoint {}: {}", id, reason);
    ++aborted_;
    last_abort_reason_ = "checkpoint " + std::to_string(id) + ": " + reason;
    in_flight_.reset();
    // No immediate retry: whatever failed gets one interval to recover.
    next_trigger_ = std::max(next_trigger_, clock_->Now() + options_.checkpoint_interval);
  }

  Status OnAck(SessionId sid, const v1::Ack& ack) {
    const std::string worker = sessions_.at(sid).worker_id;
    const uint64_t id = ack.checkpoint_id();
    if (!in_flight_ || in_flight_->id != id) return RejectNotInFlight(sid, "Ack", id);
    auto slot = in_flight_->acks.find(worker);
    if (slot == in_flight_->acks.end()) {
      return Reject(sid, "worker '" + worker + "' is not part of checkpoint " +
                             std::to_string(id) + " (it registered after the trigger)");
    }
    if (slot->second) {
      return Reject(sid, "duplicate Ack for checkpoint " + std::to_string(id) +
                             "; the first one stands");
    }
    // A malformed ack means this worker's part cannot be trusted: the checkpoint cannot complete.
    std::string problem;
    const v1::SnapshotDescription& snap = ack.snapshot();
    if (snap.worker_id() != worker) {
      problem = "Ack from worker '" + worker + "' carries the snapshot of worker '" +
                snap.worker_id() + "'";
    } else if (Status st = CheckSnapshotDescription(snap); !st.ok()) {
      problem = "Ack from worker '" + worker + "': " + st.message();
    } else {
      for (const auto& wr : in_flight_->table.workers()) {
        if (wr.worker_id() == worker && !SameRanges(wr.key_groups(), snap.key_groups())) {
          problem = "Ack from worker '" + worker +
                    "' covers other key groups than its assignment";
        }
      }
    }
    if (!problem.empty()) {
      Status st = Reject(sid, problem);
      AbortLocked(problem);
      return st;
    }
    slot->second = snap;
    for (const auto& [w, a] : in_flight_->acks) {
      if (!a) return Status::Ok();
    }
    CompleteLocked();
    return Status::Ok();
  }

  Status RejectNotInFlight(SessionId sid, const char* what, uint64_t id) {
    if (id == 0 || id >= next_id_) {
      return Reject(sid, std::string(what) + " for unknown checkpoint " + std::to_string(id));
    }
    return Reject(sid, std::string(what) + " for checkpoint " + std::to_string(id) +
                           ", which is not in flight (completed or aborted)");
  }

  Status OnDecline(SessionId sid, const v1::Decline& decline) {
    const std::string worker = sessions_.at(sid).worker_id;
    uint64_t id = decline.checkpoint_id();
    if (!in_flight_ || in_flight_->id != id) return RejectNotInFlight(sid, "Decline", id);
    if (!in_flight_->acks.count(worker)) {
      return Reject(sid, "worker '" + worker + "' is not part of checkpoint " +
                             std::to_string(id));
    }
    AbortLocked("worker '" + worker + "' declined: " +
                (decline.reason().empty() ? std::string("(no reason)") : decline.reason()));
    return Status::Ok();
  }

  // Files verified -> manifest -> LATEST -> Complete -> retention. Any failure before LATEST is
  // written aborts the checkpoint and leaves the previous LATEST as it was.
  void CompleteLocked() {
    const uint64_t id = in_flight_->id;
    v1::Manifest manifest;
    manifest.set_format_version(kManifestFormatVersion);
    manifest.set_checkpoint_id(id);
    manifest.set_created_unix_ms(clock_->UnixMillis());
    *manifest.mutable_assignment() = in_flight_->table;
    for (const auto& [w, snap] : in_flight_->acks) *manifest.add_snapshots() = *snap;

    if (Status st = VerifyFiles(*store_, manifest.snapshots(), false); !st.ok()) {
      AbortLocked("file check failed: " + st.ToString());
      return;
    }
    const std::string key = ManifestKey(id);
    const std::string bytes = SerializeDeterministic(manifest);
    if (Status st = store_->Put(key, bytes); !st.ok()) {
      DeleteBestEffort(key);  // a failed PUT may still have landed
      AbortLocked("writing " + key + " failed: " + st.ToString());
      return;
    }
    v1::LatestPointer ptr;
    ptr.set_checkpoint_id(id);
    ptr.set_manifest_sha256(Sha256Hex(bytes));
    if (Status st = store_->Put(kLatestKey, SerializeDeterministic(ptr)); !st.ok()) {
      // If the PUT landed after all, LATEST names a manifest that is gone, and recovery falls
      // back to the previous checkpoint, which retention has not touched.
      DeleteBestEffort(key);
      AbortLocked("writing LATEST failed: " + st.ToString());
      return;
    }
    v1::CoordinatorMessage m;
    m.mutable_complete()->set_checkpoint_id(id);
    SendToParticipants(m);
    spdlog::info("coordinator: completed checkpoint {} ({} bytes manifest)", id, bytes.size());
    ++completed_;
    history_[id] = manifest;
    latest_ = std::move(manifest);
    in_flight_.reset();
    RetainLocked(id);
  }

  void DeleteBestEffort(const std::string& key) {
    if (Status st = store_->Delete(key); !st.ok()) {
      spdlog::warn("coordinator: could not delete {}: {}", key, st.ToString());
    }
  }

  // Runs between Complete(N) and the next trigger (same thread, same lock), so no checkpoint of
  // this coordinator is in flight: only late uploads of aborted checkpoints can race with it, and
  // those are garbage by definition (docs/coordinator.md).
  void RetainLocked(uint64_t newest) {
    while (history_.size() > options_.retain) history_.erase(history_.begin());
    std::vector<const v1::Manifest*> retained;
    for (const auto& [id, m] : history_) retained.push_back(&m);
    auto objects = store_->List("");
    if (!objects.ok()) {
      spdlog::warn("coordinator: retention skipped, listing failed: {}",
                   objects.status().ToString());
      return;
    }
    std::vector<std::string> doomed = PlanRetention(*objects, retained, newest);
    size_t failed = 0;
    for (const auto& key : doomed) {
      if (Status st = store_->Delete(key); !st.ok()) {
        ++failed;
        spdlog::warn("coordinator: retention could not delete {}: {}", key, st.ToString());
      }
    }
    if (!doomed.empty()) {
      spdlog::info("coordinator: retention deleted {} object(s) ({} failed, retried next time)",
                   doomed.size() - failed, failed);
    }
  }

  void CloseLocked(SessionId sid, const Status& reason) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    std::string worker = it->second.worker_id;
    sessions_.erase(it);
    if (worker.empty()) return;
    auto w = workers_.find(worker);
    if (w == workers_.end() || w->second != sid) return;
    workers_.erase(w);
    spdlog::warn("coordinator: worker {} lost its session: {}", worker, reason.ToString());
    if (in_flight_ && in_flight_->acks.count(worker)) {
      AbortLocked("worker '" + worker + "' lost its session (" + reason.ToString() + ")");
    }
  }

  const CoordinatorOptions options_;
  const storage::ObjectStorePtr store_;
  Clock* const clock_;

  std::mutex mu_;
  SessionId last_session_id_ = 0;
  std::map<SessionId, Session> sessions_;
  std::map<std::string, SessionId> workers_;  // registered worker -> its current session
  v1::AssignmentTable table_;                 // generation 0 = none yet
  std::optional<InFlight> in_flight_;
  SteadyTime next_trigger_;
  bool requested_ = false;
  uint64_t next_id_ = 1;
  std::optional<v1::Manifest> latest_;        // the restore point for (re)assigned workers
  std::map<uint64_t, v1::Manifest> history_;  // retained completed checkpoints
  uint64_t restored_from_ = 0;
  std::vector<std::string> recovery_log_;
  uint64_t completed_ = 0;
  uint64_t aborted_ = 0;
  uint64_t rejected_ = 0;
  std::string last_abort_reason_;
};

Result<std::unique_ptr<CheckpointCoordinator>> CheckpointCoordinator::Create(
    const CoordinatorOptions& options, storage::ObjectStorePtr store, Clock* clock) {
  EDDY_RETURN_IF_ERROR(ValidateCoordinatorOptions(options));
  if (!store) return InvalidArgument("coordinator: no object store");
  if (!clock) clock = SystemClock();
  auto impl = std::make_unique<Impl>(options, std::move(store), clock);
  EDDY_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<CheckpointCoordinator>(new CheckpointCoordinator(std::move(impl)));
}

CheckpointCoordinator::CheckpointCoordinator(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
CheckpointCoordinator::~CheckpointCoordinator() = default;

SessionId CheckpointCoordinator::OpenSession(std::shared_ptr<WorkerSession> session) {
  return impl_->OpenSession(std::move(session));
}
Status CheckpointCoordinator::HandleMessage(SessionId session, const v1::WorkerMessage& message) {
  return impl_->HandleMessage(session, message);
}
void CheckpointCoordinator::CloseSession(SessionId session, const Status& reason) {
  impl_->CloseSession(session, reason);
}
void CheckpointCoordinator::Poll() { impl_->Poll(); }
SteadyTime CheckpointCoordinator::NextDeadline() { return impl_->NextDeadline(); }
void CheckpointCoordinator::RequestCheckpoint() { impl_->RequestCheckpoint(); }
CoordinatorStatus CheckpointCoordinator::status() { return impl_->GetStatus(); }
std::string CheckpointCoordinator::DescribeStore() const { return impl_->DescribeStore(); }

}  // namespace eddy::coordinator
