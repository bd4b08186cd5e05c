#include "core/memory/contiguous_allocator.h"
#include "tests/fuzz/kv_ops.inc"

using namespace tinyserve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  ContiguousConfig c;
  c.reservation = static_cast<Reservation>(in.byte() % 3);
  c.block_size = in.range(1, 8);
  c.num_blocks = in.range(1, 128);
  c.max_model_len = in.range(1, 96);
  c.watermark = in.range(0, 3) * 0.05;
  ContiguousAllocator kv(c);
  fuzz::run_ops(kv, in);
  return 0;
}
