#include "core/memory/block_map.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace tinyserve {

char owner_letter(int32_t rank) {
  if (rank < 26) return static_cast<char>('A' + rank);
  if (rank < 52) return static_cast<char>('a' + rank - 26);
  if (rank < 62) return static_cast<char>('0' + rank - 52);
  return '#';
}

namespace {

// seqs: the sequences in letter order (seqs[i] is owner_letter(i)).
std::string map_chars(const KvAllocator& allocator, const std::vector<SeqId>& seqs) {
  std::vector<BlockView> views;
  allocator.block_views(views);
  std::unordered_map<SeqId, int32_t> rank;
  for (size_t i = 0; i < seqs.size(); ++i) rank.emplace(seqs[i], static_cast<int32_t>(i));
  std::string line(views.size(), '.');
  for (size_t b = 0; b < views.size(); ++b) {
    const BlockView& v = views[b];
    if (v.state == BlockState::kCached) {
      line[b] = 'c';
    } else if (v.state == BlockState::kUsed) {
      if (v.ref_count > 1) {
        line[b] = '*';
      } else if (v.fill == 0 || v.owner == kNoSeq) {
        line[b] = '-';
      } else {
        line[b] = owner_letter(rank.at(v.owner));
      }
    }
  }
  return line;
}

}  // namespace

std::string block_map_line(const KvAllocator& allocator) {
  return map_chars(allocator, allocator.live_seqs());
}

std::string dump_block_map(const KvAllocator& allocator, int32_t width,
                           std::span<const SeqId> named) {
  // Letter order: the named sequences, then the other live ones; listed: the live ones.
  std::vector<SeqId> order(named.begin(), named.end());
  for (SeqId id : allocator.live_seqs()) {
    if (std::find(named.begin(), named.end(), id) == named.end()) order.push_back(id);
  }
  const std::string line = map_chars(allocator, order);
  std::vector<size_t> seqs;  // indices into order of the live sequences
  for (size_t i = 0; i < order.size(); ++i) {
    if (allocator.has(order[i])) seqs.push_back(i);
  }
  const PoolStats s = allocator.stats();
  std::ostringstream out;
  out << "GPU pool: " << s.num_blocks << " blocks x " << s.block_size << " slots | used "
      << s.used_blocks << ", cached " << s.cached_blocks << ", free "
      << s.num_blocks - s.used_blocks - s.cached_blocks << " | " << s.stored_tokens
      << " tokens stored";
  if (s.cpu_num_blocks > 0)
    out << " | CPU pool: " << s.cpu_used_blocks << " of " << s.cpu_num_blocks << " used";
  out << '\n';
  const int32_t digits = static_cast<int32_t>(std::to_string(std::max(s.num_blocks - 1, 0)).size());
  for (size_t row = 0; row < line.size(); row += static_cast<size_t>(width)) {
    std::string id = std::to_string(row);
    out << std::string(
               static_cast<size_t>(digits) - std::min(id.size(), static_cast<size_t>(digits)), ' ')
        << id << ' ' << line.substr(row, static_cast<size_t>(width)) << '\n';
  }
  out << "legend: . free  c cached  * shared  - reserved, empty";
  for (size_t i : seqs) out << "  " << owner_letter(static_cast<int32_t>(i)) << " seq " << order[i];
  out << '\n';
  for (size_t i : seqs) {
    const BlockTable& t = allocator.table(order[i]);
    out << "seq " << order[i] << " (" << owner_letter(static_cast<int32_t>(i))
        << "): " << t.num_tokens << " tokens, blocks [";
    for (size_t j = 0; j < t.blocks.size(); ++j) out << (j ? " " : "") << t.blocks[j];
    out << "]" << (allocator.tier(order[i]) == Tier::kCpu ? " (swapped out: CPU blocks)" : "")
        << "\n";
  }
  return out.str();
}

}  // namespace tinyserve
