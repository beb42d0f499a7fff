// AddressTable: insert/find/erase, growth, node stability, node reuse, backward-shift deletion
// under heavy churn and sweeps that erase while iterating (the state cache's CLOCK hand),
// checked against std::unordered_map as the reference.
#include "dispatch/address_table.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace eddy {
namespace {

Address A(const std::string& id, const std::string& name = "fn") {
  return Address{FunctionType{"ns", name}, id};
}

TEST(AddressTable, InsertFindErase) {
  AddressTable<int> t;
  EXPECT_EQ(t.Find(A("x")), nullptr) << "empty table";
  auto [node, inserted] = t.Insert(A("x"));
  ASSERT_TRUE(inserted);
  node->value = 7;
  auto [again, inserted_again] = t.Insert(A("x"));
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again, node);
  EXPECT_EQ(t.Find(A("x"))->value, 7);
  EXPECT_EQ(t.Find(A("x", "other")), nullptr) << "the type is part of the key";
  EXPECT_EQ(t.Find(Address{FunctionType{"other", "fn"}, "x"}), nullptr);
  EXPECT_EQ(t.size(), 1u);
  t.Erase(node);
  EXPECT_EQ(t.Find(A("x")), nullptr);
  EXPECT_TRUE(t.empty());
}

// Nodes do not move when the table grows; erased nodes are reused with their old value left
// for the caller to reset.
TEST(AddressTable, NodesAreStableAcrossGrowthAndReused) {
  AddressTable<int> t;
  std::vector<AddressTable<int>::Node*> nodes;
  for (int i = 0; i < 5000; ++i) {
    auto [node, inserted] = t.Insert(A(std::to_string(i)));
    ASSERT_TRUE(inserted);
    node->value = i;
    nodes.push_back(node);
  }
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(t.Find(A(std::to_string(i))), nodes[i]) << i;
    ASSERT_EQ(nodes[i]->value, i);
    ASSERT_EQ(nodes[i]->key.id, std::to_string(i));
  }
  AddressTable<int>::Node* erased = nodes[42];
  t.Erase(erased);
  auto [reused, inserted] = t.Insert(A("new"));
  ASSERT_TRUE(inserted);
  EXPECT_EQ(reused, erased) << "an erased node is recycled";
  EXPECT_EQ(reused->value, 42) << "with the value it had: the caller re-initializes it";
  EXPECT_EQ(reused->key.id, "new");
  EXPECT_EQ(t.Find(A("42")), nullptr);
}

// Random inserts and erases against std::unordered_map: backward-shift deletion must keep every
// remaining key findable (no lost probe chains), also with many colliding home slots.
TEST(AddressTable, ChurnMatchesReference) {
  AddressTable<int> t;
  std::unordered_map<std::string, int> ref;
  std::mt19937 rng(7);
  for (int step = 0; step < 200000; ++step) {
    std::string id = std::to_string(rng() % 3000);
    if (rng() % 3 == 0) {
      if (auto* node = t.Find(A(id))) {
        t.Erase(node);
        ASSERT_EQ(ref.erase(id), 1u) << id;
      } else {
        ASSERT_EQ(ref.count(id), 0u) << id;
      }
    } else {
      auto [node, inserted] = t.Insert(A(id));
      ASSERT_EQ(inserted, ref.count(id) == 0) << id;
      node->value = step;
      ref[id] = step;
    }
    ASSERT_EQ(t.size(), ref.size());
  }
  for (const auto& [id, value] : ref) {
    auto* node = t.Find(A(id));
    ASSERT_NE(node, nullptr) << id;
    EXPECT_EQ(node->value, value);
  }
  size_t visited = 0;
  t.ForEach([&](const AddressTable<int>::Node& n) {
    ++visited;
    EXPECT_EQ(ref.at(n.key.id), n.value);
  });
  EXPECT_EQ(visited, ref.size());
}

// A sweep over the slots that erases as it goes (looking at slot i again after EraseAt(i))
// sees every node at least once, and erasing every odd value leaves exactly the even ones.
TEST(AddressTable, SweepWithEraseSkipsNothing) {
  AddressTable<int> t;
  for (int i = 0; i < 20000; ++i) t.Insert(A("k" + std::to_string(i))).first->value = i;
  std::set<int> seen;
  for (size_t i = 0; i < t.slot_count();) {
    auto* node = t.NodeAt(i);
    if (node == nullptr) {
      ++i;
      continue;
    }
    seen.insert(node->value);
    if (node->value % 2 == 1) {
      t.EraseAt(i);  // a later node may now sit at i
      continue;
    }
    ++i;
  }
  EXPECT_EQ(seen.size(), 20000u) << "every node was visited";
  // After wrapping, a node moved from the table's start into its end may be seen twice, so
  // finish with a second full pass.
  for (size_t i = 0; i < t.slot_count();) {
    auto* node = t.NodeAt(i);
    if (node != nullptr && node->value % 2 == 1) {
      t.EraseAt(i);
      continue;
    }
    ++i;
  }
  EXPECT_EQ(t.size(), 10000u);
  for (int i = 0; i < 20000; ++i) {
    auto* node = t.Find(A("k" + std::to_string(i)));
    EXPECT_EQ(node != nullptr, i % 2 == 0) << i;
  }
}

TEST(AddressTable, ManyKeys) {
  AddressTable<uint32_t> t;
  constexpr uint32_t kKeys = 300000;
  for (uint32_t i = 0; i < kKeys; ++i) t.Insert(A(std::to_string(i))).first->value = i;
  EXPECT_EQ(t.size(), kKeys);
  EXPECT_GE(t.slot_count() * 7, t.size() * 10) << "load factor stays at most 0.7";
  for (uint32_t i = 0; i < kKeys; i += 7) {
    auto* node = t.Find(A(std::to_string(i)));
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->value, i);
  }
  EXPECT_EQ(t.Find(A(std::to_string(kKeys))), nullptr);
  for (uint32_t i = 0; i < kKeys; ++i) t.Erase(t.Find(A(std::to_string(i))));
  EXPECT_TRUE(t.empty());
}

}  // namespace
}  // namespace eddy
