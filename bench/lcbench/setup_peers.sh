#!/usr/bin/env bash
# The LCBench peers that the `bench` extra cannot install (see BENCHMARKS.md, "LCBench"):
#  - Syne Tune 0.16 hard-requires xgboost (and with it nvidia-nccl) though only BORE uses them:
#    installed here without its dependencies (the others are in the `bench` extra).
#  - SMAC3 2.4 needs ConfigSpace 1.x and DEHB 0.1 pins numpy<2: both go into their own venv
#    (default /work/venvs/smac; the runner finds it there or through RUNG_SMAC_PYTHON), with
#    onnxruntime for the surrogate. The runner starts that venv's python with the repository on
#    PYTHONPATH for each of their runs.
# Usage: bash bench/lcbench/setup_peers.sh [VENV_DIR]
set -euo pipefail
venv="${1:-/work/venvs/smac}"
python -m pip install --no-deps "syne-tune==0.16.*"
python -m venv "$venv"
"$venv/bin/pip" install "smac==2.4.*" "dehb==0.1.*" onnxruntime "numpy<2"
echo "peers venv: $venv (export RUNG_SMAC_PYTHON=$venv/bin/python if not the default)"
