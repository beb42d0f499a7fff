#include "worker/worker_app.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdlib>

#include <thread>

#include "dispatch/local_router.h"
#include "dispatch/shard.h"
#include "eddy/admin/admin_server.h"
#include "eddy/common/memory_limit.h"
#include "eddy/coordinator/coordinator.h"
#include "eddy/io/exactly_once_egress.h"
#include "eddy/invoker/embedded_invoker.h"
#include "eddy/invoker/grpc_invoker.h"
#include "eddy/invoker/http_invoker.h"
#include "eddy/io/generator.h"
#include "eddy/io/kafka.h"
#include "eddy/metrics/metrics.h"
#include "eddy/runtime/flow_control.h"
#include "eddy/runtime/progress_tracker.h"
#include "eddy/sdk/embedded.h"
#include "eddy/state/state_backend.h"
#include "eddy/storage/object_store.h"
#include "worker/checkpoint_agent.h"
#include "worker/checkpoint_restore.h"

namespace eddy {

namespace {

// The host name as a worker id: characters outside the id alphabet become '-'.
std::string DefaultWorkerId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "worker";
  std::string id(host);
  for (char& ch : id) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '~' || ch == '-';
    if (!ok) ch = '-';
  }
  if (id.size() > 128) id.resize(128);
  return id;
}

storage::StorageConfig StorageConfigOf(const WorkerCheckpointConfig& c) {
  storage::StorageConfig s;
  s.uri = c.storage_uri;
  s.endpoint = c.storage_endpoint;
  if (!c.storage_region.empty()) s.region = c.storage_region;
  s.access_key_id = c.storage_access_key_id;
  s.secret_access_key = c.storage_secret_access_key;
  return s;
}

}  // namespace

// Declaration order is construction order; members are destroyed in reverse, so consumers of
// an object are always destroyed before it.
struct WorkerApp::Parts {
  MetricsRegistry metrics;
  std::unique_ptr<FlowControl> flow;
  std::shared_ptr<const EmbeddedFunctions> embedded;  // loaded libraries outlive the shards
  ProgressTracker progress;
  // Checkpointing (null without): storage outlives the agent's uploader; the embedded
  // coordinator outlives the agent's client; exactly-once egresses outlive their adapters.
  storage::ObjectStorePtr checkpoint_store;
  coordinator::CoordinatorHandlePtr embedded_coordinator;
  CheckpointedState restored;
  std::vector<std::pair<std::string, ExactlyOnceEgressPtr>> exactly_once;
  StateBackendPtr state;
  std::vector<EgressPtr> egress_storage;
  std::map<std::string, Egress*> egresses;
  DeadLetterSinkPtr dead_letter;
  std::vector<std::unique_ptr<Shard>> shards;
  std::unique_ptr<LocalRouter> router;
  std::vector<std::unique_ptr<KafkaIngress>> ingresses;
  std::vector<std::unique_ptr<GeneratorIngress>> generators;
  std::unique_ptr<AdminServer> admin;
  // Destroyed first: it points at shards, ingresses, state and egresses.
  std::unique_ptr<CheckpointAgent> agent;
  std::atomic<bool> ready{false};
  Gauge* buffered_gauge = nullptr;
};

Result<std::shared_ptr<const EmbeddedFunctions>> LoadEmbeddedFunctions(const ModuleSpec& module) {
  bool any = false;
  for (const auto& e : module.endpoints) any = any || e.protocol == EndpointProtocol::kEmbedded;
  if (!any) return std::shared_ptr<const EmbeddedFunctions>();
  EDDY_RETURN_IF_ERROR(sdk::LoadLinkedModules());
  return EmbeddedFunctions::Load(module, sdk::LinkedFunctions());
}

WorkerApp::WorkerApp(ModuleSpec module, WorkerConfig config, WorkerHooks hooks)
    : module_(std::move(module)),
      config_(std::move(config)),
      hooks_(std::move(hooks)),
      parts_(std::make_unique<Parts>()) {}

WorkerApp::~WorkerApp() {
  if (started_ && !drained_) {
    Status st = Drain(std::chrono::milliseconds(0));
    if (!st.ok()) spdlog::warn("stop: {}", st.ToString());
  }
}

int64_t WorkerApp::buffered_messages() const {
  return parts_->flow ? parts_->flow->Buffered() : 0;
}

Status WorkerApp::Start() {
  Parts& p = *parts_;
  p.flow = std::make_unique<FlowControl>(config_.max_buffered_messages);
  p.buffered_gauge = &p.metrics.GetGauge("eddy_buffered_messages", {},
                                         "Messages buffered in inboxes, mailboxes and in flight");

  // The admin endpoint comes first so /healthz answers during startup; /readyz only after.
  AdminServer::Options admin_options;
  admin_options.address = config_.admin_address;
  admin_options.port = config_.admin_port;
  p.admin = std::make_unique<AdminServer>(admin_options, p.metrics,
                                          [&p] { return p.ready.load(); });
  auto port = p.admin->Start();
  if (!port.ok()) return port.status();
  admin_port_ = port.value();
  spdlog::info("admin endpoint on http://{}:{}/ (healthz, readyz, metrics)",
               config_.admin_address, admin_port_);

  const bool checkpointing = config_.checkpoint.enabled();
  std::string db_dir = config_.state_dir;
  if (checkpointing) {
    EDDY_RETURN_IF_ERROR(StartCheckpointing());
    db_dir = p.restored.db_dir;
  }
  auto state = OpenRocksDbBackend(RocksDbOptions{db_dir});
  if (!state.ok()) return state.status();
  p.state = std::move(state).value();
  if (checkpointing) RemoveStaleStateDirs(config_.state_dir, db_dir);

  for (const auto& spec : module_.kafka_egresses) {
    if (checkpointing && spec.delivery_semantic == "exactly-once") {
      EDDY_RETURN_IF_ERROR(StartExactlyOnceEgress(spec));
      continue;
    }
    auto egress = MakeKafkaEgress(spec, &p.progress, &p.metrics);
    if (!egress.ok()) {
      return InvalidArgument("egress " + spec.id + ": " + egress.status().message());
    }
    p.egresses[spec.id] = egress.value().get();
    p.egress_storage.push_back(std::move(egress).value());
  }
  if (!config_.dead_letter_topic.empty()) {
    std::string bootstrap = config_.dead_letter_address;
    if (bootstrap.empty() && !module_.kafka_ingresses.empty()) {
      bootstrap = module_.kafka_ingresses.front().address;
    }
    if (bootstrap.empty()) {
      return InvalidArgument("dead_letter_topic is set but no dead_letter_address is given and "
                             "there is no Kafka ingress to take the address from");
    }
    auto sink = MakeKafkaDeadLetterSink(bootstrap, config_.dead_letter_topic, &p.progress);
    if (!sink.ok()) return sink.status();
    p.dead_letter = std::move(sink).value();
  }

  auto embedded = LoadEmbeddedFunctions(module_);
  if (!embedded.ok()) return embedded.status();
  p.embedded = std::move(embedded).value();
  if (p.embedded) {
    for (const std::string& lib : p.embedded->Libraries()) {
      spdlog::info("embedded functions loaded from {}", lib);
    }
  }

  uint32_t shard_count = config_.shards;
  if (shard_count == 0) shard_count = std::max(1u, std::thread::hardware_concurrency());
  shard_count = std::min(shard_count, config_.max_parallelism);
  uint64_t state_cache_bytes;
  if (config_.state_cache_bytes) {
    state_cache_bytes = *config_.state_cache_bytes;
  } else {
    uint64_t available = AvailableMemoryBytes();
    state_cache_bytes = StateCacheBytesFor(available);
    spdlog::info("state cache: {} MiB (auto: a quarter of the {} MiB this process may use)",
                 state_cache_bytes >> 20, available >> 20);
  }
  std::vector<Shard*> shard_ptrs;
  for (uint32_t i = 0; i < shard_count; ++i) {
    ShardDeps deps;
    deps.index = i;
    deps.max_parallelism = config_.max_parallelism;
    deps.key_groups = RangeOf(i, shard_count, config_.max_parallelism);
    deps.module = &module_;
    deps.state = p.state.get();
    deps.flow = p.flow.get();
    deps.progress = &p.progress;
    deps.metrics = &p.metrics;
    deps.dead_letter = p.dead_letter.get();
    deps.egresses = &p.egresses;
    deps.invoker_factory = [&p](boost::asio::io_context& io,
                                const EndpointSpec& endpoint) -> Result<InvokerPtr> {
      switch (endpoint.protocol) {
        case EndpointProtocol::kGrpc:
          return MakeGrpcInvoker(io, endpoint);
        case EndpointProtocol::kEmbedded:
          return MakeEmbeddedInvoker(io, endpoint, p.embedded, &p.metrics);
        case EndpointProtocol::kHttp:
          break;
      }
      return MakeHttpInvoker(io, endpoint);
    };
    deps.options.failure_policy = config_.failure_policy;
    deps.options.retry_backoff_max = config_.retry_backoff_max;
    deps.options.max_inflight_requests = config_.max_inflight_per_shard;
    deps.options.state_cache_bytes = state_cache_bytes / shard_count;
    deps.options.state_flush_interval = config_.state_flush_interval;
    deps.options.checkpointing = checkpointing;
    p.shards.push_back(std::make_unique<Shard>(std::move(deps)));
    shard_ptrs.push_back(p.shards.back().get());
  }
  p.router = std::make_unique<LocalRouter>(config_.max_parallelism, shard_ptrs);
  for (auto& shard : p.shards) {
    shard->set_router(p.router.get());
    EDDY_RETURN_IF_ERROR(shard->Start());
  }
  spdlog::info("{} shards over {} key groups, state in {}", shard_count, config_.max_parallelism,
               db_dir);

  if (checkpointing) {
    // The restored messages go first, before any ingress record: in-flight batches, then
    // backlogs, then inboxes (the snapshot's order), so every address sees them in order.
    for (checkpoint::SnapshotEnvelope& pending : p.restored.snapshot.pending) {
      Envelope env = std::move(pending.envelope);
      env.epoch = p.progress.Pin(1);
      p.flow->Add(1);
      p.router->Route(std::move(env));
    }
    p.restored.snapshot.pending.clear();
  }

  for (const auto& spec : module_.kafka_ingresses) {
    IngressContext ctx{p.router.get(), p.flow.get(), &p.progress, &p.metrics,
                       p.dead_letter.get()};
    KafkaIngressOptions options;
    options.checkpointing = checkpointing;
    for (const auto& pos : p.restored.snapshot.ingress_positions) {
      if (pos.ingress_id == spec.id) {
        options.start_positions.push_back({pos.topic, pos.partition, pos.next_offset});
      }
    }
    auto ingress = KafkaIngress::Create(spec, ctx, std::move(options));
    if (!ingress.ok()) {
      return InvalidArgument("ingress " + spec.id + ": " + ingress.status().message());
    }
    EDDY_RETURN_IF_ERROR(ingress.value()->Start());
    p.ingresses.push_back(std::move(ingress).value());
  }
  for (const auto& spec : module_.generator_ingresses) {
    IngressContext ctx{p.router.get(), p.flow.get(), &p.progress, &p.metrics,
                       p.dead_letter.get()};
    uint64_t start = 0;
    for (const auto& pos : p.restored.snapshot.ingress_positions) {
      if (pos.ingress_id == spec.id && pos.topic == kGeneratorTopic) {
        start = static_cast<uint64_t>(pos.next_offset);
      }
    }
    if (start > 0) spdlog::info("generator ingress {}: continuing at record {}", spec.id, start);
    auto generator = GeneratorIngress::Create(spec, ctx, start);
    if (!generator.ok()) {
      return InvalidArgument("ingress " + spec.id + ": " + generator.status().message());
    }
    EDDY_RETURN_IF_ERROR(generator.value()->Start());
    p.generators.push_back(std::move(generator).value());
  }
  if (checkpointing) {
    CheckpointTargets targets;
    targets.state = p.state.get();
    for (auto& shard : p.shards) targets.shards.push_back(shard.get());
    for (size_t i = 0; i < p.ingresses.size(); ++i) {
      targets.kafka.emplace_back(module_.kafka_ingresses[i].id, p.ingresses[i].get());
    }
    for (size_t i = 0; i < p.generators.size(); ++i) {
      targets.generators.emplace_back(module_.generator_ingresses[i].id, p.generators[i].get());
    }
    for (auto& [id, egress] : p.exactly_once) targets.exactly_once.emplace_back(id, egress.get());
    for (const auto& spec : module_.kafka_egresses) {
      if (spec.delivery_semantic != "exactly-once") {
        targets.flush_egresses.push_back(p.egresses.at(spec.id));
      }
    }
    targets.dead_letter = p.dead_letter.get();
    p.agent->Activate(std::move(targets), std::move(key_groups_));
  }
  started_ = true;
  last_epoch_close_ = std::chrono::steady_clock::now();
  p.ready = true;
  spdlog::info("worker ready: {} endpoints, {} ingresses, {} egresses",
               module_.endpoints.size(),
               module_.kafka_ingresses.size() + module_.generator_ingresses.size(),
               module_.kafka_egresses.size());
  return Status::Ok();
}

void WorkerApp::Tick() {
  Parts& p = *parts_;
  if (p.buffered_gauge) p.buffered_gauge->Set(p.flow->Buffered());
  // With checkpoints, progress lives in checkpoints: epochs never close, nothing is committed
  // from them.
  if (config_.checkpoint.enabled()) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_epoch_close_ >= config_.commit_interval) {
    p.progress.CloseEpoch();
    last_epoch_close_ = now;
  }
}

Status WorkerApp::Drain(std::chrono::milliseconds drain_timeout) {
  Parts& p = *parts_;
  drained_ = true;
  p.ready = false;
  Status result;
  // Checkpointing stops first (no cut may touch what is being stopped). A restart restores the
  // last completed checkpoint.
  if (p.agent) p.agent->Stop();
  if (p.embedded_coordinator) p.embedded_coordinator->Stop();
  spdlog::info("draining: ingestion stopped, waiting for {} buffered messages",
               p.flow ? p.flow->Buffered() : 0);
  for (auto& ingress : p.ingresses) ingress->StopFetching();
  for (auto& generator : p.generators) generator->StopFetching();
  auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  while (p.flow && p.flow->Buffered() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (p.flow && p.flow->Buffered() > 0) {
    spdlog::warn("drain timeout: {} messages still pending; their ingress records stay "
                 "uncommitted and are read again after restart",
                 p.flow->Buffered());
    result = DeadlineExceeded("drain timed out with messages pending");
  }
  for (auto& egress : p.egress_storage) {
    Status st = egress->Flush(std::chrono::seconds(10));
    if (!st.ok()) {
      spdlog::error("egress flush: {}", st.ToString());
      result = st;
    }
  }
  if (p.dead_letter) {
    Status st = p.dead_letter->Flush(std::chrono::seconds(10));
    if (!st.ok()) {
      spdlog::error("dead-letter flush: {}", st.ToString());
      result = st;
    }
  }
  // The write-back caches hold the progress of processed messages until their state is
  // written: write it now, so the final offset commit covers everything processed.
  for (auto& shard : p.shards) {
    Status st = shard->FlushNow();
    if (!st.ok()) {
      spdlog::error("drain: {}", st.ToString());
      result = st;
    }
  }
  p.progress.CloseEpoch();  // so that the work finished above counts as complete
  for (auto& ingress : p.ingresses) ingress->Stop();
  p.ingresses.clear();
  for (auto& generator : p.generators) generator->Stop();
  p.generators.clear();
  for (auto& shard : p.shards) shard->Stop();
  p.shards.clear();
  if (p.state) {
    Status st = p.state->Close();
    if (!st.ok()) {
      spdlog::error("closing state: {}", st.ToString());
      result = st;
    }
  }
  if (p.admin) p.admin->Stop();
  spdlog::info("stopped");
  return result;
}

std::optional<Status> WorkerApp::Fatal() const {
  return parts_->agent ? parts_->agent->fatal() : std::nullopt;
}

uint64_t WorkerApp::restored_from() const { return parts_->restored.restored_from; }

// Storage, coordinator (embedded or external), assignment, and this worker's state: restored
// from the assignment's checkpoint or fresh.
Status WorkerApp::StartCheckpointing() {
  Parts& p = *parts_;
  const WorkerCheckpointConfig& c = config_.checkpoint;
  const std::string worker_id = c.worker_id.empty() ? DefaultWorkerId() : c.worker_id;
  worker_id_ = worker_id;
  auto store = storage::OpenObjectStore(StorageConfigOf(c));
  if (!store.ok()) return store.status();
  p.checkpoint_store = std::move(store).value();
  // Test hooks (tests/integration/checkpoint_crash_it.cc): the n-th file upload of this process
  // fails once, as a dropped connection would (EDDY_TEST_FAIL_NTH_UPLOAD=n), or first stalls
  // for ms milliseconds (EDDY_TEST_DELAY_NTH_UPLOAD=n:ms), as a slow store would.
  const char* fail_nth = std::getenv("EDDY_TEST_FAIL_NTH_UPLOAD");
  const char* delay_nth = std::getenv("EDDY_TEST_DELAY_NTH_UPLOAD");
  if (fail_nth != nullptr || delay_nth != nullptr) {
    storage::FaultPlan plan;
    if (fail_nth != nullptr) {
      plan.fail_nth.push_back({storage::StoreOp::kPutFile, std::atoll(fail_nth)});
      spdlog::warn("test hook: file upload #{} will fail", fail_nth);
    }
    if (delay_nth != nullptr) {
      std::string spec = delay_nth;
      size_t colon = spec.find(':');
      plan.delay_nth.push_back({storage::StoreOp::kPutFile, std::atoll(spec.c_str())});
      plan.delay = std::chrono::milliseconds(
          colon == std::string::npos ? 0 : std::atoll(spec.c_str() + colon + 1));
      spdlog::warn("test hook: file upload #{} will stall for {} ms", plan.delay_nth[0].n,
                   plan.delay.count());
    }
    p.checkpoint_store = storage::MakeFaultInjectingStore(std::move(p.checkpoint_store), plan);
  }

  std::string address = c.coordinator;
  if (c.embedded) {
    coordinator::CoordinatorConfig cc;
    cc.listen_address = "127.0.0.1:0";
    cc.checkpoint.expected_workers = 1;
    cc.checkpoint.max_parallelism = config_.max_parallelism;
    cc.checkpoint.checkpoint_interval = c.interval;
    cc.checkpoint.checkpoint_timeout = c.timeout;
    cc.checkpoint.retain = c.retain;
    cc.storage = StorageConfigOf(c);
    auto handle = coordinator::StartEmbeddedCoordinator(cc);
    if (!handle.ok()) {
      return Status(handle.status().code(),
                    "embedded coordinator: " + handle.status().message());
    }
    p.embedded_coordinator = std::move(handle).value();
    address = p.embedded_coordinator->address();
    spdlog::info("embedded coordinator on {} (checkpoints every {} ms to {})", address,
                 c.interval.count(), p.checkpoint_store->Describe());
  }

  CheckpointAgentOptions options;
  options.worker_id = worker_id;
  options.checkpoint_dir = LocalCheckpointsDir(config_.state_dir);
  p.agent = std::make_unique<CheckpointAgent>(options, p.checkpoint_store.get(), &p.metrics);
  coordinator::CoordinatorClientOptions client;
  client.coordinator_address = address;
  client.worker_id = worker_id;
  client.worker_address = config_.admin_address + ":" + std::to_string(admin_port_);
  EDDY_RETURN_IF_ERROR(p.agent->Connect(client));
  spdlog::info("checkpointing as worker '{}' with coordinator {}; waiting for the assignment",
               worker_id, address);
  auto assignment = p.agent->WaitForAssignment(c.timeout);
  if (!assignment.ok()) {
    return Status(assignment.status().code(),
                  "coordinator " + address + ": " + assignment.status().message());
  }
  if (assignment->table().max_parallelism() != config_.max_parallelism) {
    return FailedPrecondition("the coordinator's max_parallelism (" +
                              std::to_string(assignment->table().max_parallelism()) +
                              ") differs from this worker's (" +
                              std::to_string(config_.max_parallelism) + ")");
  }
  uint64_t owned = 0;
  for (const auto& r : assignment->key_groups()) owned += uint64_t{r.last()} - r.first() + 1;
  if (owned != config_.max_parallelism) {
    // Routing to other workers is the multi-worker issue; until then one worker owns all.
    return FailedPrecondition("the coordinator assigned this worker " + std::to_string(owned) +
                              " of " + std::to_string(config_.max_parallelism) +
                              " key groups; only single-worker jobs are supported yet "
                              "(expected_workers: 1)");
  }
  key_groups_.assign(assignment->key_groups().begin(), assignment->key_groups().end());
  auto restored = PrepareCheckpointedState(p.checkpoint_store.get(), *assignment, worker_id,
                                           config_.state_dir);
  if (!restored.ok()) return restored.status();
  p.restored = std::move(restored).value();
  if (p.restored.restored_from == 0) {
    spdlog::info("no checkpoint to restore: starting with empty state");
  }
  return Status::Ok();
}

Status WorkerApp::StartExactlyOnceEgress(const KafkaEgressSpec& spec) {
  Parts& p = *parts_;
  std::string transactional_id = EosTransactionalId(config_.checkpoint.job, worker_id_, spec.id);
  auto producer = hooks_.transactional_producer
                      ? hooks_.transactional_producer(spec, std::move(transactional_id))
                      : MakeKafkaTransactionalProducer(spec, std::move(transactional_id));
  if (!producer.ok()) {
    return InvalidArgument("egress " + spec.id + ": " + producer.status().message());
  }
  auto reader = hooks_.control_topic_reader
                    ? hooks_.control_topic_reader(spec)
                    : MakeKafkaControlTopicReader(spec.address, spec.properties);
  if (!reader.ok()) {
    return InvalidArgument("egress " + spec.id + ": " + reader.status().message());
  }
  ExactlyOnceEgressOptions options;
  options.job = config_.checkpoint.job;
  options.worker = worker_id_;
  options.egress_id = spec.id;
  options.flow = p.flow.get();
  auto egress = ExactlyOnceEgress::Create(options, std::move(producer).value(),
                                          std::move(reader).value());
  if (!egress.ok()) return InvalidArgument("egress " + spec.id + ": " + egress.status().message());
  ExactlyOnceEgress* eos = egress.value().get();
  Status st;
  const auto& sealed = p.restored.snapshot.sealed_egresses;
  auto it = sealed.find(spec.id);
  if (p.restored.restored_from > 0 && it != sealed.end()) {
    st = eos->Recover(p.restored.restored_from, it->second);
  } else {
    st = eos->Start();
  }
  if (!st.ok()) return Status(st.code(), "exactly-once egress " + spec.id + ": " + st.message());
  spdlog::info("egress {}: exactly-once (records visible when their checkpoint completes)",
               spec.id);
  p.egresses[spec.id] = nullptr;  // set below, once the adapter exists
  p.egress_storage.push_back(MakeExactlyOnceEgressAdapter(spec.id, eos));
  p.egresses[spec.id] = p.egress_storage.back().get();
  p.exactly_once.emplace_back(spec.id, std::move(egress).value());
  return Status::Ok();
}

}  // namespace eddy
