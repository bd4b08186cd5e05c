#include "core/memory/kv_cache_manager.h"
#include "tests/fuzz/kv_ops.inc"

using namespace tinyserve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  KvCacheConfig c;
  c.policy = kFreeListPolicyNames[in.byte() % 5].value;
  c.enable_prefix_caching = in.flag();
  c.block_size = in.range(1, 8);
  c.num_gpu_blocks = in.range(1, 64);
  c.num_cpu_blocks = in.range(0, 32);
  c.watermark = in.range(0, 3) * 0.05;
  c.seed = in.byte();
  c.check_invariants = false;  // checked after every operation by run_ops
  KvCacheManager kv(c);
  fuzz::run_ops(kv, in);
  return 0;
}
