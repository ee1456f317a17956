"""Computes a set of metrics and writes this process's records as JSON (run by test_sharded_metrics,
alone or as each of several torchrun processes with ``--distributed``).

usage: sharded_worker.py OUT_DIR CACHE_DIR [--distributed]
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from ganforge.data.dataset import ImageDataset, content_hash
from ganforge.distributed import init_from_env, shutdown, world
from ganforge.metrics import compute, compute_between
from ganforge.metrics.translation import evaluate_translation
from ganforge.presets import get_preset
from ganforge.families.stylegan2.recipe import build_generator

METRICS = "fid1k,kid1k,pr1k3,is1k,ppl1k_z,swd1k,ifid1k"


def main() -> None:
    out, cache = Path(sys.argv[1]), sys.argv[2]
    distributed = "--distributed" in sys.argv
    if distributed:
        init_from_env("cpu")
    rank, _ = world()
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(1200) % 3
    images = (torch.rand(1200, 1, 32, 32, generator=g) * 255).to(torch.uint8)
    images[:, :, 8:24, 8:24] //= (labels + 1).view(-1, 1, 1, 1).to(torch.uint8)
    ds = ImageDataset(images, labels, ("a", "b", "c"), "shard-test", content_hash(images, labels))
    torch.manual_seed(0)  # the same generator in every process; it has noise inputs (random per batch)
    m = get_preset("stylegan2-cond-tiny").model
    G = build_generator(replace(m, conditional=True), 32, 1, 3).eval()
    with torch.no_grad():  # noise that shows (StyleGAN2 starts its strengths at 0)
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    torch.manual_seed(100 + rank)  # each process's own global stream, as in training: metrics must not use it
    calls = []
    G.register_forward_hook(lambda *a: calls.append(1))  # how many batches this process generated
    kw = dict(extractor="fmnist-cnn", batch_size=48, seed=3, cache_dir=cache, distributed=distributed)
    records = compute(METRICS, G, ds, **kw)
    records += compute_between("fid1k,pr1k3,swd1k", ds, images.flip(0)[:1100].contiguous(), **kw)

    class Pairs:  # a paired translation set: A = negatives of B
        paired, name, content_hash, split = True, "neg-pairs:test", "x", "test"
        a_u8, b_u8 = (255 - images).contiguous(), images

        def domain(self, side):
            return ds

    records += evaluate_translation("fid1k,pair_l1,pair_ssim", lambda x, d: (-x).flip(-1), Pairs(), ["AtoB"],
                                    **{k: v for k, v in kw.items() if k != "cache_dir"}, cache_dir=cache)
    rows = [{"metric": r.metric, "value": r.value, "num_gen": r.num_gen, "num_real": r.num_real,
             "details": {k: v for k, v in r.details.items() if k != "input"}} for r in records]
    (out / f"rank{rank}.json").write_text(json.dumps({"records": rows, "generator_batches": len(calls)},
                                                     sort_keys=True))
    if distributed:
        shutdown()


if __name__ == "__main__":
    main()
