#include "worker/worker_app.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "dispatch/local_router.h"
#include "dispatch/shard.h"
#include "eddy/admin/admin_server.h"
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

namespace eddy {

// Declaration order is construction order; members are destroyed in reverse, so consumers of
// an object are always destroyed before it.
struct WorkerApp::Parts {
  MetricsRegistry metrics;
  std::unique_ptr<FlowControl> flow;
  std::shared_ptr<const EmbeddedFunctions> embedded;  // loaded libraries outlive the shards
  ProgressTracker progress;
  StateBackendPtr state;
  std::vector<EgressPtr> egress_storage;
  std::map<std::string, Egress*> egresses;
  DeadLetterSinkPtr dead_letter;
  std::vector<std::unique_ptr<Shard>> shards;
  std::unique_ptr<LocalRouter> router;
  std::vector<std::unique_ptr<KafkaIngress>> ingresses;
  std::vector<std::unique_ptr<GeneratorIngress>> generators;
  std::unique_ptr<AdminServer> admin;
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

WorkerApp::WorkerApp(ModuleSpec module, WorkerConfig config)
    : module_(std::move(module)), config_(std::move(config)), parts_(std::make_unique<Parts>()) {}

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

  auto state = OpenRocksDbBackend(RocksDbOptions{config_.state_dir});
  if (!state.ok()) return state.status();
  p.state = std::move(state).value();

  for (const auto& spec : module_.kafka_egresses) {
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
    deps.options.state_cache_bytes = config_.state_cache_bytes / shard_count;
    deps.options.state_flush_interval = config_.state_flush_interval;
    p.shards.push_back(std::make_unique<Shard>(std::move(deps)));
    shard_ptrs.push_back(p.shards.back().get());
  }
  p.router = std::make_unique<LocalRouter>(config_.max_parallelism, shard_ptrs);
  for (auto& shard : p.shards) {
    shard->set_router(p.router.get());
    EDDY_RETURN_IF_ERROR(shard->Start());
  }
  spdlog::info("{} shards over {} key groups, state in {}", shard_count, config_.max_parallelism,
               config_.state_dir);

  for (const auto& spec : module_.kafka_ingresses) {
    IngressContext ctx{p.router.get(), p.flow.get(), &p.progress, &p.metrics,
                       p.dead_letter.get()};
    auto ingress = KafkaIngress::Create(spec, ctx);
    if (!ingress.ok()) {
      return InvalidArgument("ingress " + spec.id + ": " + ingress.status().message());
    }
    EDDY_RETURN_IF_ERROR(ingress.value()->Start());
    p.ingresses.push_back(std::move(ingress).value());
  }
  for (const auto& spec : module_.generator_ingresses) {
    IngressContext ctx{p.router.get(), p.flow.get(), &p.progress, &p.metrics,
                       p.dead_letter.get()};
    auto generator = GeneratorIngress::Create(spec, ctx);
    if (!generator.ok()) {
      return InvalidArgument("ingress " + spec.id + ": " + generator.status().message());
    }
    EDDY_RETURN_IF_ERROR(generator.value()->Start());
    p.generators.push_back(std::move(generator).value());
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

}  // namespace eddy
