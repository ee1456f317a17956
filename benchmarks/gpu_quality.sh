#!/usr/bin/env bash
# Longer optional run (issue 23): kept; it produced the classic family's GPU tables of 2026-11-22.
# benchmarks/gpu_first.sh is the first call to make when a GPU is lent; this one re-runs long quality runs.
# Quality runs and the throughput table on one GPU (the runs behind docs/benchmarks.md and the
# grids in docs/images/). Usage: benchmarks/gpu_quality.sh OUTDIR [DCGAN_KIMG] [WGANGP_KIMG]
# Needs the Fashion-MNIST files where ganforge finds them (e.g. GANFORGE_DATA=/path/to/folder).
set -euo pipefail
out=${1:?usage: gpu_quality.sh OUTDIR [DCGAN_KIMG] [WGANGP_KIMG]}
dcgan_kimg=${2:-2500}
wgangp_kimg=${3:-400}
mkdir -p "$out"
runs=$(mktemp -d)
python3 benchmarks/throughput.py --presets all --steps 150 --warmup 30 --json "$out/throughput.json" \
    | tee "$out/throughput.txt"
python3 -m ganforge.cli train --preset dcgan-fmnist32 --kimg "$dcgan_kimg" --out "$runs" \
    --set train.tick_kimg=100 --set train.progress=false
python3 -m ganforge.cli train --preset wgangp-fmnist32 --kimg "$wgangp_kimg" --out "$runs" \
    --set train.tick_kimg=40 --set train.progress=false
# Everything but the (large) training checkpoints comes back as one archive.
tar czf "$out/runs.tgz" -C "$runs" --exclude=checkpoints --exclude=exports .
