#include "app/gui/pool_texture.h"

#include <GL/gl.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "app/gui/theme.h"

namespace tinyserve::app {

namespace {

constexpr int kShades = 16;  // fill levels of a texel-per-block cell

// A used block's colours, per palette slot: full and empty slots, alone and shared, and the
// shades of a texel-per-block cell by fill. Blending per block would dominate painting.
struct BlockColours {
  ImU32 full[2], empty[2];      // [shared]
  ImU32 shade[2][kShades + 1];  // [shared][fill level]
};

const BlockColours& block_colours(SeqId owner) {
  static const std::vector<BlockColours> table = [] {
    std::vector<BlockColours> out(theme::kSeqPaletteSize);
    for (size_t i = 0; i < out.size(); ++i) {
      for (int shared = 0; shared < 2; ++shared) {
        ImU32 full = theme::seq_color(static_cast<SeqId>(i));
        if (shared) full = theme::mix(full, IM_COL32_WHITE, 0.25f);
        const ImU32 empty = theme::mix(full, theme::kBlockFree, 0.72f);
        out[i].full[shared] = full;
        out[i].empty[shared] = empty;
        for (int k = 0; k <= kShades; ++k) {
          out[i].shade[shared][k] =
              theme::mix(empty, full, 0.3f + 0.7f * static_cast<float>(k) / kShades);
        }
      }
    }
    return out;
  }();
  return table[static_cast<uint32_t>(owner) % theme::kSeqPaletteSize];
}

}  // namespace

PoolTexture::~PoolTexture() {
  if (texture_ != 0) glDeleteTextures(1, &texture_);
}

ImTextureID PoolTexture::id() const {
  return reinterpret_cast<ImTextureID>(static_cast<intptr_t>(texture_));
}

void PoolTexture::update(const Snapshot& snapshot, uint64_t version, const PoolLayout& layout,
                         SeqId selected) {
  if (layout.columns == 0) return;
  if (version == version_ && selected == selected_ && layout.columns == columns_ &&
      layout.rows == rows_ && layout.texels == texels_ &&
      layout.blocks_per_cell == blocks_per_cell_) {
    return;
  }
  version_ = version;
  selected_ = selected;
  columns_ = layout.columns;
  rows_ = layout.rows;
  texels_ = layout.texels;
  blocks_per_cell_ = layout.blocks_per_cell;
  if (layout.aggregated() || !snapshot.has_block_views()) {
    paint_usage(snapshot, layout, selected);
  } else {
    paint_blocks(snapshot, layout, selected);
  }

  const int32_t w = layout.columns * layout.texels;
  const int32_t h = layout.rows * layout.texels;
  if (texture_ == 0) glGenTextures(1, &texture_);
  glBindTexture(GL_TEXTURE_2D, texture_);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
  glPixelStorei(GL_UNPACK_ROW_LENGTH, 0);
  if (w != width_ || h != height_) {
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE, pixels_.data());
    width_ = w;
    height_ = h;
  } else {
    glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, pixels_.data());
  }
}

// A cell (one pixel) per group of blocks, shaded from free to used by the share of its blocks in
// use; a cell with any block in use is never drawn as free. Cells holding the shown sequence's
// blocks are white.
void PoolTexture::paint_usage(const Snapshot& snap, const PoolLayout& l, SeqId selected) {
  count_used(snap.available_bits, l, used_);
  pixels_.assign(static_cast<size_t>(l.num_cells()), theme::kBlockGap);
  static const std::array<ImU32, kShades + 1> shades = [] {
    std::array<ImU32, kShades + 1> out{};
    out[0] = theme::kBlockFree;
    for (int k = 1; k <= kShades; ++k) {
      out[static_cast<size_t>(k)] = theme::mix(theme::kBlockFree, theme::kBlockUsed,
                                               0.3f + 0.7f * static_cast<float>(k) / kShades);
    }
    return out;
  }();
  for (int64_t c = 0; c < l.num_cells(); ++c) {
    const int64_t blocks = l.end_block(c) - l.first_block(c);
    if (blocks <= 0) break;
    const uint32_t used = used_[static_cast<size_t>(c)];
    const auto level =
        used == 0
            ? 0
            : std::max<int64_t>(1, (static_cast<int64_t>(used) * kShades + blocks / 2) / blocks);
    pixels_[static_cast<size_t>(c)] = shades[static_cast<size_t>(level)];
  }
  const SeqView* s = selected != kNoSeq ? snap.find(selected) : nullptr;
  if (s != nullptr && s->tier == Tier::kGpu) {  // a swapped-out table holds CPU block ids
    for (BlockId b : snap.table(*s)) {
      if (b >= 0 && b < l.num_blocks) pixels_[static_cast<size_t>(l.cell_of(b))] = theme::kSelected;
    }
  }
}

void PoolTexture::paint_blocks(const Snapshot& snap, const PoolLayout& l, SeqId selected) {
  const int32_t t = l.texels;
  const int32_t w = l.columns * t;
  pixels_.assign(static_cast<size_t>(w) * static_cast<size_t>(l.rows * t), theme::kBlockGap);

  in_selection_.assign(snap.blocks.size(), 0);
  const SeqView* s = selected != kNoSeq ? snap.find(selected) : nullptr;
  if (s != nullptr && s->tier == Tier::kGpu) {  // a swapped-out table holds CPU block ids
    for (BlockId b : snap.table(*s)) {
      if (b >= 0 && static_cast<size_t>(b) < in_selection_.size())
        in_selection_[static_cast<size_t>(b)] = 1;
    }
  }

  const float block_size = static_cast<float>(std::max(snap.block_size, 1));
  const int32_t inner = t > 1 ? t - 1 : 1;  // one texel of gap between large cells
  for (size_t b = 0; b < snap.blocks.size(); ++b) {
    const BlockView& v = snap.blocks[b];
    const int32_t col = static_cast<int32_t>(b) % l.columns;
    const int32_t row = static_cast<int32_t>(b) / l.columns;
    uint32_t* origin =
        pixels_.data() + static_cast<size_t>(row * t) * static_cast<size_t>(w) + col * t;
    const bool picked = in_selection_[b] != 0;
    const float fill = std::clamp(static_cast<float>(v.fill) / block_size, 0.0f, 1.0f);
    const int shared = v.ref_count > 1 ? 1 : 0;

    ImU32 full = theme::kBlockFree, empty = theme::kBlockFree;
    const BlockColours* colours = nullptr;
    if (v.state == BlockState::kCached) {
      full = empty = theme::kBlockCached;
    } else if (v.state == BlockState::kUsed) {
      colours = &block_colours(v.owner);
      full = colours->full[shared];
      empty = colours->empty[shared];
    }

    if (t == 1) {
      ImU32 c = colours ? colours->shade[shared][std::lround(fill * kShades)] : full;
      if (picked) c = theme::kSelected;
      *origin = c;
      continue;
    }
    const auto filled_rows = static_cast<int32_t>(std::lround(fill * static_cast<float>(inner)));
    for (int32_t y = 0; y < inner; ++y) {
      uint32_t* line = origin + static_cast<size_t>(y) * static_cast<size_t>(w);
      const ImU32 c = (inner - y) <= filled_rows ? full : empty;
      for (int32_t x = 0; x < inner; ++x) line[x] = c;
    }
    if (v.ref_count > 1 && inner >= 5) {
      // Shared: a white corner.
      const int32_t k = std::max(2, inner / 3);
      for (int32_t y = 0; y < k; ++y) {
        uint32_t* line = origin + static_cast<size_t>(y) * static_cast<size_t>(w);
        for (int32_t x = inner - k + y; x < inner; ++x) line[x] = IM_COL32(255, 255, 255, 255);
      }
    }
    if (v.state == BlockState::kCached && inner >= 5) {
      // Cached but free: a diagonal hatch.
      for (int32_t y = 0; y < inner; ++y) {
        uint32_t* line = origin + static_cast<size_t>(y) * static_cast<size_t>(w);
        for (int32_t x = 0; x < inner; ++x) {
          if ((x + y) % 4 == 0) line[x] = IM_COL32(110, 145, 185, 255);
        }
      }
    }
    if (picked) {
      for (int32_t x = 0; x < inner; ++x) {
        origin[x] = theme::kSelected;
        origin[static_cast<size_t>(inner - 1) * static_cast<size_t>(w) + x] = theme::kSelected;
      }
      for (int32_t y = 0; y < inner; ++y) {
        origin[static_cast<size_t>(y) * static_cast<size_t>(w)] = theme::kSelected;
        origin[static_cast<size_t>(y) * static_cast<size_t>(w) + inner - 1] = theme::kSelected;
      }
    }
  }
}

}  // namespace tinyserve::app
