#!/usr/bin/env bash
# The GPU recipe (docs/gpu.md); the steps are in benchmarks/gpu_run.py.
#   bash benchmarks/gpu_run.sh --prepare [--from DIR]   here, beforehand: builds .gpu/ (git-ignored)
#   bash benchmarks/gpu_run.sh [--minutes 9]            on the GPU machine, with .gpu carried
#   bash benchmarks/gpu_run.sh --dry-run                here or in CI: the same steps, tiny, on the CPU
# PYTHON names the interpreter (default python3: on the GPU machine, the one that has torch).
set -euo pipefail
cd "$(dirname "$0")/.."
export GPU_RUN_START="${GPU_RUN_START:-$(date +%s)}"   # the budget counts from here
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# Nothing is fetched: every model and tokenizer is a local directory.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
# A torch.compile failure falls back to eager code instead of ending the run.
export TORCHDYNAMO_SUPPRESS_ERRORS=1
exec "${PYTHON:-python3}" benchmarks/gpu_run.py "$@"
