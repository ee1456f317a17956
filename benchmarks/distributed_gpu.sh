#!/usr/bin/env bash
# Longer optional run (issue 23): kept, not folded into benchmarks/gpu_first.sh, which runs the gpu-marked
# tests and dcgan-fmnist32 eager vs train.cuda_graph first. Only this script measures the whole classic
# family eager vs graphed, the 256 px streaming feed with 4-16 workers, and scaling over several GPUs.
# Issue 9's GPU numbers in one go, on one GPU machine (about 6 minutes on one H100 is the plan; each
# part has its own time limit so a slow one cannot take the others' time):
#   1. the gpu-marked tests (the captured step equals the eager one, also on streamed data);
#   2. training throughput of the classic family (the presets train.cuda_graph can capture) eager and
#      captured (benchmarks/throughput.py): the eager-vs-graphed table. The other families train
#      eagerly whatever the setting, so their eager numbers are the ones of `--presets all`;
#   3. the 256 px feed: in memory on the GPU vs streamed from a folder and from a converted zip with
#      4, 8 and 16 worker processes (benchmarks/streaming.py, 2048 synthetic images);
#   4. with two or more GPUs: dcgan-fmnist32 and stylegan2-fmnist32 img/s with 1 and N processes.
# Usage: benchmarks/distributed_gpu.sh OUTDIR
# Needs the Fashion-MNIST files where ganforge finds them (e.g. GANFORGE_DATA=/path/to/folder); presets
# whose data is missing (the emoji ones without the Noto font) are listed as skipped.
set -uo pipefail
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out=${1:?usage: distributed_gpu.sh OUTDIR}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
part() {  # part NAME SECONDS COMMAND...: run with a limit, keep its output, go on whatever it returns
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit}s)"; local t0=$SECONDS
    timeout "$limit" "$@" > "$out/$name.txt" 2>&1; local rc=$?
    tail -n 25 "$out/$name.txt"; echo "== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$out/parts.txt"
}
# the classic family, headline presets first (a part that runs out of time keeps the lines it printed)
classic=dcgan-fmnist32,wgangp-fmnist32,sngan-fmnist32,dcgan-fmnist32-cond,dcgan-r1-fmnist32,lsgan-fmnist32
classic=$classic,wgan-fmnist32,sagan-fmnist32,biggan-fmnist32,biggan-deep-fmnist32,sngan-emoji64-diffaugment
part gpu_tests 150 python3 -m pytest -m gpu tests/gpu -q -p no:cacheprovider
part throughput_eager 120 python3 benchmarks/throughput.py --presets "$classic" --steps 60 --warmup 10 \
    --json "$out/throughput_eager.json"
part throughput_graph 120 python3 benchmarks/throughput.py --presets "$classic" --steps 60 --warmup 10 \
    --set train.cuda_graph=true --json "$out/throughput_graph.json"
part throughput_graph_b512 30 python3 benchmarks/throughput.py --presets dcgan-fmnist32 --steps 200 --warmup 10 \
    --set train.cuda_graph=true --set train.batch_size=512 --json "$out/throughput_graph_b512.json"
part streaming 120 python3 benchmarks/streaming.py --images 2048 --batch 64 --batches 60 --workers 4,8,16 \
    --device cuda --json "$out/streaming.json"

n=$(nvidia-smi -L | wc -l)
if [ "$n" -ge 2 ]; then
    for preset in dcgan-fmnist32 stylegan2-fmnist32; do
        for p in 1 "$n"; do
            part "scale-$preset-$p" 120 python3 -m ganforge train --nproc "$p" --preset "$preset" --kimg 20 \
                --set train.tick_kimg=4 --set train.progress=false --set metrics.names= --out "$out/scale-$preset-$p"
        done
    done
fi
