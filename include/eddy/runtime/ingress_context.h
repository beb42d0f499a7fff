#pragma once
// IngressContext: what every ingress (Kafka, generator) needs from the runtime. Plain pointers
// to objects the worker owns; nothing here is owned by the ingress.

namespace eddy {

class Router;
class FlowControl;
class ProgressTracker;
class MetricsRegistry;
class DeadLetterSink;

// router, flow and progress are required and must outlive the ingress; metrics and dead_letter
// may be null.
struct IngressContext {
  Router* router = nullptr;
  FlowControl* flow = nullptr;
  ProgressTracker* progress = nullptr;
  MetricsRegistry* metrics = nullptr;
  DeadLetterSink* dead_letter = nullptr;
};

}  // namespace eddy
