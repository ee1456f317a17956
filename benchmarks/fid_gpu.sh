#!/usr/bin/env bash
# Longer optional run (issue 23): kept, not folded into benchmarks/gpu_first.sh: it needs the TF Inception
# weights, which take two calls to carry (below), and about 8 minutes of training besides the evaluations.
# Inception FID under the published (TF-compatible) protocol on one GPU, in one go:
#   1. how much the protocol matters on Fashion-MNIST at 10k images (benchmarks/fid_protocols.py);
#   2. the classic presets trained until D has seen D_KIMG thousand real images (the paper's 20 epochs:
#      1000) and evaluated as Lucic et al. 2018 did (fid10k against the 10k test images at 28 px;
#      benchmarks/lucic_fmnist.py), the table for docs/benchmarks.md.
# Usage: benchmarks/fid_gpu.sh OUTDIR [D_KIMG]
# Needs the Fashion-MNIST files where ganforge finds them (e.g. GANFORGE_DATA=/path/to/folder) and the TF
# Inception weights ($GANFORGE_INCEPTION_WEIGHTS, --inception-weights, or the torch hub folder). The
# converted file is 87 MB, above one device call's 64 MiB of carried files: carry it in two parts over two
# calls into a git-ignored folder that stays on the warm machine (split -b 44M; cat parts > file).
set -euo pipefail
out=${1:?usage: fid_gpu.sh OUTDIR [D_KIMG]}
kimg=${2:-1000}
mkdir -p "$out"
runs=$(mktemp -d)

python3 benchmarks/fid_protocols.py --n 10000 --device cuda --batch-size 250 --json "$out/fid_protocols.json" \
    | tee "$out/fid_protocols.txt"
python3 benchmarks/lucic_fmnist.py --train "$kimg" --runs-dir "$runs" --device cuda --batch-size 250 \
    --json "$out/lucic.json" | tee "$out/lucic.txt"
# grids and stats of the five runs (no checkpoints) come back as one archive
tar czf "$out/lucic-runs.tgz" -C "$runs" --exclude=checkpoints --exclude=exports .
