// KafkaIngress: one librdkafka consumer on its own thread. See kafka.h for the contract and
// README.md for how offsets follow ProgressTracker epochs.

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "eddy/io/kafka.h"
#include "eddy/metrics/metrics.h"
#include "eddy/runtime/flow_control.h"
#include "eddy/runtime/pause_gate.h"
#include "eddy/runtime/progress_tracker.h"
#include "eddy/runtime/router.h"
#include "io/kafka/kafka_util.h"

namespace eddy {

namespace {

using TopicPartition = std::pair<std::string, int32_t>;
using Offsets = std::map<TopicPartition, int64_t>;

// Backpressure: how often a holding ingress checks FlowControl, and how long it may hold
// before pausing its partitions (well below max.poll.interval.ms).
constexpr int kHoldPollMs = 1;
constexpr int kCommittedLookupTimeoutMs = 10000;
constexpr std::chrono::milliseconds kHoldLimit{5000};
constexpr int kPollTimeoutMs = 100;
// Records handled per gate turn: what is already fetched is taken with zero-timeout polls and
// routed with one RouteBatch (one hand-off per shard instead of one per record).
constexpr int kRecordsPerTurn = 256;
constexpr auto kCommitInterval = std::chrono::seconds(1);
constexpr auto kRebalanceCommitTimeout = std::chrono::seconds(5);
constexpr auto kStopCommitTimeout = std::chrono::seconds(5);
constexpr int kOffsetsForTimesTimeoutMs = 10000;
constexpr auto kWarmMetadataTimeout = std::chrono::seconds(5);
constexpr int kWatermarkTimeoutMs = 5000;
constexpr int kWatermarkAttempts = 3;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

PartitionList ToList(const Offsets& offsets) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = offset;
  }
  return list;
}

}  // namespace

class KafkaIngress::Impl {
 public:
  Impl(const KafkaIngressSpec& spec, IngressContext ctx, KafkaIngressOptions options)
      : spec_(spec), ctx_(ctx), options_(std::move(options)) {
    for (const PartitionPosition& p : options_.start_positions) {
      start_positions_[{p.topic, p.partition}] = p.next_offset;
    }
    // A cut before the group assigns the partitions must still report the restored positions:
    // nothing was routed from them yet, so they are still the truth.
    if (options_.checkpointing) positions_ = start_positions_;
  }

  ~Impl() {
    Stop();
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }

  Status Init();
  Status Start();
  // Returns once the consumer thread has seen the request, so no record is being routed any
  // more (the drain that follows may trust FlowControl's count).
  void StopFetching() {
    stop_fetching_.store(true);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (running_.load() && !fetching_stopped_.load() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  Status CommitCompleted(std::chrono::milliseconds timeout);
  void Stop();
  std::vector<PartitionPosition> Positions() const;
  Result<std::vector<PartitionPosition>> PauseAtBoundary(std::chrono::milliseconds timeout) {
    if (!gate_.Pause(timeout)) {
      return DeadlineExceeded("kafka ingress " + spec_.id + ": no record boundary within " +
                              std::to_string(timeout.count()) + " ms");
    }
    return Positions();
  }
  void Resume() { gate_.Resume(); }
  void CommitPositions(const std::vector<PartitionPosition>& positions);

 private:
  static void RebalanceTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Impl*>(opaque)->OnRebalance(err, parts);
  }
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void ApplyStartPositions(rd_kafka_topic_partition_list_t* parts);
  // Checkpoint mode: turns logical start offsets into concrete ones and records them as the
  // partitions' positions, so a cut names every assigned partition.
  void ResolveStartPositions(rd_kafka_topic_partition_list_t* parts);
  void UpdateAssignedGauge();
  void Subscribe();
  void Run();
  void UpdatePause();
  void SetPaused(bool paused);
  void HandleRecord(const rd_kafka_message_t* msg);
  void HandleConsumerError(const rd_kafka_message_t* msg);
  // Offsets to commit now: the latest positions whose epoch is complete and not yet committed.
  Offsets TakeCommittable();
  void MarkCommitted(const Offsets& offsets);
  void StartAsyncCommit();
  void ServeAsyncCommit();
  Status CommitSync(const Offsets& offsets, std::chrono::milliseconds timeout);

  const KafkaIngressSpec spec_;
  const IngressContext ctx_;
  const KafkaIngressOptions options_;
  Offsets start_positions_;  // from options_.start_positions
  PauseGate gate_;  // the checkpoint cut's record/batch boundary
  std::unordered_map<std::string, const KafkaIngressTopic*> topics_;
  rd_kafka_t* rk_ = nullptr;
  std::thread thread_;
  bool started_ = false;  // guarded by lifecycle_mu_
  bool stopped_ = false;  // guarded by lifecycle_mu_
  std::mutex lifecycle_mu_;
  std::atomic<bool> stop_fetching_{false};
  std::atomic<bool> fetching_stopped_{false};  // the consumer thread acknowledged stop_fetching_
  std::atomic<bool> running_{false};           // the consumer thread is in Run()
  std::atomic<bool> stop_{false};

  // Consumer-thread state.
  std::vector<Envelope> to_route_;  // envelopes of the current gate turn (HandleRecord)
  bool paused_ = false;   // partitions paused (long backpressure or drain)
  bool holding_ = false;  // not polling (short backpressure)
  std::chrono::steady_clock::time_point holding_since_;
  rd_kafka_queue_t* commit_queue_ = nullptr;
  bool async_commit_in_flight_ = false;
  Offsets async_commit_offsets_;
  std::chrono::steady_clock::time_point next_commit_{};

  // Offsets bookkeeping, shared with CommitCompleted/Positions callers.
  mutable std::mutex mu_;
  Offsets positions_;  // per assigned partition: offset after the last routed record
  std::optional<uint64_t> last_epoch_;                   // epoch of the last pinned record
  std::deque<std::pair<uint64_t, Offsets>> epoch_ends_;  // positions at the end of each epoch
  Offsets complete_;  // positions known complete; kept until committed, so failures retry
  Offsets committed_;
  std::chrono::steady_clock::time_point next_informational_commit_{};

  Counter fallback_counter_;
  Gauge fallback_gauge_;
  Counter* records_ = &fallback_counter_;
  Counter* null_keys_ = &fallback_counter_;
  Counter* commit_errors_ = &fallback_counter_;
  Counter* dead_letter_errors_ = &fallback_counter_;
  Gauge* paused_gauge_ = &fallback_gauge_;
  Gauge* assigned_gauge_ = &fallback_gauge_;
  kafka::LogLimiter null_key_log_{std::chrono::seconds(1)};
  kafka::LogLimiter error_log_{std::chrono::seconds(1)};
};

Status KafkaIngress::Impl::Init() {
  const std::string what = "kafka ingress " + spec_.id;
  if (ctx_.router == nullptr || ctx_.flow == nullptr || ctx_.progress == nullptr) {
    return InvalidArgument(what + ": router, flow control and progress tracker are required");
  }
  if (spec_.address.empty()) return InvalidArgument(what + ": address is required");
  if (spec_.consumer_group_id.empty()) {
    return InvalidArgument(what + ": consumerGroupId is required");
  }
  if (spec_.topics.empty()) return InvalidArgument(what + ": no topics");
  for (const KafkaIngressTopic& t : spec_.topics) {
    if (t.topic.empty()) return InvalidArgument(what + ": empty topic name");
    if (t.targets.empty()) return InvalidArgument(what + ": topic " + t.topic + " has no targets");
    if (!topics_.emplace(t.topic, &t).second) {
      return InvalidArgument(what + ": topic " + t.topic + " listed twice");
    }
  }
  EDDY_RETURN_IF_ERROR(kafka::ValidateStartup(spec_));

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // librdkafka's prefetch queue is memory outside FlowControl's bound: keep it modest unless the
  // user chose otherwise (librdkafka's default is 64 MiB per consumer). librdkafka 2.0 also
  // stops fetching for a fixed 1 s (fetch.queue.backoff.ms only exists from 2.1) once the queue
  // holds queued.min.messages (default 100,000: a few fetches of small records), and a worker
  // that drains that in 0.1 s then idles for the rest of the second (about 0.2 M msg/s). 300,000
  // measured 0.6-0.9 M msg/s with about 160 MiB peak RSS; 1,000,000 measured 2 M msg/s with
  // 300-350 MiB (small records count against the byte bound by payload only).
  Status st = kafka::SetProperties(
      conf, {{"queued.max.messages.kbytes", "16384"}, {"queued.min.messages", "300000"}}, what);
  if (st.ok()) st = kafka::SetProperties(conf, spec_.properties, what);
  const KafkaProperties named = {
      {"bootstrap.servers", spec_.address},
      {"group.id", spec_.consumer_group_id},
      {"auto.offset.reset", spec_.auto_offset_reset_position},
      // Offsets are committed only for completed epochs, by this class.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
  };
  if (st.ok()) st = kafka::SetProperties(conf, named, what);
  if (!st.ok()) {
    rd_kafka_conf_destroy(conf);
    return st;
  }
  rd_kafka_conf_set_rebalance_cb(conf, &Impl::RebalanceTrampoline);
  rd_kafka_conf_set_opaque(conf, this);
  char errstr[512];
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return InvalidArgument(what + ": cannot create consumer: " + errstr);
  }
  rd_kafka_poll_set_consumer(rk_);

  if (ctx_.metrics != nullptr) {
    Labels labels{{"ingress", spec_.id}};
    MetricsRegistry& m = *ctx_.metrics;
    records_ =
        &m.GetCounter("eddy_ingress_records_total", labels, "Records consumed by the ingress.");
    null_keys_ = &m.GetCounter("eddy_ingress_null_key_total", labels,
                               "Records without a key (sent to the dead-letter sink or dropped).");
    commit_errors_ = &m.GetCounter("eddy_ingress_commit_errors_total", labels,
                                   "Offset commits the broker rejected or did not answer.");
    dead_letter_errors_ = &m.GetCounter("eddy_ingress_dead_letter_errors_total", labels,
                                        "Records the dead-letter sink refused.");
    paused_gauge_ = &m.GetGauge("eddy_ingress_paused", labels,
                                "1 while the ingress is paused by backpressure or shutdown.");
    assigned_gauge_ = &m.GetGauge("eddy_ingress_assigned_partitions", labels,
                                  "Partitions currently assigned to this ingress.");
  }
  return Status::Ok();
}

Status KafkaIngress::Impl::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_ || stopped_) {
    return FailedPrecondition("kafka ingress " + spec_.id + ": started twice");
  }
  commit_queue_ = rd_kafka_queue_new(rk_);
  next_commit_ = std::chrono::steady_clock::now() + kCommitInterval;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void KafkaIngress::Impl::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (stopped_) return;
  stopped_ = true;
  stop_fetching_.store(true);
  stop_.store(true);
  gate_.Resume();  // a thread held at a cut boundary must be able to finish
  if (thread_.joinable()) thread_.join();
  if (!started_) return;
  if (Status st = CommitCompleted(kStopCommitTimeout); !st.ok()) {
    spdlog::warn("kafka ingress {}: final commit: {}", spec_.id, st.ToString());
  }
  // Leaves the group; the revoke callback runs here, on this thread.
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka ingress {}: close: {}", spec_.id, rd_kafka_err2str(err));
  }
  if (commit_queue_ != nullptr) {
    rd_kafka_queue_destroy(commit_queue_);
    commit_queue_ = nullptr;
  }
  paused_gauge_->Set(0);
}

void KafkaIngress::Impl::Subscribe() {
  // Learn the topics' partitions before joining. Otherwise the group leader may find them
  // "changed" right after its JoinGroup and rejoin, which costs a whole extra rebalance delay.
  auto deadline = std::chrono::steady_clock::now() + kWarmMetadataTimeout;
  for (const KafkaIngressTopic& t : spec_.topics) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, t.topic.c_str(), nullptr);
    if (rkt == nullptr) continue;
    while (!stop_.load() && std::chrono::steady_clock::now() < deadline) {
      const rd_kafka_metadata_t* metadata = nullptr;
      if (rd_kafka_metadata(rk_, 0, rkt, &metadata, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(metadata);
        break;
      }
    }
    rd_kafka_topic_destroy(rkt);
  }
  PartitionList topics(rd_kafka_topic_partition_list_new(static_cast<int>(spec_.topics.size())));
  for (const KafkaIngressTopic& t : spec_.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Only an invalid topic list fails here, and Init validated it.
    spdlog::error("kafka ingress {}: subscribe: {}", spec_.id, rd_kafka_err2str(err));
  }
}

void KafkaIngress::Impl::Run() {
  running_.store(true);
  Subscribe();
  while (!stop_.load()) {
    UpdatePause();
    if (stop_fetching_.load()) fetching_stopped_.store(true);
    if (holding_) {
      // Backpressure, first step: simply stop polling. Prefetched records stay in librdkafka's
      // queue and flow again the moment the shards have drained.
      std::this_thread::sleep_for(std::chrono::milliseconds(kHoldPollMs));
    } else {
      rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_, kPollTimeoutMs);
      if (msg != nullptr) {
        // One gate turn: this record plus what librdkafka has already fetched (zero-timeout
        // polls, up to kRecordsPerTurn, stopping at backpressure), routed together before the
        // gate opens, so a cut never sees a position whose record is not in a shard yet. A
        // rebalance callback may run inside a turn; it only touches bookkeeping under mu_.
        gate_.Enter();
        for (int n = 1; msg != nullptr; ++n) {
          if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            HandleConsumerError(msg);
          } else if (!stop_fetching_.load()) {
            // A record fetched before a backpressure pause is still routed (bounded overshoot):
            // dropping it would skip it for good once consumption resumes.
            HandleRecord(msg);
          }
          rd_kafka_message_destroy(msg);
          msg = nullptr;
          if (n < kRecordsPerTurn && !stop_.load() && !stop_fetching_.load() &&
              !ctx_.flow->ShouldPause()) {
            msg = rd_kafka_consumer_poll(rk_, 0);
          }
        }
        if (!to_route_.empty()) {
          ctx_.router->RouteBatch(to_route_);
          to_route_.reserve(kRecordsPerTurn);  // RouteBatch may have taken the buffer
        }
        gate_.Exit();
      }
    }
    ServeAsyncCommit();
    if (!options_.checkpointing && std::chrono::steady_clock::now() >= next_commit_) {
      StartAsyncCommit();
      next_commit_ = std::chrono::steady_clock::now() + kCommitInterval;
    }
  }
  running_.store(false);
}

// Backpressure in two steps. A short stall only stops polling (holding_): cheap, and nothing
// prefetched is thrown away. A stall longer than kHoldLimit pauses the partitions instead, so the
// consumer can poll again (group membership, rebalances) without fetching; pausing purges
// librdkafka's prefetched records, which then cost a refetch, hence not the first step.
void KafkaIngress::Impl::UpdatePause() {
  if (stop_fetching_.load()) {
    holding_ = false;
    if (!paused_) SetPaused(true);
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (!paused_ && !holding_ && ctx_.flow->ShouldPause()) {
    holding_ = true;
    holding_since_ = now;
    paused_gauge_->Set(1);
  } else if ((paused_ || holding_) && ctx_.flow->ShouldResume()) {
    holding_ = false;
    if (paused_) SetPaused(false);
    paused_gauge_->Set(0);
  } else if (holding_ && now - holding_since_ >= kHoldLimit) {
    holding_ = false;
    SetPaused(true);
  }
}

void KafkaIngress::Impl::SetPaused(bool paused) {
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(rk_, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    PartitionList owned(assigned);
    if (owned->cnt > 0) {
      rd_kafka_resp_err_t err = paused ? rd_kafka_pause_partitions(rk_, owned.get())
                                       : rd_kafka_resume_partitions(rk_, owned.get());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::warn("kafka ingress {}: {}: {}", spec_.id, paused ? "pause" : "resume",
                     rd_kafka_err2str(err));
      }
    }
  }
  paused_ = paused;
  paused_gauge_->Set(paused ? 1 : 0);
  spdlog::debug("kafka ingress {}: {} ({} messages buffered)", spec_.id,
                paused ? "paused" : "resumed", ctx_.flow->Buffered());
}

void KafkaIngress::Impl::HandleConsumerError(const rd_kafka_message_t* msg) {
  if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
  uint64_t suppressed = 0;
  if (error_log_.Allow(&suppressed)) {
    spdlog::warn("kafka ingress {}: consumer error: {} ({} similar suppressed)", spec_.id,
                 rd_kafka_message_errstr(msg), suppressed);
  }
}

void KafkaIngress::Impl::HandleRecord(const rd_kafka_message_t* msg) {
  const char* topic_name = rd_kafka_topic_name(msg->rkt);
  std::string topic(topic_name);
  auto it = topics_.find(topic);
  const bool has_key = msg->key != nullptr && msg->key_len > 0;
  int64_t count = 0;
  if (it == topics_.end()) {
    count = 0;  // cannot happen (we subscribe to exact names); skip it, but keep the position
  } else if (has_key) {
    count = static_cast<int64_t>(it->second->targets.size());
  } else {
    count = ctx_.dead_letter != nullptr ? 1 : 0;
  }
  // Pin(0) still tells us the current epoch, so every record's position belongs to an epoch.
  uint64_t epoch = ctx_.progress->Pin(count);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (last_epoch_.has_value() && epoch > *last_epoch_) {
      epoch_ends_.emplace_back(*last_epoch_, positions_);
    }
    last_epoch_ = epoch;
  }

  const char* payload = static_cast<const char*>(msg->payload);
  std::string value = payload != nullptr ? std::string(payload, msg->len) : std::string();
  if (it == topics_.end()) {
    spdlog::error("kafka ingress {}: record from unexpected topic {}", spec_.id, topic);
  } else if (has_key) {
    std::string id =
        kafka::SanitizeUtf8(std::string_view(static_cast<const char*>(msg->key), msg->key_len));
    const KafkaIngressTopic& t = *it->second;
    for (size_t i = 0; i < t.targets.size(); ++i) {
      Envelope env;
      env.target = Address{t.targets[i], id};
      env.argument.type_name = t.value_type;
      env.argument.has_value = true;
      // The last target takes the bytes; the others copy them.
      env.argument.value = i + 1 == t.targets.size() ? std::move(value) : value;
      env.epoch = epoch;
      // Counted now, routed at the end of the turn (Run): the count is what stops a turn at
      // backpressure (ShouldPause), and the shard subtracts when done, possibly before
      // RouteBatch returns.
      ctx_.flow->Add(1);
      to_route_.push_back(std::move(env));
    }
  } else {
    null_keys_->Inc();
    std::string source = kafka::RecordSource(topic, msg->partition, msg->offset);
    if (ctx_.dead_letter != nullptr) {
      DeadLetter letter{"null-key", source, "", std::move(value), it->second->value_type};
      Status st = ctx_.dead_letter->Send(letter, epoch);
      ctx_.progress->Release(epoch, count);  // the sink holds its own count until acknowledged
      if (!st.ok()) {
        dead_letter_errors_->Inc();
        spdlog::error("kafka ingress {}: dead-letter sink refused {}: {}", spec_.id, source,
                      st.ToString());
      }
    } else {
      uint64_t suppressed = 0;
      if (null_key_log_.Allow(&suppressed)) {
        spdlog::warn(
            "kafka ingress {}: dropping record without key at {} (no dead-letter sink; "
            "{} more suppressed)",
            spec_.id, source, suppressed);
      }
    }
  }
  records_->Inc();
  std::lock_guard<std::mutex> lock(mu_);
  positions_[{std::move(topic), msg->partition}] = msg->offset + 1;
}

void KafkaIngress::Impl::OnRebalance(rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t* parts) {
  const bool cooperative = std::string(rd_kafka_rebalance_protocol(rk_)) == "COOPERATIVE";
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    ApplyStartPositions(parts);
    if (options_.checkpointing) ResolveStartPositions(parts);
    if (cooperative) {
      rd_kafka_error_t* error = rd_kafka_incremental_assign(rk_, parts);
      if (error != nullptr) {
        spdlog::error("kafka ingress {}: assign: {}", spec_.id, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
      }
    } else {
      rd_kafka_assign(rk_, parts);
    }
    // Newly assigned partitions must not bypass a pause in force.
    if (paused_ && parts->cnt > 0) rd_kafka_pause_partitions(rk_, parts);
    UpdateAssignedGauge();
    spdlog::info("kafka ingress {}: assigned {} partitions", spec_.id, parts->cnt);
    return;
  }
  // Revoked (or an error, which librdkafka treats as losing everything): commit what is done,
  // then forget the partitions; their in-flight records will be reprocessed by the new owner.
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !options_.checkpointing &&
      !rd_kafka_assignment_lost(rk_)) {
    Offsets offsets = TakeCommittable();
    if (!offsets.empty()) {
      Status st = CommitSync(offsets, kRebalanceCommitTimeout);
      if (!st.ok()) spdlog::warn("kafka ingress {}: commit on revoke: {}", spec_.id, st.ToString());
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < parts->cnt; ++i) {
      TopicPartition tp{parts->elems[i].topic, parts->elems[i].partition};
      // Checkpoint mode keeps the position: until the partition routes again it is still where
      // this worker stands, and the next checkpoint must say so (one worker owns every
      // partition; a revoke is a restart of the group, not a hand-over).
      if (!options_.checkpointing) positions_.erase(tp);
      complete_.erase(tp);
      committed_.erase(tp);
      for (auto& [epoch, offsets] : epoch_ends_) offsets.erase(tp);
    }
  }
  if (cooperative) {
    rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk_, parts);
    if (error != nullptr) rd_kafka_error_destroy(error);
  } else {
    rd_kafka_assign(rk_, nullptr);
  }
  UpdateAssignedGauge();
  spdlog::info("kafka ingress {}: revoked {} partitions", spec_.id, parts->cnt);
}

void KafkaIngress::Impl::UpdateAssignedGauge() {
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(rk_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  assigned_gauge_->Set(assigned->cnt);
  rd_kafka_topic_partition_list_destroy(assigned);
}

void KafkaIngress::Impl::ApplyStartPositions(rd_kafka_topic_partition_list_t* parts) {
  using Kind = kafka::StartOffset::Kind;
  PartitionList by_time(rd_kafka_topic_partition_list_new(0));
  // Committed offsets are Eddy's progress (only fully processed records are committed), so they
  // win over the startup position, as a Flink job restored from a checkpoint ignores its
  // startup mode. The startup position applies to partitions the group never committed.
  PartitionList committed(rd_kafka_topic_partition_list_copy(parts));
  rd_kafka_resp_err_t committed_err =
      rd_kafka_committed(rk_, committed.get(), kCommittedLookupTimeoutMs);
  if (committed_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka ingress {}: reading committed offsets: {}; resuming from them where "
                 "they exist, else from auto.offset.reset",
                 spec_.id, rd_kafka_err2str(committed_err));
  }
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& p = parts->elems[i];
    TopicPartition tp{p.topic, p.partition};
    if (options_.checkpointing) {
      // Where this worker stands wins over everything (the group offsets are only informational
      // in checkpoint mode): the restored checkpoint's position, or, when the group assigns a
      // partition again after a revoke, the next record not yet routed.
      std::lock_guard<std::mutex> lock(mu_);
      if (auto known = positions_.find(tp); known != positions_.end()) {
        p.offset = known->second;
        continue;
      }
    } else if (auto restored = start_positions_.find(tp); restored != start_positions_.end()) {
      p.offset = restored->second;
      continue;
    }
    if (committed_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      p.offset = RD_KAFKA_OFFSET_INVALID;  // librdkafka: committed offset, else auto.offset.reset
      continue;
    }
    const rd_kafka_topic_partition_t* c =
        rd_kafka_topic_partition_list_find(committed.get(), p.topic, p.partition);
    if (c != nullptr && c->err == RD_KAFKA_RESP_ERR_NO_ERROR && c->offset >= 0) {
      p.offset = c->offset;
      continue;
    }
    kafka::StartOffset start = kafka::StartupOffsetFor(spec_, tp.first, tp.second);
    switch (start.kind) {
      case Kind::kAbsolute:
        p.offset = start.value;
        break;
      case Kind::kBeginning:
        p.offset = RD_KAFKA_OFFSET_BEGINNING;
        break;
      case Kind::kEnd:
        p.offset = RD_KAFKA_OFFSET_END;
        break;
      case Kind::kCommitted:
        p.offset = RD_KAFKA_OFFSET_INVALID;
        break;
      case Kind::kTimestamp:
        p.offset = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_topic_partition_list_add(by_time.get(), p.topic, p.partition)->offset =
            start.value;
        break;
    }
  }
  if (by_time->cnt == 0) return;
  rd_kafka_resp_err_t err =
      rd_kafka_offsets_for_times(rk_, by_time.get(), kOffsetsForTimesTimeoutMs);
  const int64_t reset = spec_.auto_offset_reset_position == "earliest" ? RD_KAFKA_OFFSET_BEGINNING
                                                                       : RD_KAFKA_OFFSET_END;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka ingress {}: offsets for startup date: {}; using auto.offset.reset",
                 spec_.id, rd_kafka_err2str(err));
  }
  for (int i = 0; i < by_time->cnt; ++i) {
    const rd_kafka_topic_partition_t& r = by_time->elems[i];
    rd_kafka_topic_partition_t* p = rd_kafka_topic_partition_list_find(parts, r.topic, r.partition);
    if (p == nullptr) continue;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || r.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      p->offset = reset;
    } else {
      // -1: no record at or after the date, so start at the end.
      p->offset = r.offset >= 0 ? r.offset : RD_KAFKA_OFFSET_END;
    }
  }
}

void KafkaIngress::Impl::ResolveStartPositions(rd_kafka_topic_partition_list_t* parts) {
  // ListOffsets with the special timestamps -2 (earliest) and -1 (latest), in one request per
  // attempt. (rd_kafka_query_watermark_offsets does not answer inside a rebalance callback.)
  const bool earliest = spec_.auto_offset_reset_position == "earliest";
  PartitionList query(rd_kafka_topic_partition_list_new(parts->cnt));
  for (int i = 0; i < parts->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = parts->elems[i];
    if (p.offset >= 0) continue;
    bool early = p.offset == RD_KAFKA_OFFSET_BEGINNING ||
                 (p.offset != RD_KAFKA_OFFSET_END && earliest);
    rd_kafka_topic_partition_list_add(query.get(), p.topic, p.partition)->offset = early ? -2 : -1;
  }
  if (query->cnt > 0) {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    PartitionList answer;
    for (int attempt = 0; attempt < kWatermarkAttempts; ++attempt) {
      answer.reset(rd_kafka_topic_partition_list_copy(query.get()));
      err = rd_kafka_offsets_for_times(rk_, answer.get(), kWatermarkTimeoutMs);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    }
    for (int i = 0; i < parts->cnt; ++i) {
      rd_kafka_topic_partition_t& p = parts->elems[i];
      if (p.offset >= 0) continue;
      const rd_kafka_topic_partition_t* r =
          rd_kafka_topic_partition_list_find(answer.get(), p.topic, p.partition);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR || r == nullptr ||
          r->err != RD_KAFKA_RESP_ERR_NO_ERROR || r->offset < 0) {
        // Left logical: the partition is then missing from cuts until it routes a record, and a
        // restore before that starts it at its startup position again.
        spdlog::error("kafka ingress {}: cannot resolve the start offset of {}/{}: {}", spec_.id,
                      p.topic, p.partition,
                      rd_kafka_err2str(err != RD_KAFKA_RESP_ERR_NO_ERROR
                                           ? err
                                           : (r ? r->err : RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)));
        continue;
      }
      p.offset = r->offset;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < parts->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = parts->elems[i];
    if (p.offset >= 0) positions_[{p.topic, p.partition}] = p.offset;
  }
}

void KafkaIngress::Impl::CommitPositions(const std::vector<PartitionPosition>& positions) {
  if (rk_ == nullptr || positions.empty()) return;
  // At most once per commit interval, and only for partitions this member owns: a commit while
  // the group is still joining fails ("unknown member") and disturbs the join.
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now < next_informational_commit_) return;
    next_informational_commit_ = now + kCommitInterval;
  }
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(rk_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  PartitionList owned(assigned);
  Offsets offsets;
  for (const PartitionPosition& p : positions) {
    if (rd_kafka_topic_partition_list_find(owned.get(), p.topic.c_str(), p.partition) != nullptr) {
      offsets[{p.topic, p.partition}] = p.next_offset;
    }
  }
  if (offsets.empty()) return;
  PartitionList list = ToList(offsets);
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list.get(), 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    commit_errors_->Inc();
    spdlog::debug("kafka ingress {}: informational commit: {}", spec_.id, rd_kafka_err2str(err));
  }
}

Offsets KafkaIngress::Impl::TakeCommittable() {
  const int64_t done = ctx_.progress->CompletedThrough();
  std::lock_guard<std::mutex> lock(mu_);
  auto fold = [this](const Offsets& offsets) {
    for (const auto& [tp, offset] : offsets) {
      int64_t& c = complete_.try_emplace(tp, offset).first->second;
      c = std::max(c, offset);
    }
  };
  if (last_epoch_.has_value() && static_cast<int64_t>(*last_epoch_) <= done) {
    // Every record routed so far is on a completed epoch (this also covers an idle ingress,
    // whose last epoch never sees a successor).
    fold(positions_);
    epoch_ends_.clear();
  } else {
    while (!epoch_ends_.empty() && static_cast<int64_t>(epoch_ends_.front().first) <= done) {
      fold(epoch_ends_.front().second);
      epoch_ends_.pop_front();
    }
  }
  Offsets out;
  for (const auto& [tp, offset] : complete_) {
    auto c = committed_.find(tp);
    if (c == committed_.end() || c->second < offset) out.emplace(tp, offset);
  }
  return out;
}

void KafkaIngress::Impl::MarkCommitted(const Offsets& offsets) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [tp, offset] : offsets) {
    if (!complete_.contains(tp)) continue;  // revoked meanwhile
    int64_t& c = committed_.try_emplace(tp, offset).first->second;
    c = std::max(c, offset);
  }
}

void KafkaIngress::Impl::StartAsyncCommit() {
  if (async_commit_in_flight_) return;
  Offsets offsets = TakeCommittable();
  if (offsets.empty()) return;
  PartitionList list = ToList(offsets);
  rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk_, list.get(), commit_queue_, nullptr, nullptr);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    commit_errors_->Inc();
    spdlog::warn("kafka ingress {}: commit: {}", spec_.id, rd_kafka_err2str(err));
    // complete_ keeps the offsets, so the next interval retries them.
    return;
  }
  async_commit_in_flight_ = true;
  async_commit_offsets_ = std::move(offsets);
}

void KafkaIngress::Impl::ServeAsyncCommit() {
  if (!async_commit_in_flight_) return;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(commit_queue_, 0);
  if (ev == nullptr) return;
  if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
    async_commit_in_flight_ = false;
    rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      MarkCommitted(async_commit_offsets_);
    } else {
      commit_errors_->Inc();
      uint64_t suppressed = 0;
      if (error_log_.Allow(&suppressed)) {
        spdlog::warn("kafka ingress {}: commit failed: {}", spec_.id, rd_kafka_err2str(err));
      }
    }
  }
  rd_kafka_event_destroy(ev);
}

Status KafkaIngress::Impl::CommitSync(const Offsets& offsets, std::chrono::milliseconds timeout) {
  // A private queue bounds the wait (rd_kafka_commit has no timeout). If we give up, librdkafka
  // drops the late reply together with the queue.
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
  PartitionList list = ToList(offsets);
  rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk_, list.get(), queue, nullptr, nullptr);
  Status result;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = Unavailable(std::string("commit: ") + rd_kafka_err2str(err));
  } else {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        result = DeadlineExceeded("commit not confirmed within " + std::to_string(timeout.count()) +
                                  " ms");
        break;
      }
      rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, static_cast<int>(left.count()));
      if (ev == nullptr) continue;
      bool done = rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT;
      if (done && rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        result = Unavailable(std::string("commit: ") + rd_kafka_event_error_string(ev));
      }
      rd_kafka_event_destroy(ev);
      if (done) break;
    }
  }
  rd_kafka_queue_destroy(queue);
  if (result.ok()) {
    MarkCommitted(offsets);
  } else {
    commit_errors_->Inc();
  }
  return result;
}

Status KafkaIngress::Impl::CommitCompleted(std::chrono::milliseconds timeout) {
  // Checkpoint mode: progress lives in checkpoints (CommitPositions commits theirs).
  if (rk_ == nullptr || options_.checkpointing) return Status::Ok();
  Offsets offsets = TakeCommittable();
  if (offsets.empty()) return Status::Ok();
  Status st = CommitSync(offsets, timeout);
  if (!st.ok()) return Status(st.code(), "kafka ingress " + spec_.id + ": " + st.message());
  return st;
}

std::vector<PartitionPosition> KafkaIngress::Impl::Positions() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PartitionPosition> out;
  out.reserve(positions_.size());
  for (const auto& [tp, offset] : positions_) out.push_back({tp.first, tp.second, offset});
  return out;
}

Result<std::unique_ptr<KafkaIngress>> KafkaIngress::Create(const KafkaIngressSpec& spec,
                                                           IngressContext context) {
  return Create(spec, context, KafkaIngressOptions{});
}

Result<std::unique_ptr<KafkaIngress>> KafkaIngress::Create(const KafkaIngressSpec& spec,
                                                           IngressContext context,
                                                           KafkaIngressOptions options) {
  auto impl = std::make_unique<Impl>(spec, context, std::move(options));
  EDDY_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<KafkaIngress>(new KafkaIngress(std::move(impl)));
}

KafkaIngress::KafkaIngress(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaIngress::~KafkaIngress() = default;
Status KafkaIngress::Start() { return impl_->Start(); }
void KafkaIngress::StopFetching() { impl_->StopFetching(); }
Status KafkaIngress::CommitCompleted(std::chrono::milliseconds timeout) {
  return impl_->CommitCompleted(timeout);
}
void KafkaIngress::Stop() { impl_->Stop(); }
std::vector<PartitionPosition> KafkaIngress::Positions() const { return impl_->Positions(); }
Result<std::vector<PartitionPosition>> KafkaIngress::PauseAtBoundary(
    std::chrono::milliseconds timeout) {
  return impl_->PauseAtBoundary(timeout);
}
void KafkaIngress::Resume() { impl_->Resume(); }
void KafkaIngress::CommitPositions(const std::vector<PartitionPosition>& positions) {
  impl_->CommitPositions(positions);
}

}  // namespace eddy
