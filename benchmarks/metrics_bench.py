"""Metric numbers for docs/benchmarks.md: the real-data floor, all seven metrics for trained
generators, and the time of fid10k with Inception-v3.

    python benchmarks/metrics_bench.py --models runs/00000-dcgan-fmnist32 runs/00001-wgangp-fmnist32 \
        --device cuda --json metrics.json

The fid10k timing uses an Inception-v3 with random weights when no --inception-weights is given
(the standard file needs a download): the time does not depend on the weight values, the FID value
does, so that value is not reported.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time

import torch

import ganforge
from ganforge.config import DataConfig
from ganforge.data import load_dataset
from ganforge.data.dataset import ImageDataset, content_hash
from ganforge.metrics import compute, compute_between


def subset(ds: ImageDataset, start: int, stop: int, name: str) -> ImageDataset:
    imgs = ds.images_u8[start:stop].contiguous()
    labels = ds.labels[start:stop].contiguous() if ds.labels is not None else None
    return ImageDataset(imgs, labels, ds.class_names, name, content_hash(imgs, labels))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=[])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--k", type=int, default=10, help="thousands of samples per metric (10 = the *10k protocol)")
    ap.add_argument("--inception-weights", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    k = args.k
    out: dict = {"date": datetime.date.today().isoformat(), "torch": torch.__version__,
                 "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}
    dev = "cuda" if (args.device == "auto" and torch.cuda.is_available()) else ("cpu" if args.device == "auto" else args.device)
    train = load_dataset(DataConfig(name="fashion-mnist", split="train", resolution=32, resize="pad"))
    test = load_dataset(DataConfig(name="fashion-mnist", split="test", resolution=32, resize="pad"))
    n = k * 1000

    # 1. The floor: real vs real.
    floor = []
    names = [f"fid{k}k", f"kid{k}k"]
    for label, real, fake in [
        (f"train[:{n}] vs test[:{n}]", subset(test, 0, n, "fashion-mnist:test"), train.images_u8[:n]),
        (f"train[:{n}] vs train[{n}:{2 * n}]", subset(train, n, 2 * n, "fashion-mnist:train-b"), train.images_u8[:n]),
    ]:
        recs = compute_between(names, real, fake, extractor="fmnist-cnn", device=dev, batch_size=args.batch_size,
                               num_real=n)
        floor.append({"pair": label, **{r.metric: r.value for r in recs}})
        print("floor", floor[-1], flush=True)
    out["floor"] = floor

    # 2. All seven metrics for each generator (reference: the train split, fmnist-cnn features).
    metric_names = [f"fid{k}k", f"kid{k}k", f"pr{k}k3", f"is{k}k", "ppl_z", "swd", "msssim"]
    models = []
    for path in args.models:
        G = ganforge.load_generator(path, device=dev)
        recs = compute(metric_names, G, train, extractor="fmnist-cnn", device=dev, batch_size=args.batch_size)
        row = {"model": path, "preset": G.meta["preset"], "kimg": G.meta["kimg"],
               "records": [r.to_dict() for r in recs]}
        models.append(row)
        for r in recs:
            print(path, r.metric, r.value, f"{r.wall_time_s:.2f}s", flush=True)
    out["models"] = models

    # 3. fid10k time with Inception-v3 (fp32), reference statistics cached by a first call.
    if args.models and dev == "cuda":
        weights = args.inception_weights
        if weights is None:
            from ganforge.metrics.inception import FIDInceptionV3

            weights = tempfile.mktemp(suffix=".pth")
            torch.manual_seed(0)
            torch.save(FIDInceptionV3().state_dict(), weights)
        G = ganforge.load_generator(args.models[0], device=dev)
        with tempfile.TemporaryDirectory() as cache:
            first = time.perf_counter()
            compute([f"fid{k}k"], G, train, extractor="inception-v3-fid", device=dev, batch_size=args.batch_size,
                    inception_weights=weights, cache_dir=cache)
            first = time.perf_counter() - first
            times = []
            for _ in range(3):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                rec = compute([f"fid{k}k"], G, train, extractor="inception-v3-fid", device=dev,
                              batch_size=args.batch_size, inception_weights=weights, cache_dir=cache)[0]
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
        out["fid_timing"] = {"metric": f"fid{k}k", "first_call_s_incl_real_stats": first, "cached_calls_s": times,
                             "num_real": rec.num_real, "num_gen": rec.num_gen, "batch_size": args.batch_size,
                             "random_weights": args.inception_weights is None}
        print("fid timing", out["fid_timing"], flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=str)


if __name__ == "__main__":
    main()
