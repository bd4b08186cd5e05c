// A text dump of a pool's block map, for tests, the CLI and bug reports. One character a block:
//   .  free         c  cached (count zero, reusable prefix content)
//   *  shared (held by several block tables)
//   -  reserved but holding no token yet (contiguous reservations)
//   A  held by one sequence: A, B, C... name the live sequences in ascending id order
//      (A-Z, then a-z, then 0-9, then #).
#pragma once

#include <span>
#include <string>

#include "core/memory/kv_allocator.h"

namespace tinyserve {

char owner_letter(int32_t rank);

// The map as one line of num_blocks characters.
std::string block_map_line(const KvAllocator& allocator);

// A header with the pool's counts, the map in rows of width blocks (each row prefixed with its
// first block id), the legend, and each live sequence's block table. named: sequences that keep
// their letters whether live or not (A for named[0], B for named[1], ...), so that dumps of one
// walk-through name each sequence alike; other live sequences take the letters after them.
std::string dump_block_map(const KvAllocator& allocator, int32_t width = 64,
                           std::span<const SeqId> named = {});

}  // namespace tinyserve
