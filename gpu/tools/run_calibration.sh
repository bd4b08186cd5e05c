#!/bin/bash
# Calibrates the GPU and reports the cost model's error in one call (docs/cost_model.md): writes
# the GPU profile and the error table under $OUT. From the repository root, with tinyserve built
# for the device:
#   bash gpu/tools/run_calibration.sh [TINYSERVE]
# TINYSERVE defaults to build/release/tinyserve. Environment: OUT (default
# /tmp/tinyserve-calibration), GPU (the preset the profile stands for, default h100), MAX_STEPS
# (steps per scenario, default 1500), CALIBRATE_ARGS and REPORT_ARGS (more options for each),
# CALIBRATE_TIMEOUT and REPORT_TIMEOUT (seconds; default none).
# Writes $OUT/device.txt, $OUT/$GPU.toml, $OUT/calibrate.log, $OUT/report.log and
# $OUT/report/{steps.csv,report.md}.
OUT=${OUT:-/tmp/tinyserve-calibration}
bin=${1:-build/release/tinyserve}
gpu=${GPU:-h100}
max_steps=${MAX_STEPS:-1500}
mkdir -p "$OUT"
set -o pipefail
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
  --format=csv,noheader | tee "$OUT/device.txt"
start=$SECONDS
# shellcheck disable=SC2086
timeout "${CALIBRATE_TIMEOUT:-0}" "$bin" calibrate --gpu-name "$gpu" --out "$OUT/$gpu.toml" $CALIBRATE_ARGS 2>&1 | tee "$OUT/calibrate.log"
rc=$?
echo "[calibrate: rc=$rc, $((SECONDS - start)) s]"
[ $rc -eq 0 ] || exit $rc
start=$SECONDS
# shellcheck disable=SC2086
timeout "${REPORT_TIMEOUT:-0}" "$bin" cost-report --profile "$OUT/$gpu.toml" --gpu "$gpu" --max-steps "$max_steps" \
  --out "$OUT/report" $REPORT_ARGS 2>&1 | tee "$OUT/report.log"
rc=$?
echo "[cost-report: rc=$rc, $((SECONDS - start)) s]"
exit $rc
