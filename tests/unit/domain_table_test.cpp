#include "core/domain_table.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>

using namespace bulkq;

TEST_CASE("the domain table finds, creates and erases queues by name", "[core][table]") {
  DomainTable table;
  CHECK(table.find("a.test", domain_hash("a.test")) == nullptr);
  DomainQueue& a = table.insert("a.test", domain_hash("a.test"));
  CHECK(a.domain() == "a.test");
  CHECK(table.find("a.test", domain_hash("a.test")) == &a);
  CHECK(table.size() == 1);
  const std::string long_name = std::string(200, 'x') + ".example";
  DomainQueue& b = table.insert(long_name, domain_hash(long_name));
  CHECK(b.domain() == long_name);
  table.erase(&a);
  CHECK(table.find("a.test", domain_hash("a.test")) == nullptr);
  CHECK(table.find(long_name, domain_hash(long_name)) == &b);
}

TEST_CASE("the domain table agrees with a std::map through random use", "[core][table]") {
  // Collisions on purpose: a weak hash (few distinct values) makes long probe runs, the case
  // backward-shift deletion must get right.
  for (const bool weak_hash : {false, true}) {
    INFO("weak hash: " << weak_hash);
    auto hash_of = [&](const std::string& name) {
      const std::uint64_t h = domain_hash(name);
      return weak_hash ? (h % 7) : h;
    };
    std::mt19937 random(4242);
    DomainTable table;
    std::map<std::string, DomainQueue*> model;
    for (int step = 0; step < 60'000; ++step) {
      const std::string name = "d" + std::to_string(random() % 3000) + ".test";
      auto it = model.find(name);
      if (random() % 3 == 0 && it != model.end()) {
        table.erase(it->second);
        model.erase(it);
      } else if (it == model.end()) {
        model[name] = &table.insert(name, hash_of(name));
      }
      if (step % 1000 == 0) {
        for (const auto& [n, q] : model)
          REQUIRE(table.find(n, hash_of(n)) == q);
      }
      REQUIRE(table.size() == model.size());
    }
    for (int i = 0; i < 3000; ++i) {
      const std::string name = "d" + std::to_string(i) + ".test";
      const auto it = model.find(name);
      REQUIRE(table.find(name, hash_of(name)) == (it == model.end() ? nullptr : it->second));
    }
    std::size_t visited = 0;
    table.for_each([&](const DomainQueue&) { ++visited; });
    CHECK(visited == model.size());
  }
}
