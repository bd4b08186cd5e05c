#!/usr/bin/env bash
# Creates a Python venv with vLLM 0.33.0 (CPU use only: we import its v1
# scheduler; no GPU and no model weights are needed).
#
# Usage: tools/vllm_reference/setup.sh [VENV_DIR]
#   VENV_DIR defaults to $TINYSERVE_VLLM_VENV, else $HOME/.cache/tinyserve/vllm-0.33.0
#   PYTHON   (env) the interpreter used to create the venv; default: python3.11
#            from pyenv if present, else python3.
# Needs ~10 GB free disk (vLLM pulls torch + CUDA wheels) and PyPI access.
set -euo pipefail

VLLM_VERSION=0.33.0
VENV="${1:-${TINYSERVE_VLLM_VENV:-$HOME/.cache/tinyserve/vllm-${VLLM_VERSION}}}"

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x /root/.pyenv/versions/3.11.7/bin/python ]]; then
    PYTHON=/root/.pyenv/versions/3.11.7/bin/python
  elif command -v python3.11 >/dev/null; then
    PYTHON=python3.11
  else
    PYTHON=python3
  fi
fi

mkdir -p "$(dirname "$VENV")"
echo "== disk free where the venv goes:"
df -h "$(dirname "$VENV")"
avail_kb=$(df -Pk "$(dirname "$VENV")" | awk 'NR==2{print $4}')
if (( avail_kb < 12*1024*1024 )); then
  echo "WARNING: less than 12 GB free; vLLM + torch need about 9-10 GB" >&2
fi

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import vllm, sys; sys.exit(0 if vllm.__version__ == '$VLLM_VERSION' else 1)" 2>/dev/null; then
  echo "== vLLM $VLLM_VERSION already installed in $VENV"
  exit 0
fi

echo "== creating venv $VENV with $PYTHON ($("$PYTHON" --version))"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip
echo "== pip install vllm==$VLLM_VERSION (takes a while)"
"$VENV/bin/python" -m pip install "vllm==$VLLM_VERSION"

echo "== check"
HF_HUB_OFFLINE=1 "$VENV/bin/python" - <<PY
import vllm, torch
print("vllm", vllm.__version__, "torch", torch.__version__)
assert vllm.__version__ == "$VLLM_VERSION", vllm.__version__
from vllm.v1.core.sched.scheduler import Scheduler  # noqa: F401
print("scheduler import OK")
PY
echo "== done: $VENV"
