#!/bin/bash
# What the selection work runs on the device machine (docs/selection.md). From the repository
# root, with tinyserve and tinyserve_tests built for sm_90 without the GUI in $BIN:
#   BIN=.device/select bash gpu/tools/run_selection_on_device.sh [tests] [bench] [memcheck] [racecheck]
# Logs go to $OUT (default: /tmp/tinyserve-device).
OUT=${OUT:-/tmp/tinyserve-device}
BIN=${BIN:-.device/select}
mkdir -p "$OUT"
set -o pipefail
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
for part in "$@"; do
  start=$SECONDS
  case $part in
    tests)
      timeout ${TESTS_TIMEOUT:-170} $BIN/tinyserve_tests -ts=gpu -d > $OUT/tests.log 2>&1; echo "tests rc=$?"
      grep -E "ERROR|FAILED|test cases|assertions|SKIPPED" $OUT/tests.log | head -40 ;;
    bench)
      timeout ${BENCH_TIMEOUT:-90} $BIN/tinyserve bench selection ${BENCH_ARGS:-} > $OUT/bench.log 2>&1; echo "bench rc=$?"
      sed -n '/=== summary/,$p' $OUT/bench.log; tail -3 $OUT/bench.log ;;
    memcheck)
      TINYSERVE_GPU_TESTS_SMALL=1 timeout ${SANITIZER_TIMEOUT:-60} compute-sanitizer --tool memcheck --error-exitcode 9 \
        $BIN/tinyserve_tests -ts=gpu -tc="*selection*,*top-K*,*key-bound*,*sparse attention*,*select the same*" \
        > $OUT/memcheck.log 2>&1
      echo "memcheck rc=$?"; grep -E "ERROR SUMMARY|test cases|Invalid|Status" $OUT/memcheck.log | head -10 ;;
    racecheck)
      TINYSERVE_GPU_TESTS_SMALL=1 timeout ${SANITIZER_TIMEOUT:-60} compute-sanitizer --tool racecheck --error-exitcode 9 \
        $BIN/tinyserve_tests -ts=gpu -tc="*top-K*,*selection equals*,*fused K/V*" > $OUT/racecheck.log 2>&1
      echo "racecheck rc=$?"; grep -E "RACECHECK SUMMARY|ERROR SUMMARY|test cases|Status|hazard" $OUT/racecheck.log | head -10 ;;
  esac
  echo "[$part: $((SECONDS - start)) s]"
done
