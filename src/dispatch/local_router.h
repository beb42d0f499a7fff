#pragma once
// LocalRouter: routes every address to the shard of this worker that owns its key group. The
// Router interface is what a multi-worker router will implement too (remote key groups go to a
// worker-to-worker channel instead of a local inbox).

#include <vector>

#include "dispatch/key_group_ranges.h"
#include "dispatch/shard.h"
#include "eddy/runtime/router.h"

namespace eddy {

class LocalRouter : public Router {
 public:
  LocalRouter(uint32_t max_parallelism, std::vector<Shard*> shards)
      : max_parallelism_(max_parallelism), shards_(std::move(shards)) {}

  void Route(Envelope envelope) override {
    shards_[OwnerOf(envelope)]->Enqueue(std::move(envelope));
  }

  // Each shard gets its share as one inbox node: one exchange and at most one wake-up per shard
  // for the whole batch, instead of racing a woken shard envelope by envelope.
  void RouteBatch(std::vector<Envelope>& envelopes) override {
    if (shards_.size() == 1) {
      shards_[0]->EnqueueBatch(std::move(envelopes));
      envelopes.clear();  // moved-from: make it a valid empty vector
      return;
    }
    // Scratch per calling thread: several ingress threads may route at once.
    thread_local std::vector<uint32_t> owners;
    owners.resize(envelopes.size());
    for (size_t i = 0; i < envelopes.size(); ++i) owners[i] = OwnerOf(envelopes[i]);
    for (uint32_t shard = 0; shard < shards_.size(); ++shard) {
      std::vector<Envelope> share;
      for (size_t i = 0; i < envelopes.size(); ++i) {
        if (owners[i] != shard) continue;
        if (share.empty()) share.reserve(envelopes.size() - i);
        share.push_back(std::move(envelopes[i]));
      }
      shards_[shard]->EnqueueBatch(std::move(share));
    }
    envelopes.clear();
  }

  uint32_t OwnerOf(const Envelope& envelope) const {
    KeyGroup kg = KeyGroupOf(envelope.target.id, max_parallelism_);
    return eddy::OwnerOf(kg, static_cast<uint32_t>(shards_.size()), max_parallelism_);
  }

  uint32_t max_parallelism_;
  std::vector<Shard*> shards_;
};

}  // namespace eddy
