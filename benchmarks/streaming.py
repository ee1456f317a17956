"""Training-feed throughput of a 256 px folder dataset: held on the device vs streamed from disk.

Builds (or takes, with --data) a folder of images, then measures how many images per second the
trainer's feed delivers to the training device as float batches in [-1, 1], for:

  * ``memory``: decoded once into a uint8 tensor on the device (``data.stream=never``), the default
    for data under ``data.device_cache_max_bytes``;
  * ``folder-wN``: streamed from the folder by N worker processes (decode + resize every time);
  * ``zip-wN``: streamed from the same data after ``ganforge data convert`` (R x R PNGs: decode only).

The synthetic source images are 320 x 384 JPEGs of smooth colour fields with noise (so they compress
like photographs and must be resized); the feed is measured alone, without a training step, so the
numbers say how fast data can arrive, to compare with a model's img/s (benchmarks/throughput.py).

    python benchmarks/streaming.py --images 1024 --workers 0,1,2 --json stream.json
    python benchmarks/streaming.py --data ~/faces --device cuda --workers 4,8,16
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge import __version__
from ganforge.config import DataConfig, Experiment, TrainConfig
from ganforge.data import load_dataset
from ganforge.data.convert import convert
from ganforge.training.feed import make_feed


def synth_folder(root: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:320, 0:384].astype(np.float32)
    for i in range(n):
        a, b, c = rng.uniform(0.005, 0.03, 3)
        base = np.stack([np.sin(a * xx + b * yy + k + i) for k in range(3)], -1) * 100 + 128
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i:06d}.jpg", quality=90)
    return root


def measure(cfg: DataConfig, device: torch.device, batch: int, batches: int, warmup: int) -> dict:
    t0 = time.perf_counter()
    ds = load_dataset(cfg)
    load_s = time.perf_counter() - t0
    exp = Experiment(data=cfg, train=TrainConfig(seed=0))
    feed = make_feed(ds, exp, device, 0, 1)
    for _ in range(warmup):
        feed.next(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(batches):
        b = feed.next(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    assert b.real_img.shape[0] == batch
    if hasattr(feed, "close"):
        feed.close()
    return {"img_per_s": batch * batches / seconds, "load_s": load_s, "images": len(ds)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="an image folder (default: a synthetic one)")
    p.add_argument("--images", type=int, default=512, help="synthetic images to make")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--workers", default="0,1,2", help="comma-separated worker counts to try")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    device = torch.device(args.device)
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(args.data) if args.data else synth_folder(Path(tmp) / "src", args.images)
        zip_path = Path(tmp) / "data.zip"
        t0 = time.perf_counter()
        convert(str(src), zip_path, args.resolution, resize="crop", progress=False)
        convert_s = time.perf_counter() - t0
        base = DataConfig(name=str(src), resolution=args.resolution, resize="crop", channels=3)
        rows = [("memory", measure(replace(base, stream="never"), device, args.batch, args.batches, args.warmup))]
        for w in workers:
            rows.append((f"folder-w{w}", measure(replace(base, stream="always", workers=w, prefetch=4), device,
                                                 args.batch, args.batches, args.warmup)))
            rows.append((f"zip-w{w}", measure(replace(base, name=str(zip_path), stream="always", workers=w,
                                                      prefetch=4), device, args.batch, args.batches, args.warmup)))
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"{dev_name}, {os.cpu_count()} cores, torch {torch.__version__}, ganforge {__version__}, "
          f"{datetime.date.today()}, {args.resolution} px, batch {args.batch}; convert took {convert_s:.1f} s")
    print("| feed | img/s | dataset load (s) |\n|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['img_per_s']:.0f} | {r['load_s']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": dev_name, "cores": os.cpu_count(), "torch": torch.__version__, "date": str(datetime.date.today()),
            "resolution": args.resolution, "batch": args.batch, "convert_s": convert_s,
            "rows": {name: r for name, r in rows}}, indent=1))


if __name__ == "__main__":
    main()
