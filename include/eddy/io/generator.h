#pragma once
// GeneratorIngress: Eddy's built-in record generator (kind io.eddy.generator.v1/ingress), like
// Flink's datagen source. It feeds functions at a chosen rate, or as fast as backpressure allows,
// so benchmarks and demos are not capped by a Kafka broker.
//
// Record n (0, 1, 2, ...) has the id `n mod keys` (round-robin) or a seeded pseudo-random id in
// [0, keys) (random), written in decimal, and the value n: the built-in long (types::Long) when
// valueType is io.statefun.types/long, otherwise the decimal digits as UTF-8 bytes under
// valueType. One Envelope per target goes to the Router, like a Kafka record.
//
// Runtime contract, the same as KafkaIngress: envelopes are emitted in batches; each batch is
// pinned on the ProgressTracker (one count per envelope, carried in Envelope::epoch) and added
// to FlowControl before it is routed. While FlowControl::ShouldPause() the ingress holds until
// ShouldResume(); a batch never takes FlowControl further than its bound (except that a record's
// targets are never split). There are no offsets to commit: a restart starts again at record 0,
// unless a checkpoint restore gives the sequence number to continue from (its position).
//
// Lifecycle: Create -> Start -> [StopFetching -> (drain)] -> Stop; the destructor stops. The
// generating thread is owned by the ingress. All methods are thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/runtime/ingress_context.h"

namespace eddy {

class GeneratorIngress {
 public:
  // Checks the spec (targets, keys >= 1, rate and count >= 0, key order) and the context
  // (router, flow and progress are required). Nothing runs before Start.
  static Result<std::unique_ptr<GeneratorIngress>> Create(const GeneratorIngressSpec& spec,
                                                          IngressContext context);
  // Starts at record `start_sequence` (a checkpoint's position) with the keys and values it would
  // have produced from there, random key order included.
  static Result<std::unique_ptr<GeneratorIngress>> Create(const GeneratorIngressSpec& spec,
                                                          IngressContext context,
                                                          uint64_t start_sequence);
  ~GeneratorIngress();
  GeneratorIngress(const GeneratorIngress&) = delete;
  GeneratorIngress& operator=(const GeneratorIngress&) = delete;

  // Starts the generating thread. FailedPrecondition if called twice or after Stop.
  Status Start();
  // Stops generating; returns once the thread has acknowledged (at most one batch boundary
  // later), so no envelope is routed after it returns and a drain may trust FlowControl.
  void StopFetching();
  // Stops generating and joins the thread. Idempotent.
  void Stop();
  // Records generated so far (each one routed to every target).
  uint64_t Generated() const;

  // Checkpoint cut: waits until the generating thread is between two batches (at most
  // `timeout`) and keeps it there until Resume; returns the sequence number of the next record
  // (its position). DeadlineExceeded (and not paused) on timeout. Call Pause and Resume from the
  // same thread.
  Result<uint64_t> PauseAtBoundary(std::chrono::milliseconds timeout);
  void Resume();

  class Impl;

 private:
  explicit GeneratorIngress(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

using GeneratorIngressPtr = std::unique_ptr<GeneratorIngress>;

}  // namespace eddy
