// The physical pool map as one OpenGL texture: each block a cell coloured by its owning sequence
// and shaded by how full it is or, when blocks outnumber the map's pixels, each pixel shaded by
// the share of its blocks in use; rebuilt and uploaded (glTexSubImage2D) only when the snapshot,
// the selection or the layout changes. Drawing it is one quad whatever the pool's size, and the
// texture is never larger than the map's pixels.
#pragma once

#include <imgui.h>

#include <cstdint>
#include <vector>

#include "app/gui/pool_layout.h"
#include "core/base/ids.h"
#include "core/engine/snapshot.h"

namespace tinyserve::app {

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
  void paint_blocks(const Snapshot& snapshot, const PoolLayout& layout, SeqId selected);
  void paint_usage(const Snapshot& snapshot, const PoolLayout& layout, SeqId selected);

  unsigned texture_ = 0;
  int32_t width_ = 0, height_ = 0;  // allocated texture size
  uint64_t version_ = ~uint64_t{0};
  SeqId selected_ = kNoSeq;
  int32_t columns_ = 0, rows_ = 0, texels_ = 0;
  int64_t blocks_per_cell_ = 0;
  std::vector<uint32_t> pixels_;
  std::vector<uint8_t> in_selection_;
  std::vector<uint32_t> used_;  // per cell, aggregated layouts
};

}  // namespace tinyserve::app
