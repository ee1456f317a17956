"""Screenshots of the four pages of `ganforge studio` for the docs: docs/images/studio-{runs,run,compare,
explore}.png, 1280x800, taken by Playwright driving the system's Chromium.

    python scripts/studio_screenshots.py                 # trains two short Fashion-MNIST runs first
    python scripts/studio_screenshots.py --runs DIR      # pictures of the runs already in DIR

Without --runs, the runs are kept in --work (default: a folder in the system's temp directory) and trained
only when it holds none: a class-conditional DCGAN of 16 kimg and an LSGAN of 12 kimg on Fashion-MNIST in
batches of 32, a tick every kimg and fid1k (fmnist-cnn) every 4 kimg; about two minutes on a 2-core CPU.
The runs page is pictured while a WGAN-GP trains in the same folder (a running run; its folder is removed
after the picture), the run page shows the finished run with the most kimg done, compare the two longest,
explore that run's newest export.

Needs: playwright (the Python package; no browser download: --chromium names the browser), uvicorn and
starlette (the studio's dependencies), and the Fashion-MNIST data (`ganforge data` finds Debian's
dataset-fashion-mnist package by itself).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from ganforge.outputs import write_bytes

REPO = Path(__file__).resolve().parents[1]
PAGES = ("runs", "run", "compare", "explore")
RUNS = (  # (preset, kimg) of the runs trained when --work holds none
    ("dcgan-fmnist32-cond", 16),
    ("lsgan-fmnist32", 12),
)
# Batches of 32 (not the presets' 128): four times the steps per kimg, so that a minute of CPU draws clothes.
TRAIN_SETTINGS = ["train.batch_size=32", "train.tick_kimg=1", "train.snapshot_ticks=2", "metrics.names=fid1k",
                  "metrics.extractor=fmnist-cnn", "metrics.interval_kimg=4", "train.progress=false"]
# A run kept training while the runs page is pictured (its folder is removed afterwards).
LIVE = ("wgangp-fmnist32", ["train.batch_size=32", "train.tick_kimg=0.5", "train.snapshot_ticks=1",
                            "train.progress=false"])
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def train_command(work: Path, preset: str, kimg: float, settings: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "ganforge", "train", "--preset", preset, "--out", str(work), "--kimg", str(kimg)]
    for s in settings:
        cmd += ["--set", s]
    print("+", " ".join(cmd), flush=True)
    return cmd


def train_runs(work: Path) -> None:
    for preset, kimg in RUNS:
        subprocess.run(train_command(work, preset, kimg, TRAIN_SETTINGS), check=True)


class LiveRun:
    """A training started in ``work`` to show a running run; ``stop()`` ends it and removes its folder."""

    def __init__(self, work: Path, ticks: int = 3, timeout: float = 300):
        before = {p.name for p in work.iterdir()}
        self.proc = subprocess.Popen(train_command(work, LIVE[0], 100, LIVE[1]), stdout=subprocess.DEVNULL)
        self.folder = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            new = [p for p in work.iterdir() if p.name not in before and (p / "stats.jsonl").is_file()]
            if new and len((new[0] / "stats.jsonl").read_text().splitlines()) >= ticks:
                self.folder = new[0]
                return
            time.sleep(0.5)
        self.stop()
        raise SystemExit("the live run did not write its first ticks")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def has_runs(root: Path) -> bool:
    return root.is_dir() and any((p / "stats.jsonl").is_file() for p in root.iterdir() if p.is_dir())


def Served(root: Path):
    """The studio over ``root`` in a thread, on a free loopback port."""
    from ganforge.studio.app import BackgroundServer, create_app

    return BackgroundServer(create_app(root))


def settle(page) -> None:
    """Wait until every image shown has loaded and every chart has been drawn."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("""() => [...document.images].every(i => i.hidden || !i.getAttribute('src') ||
        (i.complete && i.naturalWidth > 0)) && [...document.querySelectorAll('canvas')].every(c => c.width > 0)""")
    page.wait_for_timeout(300)


def shoot(root: Path, out: Path, chromium: str, live: bool = False) -> list[Path]:
    from playwright.sync_api import sync_playwright

    served = Served(root)
    problems: list[str] = []
    written = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
            page.set_default_timeout(120_000)
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))

            runs = json.loads(page.request.get(served.url + "/api/runs").text())["runs"]
            if not runs:
                raise SystemExit(f"no runs in {root}")
            runs = [r for r in runs if r["state"] != "running"] or runs
            longest = sorted(runs, key=lambda r: (r["kimg"] or 0, r["name"]), reverse=True)
            main = longest[0]["name"]
            pair = [r["name"] for r in longest[:2]]
            models = json.loads(page.request.get(served.url + "/api/models").text())["models"]
            model = next((m["path"] for m in models if m["run"] == main and m["kind"] == "generator"),
                         models[0]["path"] if models else None)

            def save(name: str) -> None:
                path = out / f"studio-{name}.png"
                write_bytes(path, page.screenshot())
                written.append(path)
                print(f"wrote {path}")

            live_run = LiveRun(root) if live else None
            try:
                page.goto(served.url + "/")
                page.wait_for_selector("table.runs tbody tr")
                for name in pair:  # ticked, as for "Compare selected"
                    page.check(f"tr[data-run='{name}'] input[type=checkbox]")
                settle(page)
                save("runs")
            finally:
                if live_run is not None:
                    live_run.stop()

            page.goto(f"{served.url}/run/{quote(main)}")
            page.wait_for_selector(".gf-chart canvas")
            settle(page)
            canvas = page.locator(".gf-chart canvas").nth(1).bounding_box()  # a crosshair and its values
            page.mouse.move(canvas["x"] + canvas["width"] * 0.62, canvas["y"] + canvas["height"] * 0.5)
            page.wait_for_timeout(200)
            save("run")

            page.goto(f"{served.url}/compare?runs={','.join(quote(n) for n in pair)}")
            page.wait_for_selector(".compare-grid img")
            settle(page)
            page.locator(".compare-grids").locator("xpath=ancestor::section").locator(".tick-slider").focus()
            for _ in range(2):  # two grids back: where both runs have one (the second may have stopped sooner)
                page.keyboard.press("ArrowLeft")
            page.evaluate("""() => { const s = document.querySelector('.compare-grids').closest('section');
                window.scrollTo(0, s.getBoundingClientRect().top + window.scrollY - 64); }""")
            settle(page)
            save("compare")

            if model is None:
                raise SystemExit(f"no exported generator in {root}")
            page.goto(f"{served.url}/explore?model={quote(model, safe='')}")
            page.wait_for_selector("img.explore-img:not([hidden])")
            page.locator(".seed-number").fill("7")
            page.wait_for_function("() => document.querySelector('img.explore-img').dataset.url.includes('seed=7')")
            if page.locator(".class-select").is_visible():  # a conditional model: pick a class
                page.select_option(".class-select", index=min(8, page.locator(".class-select option").count() - 1))
                page.wait_for_function("() => document.querySelector('img.explore-img').dataset.url.includes('class=')")
            if page.locator(".interp-section").is_visible():  # a StyleGAN: show an interpolation frame too
                page.click(".interp-section summary")
                page.locator(".interp-frame").focus()
                page.keyboard.press("ArrowRight")
                page.wait_for_function("() => (document.querySelector('img.interp-img').dataset.url || '')"
                                       ".includes('frame=1&')")
            settle(page)
            save("explore")
            browser.close()
    finally:
        served.close()
    if problems:
        raise SystemExit("the pages logged errors:\n" + "\n".join(problems))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, help="a runs folder to take the pictures of (nothing is trained)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ganforge-studio-screenshots" / "runs",
                    help="where the runs are trained when --runs is not given (reused when it holds runs)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="folder of the PNGs")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium (or Chrome) executable")
    ap.add_argument("--no-live", dest="live", action="store_false",
                    help="without --runs, the runs page is pictured while a third run trains (its folder is "
                         "removed afterwards); --no-live leaves that out")
    args = ap.parse_args(argv)
    root = args.runs
    if root is None:
        root = args.work
        if not has_runs(root):
            train_runs(root)
    elif not has_runs(root):
        raise SystemExit(f"--runs {root}: no run folder with a stats.jsonl in it")
    shoot(root, args.out, args.chromium, live=args.live and args.runs is None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
