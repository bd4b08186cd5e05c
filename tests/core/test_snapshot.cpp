#include <doctest/doctest.h>

#include "core/engine/snapshot.h"
#include "tests/core/engine_helpers.h"

using namespace tinyserve;
using namespace tinyserve::testing;

TEST_CASE("a snapshot holds every queue's sequences with their block tables") {
  RequestSpec later = req(2, 8, 4, 5.0);  // not arrived during the steps below
  auto e = make_engine(small_engine(32, 4), {req(0, 10, 6), req(1, 6, 6), later});
  e->step();
  e->step();
  EventRing ring;
  ring.add(e->step_events());
  const auto snap = make_snapshot(*e, ring.events());
  CHECK(snap->step == 2);
  CHECK(snap->block_size == 4);
  CHECK(snap->geometry.num_gpu_blocks == 32);
  CHECK(snap->blocks.size() == 32);
  CHECK(snap->num_running == 2);
  CHECK(snap->num_waiting == 0);
  CHECK(snap->requests_total == 3);
  REQUIRE(snap->seqs.size() == 2);
  for (const SeqView& s : snap->seqs) {
    CHECK(s.queue == QueueKind::kRunning);
    const auto table = snap->table(s);
    CHECK(static_cast<int32_t>(table.size()) == (s.table_tokens + 3) / 4);
    for (BlockId b : table) {
      CHECK(snap->blocks[static_cast<size_t>(b)].state == BlockState::kUsed);
      CHECK(snap->blocks[static_cast<size_t>(b)].owner == s.id);
    }
    CHECK(snap->find(s.id) == &s);
  }
  CHECK(snap->find(999) == nullptr);
  CHECK(snap->last.step == 1);
}

TEST_CASE("a snapshot is a copy: stepping the engine does not change it") {
  auto e = make_engine(small_engine(32, 4), {req(0, 10, 6), req(1, 6, 6)});
  e->step();
  const auto snap = make_snapshot(*e, {});
  const int32_t tokens = snap->seqs.front().tokens;
  const BlockState state = snap->blocks[0].state;
  while (!e->done()) e->step();
  CHECK(snap->seqs.front().tokens == tokens);
  CHECK(snap->blocks[0].state == state);
  CHECK(make_snapshot(*e, {})->seqs.empty());
}

TEST_CASE("the event ring keeps the most recent events, oldest first") {
  EventRing ring(3);
  std::vector<Event> events(5);
  for (int i = 0; i < 5; ++i) events[static_cast<size_t>(i)].step = i;
  ring.add(events);
  REQUIRE(ring.events().size() == 3);
  CHECK(ring.events().front().step == 2);
  CHECK(ring.events().back().step == 4);
}
