"""ganforge's classic presets beside Lucic et al. 2018 ("Are GANs Created Equal?"), Fashion-MNIST FID.

The paper's protocol (its code, google/compare_gan, 2018): 10,000 generated images against the 10,000
Fashion-MNIST *test* images at 28x28, gray replicated to RGB, TensorFlow 1 bilinear resize to 299, the
TF 2015-12-05 Inception's 2048-d pool features. That is ganforge's ``tf`` protocol on 28 px images, so:

* generated 32 px images (the presets pad 28 px data with 2 zero pixels per side) are cut back to their
  central 28x28, where the training data lived;
* the reference is the test split at its native 28 px (all 10,000 images);
* FID with ``inception-v3-fid``, protocol ``tf``, ``fid10k`` (``--n 2000`` etc. for a quicker, *not
  comparable* number: FID is biased upward at small N).

The paper's values are the best FID over a large hyper-parameter search (100 settings, then the best
retrained with 50 seeds; mean +- std over those seeds), InfoGAN-like networks, 20 epochs. The presets
here are one fixed setting each, so the table shows where a default run lands, not a re-run of the study.

    python benchmarks/lucic_fmnist.py --train 1000 --device cuda --runs-dir /tmp/lucic --json lucic.json
    python benchmarks/lucic_fmnist.py --train 1000 --only "WGAN,WGAN GP" --device cuda
    python benchmarks/lucic_fmnist.py --model "NS GAN=runs/00000-dcgan-fmnist32" --n 2000
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

# (paper's model, preset, extra overrides), and the paper's best FID on Fashion-MNIST (mean, std).
MODELS = [
    ("MM GAN", "dcgan-fmnist32", ["loss.kind=minimax"], (29.6, 1.6)),
    ("NS GAN", "dcgan-fmnist32", [], (26.5, 1.6)),
    ("LSGAN", "lsgan-fmnist32", [], (30.7, 2.2)),
    ("WGAN", "wgan-fmnist32", [], (21.5, 1.6)),
    ("WGAN GP", "wgangp-fmnist32", [], (24.5, 2.1)),
]
PAPER = {name: fid for name, _, _, fid in MODELS}


def generator_kimg(preset: str, overrides: list[str], d_kimg: float) -> float:
    """Training length in ganforge's unit (images shown to G) for ``d_kimg`` thousand real images shown to D.

    The paper counts discriminator updates (20 epochs of 50,000 images); with n_critic D steps per G
    step, G sees 1/n_critic of that."""
    from ganforge.config import apply_overrides
    from ganforge.presets import get_preset

    cfg = apply_overrides(get_preset(preset), overrides)
    return d_kimg / cfg.loss.n_critic


def train(preset: str, overrides: list[str], kimg: float, device: str, runs_dir: Path) -> Path:
    before = set(runs_dir.glob(f"*-{preset}"))
    cmd = [sys.executable, "-m", "ganforge.cli", "train", "--preset", preset, "--kimg", str(kimg), "--out",
           str(runs_dir), "--device", device, "--set", "train.progress=false"]
    for o in overrides:
        cmd += ["--set", o]
    subprocess.run(cmd, check=True)
    (run,) = set(runs_dir.glob(f"*-{preset}")) - before
    return run


def generated_28px(G, n: int, device: str, batch_size: int) -> torch.Tensor:
    from ganforge.metrics.generation import iter_generated

    imgs = torch.cat([b.cpu() for b in iter_generated(G, n, batch_size=batch_size, seed=0, device=device)])
    if imgs.shape[-1] == 32:
        imgs = imgs[..., 2:30, 2:30]
    if tuple(imgs.shape[1:]) != (1, 28, 28):
        raise SystemExit(f"expected 1x28x28 or 1x32x32 Fashion-MNIST images, got {tuple(imgs.shape[1:])}")
    return imgs.contiguous()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=float, default=None, metavar="D_KIMG",
                    help="train the five presets first, each until D has seen this many thousand real images "
                         "(the paper: 20 epochs of 50,000 = 1000; WGAN/WGAN-GP with n_critic 5 then show G 200 kimg)")
    ap.add_argument("--only", default=None, help="comma-separated paper model names to train (default: all five)")
    ap.add_argument("--runs-dir", default="runs-lucic", help="where --train puts its runs")
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=RUN",
                    help="evaluate a trained run or export under a paper's model name (repeatable)")
    ap.add_argument("--n", type=int, default=10000, help="generated images (the paper: 10000)")
    ap.add_argument("--num-real", type=int, default=None,
                    help="cap on test images (the paper: all 10000; smaller only for a quick smoke run)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--inception-weights", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from ganforge import __version__, load_generator
    from ganforge.config import DataConfig
    from ganforge.data import load_dataset
    from ganforge.metrics import compute_between

    runs: list[tuple[str, str, Path, list[str]]] = []
    if args.train is not None:
        rd = Path(args.runs_dir)
        rd.mkdir(parents=True, exist_ok=True)
        only = {m.strip() for m in args.only.split(",")} if args.only else None
        for label, preset, overrides, _ in MODELS:
            if only is None or label in only:
                kimg = generator_kimg(preset, overrides, args.train)
                runs.append((label, preset, train(preset, overrides, kimg, args.device, rd), overrides))
    for spec in args.model:
        label, _, path = spec.partition("=")
        runs.append((label, "", Path(path), []))
    if not runs:
        ap.error("nothing to evaluate: pass --train KIMG or --model LABEL=RUN")

    test = load_dataset(DataConfig(name="fashion-mnist", split="test", resolution=None))
    rows = []
    for label, preset, path, overrides in runs:
        G = load_generator(str(path)).to(args.device)
        t0 = time.perf_counter()
        fake = generated_28px(G, args.n, args.device, args.batch_size)
        (rec,) = compute_between(f"fid{args.n // 1000}k", test, fake, extractor="inception-v3-fid", protocol="tf",
                                 device=args.device, batch_size=args.batch_size, num_real=args.num_real,
                                 inception_weights=args.inception_weights)
        cfg = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
        stats = (path / "stats.jsonl").read_text().strip().splitlines() if (path / "stats.jsonl").is_file() else []
        kimg = json.loads(stats[-1]).get("kimg") if stats else None
        rows.append({"model": label, "preset": preset or cfg.get("preset"), "overrides": overrides, "run": str(path),
                     "kimg": kimg, "fid": rec.value, "record": rec.to_dict(), "paper": PAPER.get(label),
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{label}: fid{args.n // 1000}k {rec.value:.2f} ({rows[-1]['seconds']} s)", file=sys.stderr)

    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    refs = "all 10k test" if args.num_real is None else f"{args.num_real} test"
    print(f"| paper's model | ganforge preset | kimg (G) | ganforge fid{args.n // 1000}k (tf, {refs}, 28 px) | Lucic et al. FID |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        paper = f"{r['paper'][0]} +- {r['paper'][1]}" if r["paper"] else "-"
        pre = r["preset"] + (" " + " ".join(f"--set {o}" for o in r["overrides"]) if r["overrides"] else "")
        kimg = f"{r['kimg']:g}" if isinstance(r["kimg"], (int, float)) else "?"
        print(f"| {r['model']} | {pre} | {kimg} | {r['fid']:.2f} | {paper} |")
    print(f"\n{dev}, {datetime.date.today().isoformat()}, ganforge {__version__}, torch {torch.__version__}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "device": dev, "n": args.n, "num_real": args.num_real,
                                               "date": datetime.date.today().isoformat()}, indent=2))


if __name__ == "__main__":
    main()
