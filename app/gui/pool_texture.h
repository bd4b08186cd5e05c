// The physical pool map as one OpenGL texture: each block a cell coloured by its owning sequence
// and shaded by how full it is, rebuilt and uploaded (glTexSubImage2D) only when the snapshot,
// the selection or the layout changes. Drawing it is one quad whatever the pool's size.
#pragma once

#include <imgui.h>

#include <cstdint>
#include <vector>

#include "core/base/ids.h"
#include "core/engine/snapshot.h"

namespace tinyserve::app {

// Where the blocks go in an area: a grid of columns x rows cells of `cell` pixels. Large cells
// are drawn texel for pixel with a gap and a fill gauge (texels == cell); small ones are one
// texel per block, scaled.
struct PoolLayout {
  int32_t num_blocks = 0;
  int32_t columns = 0, rows = 0;
  int32_t texels = 1;  // texels per cell side
  float cell = 1;      // pixels per cell side on screen
  ImVec2 size{0, 0};   // of the whole map, in pixels

  BlockId block_at(ImVec2 offset) const;  // kNoBlock outside the map
  ImVec2 cell_min(BlockId b) const;       // offset of the block's cell
};
PoolLayout layout_pool(int32_t num_blocks, ImVec2 area);

class PoolTexture {
 public:
  PoolTexture() = default;
  PoolTexture(const PoolTexture&) = delete;
  PoolTexture& operator=(const PoolTexture&) = delete;
  ~PoolTexture();

  // Rebuilds when version, the selection or the layout changed since the last call.
  void update(const Snapshot& snapshot, uint64_t version, const PoolLayout& layout, SeqId selected);
  ImTextureID id() const;

 private:
  void paint(const Snapshot& snapshot, const PoolLayout& layout, SeqId selected);

  unsigned texture_ = 0;
  int32_t width_ = 0, height_ = 0;  // allocated texture size
  uint64_t version_ = ~uint64_t{0};
  SeqId selected_ = kNoSeq;
  int32_t columns_ = 0, rows_ = 0, texels_ = 0;
  std::vector<uint32_t> pixels_;
  std::vector<uint8_t> in_selection_;
};

}  // namespace tinyserve::app
