#!/usr/bin/env bash
# Re-record every committed vLLM golden in tests/data/vllm_golden/ in one command:
# regenerates each workload.jsonl + config.json (make_workloads.py goldens), runs
# vLLM 0.33.0's scheduler on it (run_vllm.py), then checks that the set exercises
# preemption, eviction of cached blocks, chunked prefill and prefix hits.
#
# Usage: tools/vllm_reference/record_goldens.sh [NAME ...]   (default: all)
#   TINYSERVE_VLLM_VENV  venv made by setup.sh (default $HOME/.cache/tinyserve/vllm-0.33.0)
#   GOLDEN_ROOT          output root (default tests/data/vllm_golden)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${TINYSERVE_VLLM_VENV:-$HOME/.cache/tinyserve/vllm-0.33.0}"
ROOT="${GOLDEN_ROOT:-$REPO/tests/data/vllm_golden}"
PY="$VENV/bin/python"
[[ -x "$PY" ]] || { echo "no venv at $VENV: run tools/vllm_reference/setup.sh" >&2; exit 1; }

if [[ $# -gt 0 ]]; then NAMES=("$@"); else mapfile -t NAMES < <("$PY" "$HERE/make_workloads.py" goldens --list); fi
"$PY" "$HERE/make_workloads.py" goldens --root "$ROOT" --only "${NAMES[@]}"
for name in "${NAMES[@]}"; do
  echo "== $name"
  "$PY" "$HERE/run_vllm.py" --workload "$ROOT/$name/workload.jsonl" \
    --config "$ROOT/$name/config.json" --out "$ROOT/$name" 2> >(grep -v -e '^W[0-9]' -e 'vllm._C' >&2)
done
"$PY" "$HERE/make_workloads.py" check --root "$ROOT"
