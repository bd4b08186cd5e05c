#include "core/block_pool.h"

#include <doctest/doctest.h>

using namespace tinyserve;

TEST_CASE("a new pool has every block free") {
  for (FreeListPolicy policy : kAllFreeListPolicies) {
    BlockPool pool(8, policy, 1);
    CHECK(pool.num_free() == 8);
    CHECK(pool.num_used() == 0);
    CHECK(pool.num_cached() == 0);
    CHECK(pool.check().empty());
  }
}
