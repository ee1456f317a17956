#!/usr/bin/env bash
# Issue 9's GPU numbers in one go, on one GPU machine:
#   1. the gpu-marked tests (the captured step equals the eager one), then training throughput of every
#      preset eager and with train.cuda_graph=true (benchmarks/throughput.py): the eager-vs-graphed table;
#   2. the 256 px feed: in memory on the GPU vs streamed from a folder and from a converted zip with
#      4, 8 and 16 worker processes (benchmarks/streaming.py, 2048 synthetic images);
#   3. with two or more GPUs: dcgan-fmnist32 and stylegan2-fmnist32 img/s with 1 and N processes.
# Usage: benchmarks/distributed_gpu.sh OUTDIR
# Needs the Fashion-MNIST files where ganforge finds them (e.g. GANFORGE_DATA=/path/to/folder).
set -euo pipefail
out=${1:?usage: distributed_gpu.sh OUTDIR}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"

python3 -m pytest -m gpu tests/gpu -q 2>&1 | tee "$out/gpu_tests.txt" || true   # includes graph == eager
python3 benchmarks/throughput.py --presets all --steps 100 --warmup 10 --json "$out/throughput_eager.json" \
    | tee "$out/throughput_eager.txt"
python3 benchmarks/throughput.py --presets all --steps 100 --warmup 10 --set train.cuda_graph=true \
    --json "$out/throughput_graph.json" 2>&1 | tee "$out/throughput_graph.txt"
python3 benchmarks/streaming.py --images 2048 --batch 64 --batches 60 --workers 4,8,16 --device cuda \
    --json "$out/streaming.json" | tee "$out/streaming.txt"

n=$(nvidia-smi -L | wc -l)
if [ "$n" -ge 2 ]; then
    for preset in dcgan-fmnist32 stylegan2-fmnist32; do
        for p in 1 "$n"; do
            ganforge train --nproc "$p" --preset "$preset" --kimg 20 --set train.tick_kimg=4 \
                --set train.progress=false --set metrics.names= --out "$out/scale-$preset-$p" \
                | tee "$out/scale-$preset-$p.txt"
        done
    done
fi
