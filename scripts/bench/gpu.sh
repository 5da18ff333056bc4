#!/usr/bin/env bash
# Every GPU check of lit-dl in one command, under 8 minutes on one GPU: the fast CIFAR-10 recipe's
# images per second on CIFAR-shaped random data of the real size (as written with bf16-mixed and
# channels_last, in fp32, without channels_last, with torch.compile, with DDP on one GPU), against a
# hand-written loop; lit-dl's per-step overhead on the GPU; a few nets in each precision/layout.
# Writes benchmarks/gpu.md and benchmarks/gpu.json (after every check, so a stopped run keeps
# what it measured).
#
#   bash scripts/bench/gpu.sh                              # on a machine with a GPU
#   LIT_DL_BENCH_DRY=1 bash scripts/bench/gpu.sh --out DIR # dry run: CPU, tiny sizes, seconds
#
# Works offline on a bare machine with a copy of the repository: no download, no install of lit-dl
# (the checkout is put on PYTHONPATH). It needs a Python with lit-dl's dependencies (torch,
# torchvision, lightning, torchmetrics, jsonargparse[signatures], numpy, pyyaml); where they are
# missing, `pip install -e .` (online, or from a local wheel cache) installs them. PYTHON picks the
# interpreter (default: python3).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" WANDB_MODE=offline WANDB_SILENT=true PYTHONWARNINGS=ignore
python=${PYTHON:-python3}
if ! "$python" -c "import torch, torchvision, lightning, torchmetrics, jsonargparse, numpy, yaml" 2>/dev/null; then
    echo "gpu.sh: $python lacks lit-dl's dependencies; install them with: pip install -e ." >&2
    exit 2
fi
# The harness stops starting checks after 400 s; the timeout is the backstop for a hung one.
exec timeout --kill-after=10 470 "$python" -m scripts.bench.gpu "$@"
