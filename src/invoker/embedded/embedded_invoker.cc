// The embedded invoker: runs a batch through sdk::RunBatch on the calling shard's thread.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <memory>
#include <unordered_map>

#include "eddy/invoker/embedded_invoker.h"
#include "eddy/metrics/metrics.h"
#include "eddy/sdk/function.h"

namespace eddy {
namespace {

struct TypeCounters {
  Counter* exceptions = nullptr;
  Counter* slow = nullptr;
};

class EmbeddedInvoker final : public Invoker {
 public:
  EmbeddedInvoker(boost::asio::io_context& io, const EndpointSpec& endpoint,
                  std::shared_ptr<const EmbeddedFunctions> functions, MetricsRegistry* metrics)
      : io_(io),
        endpoint_(endpoint),
        functions_(std::move(functions)),
        metrics_(metrics),
        alive_(std::make_shared<bool>(true)) {}

  ~EmbeddedInvoker() override { Shutdown(); }

  void Invoke(InvocationBatch batch, Callback done) override {
    // Posted, never inline (the Invoker contract): the shard finishes its bookkeeping for this
    // request before the reply arrives. `alive` turns queued calls into Unavailable after
    // Shutdown, like a remote invoker's pending calls.
    boost::asio::post(io_, [this, alive = alive_, batch = std::move(batch),
                            done = std::move(done)]() mutable {
      if (!*alive) {
        done(Unavailable("embedded invoker shut down"));
        return;
      }
      std::chrono::nanoseconds took;
      done(Run(batch, &took));
    });
  }

  void Shutdown() override { *alive_ = false; }

  bool SupportsInline() const override { return true; }
  Result<FunctionReply> InvokeInline(const InvocationBatch& batch,
                                     std::chrono::nanoseconds* took) override {
    *took = std::chrono::nanoseconds(0);
    if (!*alive_) return Unavailable("embedded invoker shut down");
    return Run(batch, took);
  }

 private:
  Result<FunctionReply> Run(const InvocationBatch& batch, std::chrono::nanoseconds* took_out) {
    const sdk::FunctionSpec* spec = Lookup(batch.target.type);
    if (spec == nullptr) {
      return NotFound("no embedded function " + batch.target.type.ToString() + " in " +
                      endpoint_.Describe());
    }
    auto start = std::chrono::steady_clock::now();
    Result<FunctionReply> reply = sdk::RunBatch(*spec, batch);
    auto took = std::chrono::steady_clock::now() - start;
    *took_out = std::chrono::duration_cast<std::chrono::nanoseconds>(took);
    if (!reply.ok()) {
      Counters(batch.target.type).exceptions->Inc();
      return reply;
    }
    if (took > endpoint_.embedded.call_timeout) {
      Counters(batch.target.type).slow->Inc();
      return DeadlineExceeded(
          "embedded function " + batch.target.type.ToString() + " took " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
          " ms, more than timeouts.call (" +
          std::to_string(endpoint_.embedded.call_timeout.count()) +
          " ms); its effects are dropped");
    }
    return reply;
  }

  // Cached per type: the hot path compares with the last type looked up (a shard mostly calls
  // one type in a row), else does one hash lookup.
  const sdk::FunctionSpec* Lookup(const FunctionType& type) {
    if (last_spec_ != nullptr && last_type_ == type) return last_spec_;
    const sdk::FunctionSpec* spec = LookupSlow(type);
    if (spec != nullptr) {
      last_type_ = type;
      last_spec_ = spec;
    }
    return spec;
  }
  const sdk::FunctionSpec* LookupSlow(const FunctionType& type) {
    auto it = specs_.find(type);
    if (it != specs_.end()) return it->second;
    const sdk::FunctionSpec* spec = functions_->Find(endpoint_, type);
    specs_.emplace(type, spec);
    return spec;
  }

  TypeCounters& Counters(const FunctionType& type) {
    auto [it, inserted] = counters_.try_emplace(type);
    if (inserted) {
      Labels labels{{"function", type.ToString()}};
      auto with = [&](const char* reason) {
        Labels l = labels;
        l["reason"] = reason;
        return &metrics_->GetCounter("eddy_embedded_failures_total", l,
                                     "Embedded function batches that failed, by reason");
      };
      it->second.exceptions = with("exception");
      it->second.slow = with("timeout");
    }
    return it->second;
  }

  boost::asio::io_context& io_;
  EndpointSpec endpoint_;
  std::shared_ptr<const EmbeddedFunctions> functions_;
  MetricsRegistry* metrics_;
  std::shared_ptr<bool> alive_;  // touched only on the shard thread
  std::unordered_map<FunctionType, const sdk::FunctionSpec*, FunctionTypeHash> specs_;
  FunctionType last_type_;
  const sdk::FunctionSpec* last_spec_ = nullptr;
  std::unordered_map<FunctionType, TypeCounters, FunctionTypeHash> counters_;
};

}  // namespace

Result<InvokerPtr> MakeEmbeddedInvoker(boost::asio::io_context& io, const EndpointSpec& endpoint,
                                       std::shared_ptr<const EmbeddedFunctions> functions,
                                       MetricsRegistry* metrics) {
  if (endpoint.protocol != EndpointProtocol::kEmbedded) {
    return InvalidArgument("not an embedded endpoint: " + endpoint.Describe());
  }
  if (!functions || metrics == nullptr) {
    return InvalidArgument("embedded functions were not loaded for " + endpoint.Describe());
  }
  return InvokerPtr(new EmbeddedInvoker(io, endpoint, std::move(functions), metrics));
}

}  // namespace eddy
