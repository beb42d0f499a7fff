// The ingress side of checkpoint cuts, in process: GeneratorIngress::PauseAtBoundary reports the
// next record number and routes nothing until Resume, and a generator created at that number
// continues with exactly the records (keys, values) an uninterrupted one would have produced.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "eddy/io/generator.h"
#include "eddy/model/typed_value.h"
#include "eddy/runtime/flow_control.h"
#include "eddy/runtime/progress_tracker.h"
#include "eddy/runtime/router.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;

class RecordingRouter : public Router {
 public:
  explicit RecordingRouter(FlowControl* flow) : flow_(flow) {}
  void Route(Envelope env) override {
    std::lock_guard lock(mu_);
    routed_.push_back({env.target.id, types::AsLong(env.argument).value_or(-1)});
    flow_->Add(-1);  // processed at once: no backpressure
  }
  std::vector<std::pair<std::string, int64_t>> Routed() {
    std::lock_guard lock(mu_);
    return routed_;
  }

 private:
  FlowControl* flow_;
  std::mutex mu_;
  std::vector<std::pair<std::string, int64_t>> routed_;
};

GeneratorIngressSpec Spec(int64_t count) {
  GeneratorIngressSpec spec;
  spec.id = "test/gen";
  spec.targets = {FunctionType{"test", "fn"}};
  spec.keys = 1000;
  spec.count = count;
  spec.key_order = "random";
  spec.seed = 42;
  return spec;
}

TEST(CheckpointIngressTest, GeneratorPausesAtABatchBoundaryAndResumesFromItsPosition) {
  FlowControl flow(1'000'000);
  ProgressTracker progress;
  RecordingRouter all(&flow);
  auto reference = GeneratorIngress::Create(Spec(5000), {&all, &flow, &progress});
  ASSERT_TRUE(reference.ok());
  ASSERT_TRUE((*reference)->Start().ok());
  for (int i = 0; i < 5000 && all.Routed().size() < 5000; ++i) std::this_thread::sleep_for(1ms);
  (*reference)->Stop();
  ASSERT_EQ(all.Routed().size(), 5000u);

  RecordingRouter first(&flow);
  GeneratorIngressSpec slow = Spec(5000);
  slow.rate = 20000;  // still running when paused
  auto a = GeneratorIngress::Create(slow, {&first, &flow, &progress});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Start().ok());
  std::this_thread::sleep_for(30ms);
  auto position = (*a)->PauseAtBoundary(1s);
  ASSERT_TRUE(position.ok()) << position.status().ToString();
  size_t routed = first.Routed().size();
  EXPECT_EQ(routed, *position) << "the position is the number of records routed";
  EXPECT_GT(*position, 0u);
  EXPECT_LT(*position, 5000u);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(first.Routed().size(), routed) << "nothing is routed while paused";
  (*a)->Resume();
  for (int i = 0; i < 100 && first.Routed().size() == routed; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GT(first.Routed().size(), routed) << "routing resumes";
  (*a)->Stop();

  // A "restored" generator continues at the position with the same keys and values.
  RecordingRouter second(&flow);
  auto b = GeneratorIngress::Create(Spec(5000), {&second, &flow, &progress}, *position);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Start().ok());
  size_t expect = 5000 - *position;
  for (int i = 0; i < 5000 && second.Routed().size() < expect; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  (*b)->Stop();
  auto got = second.Routed();
  ASSERT_EQ(got.size(), expect);
  auto want = all.Routed();
  for (size_t i = 0; i < expect; ++i) {
    ASSERT_EQ(got[i], want[*position + i]) << "record " << *position + i;
  }
}

}  // namespace
}  // namespace eddy
