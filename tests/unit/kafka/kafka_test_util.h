#pragma once
// Shared pieces of the Kafka tests: recording fakes for Router and DeadLetterSink, polling
// waits, and spec builders with the timeouts the mock cluster needs (test-infra.md).

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eddy/config/module_spec.h"
#include "eddy/runtime/dead_letter.h"
#include "eddy/runtime/router.h"

namespace eddy::testing {

// Polls `pred` every 10 ms until it holds or `timeout` passes; returns its last value. The
// default is generous because a consumer-group join on the mock occasionally takes 8 s.
inline bool WaitFor(const std::function<bool()>& pred,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class RecordingRouter : public Router {
 public:
  void Route(Envelope envelope) override {
    std::lock_guard<std::mutex> lock(mu_);
    envelopes_.push_back(std::move(envelope));
  }
  std::vector<Envelope> Envelopes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return envelopes_;
  }
  size_t Count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return envelopes_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Envelope> envelopes_;
};

class RecordingDeadLetterSink : public DeadLetterSink {
 public:
  Status Send(const DeadLetter& letter, uint64_t epoch) override {
    std::lock_guard<std::mutex> lock(mu_);
    letters_.push_back(letter);
    epochs_.push_back(epoch);
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }
  std::vector<DeadLetter> Letters() const {
    std::lock_guard<std::mutex> lock(mu_);
    return letters_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<DeadLetter> letters_;
  std::vector<uint64_t> epochs_;
};

inline std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1));
}

inline KafkaIngressSpec IngressSpec(const std::string& bootstrap, const std::string& topic,
                                    std::vector<FunctionType> targets,
                                    const std::string& startup = "earliest") {
  KafkaIngressSpec spec;
  spec.id = "test/ingress";
  spec.address = bootstrap;
  spec.consumer_group_id = UniqueName("group");  // fresh group: no slow rejoin on the mock
  spec.topics.push_back({topic, "io.statefun.types/string", std::move(targets)});
  spec.startup_position.type = startup;
  spec.auto_offset_reset_position = "earliest";
  spec.properties = {{"session.timeout.ms", "6000"},
                     {"max.poll.interval.ms", "7000"},
                     {"heartbeat.interval.ms", "500"},
                     {"fetch.wait.max.ms", "50"}};
  // EDDY_KAFKA_DEBUG=cgrp,fetch,... turns on librdkafka debug logs when a test misbehaves.
  if (const char* debug = std::getenv("EDDY_KAFKA_DEBUG")) {
    spec.properties.push_back({"debug", debug});
  }
  return spec;
}

}  // namespace eddy::testing
