#pragma once
// Envelope: a message on its way to a function, plus the bookkeeping the runtime needs.

#include <cstdint>
#include <optional>

#include "eddy/model/address.h"
#include "eddy/model/typed_value.h"

namespace eddy {

struct Envelope {
  Address target;
  std::optional<Address> caller;
  TypedValue argument;
  // Progress epoch this message counts against (see ProgressTracker): the ingress records it
  // descends from are not committed until it is processed.
  uint64_t epoch = 0;
};

}  // namespace eddy
