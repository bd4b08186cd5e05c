#!/bin/bash
# What runs on the device machine (docs/benchmarks.md, docs/reliability.md). From the repository
# root, with tinyserve and tinyserve_tests built for sm_90 in .device/bin (see docs/benchmarks.md):
#   bash gpu/tools/run_on_device.sh [tests] [scenarios] [bench] [sanitize]
# Logs go to $OUT (default: /tmp/tinyserve-device).
OUT=${OUT:-/tmp/tinyserve-device}
mkdir -p "$OUT"
bin=.device/bin
set -o pipefail
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
for part in "$@"; do
  start=$SECONDS
  case $part in
    tests)
      timeout 300 $bin/tinyserve_tests -ts=gpu -d > $OUT/tests.log 2>&1; echo "tests rc=$?"
      grep -E "ERROR|FAILED|test cases|SKIPPED" $OUT/tests.log | head -10 ;;
    scenarios)
      mkdir -p $OUT/scenarios
      timeout 420 bash tests/gpu/compare_backends.sh $bin/tinyserve $OUT/scenarios > $OUT/scenarios.log 2>&1
      echo "scenarios rc=$?"; cat $OUT/scenarios.log ;;
    bench)
      timeout 300 $bin/tinyserve bench kernels > $OUT/bench.log 2>&1; echo "bench rc=$?"
      sed -n '/=== summary/,$p' $OUT/bench.log ;;
    sanitize)
      for tool in memcheck racecheck; do
        TINYSERVE_GPU_TESTS_SMALL=1 timeout 280 compute-sanitizer --tool $tool --error-exitcode 9 \
          $bin/tinyserve_tests -ts=gpu > $OUT/$tool.log 2>&1
        echo "$tool rc=$?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|test cases|Status" $OUT/$tool.log
      done ;;
  esac
  echo "[$part: $((SECONDS - start)) s]"
done
