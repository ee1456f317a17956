#!/usr/bin/env bash
# Longer optional run (issue 23): kept, not folded into benchmarks/gpu_first.sh, which measures the img/s
# of pix2pix-fmnist-edges and cyclegan-fmnist-sneaker2boot in the one 9-minute call. The full-length runs
# here (300 + 120 + 200 kimg) need more than one 10-minute device command.
# pix2pix and CycleGAN on one GPU, in one go: the throughput table of the translation presets, the
# full-length runs of both built-in tasks with their metric curves on the test split (grids, plots
# and Markdown tables via translation_curves.py), and the emoji colourisation run (pair metrics only:
# its test split has 365 glyphs, fewer than fid1k's 1000).
# Usage: benchmarks/translation_gpu.sh OUTDIR [P2P_KIMG] [CYC_KIMG] [EMOJI_KIMG]
# Needs the Fashion-MNIST and emoji files where ganforge finds them (e.g. GANFORGE_DATA=/path).
set -euo pipefail
out=${1:?usage: translation_gpu.sh OUTDIR [P2P_KIMG] [CYC_KIMG] [EMOJI_KIMG]}
p2p_kimg=${2:-300}
cyc_kimg=${3:-120}
emoji_kimg=${4:-200}
mkdir -p "$out"
runs=$(mktemp -d)

python3 benchmarks/throughput.py \
    --presets pix2pix-fmnist-edges,cyclegan-fmnist-sneaker2boot,pix2pix-emoji-gray2color,pix2pix-folder256,cyclegan-folder256 \
    --steps 100 --warmup 20 --json "$out/throughput-translation.json" | tee "$out/throughput-translation.txt"

python3 benchmarks/translation_curves.py --preset pix2pix-fmnist-edges --kimg "$p2p_kimg" \
    --interval $(python3 -c "print($p2p_kimg / 12)") --out "$runs" --images "$out/images" | tee "$out/pix2pix.md"
python3 benchmarks/translation_curves.py --preset cyclegan-fmnist-sneaker2boot --kimg "$cyc_kimg" \
    --interval $(python3 -c "print($cyc_kimg / 12)") --out "$runs" --images "$out/images" | tee "$out/cyclegan.md"
python3 benchmarks/translation_curves.py --preset pix2pix-emoji-gray2color --kimg "$emoji_kimg" \
    --interval $(python3 -c "print($emoji_kimg / 10)") --out "$runs" --images "$out/images" | tee "$out/pix2pix-emoji.md"
# Everything but the (large) training checkpoints comes back as one archive.
tar czf "$out/runs.tgz" -C "$runs" --exclude=checkpoints --exclude=exports .
