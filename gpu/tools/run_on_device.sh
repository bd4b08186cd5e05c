#!/bin/bash
# What runs on the device machine (docs/benchmarks.md, docs/reliability.md). From the repository
# root, with tinyserve and tinyserve_tests built for sm_90 in .device/bin (see docs/benchmarks.md):
#   bash gpu/tools/run_on_device.sh [tests] [scenarios] [bench] [prefill] [calibrate] [sanitize]
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
    prefill)
      timeout 120 $bin/tinyserve bench prefill > $OUT/prefill.log 2>&1; echo "prefill rc=$?"
      tail -n 30 $OUT/prefill.log ;;
    calibrate)
      # A quick grid for the presets the scenarios use, then the error over every scenario's
      # first steps (docs/cost_model.md); CALIBRATE_TIMEOUT / REPORT_TIMEOUT bound each part.
      OUT=$OUT/calibration MAX_STEPS=${MAX_STEPS:-120} \
        CALIBRATE_ARGS="--quick --models llama-2-7b,llama-3-8b,mistral-7b,qwen2.5-7b,llama-3-70b,seed-1layer" \
        REPORT_ARGS="--repetitions 1" CALIBRATE_TIMEOUT=${CALIBRATE_TIMEOUT:-200} \
        REPORT_TIMEOUT=${REPORT_TIMEOUT:-150} bash gpu/tools/run_calibration.sh $bin/tinyserve \
        > $OUT/calibration.log 2>&1
      echo "calibrate rc=$?"; tail -n 40 $OUT/calibration.log ;;
    sanitize)
      for tool in memcheck racecheck; do
        TINYSERVE_GPU_TESTS_SMALL=1 timeout 280 compute-sanitizer --tool $tool --error-exitcode 9 \
          $bin/tinyserve_tests -ts=gpu > $OUT/$tool.log 2>&1
        echo "$tool rc=$?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|test cases|Status" $OUT/$tool.log
      done ;;
  esac
  echo "[$part: $((SECONDS - start)) s]"
done
