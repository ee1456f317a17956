"""How much the Inception input pipeline (protocol) moves FID on Fashion-MNIST.

Embeds the same Fashion-MNIST images (28 px, gray) with the ``tf`` and the ``pytorch-fid`` pipelines
of ``inception-v3-fid`` and reports:

* the per-image relative L2 difference of the two pipelines' 2048-d features;
* FID(train subset, test subset) under each protocol;
* the "mixed" FIDs one gets by comparing statistics from one pipeline with statistics from the
  other (what happens when a reference-statistics file of one tool meets features of another).

Needs the real Inception weights (``--inception-weights``, ``$GANFORGE_INCEPTION_WEIGHTS`` or the torch
hub copy; a ``ganforge convert-inception`` file works). Prints a Markdown table and writes JSON.

    python benchmarks/fid_protocols.py --n 10000 --device cuda --json fid_protocols.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time

import numpy as np
import torch

from ganforge import __version__
from ganforge.config import DataConfig
from ganforge.data import load_dataset
from ganforge.metrics.extractors import get_extractor
from ganforge.metrics.fid import feature_stats, fid_from_stats
from ganforge.metrics.protocol import real_subset_indices


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="images per set (train subset and test subset)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--inception-weights", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    sets = {}
    for split in ("train", "test"):
        ds = load_dataset(DataConfig(name="fashion-mnist", split=split, resolution=None))
        sets[split] = ds.images_u8[real_subset_indices(ds.images_u8.shape[0], args.n)]
    feats: dict[tuple[str, str], np.ndarray] = {}
    weights_hash = None
    t0 = time.perf_counter()
    for protocol in ("tf", "pytorch-fid"):
        ext = get_extractor("inception-v3-fid", weights_path=args.inception_weights, protocol=protocol)
        for split, images in sets.items():
            feats[(protocol, split)] = ext.features(images, batch_size=args.batch_size, device=args.device)
        weights_hash = ext.weights_hash
    seconds = time.perf_counter() - t0
    stats = {k: feature_stats(v) for k, v in feats.items()}

    def fid(a, b):
        return float(fid_from_stats(*stats[a], *stats[b]))

    a, b = feats[("tf", "test")].astype(np.float64), feats[("pytorch-fid", "test")].astype(np.float64)
    rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
    result = {
        "n": args.n,
        "relative_l2_per_image": {"mean": float(rel.mean()), "median": float(np.median(rel)),
                                  "p05": float(np.percentile(rel, 5)), "p95": float(np.percentile(rel, 95))},
        "fid_train_vs_test": {"tf": fid(("tf", "train"), ("tf", "test")),
                              "pytorch-fid": fid(("pytorch-fid", "train"), ("pytorch-fid", "test"))},
        "fid_mixed": {"train tf vs test pytorch-fid": fid(("tf", "train"), ("pytorch-fid", "test")),
                      "train pytorch-fid vs test tf": fid(("pytorch-fid", "train"), ("tf", "test")),
                      "test tf vs test pytorch-fid (same images)": fid(("tf", "test"), ("pytorch-fid", "test"))},
        "weights_content_hash": weights_hash,
        "device": args.device if args.device != "cpu" else f"cpu ({platform.processor() or platform.machine()}, "
                                                          f"{torch.get_num_threads()} threads)",
        "seconds": round(seconds, 1),
        "date": datetime.date.today().isoformat(),
        "ganforge": __version__,
        "torch": torch.__version__,
    }
    r = result
    print(f"| Fashion-MNIST, {args.n} + {args.n} images | tf | pytorch-fid |")
    print("| --- | --- | --- |")
    print(f"| FID(train subset, test subset) | {r['fid_train_vs_test']['tf']:.3f} | {r['fid_train_vs_test']['pytorch-fid']:.3f} |")
    for k, v in r["fid_mixed"].items():
        print(f"| mixed: {k} | {v:.3f} | |")
    q = r["relative_l2_per_image"]
    print(f"\nper-image feature difference |f_tf - f_pt| / |f_pt|: mean {q['mean']:.3f}, median {q['median']:.3f}, "
          f"5-95 % {q['p05']:.3f}-{q['p95']:.3f}; weights {weights_hash}; {seconds:.0f} s on {r['device']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
