"""Training throughput of every preset at its default batch size.

Measures images per second (images shown to G, the unit of ``--kimg``) over timed training steps
after warm-up, and peak GPU memory, with the dataset resident on the device. Prints a Markdown table
and writes JSON.

    python benchmarks/throughput.py --presets all --steps 200 --json out.json
    python benchmarks/throughput.py --presets dcgan-fmnist32 --set train.compile=true
    python benchmarks/throughput.py --presets all --set train.cuda_graph=true   # captured steps where allowed
    python benchmarks/throughput.py --presets graphable --set train.cuda_graph=true   # the classic family only

A preset that cannot run here (its data missing, say) is reported as skipped with the reason, and the
others are still measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import tempfile
import time

import torch

from ganforge import __version__
from ganforge.config import apply_overrides
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.presets import PRESETS, get_preset
from ganforge.training.trainer import Trainer


def measure(name: str, steps: int, warmup: int, overrides: list[str], dataset_cache: dict) -> dict:
    cfg = apply_overrides(get_preset(name), overrides)
    key = cfg.data  # frozen: presets that differ in any data setting (channels too) get their own copy
    if key not in dataset_cache:
        dataset_cache[key] = load_dataset(cfg.data)
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(cfg, tmp, dataset=dataset_cache[key])
        dev = t.device
        acc: dict = {}
        graphed = None
        if cfg.train.cuda_graph:  # the captured step where the preset allows it (else eager, reason printed)
            t.graphed = graphed = t.sync_free_step()
        step = (lambda: t.graphed_step(acc)) if graphed is not None else (lambda: t.train_step(acc))
        for _ in range(warmup):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - start
        mem = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None
        params = {k: sum(p.numel() for p in net.parameters()) for k, net in t.recipe.nets.items()}
    return {"preset": name, "batch_size": cfg.train.batch_size, "n_critic": getattr(cfg.loss, "n_critic", 1),
            "img_per_s": steps * cfg.train.batch_size / seconds, "ms_per_step": 1000 * seconds / steps,
            "peak_gpu_mem_gib": mem, "steps": steps, "overrides": overrides, "params": params,
            "graphed": t.graphed is not None and t.graphed.graph is not None}


def select(spec: str) -> list[str]:
    """Preset names from ``--presets``: "all" (every non-tiny preset), "graphable" (those of families
    whose step train.cuda_graph can capture), or a comma-separated list."""
    from ganforge.registry import RECIPES

    full = [n for n in PRESETS.names() if not n.endswith("-tiny")]
    if spec == "all":
        return full
    if spec == "graphable":
        return [n for n in full if RECIPES.get(get_preset(n).recipe).graphable]
    return spec.split(",")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="all", help="comma-separated names, all (non-tiny), or graphable")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--set", action="append", default=[], help="config override for every preset")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    names = select(args.presets)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    rows, cache, skipped = [], {}, []
    for n in names:
        try:
            rows.append(measure(n, args.steps, args.warmup, args.set, cache))
        except GanforgeError as e:  # e.g. a dataset that is not on this machine: measure the others
            skipped.append({"preset": n, "reason": str(e)})
            print(f"{n}: skipped: {e}", flush=True)
            continue
        r = rows[-1]
        print(f"{n}: {r['img_per_s']:.0f} img/s, {r['ms_per_step']:.2f} ms/step"
              + (" (CUDA graph)" if r["graphed"] else ""), flush=True)
    meta = {"device": device, "torch": torch.__version__, "ganforge": __version__,
            "date": datetime.date.today().isoformat(), "overrides": args.set}
    print(f"\n{meta}\n")
    print("| preset | batch | n_critic | CUDA graph | img/s | ms/step | peak GPU memory (GiB) | parameters |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        mem = f"{r['peak_gpu_mem_gib']:.2f}" if r["peak_gpu_mem_gib"] is not None else "-"
        params = ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in r["params"].items())
        print(f"| {r['preset']} | {r['batch_size']} | {r['n_critic']} | {'yes' if r['graphed'] else 'no'} | "
              f"{r['img_per_s']:,.0f} | "
              f"{r['ms_per_step']:.2f} | {mem} | {params} |")
    for r in skipped:
        print(f"| {r['preset']} | skipped: {r['reason']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows, "skipped": skipped}, f, indent=2)


if __name__ == "__main__":
    main()
