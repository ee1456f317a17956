#!/usr/bin/env bash
# The owed GPU numbers in one prepared call (issue 23). A thin wrapper: benchmarks/gpu_first.py runs the
# parts, each in its own process under its own time limit, and writes OUT/results.json and OUT/summary.md.
#
#   benchmarks/gpu_first.sh --stage [DIR]   copy Fashion-MNIST and the emoji sources into DIR (default
#                                           .carry/gpu, git-ignored, ~42 MB) and print the device call
#   benchmarks/gpu_first.sh OUT             on one H100/H200: every part in order, <= 9 minutes in all
#   benchmarks/gpu_first.sh --check OUT     on a CPU: the same parts with tiny presets and counts (CI)
#
# The device call (the data travels in the carry folder; ganforge is not installed there, PYTHONPATH=src):
#   run(command='bash benchmarks/gpu_first.sh "$OUT"', carry=[".carry/gpu"], timeout_s=600)
#
# Budget on the GPU (seconds; time a part leaves unused goes to the quality run, the extras get the rest):
#   stage        20  find and verify the carried data (sha256); device, driver, torch, CUDA
#   gpu_tests   100  pytest -m gpu tests/gpu: the CUDA-graph step equals the eager one (also on streamed
#                    data), tiny presets train, resume and load on CUDA, bf16 + compile, fused Adam
#   throughput  190  stylegan2-official-32/64/256 eager (fp16 in the top 4 resolutions, as official) and
#                    bf16 autocast against 555/376/143 img/s; stylegan3-official-t/r-256 against the official
#                    49.81/56.73 s/kimg (one A100); dcgan-fmnist32 eager vs train.cuda_graph at
#                    batch 128 against 40,000 img/s; a profile of one stylegan2-official-64 step
#   quality     160  stylegan2-fmnist32 toward 160 kimg, fid10k (fmnist-cnn) at 40/80/120/160 kimg beside
#                    shared/anchors/stylegan2-official/QUALITY.md; if the slot ends first, the kimg reached and why
#   extras     rest  img/s of progan, stylegan, sagan, biggan, pix2pix, cyclegan, stylegan3-t-fmnist32,
#                    the studio's Explore (ms per new seed, 256 px StyleGAN2, target < 100 ms),
#                    then the emoji presets; a short biggan-emoji64 run scored with SWD
#   pack         10  results.json, summary.md, profile.txt, artifacts.tgz (all directly in OUT)
#   total       540
#
# Longer optional runs, not part of this call: stylegan_gpu.sh (figures, ProGAN/StyleGAN 300 kimg),
# translation_gpu.sh (full-length pix2pix/CycleGAN curves), distributed_gpu.sh (streaming feed, several
# GPUs), fid_gpu.sh (Lucic et al. table: needs the Inception weights over two calls), gpu_quality.sh.
# Turn results.json into the docs afterwards, on a CPU: python benchmarks/results_to_docs.py OUT/results.json
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -z "${GANFORGE_DATA:-}" ] && [ -d "$root/.carry/gpu" ]; then
    export GANFORGE_DATA="$root/.carry/gpu"
fi
exec "${PYTHON:-python3}" "$root/benchmarks/gpu_first.py" "$@"
