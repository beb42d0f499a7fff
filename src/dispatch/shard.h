#pragma once
// Shard: one thread that owns a contiguous range of key groups and everything about their
// addresses: mailboxes, state reads and writes, delayed-message timers, and the invokers that
// call functions. Nothing here is shared with another thread except the Inbox (lock-free) and
// the atomics of FlowControl, ProgressTracker and metrics, so the per-message path takes no
// locks. Private header: it includes Asio and is only used by src/dispatch and src/worker.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dispatch/inbox.h"
#include "dispatch/key_group_ranges.h"
#include "eddy/config/module_spec.h"
#include "eddy/invoker/invoker.h"
#include "eddy/metrics/metrics.h"
#include "eddy/runtime/dead_letter.h"
#include "eddy/runtime/egress.h"
#include "eddy/runtime/flow_control.h"
#include "eddy/runtime/progress_tracker.h"
#include "eddy/runtime/router.h"
#include "eddy/state/state_backend.h"

namespace eddy {

class StateCache;

using InvokerFactory =
    std::function<Result<InvokerPtr>(boost::asio::io_context&, const EndpointSpec&)>;

struct ShardOptions {
  // "retry": a batch whose call budget ran out is retried with backoff, forever, holding its
  // messages; "dead-letter": its messages go to the dead-letter sink and the address moves on.
  std::string failure_policy = "retry";
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{30000};
  // Requests in flight (or waiting for a retry) at once on this shard; more addresses with
  // messages wait their turn in arrival order (StateFun: statefun.async.max-per-task).
  size_t max_inflight_requests = 32768;
  // Write-back state cache per shard (dispatch/state_cache.h); 0 disables it (every reply is
  // written to RocksDB at once). Dirty state is flushed every state_flush_interval (with
  // checkpointing: at cuts instead), or at once when dirty state alone fills the cache. Without
  // checkpointing, a processed message's FlowControl count goes when it
  // is processed (its memory is the cache's, bounded by its capacity); its ProgressTracker count
  // (offsets) waits for the flush. A hot key is written once per flush, not once per message,
  // so the interval trades RocksDB writes against how far offset commits lag processing.
  size_t state_cache_bytes = 0;
  std::chrono::milliseconds state_flush_interval{1000};
  // Wall clock in ms since the epoch; injectable so tests control TTL and delays.
  std::function<int64_t()> now_ms;
  // Checkpoint mode (docs/design/checkpoints.md): a delayed message's record is deleted in the
  // same commit that fires it, because the checkpoint captures the fired envelope itself (in an
  // inbox or mailbox). Without checkpoints the record stays until its progress epoch completes
  // (at-least-once through committed offsets), which would fire it twice after a restore.
  bool checkpointing = false;
};

// The worker-wide synchronous pause of a checkpoint cut, shared by the worker's checkpoint agent
// and every shard. Phases: kStopping (shards arrive at the top of their loop and wait) ->
// kCapture (each shard flushes its state cache and serializes what it buffers) -> kReleased
// (processing resumes). The agent may jump to kReleased at any time (a timeout): a shard that had
// not captured yet then captures nothing. Shared ownership because a late shard may arrive after
// the agent gave up. Thread-safe.
class CutBarrier {
 public:
  enum class Phase { kStopping, kCapture, kReleased };
  explicit CutBarrier(size_t shards) : shards_(shards) {}

  // Agent side. The waits return false on timeout.
  bool WaitAllStopped(std::chrono::milliseconds timeout);
  void StartCapture() { SetPhase(Phase::kCapture); }
  bool WaitAllCaptured(std::chrono::milliseconds timeout);
  void Release() { SetPhase(Phase::kReleased); }

  // Shard side.
  void ArriveStopped();
  void ArriveCaptured();
  // Blocks until the phase is at least `phase`; returns the phase reached.
  Phase WaitFor(Phase phase);

 private:
  void SetPhase(Phase phase);
  std::mutex mu_;
  std::condition_variable cv_;
  const size_t shards_;
  size_t stopped_ = 0;
  size_t captured_ = 0;
  Phase phase_ = Phase::kStopping;
};

// What one shard held at the cut, as envelopes (Envelope::epoch is meaningless in a snapshot).
// Restore order: every shard's in_flight, then every backlog, then every inbox; per address that
// is the order the shard would have processed them in.
struct ShardCut {
  std::vector<Envelope> in_flight;  // batches sent to functions (or waiting for a retry)
  std::vector<Envelope> backlog;    // mailbox backlogs
  std::vector<Envelope> inbox;      // envelopes still in the inbox (delivered after the pause)
  Status status;                    // a failed state flush makes the cut unusable
};

struct ShardDeps {
  uint32_t index = 0;
  uint32_t max_parallelism = 128;
  KeyGroupRange key_groups;
  const ModuleSpec* module = nullptr;
  StateBackend* state = nullptr;
  Router* router = nullptr;
  FlowControl* flow = nullptr;
  ProgressTracker* progress = nullptr;
  MetricsRegistry* metrics = nullptr;
  DeadLetterSink* dead_letter = nullptr;                       // nullable
  const std::map<std::string, Egress*>* egresses = nullptr;    // "ns/type" -> egress
  InvokerFactory invoker_factory;
  ShardOptions options;
};

class Shard {
 public:
  explicit Shard(ShardDeps deps);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // The router is created after the shards (it needs them); set it before Start.
  void set_router(Router* router) { deps_.router = router; }
  // Loads this shard's pending delayed messages and starts the thread.
  Status Start();
  // Any thread. The envelope's FlowControl and ProgressTracker counts were taken by the sender.
  void Enqueue(Envelope envelope);
  // Takes the envelopes (in order) with one inbox exchange and at most one wake-up.
  void EnqueueBatch(std::vector<Envelope>&& envelopes);
  // Stops the thread after shutting down invokers; unfinished work stays unfinished (drain
  // first by waiting for FlowControl to reach zero). Idempotent.
  void Stop();

  // Checkpoint cut: posts a task that, at the top of the shard's loop (between handlers, so never
  // inside reply application), joins `barrier`: arrives stopped, waits for kCapture, flushes the
  // state cache and fills `out`, arrives captured, waits for kReleased, then delivers the inbox
  // envelopes it took. `out` must stay valid until the barrier is released. Any thread.
  void Cut(std::shared_ptr<CutBarrier> barrier, ShardCut* out);

  // Drain: writes the state cache now, so the progress of every processed message is released
  // before the final offset commit. Blocks until done; any thread but the shard's own.
  Status FlushNow();

  // Test and drain helpers, safe from any thread.
  int64_t PendingDelayed() const { return pending_delayed_.load(std::memory_order_relaxed); }
  const KeyGroupRange& key_groups() const { return deps_.key_groups; }
  boost::asio::io_context& io() { return io_; }

 private:
  struct FunctionTypeState;
  struct Mailbox;

  void ScheduleDrain();
  void DrainInbox();
  // `hash`: the state cache's hash of the target, when the drain loop computed it to prefetch.
  void Deliver(Envelope envelope, const uint64_t* hash = nullptr);
  // Runs `env` at once through an invoker's inline path; false (env untouched) when it cannot.
  bool TryRunInline(FunctionTypeState& type, Envelope& env, const uint64_t* hash);
  // Prefetches the state cache entries of the next envelopes of the inbox's current batch.
  void PrefetchUpcoming();
  // `kg`: the address's key group when the caller has it (computed otherwise, on creation only).
  Mailbox& MailboxFor(const Address& address, FunctionTypeState* type,
                      std::optional<KeyGroup> kg = std::nullopt);
  FunctionTypeState* TypeState(const FunctionType& type);
  // Publishes the per-message counters kept locally between handlers (shared atomics are
  // contended between shards when bumped per message).
  void PublishCounters();
  void StartRequest(Mailbox& box);
  void SendBatch(Mailbox& box);
  void TakeBacklogAndStart(Mailbox& box);
  void ServeReady();
  void OnReply(Mailbox& box, Result<FunctionReply> reply);
  void HandleReply(Mailbox& box, Result<FunctionReply> reply);
  void OnFailure(Mailbox& box, const Status& status);
  Status ApplyResponse(FunctionTypeState& type, const Address& self, KeyGroup kg, uint64_t epoch,
                       const std::vector<std::optional<StoredValue>>& read_values,
                       InvocationResponse& response);
  Status RegisterMissing(FunctionTypeState& type, size_t states_sent,
                         const std::vector<StateSpec>& missing);
  void FinishInflight(Mailbox& box);
  // Releases (or, with the write-back cache, schedules the release of) processed messages.
  void CompleteMessages(const Envelope* envs, size_t n);
  void ContinueOrRetire(Mailbox& box);
  void DeadLetterEnvelope(const Envelope& env, const std::string& reason);
  void ReleaseEnvelope(const Envelope& env);
  // Write-back cache: flushes dirty state, then releases the counts of the messages it covers.
  // Failures are logged here, hold FlowControl, and arm a retry; callers need not act on them.
  Status FlushState();
  void ArmFlushTimer();
  void RunCut(const std::shared_ptr<CutBarrier>& barrier, ShardCut* out);
  void SetBlocked(Mailbox& box, bool blocked);

  // Delayed messages: an in-memory index of this shard's pending ones, ordered by fire time.
  void ArmDelayTimer();
  void FireDueDelayed();
  void ScheduleFiredCleanup();
  void CleanupFired();

  int64_t Now() const { return deps_.options.now_ms(); }

  ShardDeps deps_;
  std::unique_ptr<StateCache> cache_;  // null when disabled
  StateBackend* state_ = nullptr;      // cache_ or deps_.state
  // Progress of processed messages awaiting a flush, as (epoch, count) runs: one atomic release
  // per run.
  std::vector<std::pair<uint64_t, int64_t>> unflushed_;
  InvocationBatch scratch_;  // the inline path's batch; reused so its strings keep capacity
  std::vector<const StoredValue*> read_refs_;  // the inline path's state values (scratch)
  // Cache hashes of the next envelopes the drain loop pops (valid within one DrainInbox turn).
  static constexpr size_t kPrefetch = 8;
  std::array<uint64_t, kPrefetch> hints_{};
  size_t hint_next_ = 0;
  size_t hint_count_ = 0;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  Inbox inbox_;
  std::atomic<bool> drain_scheduled_{false};
  bool stopping_ = false;

  std::unordered_map<FunctionType, std::unique_ptr<FunctionTypeState>, FunctionTypeHash> types_;
  std::map<const EndpointSpec*, InvokerPtr> invokers_;
  std::unordered_map<Address, std::unique_ptr<Mailbox>, AddressHash> mailboxes_;
  static constexpr size_t kSpareMailboxes = 4096;
  std::vector<std::unique_ptr<Mailbox>> spare_mailboxes_;
  size_t inflight_requests_ = 0;
  std::deque<Address> ready_;  // mailboxes with messages, waiting for an in-flight slot

  struct DelayedKey {
    int64_t fire_at_ms;
    uint64_t sequence;
    KeyGroup kg;
    auto operator<=>(const DelayedKey&) const = default;
  };
  std::map<DelayedKey, DelayedRecord> delayed_;
  // Fired messages whose records stay stored until their epoch completes.
  struct Fired {
    uint64_t epoch;
    DelayedKey key;
    DelayedRecord record;  // as stored: without token
  };
  std::deque<Fired> fired_;
  boost::asio::steady_timer delay_timer_;
  boost::asio::steady_timer cleanup_timer_;
  bool cleanup_armed_ = false;
  boost::asio::steady_timer flush_timer_;
  bool flush_armed_ = false;
  Histogram* flush_ms_ = nullptr;       // null without a cache or metrics
  Counter* flushed_values_ = nullptr;
  // A failed flush holds FlowControl until a flush succeeds: dirty state cannot be evicted, so
  // ingestion must stop rather than grow it without bound.
  bool flow_held_by_flush_ = false;
  static constexpr size_t kMaxUnflushedRuns = 1024;  // (epoch, count) runs before a flush
  int64_t delay_timer_at_ = 0;
  uint64_t next_sequence_ = 1;
  std::atomic<int64_t> pending_delayed_{0};
};

}  // namespace eddy
