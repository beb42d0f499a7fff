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
    KeyGroup kg = KeyGroupOf(envelope.target.id, max_parallelism_);
    uint32_t owner = OwnerOf(kg, static_cast<uint32_t>(shards_.size()), max_parallelism_);
    shards_[owner]->Enqueue(std::move(envelope));
  }

 private:
  uint32_t max_parallelism_;
  std::vector<Shard*> shards_;
};

}  // namespace eddy
