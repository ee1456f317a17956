"""Speed of ganforge studio (issue 22): how fast Explore answers a new seed, and how fast the runs page
lists many runs.

1. Explore: ``GET /api/image`` for new seeds (never asked before: nothing cached but the loaded model),
   over real HTTP on loopback against the studio served by uvicorn, as a browser asks it. Models: the
   default preset's DCGAN (dcgan-fmnist32) and, with ``--stylegan2-256``, a 256 px StyleGAN2
   (stylegan2-official-256). Each model is trained for one step first (weights do not change the speed).
   Targets: DCGAN < 50 ms on a CPU, StyleGAN2 256 px < 100 ms on a GPU.
2. Runs page: 200 copies of a real run (config, stats of every tick, grids, exports) under one folder;
   ``GET /api/runs`` cold (first request: every run's files read) and warm, and, where Chromium is
   installed, the runs page in a headless browser until its table shows every run. Target < 1 s.

    python benchmarks/studio.py [--device cpu|cuda] [--seeds 50] [--runs 200] [--stylegan2-256]
    python benchmarks/studio.py --check     # tiny preset, few seeds and runs: seconds (CI)
    PYTHONPATH=src python benchmarks/studio.py --device cuda --stylegan2-256 --direct   # the GPU machine

Prints a markdown table and, with ``--json PATH``, writes the figures there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def random_images(cfg, n: int):
    """``n`` random images of the preset's size: the weights one step makes do not change the speed, and
    preparing the real data at 256 px (60,000 RGB images, 12 GB) would cost minutes."""
    import torch

    from ganforge.data.dataset import ImageDataset, content_hash

    g = torch.Generator().manual_seed(0)
    res, ch = cfg.data.resolution, cfg.data.channels or 1  # None: as the data has it (Fashion-MNIST: 1)
    images = torch.randint(0, 256, (n, ch, res, res), generator=g, dtype=torch.uint8)
    labels = torch.zeros(n, dtype=torch.long)
    return ImageDataset(images, labels, (), "random", content_hash(images, labels))


def train_one_step(root: Path, preset: str, device: str, overrides: dict | None = None) -> str:
    """A run of ``preset`` trained for one step on random images; returns its export's path relative to
    ``root``."""
    import ganforge
    from ganforge.config import apply_overrides

    over = {"train.progress": False, "metrics.names": "", "train.device": device, **(overrides or {})}
    cfg = apply_overrides(ganforge.get_preset(preset), over)
    cfg = apply_overrides(cfg, {"train.total_kimg": cfg.train.batch_size / 1000})
    r = ganforge.train(cfg, out=root, dataset=random_images(cfg, cfg.train.batch_size))
    return f"{r.run_dir.name}/generator.safetensors"


class Server:
    """The studio app served in a thread on a free loopback port (``BackgroundServer``), asked over HTTP."""

    def __init__(self, root: Path, device: str):
        self.root, self.device = root, device

    def __enter__(self) -> "Server":
        from ganforge.studio.app import BackgroundServer, create_app

        self.served = BackgroundServer(create_app(self.root, self.device))
        self.port = self.served.port
        return self

    def __exit__(self, *exc) -> None:
        self.served.close()

    def get(self, path: str) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"{self.served.url}{path}", timeout=60) as r:
            body = r.read()
        return (time.perf_counter() - t0) * 1000, body


def explore_latency(root: Path, model: str, device: str, seeds: int, direct: bool = False) -> dict:
    """Milliseconds per new seed over HTTP, or (``direct``) of ``Explorer.image`` itself: what the studio
    computes, without the web packages (the GPU machine has torch only; HTTP adds about 1-2 ms on a CPU)."""
    if direct:
        import torch

        from ganforge.studio.explore import Explorer

        ex = Explorer(root, device)
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

        def get(seed: int) -> float:
            t0 = time.perf_counter()
            ex.image(model, seed)  # PNG bytes: the image is on the host, so the device work is done
            sync()
            return (time.perf_counter() - t0) * 1000

        first = get(0)
        times = [get(seed) for seed in range(1, seeds + 1)]
    else:
        with Server(root, device) as s:
            first, _ = s.get(f"/api/image?model={model}&seed=0")  # loads the model
            times = [s.get(f"/api/image?model={model}&seed={seed}")[0] for seed in range(1, seeds + 1)]
    times.sort()
    return {"model": model, "device": device, "http": not direct, "first_ms": round(first, 1), "seeds": seeds,
            "median_ms": round(statistics.median(times), 1), "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
            "min_ms": round(times[0], 1)}


def make_runs(root: Path, source: Path, n: int) -> None:
    """``n`` copies of the run ``source`` (checkpoints left out: the studio never reads them)."""
    for i in range(n):
        shutil.copytree(source, root / f"{i:05d}-copy", ignore=shutil.ignore_patterns("checkpoints"))


def runs_listing(root: Path, n: int, browser: bool) -> dict:
    out: dict = {"runs": n}
    with Server(root, "cpu") as s:
        cold, body = s.get("/api/runs")
        assert len(json.loads(body)["runs"]) == n, "not every run was listed"
        warm = sorted(s.get("/api/runs")[0] for _ in range(5))
        out.update(api_cold_ms=round(cold, 1), api_warm_ms=round(statistics.median(warm), 1))
        if browser and Path(CHROMIUM).exists():
            try:
                from playwright.sync_api import sync_playwright
            except ImportError:
                out["page_ms"] = None
                return out
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = b.new_page()
                t0 = time.perf_counter()
                page.goto(f"http://127.0.0.1:{s.port}/")
                page.wait_for_selector(f"tbody tr:nth-child({n})", timeout=30000)  # the page's CSP forbids eval
                out["page_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                b.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--stylegan2-256", action="store_true", help="also a 256 px StyleGAN2 (meant for a GPU)")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--direct", action="store_true",
                    help="time Explorer.image without HTTP and skip the listing (no web packages needed: a GPU machine)")
    ap.add_argument("--check", action="store_true", help="tiny preset, 3 seeds, 5 runs (CI)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    preset, seeds, nruns = ("dcgan-tiny", 3, 5) if a.check else ("dcgan-fmnist32", a.seeds, a.runs)
    import torch

    results: dict = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "threads": torch.get_num_threads(),
                     "explore": []}
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        rel = train_one_step(models, preset, a.device)
        results["explore"].append(explore_latency(models, rel, a.device, seeds, a.direct))
        if a.stylegan2_256:
            sg = "stylegan2-tiny" if a.check else "stylegan2-official-256"
            rel2 = train_one_step(models, sg, a.device, {"train.batch_size": 4} if not a.check else {})
            results["explore"].append(explore_latency(models, rel2, a.device, seeds, a.direct))
        if not a.direct:
            many = Path(tmp) / "many"
            many.mkdir()
            make_runs(many, models / rel.split("/")[0], nruns)
            results["listing"] = runs_listing(many, nruns, browser=not a.no_browser)
    print("| model | device | over | new seed, median ms | p90 ms | first (loads) ms |\n|---|---|---|---:|---:|---:|")
    for e in results["explore"]:
        print(f"| {e['model'].split('/')[0]} | {e['device']} | {'HTTP' if e['http'] else 'Explorer.image'} | "
              f"{e['median_ms']} | {e['p90_ms']} | {e['first_ms']} |")
    li = results.get("listing")
    if li:
        print(f"\nruns page, {li['runs']} runs: /api/runs cold {li['api_cold_ms']} ms, warm {li['api_warm_ms']} ms, "
              f"page in Chromium {li.get('page_ms')} ms")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
