#!/bin/bash
# What ran on the device machine for docs/benchmarks.md: the GPU tests, compute-sanitizer memcheck
# and racecheck of subsets, and the full kernel benchmark. Expects tinyserve_tests and kernel_bench
# (built for sm_90, see docs/benchmarks.md) beside it; writes logs under $OUT (default: here).
cd "$(dirname "$0")"
OUT=${OUT:-.}
set -o pipefail
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
echo "== tests"
timeout 200 ./tinyserve_tests -ts=gpu -d > $OUT/tests.log 2>&1; echo "tests rc=$?"
grep -E "ERROR|FAILED|test cases" $OUT/tests.log | head -20
timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 ./tinyserve_tests -ts=gpu \
  -tc="reshape_and_cache*,copy_blocks*,synthetic rows*,an invalid plan*,*every block size,split-KV*,contiguous and padded*" \
  > $OUT/memcheck.log 2>&1; echo "memcheck rc=$?"
tail -2 $OUT/memcheck.log
timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 ./tinyserve_tests -ts=gpu \
  -tc="*every block size" > $OUT/racecheck.log 2>&1; echo "racecheck rc=$?"
tail -1 $OUT/racecheck.log
echo "== bench"
timeout 200 ./kernel_bench --partition-sweep > $OUT/bench.log 2>&1; echo "bench rc=$?"
sed -n '/=== summary/,$p' $OUT/bench.log
