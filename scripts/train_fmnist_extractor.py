#!/usr/bin/env python
"""Train the `fmnist-cnn` feature extractor of ganforge.metrics on Fashion-MNIST.

Writes ``src/ganforge/metrics/weights/fmnist_cnn.safetensors`` and ``fmnist_cnn.json`` (test accuracy,
training command, date, sha256 of the weights). The test split is only used once, after training, to
report accuracy; nothing is selected on it.

    PYTHONPATH=src python scripts/train_fmnist_extractor.py --data /usr/share/datasets/fashion-mnist

Runs on CPU (about 4 min per epoch on two cores) or, much faster, with --device cuda.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganforge.metrics.fmnist_cnn import FmnistCNN, to_input  # noqa: E402


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz) into a numpy array (uint8 images [N, H, W] or labels [N])."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    if (magic >> 8) != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(root / f"{prefix}-images-idx3-ubyte.gz")
    y = read_idx(root / f"{prefix}-labels-idx1-ubyte.gz")
    return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def augment(x: torch.Tensor, gen: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Random shifts of up to ``shift`` px (zero fill) and horizontal flips; x is float [B, 1, 32, 32]."""
    b, _, h, w = x.shape
    padded = F.pad(x, (shift,) * 4, value=-1.0)
    oy = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, :]
    out = padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


@torch.no_grad()
def evaluate(net: FmnistCNN, x_u8: torch.Tensor, y: torch.Tensor, device: str) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(x_u8), 1000):
        logits = net(to_input(x_u8[i : i + 1000]).to(device))
        correct += int((logits.argmax(1).cpu() == y[i : i + 1000]).sum())
    return correct / len(x_u8)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="folder with the IDX .gz files")
    p.add_argument("--out", default=str(ROOT / "src/ganforge/metrics/weights"), help="output folder")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--train-limit", type=int, default=0, help="use only the first N training images (smoke tests)")
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    root = Path(args.data)
    x_train, y_train = load_split(root, "train")
    x_test, y_test = load_split(root, "test")
    if args.train_limit:
        x_train, y_train = x_train[: args.train_limit], y_train[: args.train_limit]
    net = FmnistCNN().to(args.device)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    total = steps_per_epoch * args.epochs
    warmup = steps_per_epoch // 2

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    step = 0
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(x_train), generator=gen)
        run_loss = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch_size : (i + 1) * args.batch_size]
            x = augment(to_input(x_train[idx]), gen).to(args.device)
            y = y_train[idx].to(args.device)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run_loss += loss.item()
            step += 1
        train_acc = evaluate(net, x_train[:10000], y_train[:10000], args.device)
        print(
            f"epoch {epoch + 1}/{args.epochs} loss {run_loss / steps_per_epoch:.4f} "
            f"train-acc(10k) {train_acc:.4f} elapsed {time.time() - t0:.0f}s",
            flush=True,
        )

    test_acc = evaluate(net, x_test, y_test, args.device)
    print(f"test accuracy {test_acc:.4f}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wpath = out / "fmnist_cnn.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(wpath), metadata={"format": "pt", "arch": "ganforge.metrics.fmnist_cnn.FmnistCNN"})
    sha = hashlib.sha256(wpath.read_bytes()).hexdigest()
    info = {
        "name": "fmnist-cnn",
        "test_accuracy": round(test_acc, 4),
        "test_split": "Fashion-MNIST t10k (10000 images)",
        "train_split": "Fashion-MNIST train (60000 images)",
        "epochs": args.epochs,
        "train_seconds": round(time.time() - t0, 1),
        "command": "PYTHONPATH=src python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "sha256": sha,
        "device": args.device,
        "seed": args.seed,
        "feature_dim": 128,
        "num_classes": 10,
    }
    (out / "fmnist_cnn.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
