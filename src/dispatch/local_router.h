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
  // for the whole batch, instead of racing a woken shard envelope by envelope. A share is
  // allocated at its exact size (the shard's inbox takes the vector), in one pass.
  void RouteBatch(std::vector<Envelope>& envelopes) override {
    if (shards_.size() == 1) {
      shards_[0]->EnqueueBatch(std::move(envelopes));
      envelopes.clear();  // moved-from: make it a valid empty vector
      return;
    }
    // Scratch per calling thread: several ingress threads may route at once.
    thread_local std::vector<uint32_t> owners;
    thread_local std::vector<std::vector<Envelope>> shares;
    owners.resize(envelopes.size());
    shares.resize(shards_.size());
    thread_local std::vector<uint32_t> counts;
    counts.assign(shards_.size(), 0);
    for (size_t i = 0; i < envelopes.size(); ++i) counts[owners[i] = OwnerOf(envelopes[i])]++;
    for (size_t shard = 0; shard < shards_.size(); ++shard) shares[shard].reserve(counts[shard]);
    for (size_t i = 0; i < envelopes.size(); ++i) {
      shares[owners[i]].push_back(std::move(envelopes[i]));
    }
    for (size_t shard = 0; shard < shards_.size(); ++shard) {
      if (counts[shard] == 0) continue;
      shards_[shard]->EnqueueBatch(std::move(shares[shard]));
      shares[shard] = {};  // moved-from: make it a valid empty vector
    }
    envelopes.clear();
  }

  uint32_t OwnerOf(const Envelope& envelope) const {
    KeyGroup kg = KeyGroupOf(envelope.target.id, max_parallelism_);
    return eddy::OwnerOf(kg, static_cast<uint32_t>(shards_.size()), max_parallelism_);
  }


 private:
  uint32_t max_parallelism_;
  std::vector<Shard*> shards_;
};

}  // namespace eddy
