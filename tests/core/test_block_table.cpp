#include <doctest/doctest.h>

#include <map>

#include "core/base/id_map.h"
#include "core/base/rng.h"
#include "core/memory/block_table.h"

using namespace tinyserve;

TEST_CASE("a block table maps positions to slots block by block") {
  BlockTable t;
  t.blocks = {7, 2, 9};
  t.num_tokens = 10;
  CHECK(t.slot(0, 4) == 28);
  CHECK(t.slot(3, 4) == 31);
  CHECK(t.slot(4, 4) == 8);
  CHECK(t.slot(9, 4) == 37);
  CHECK(t.fill(0, 4) == 4);
  CHECK(t.fill(2, 4) == 2);
  CHECK(t.last() == 9);
  CHECK(ceil_div(10, 4) == 3);
  CHECK(ceil_div(8, 4) == 2);
}

TEST_CASE("the id map agrees with std::map over random inserts and erases") {
  IdMap map;
  std::map<int32_t, uint32_t> model;
  Rng rng(21);
  for (int i = 0; i < 200'000; ++i) {
    const auto key = static_cast<int32_t>(rng.below(5000));
    if (model.contains(key)) {
      REQUIRE(map.contains(key));
      REQUIRE(map.at(key) == model[key]);
      if (rng.below(2) == 0) {
        map.erase(key);
        model.erase(key);
      }
    } else {
      REQUIRE_FALSE(map.contains(key));
      const auto value = static_cast<uint32_t>(rng.below(1u << 30));
      map.insert(key, value);
      model[key] = value;
    }
    REQUIRE(map.size() == model.size());
  }
  size_t seen = 0;
  map.for_each([&](int32_t key, uint32_t value) {
    CHECK(model.at(key) == value);
    ++seen;
  });
  CHECK(seen == model.size());
}
