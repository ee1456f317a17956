"""The owed GPU numbers in one prepared call (issue 23): the driver behind ``benchmarks/gpu_first.sh``.

    benchmarks/gpu_first.sh --stage [DIR]   copy the data the call needs into DIR (default .carry/gpu)
    benchmarks/gpu_first.sh OUT             on the GPU machine: every part in order, <= 9 minutes
    benchmarks/gpu_first.sh --check OUT     on a CPU: the same parts with tiny presets and counts

The parts run in this order, each in its own process under its own time limit (a part that hangs or
crashes, even with a CUDA error that poisons its process, costs only its own slot); a failed part is
recorded and the next one starts. Time a part leaves unused goes to the quality run; the extras get
whatever is left. Budget on one H100/H200 (seconds; the sum is the 9-minute call):

    part        limit  what
    stage          20  find and verify the carried data (sha256), device, driver, torch and CUDA
    gpu_tests     100  pytest -m gpu tests/gpu (CUDA-graph step == eager, streamed data under capture, ...)
    throughput    190  stylegan2-official-32/64/256 eager and bf16 autocast vs 555/376/143 img/s;
                       stylegan3-official-t/r-256 eager vs the official 49.81/56.73 s/kimg (A100);
                       dcgan-fmnist32 eager vs train.cuda_graph at batch 128 vs 40,000 img/s;
                       one profile of a stylegan2-official-64 step (top kernels, launches per step)
    quality       160  stylegan2-fmnist32 toward 160 kimg, fid10k (fmnist-cnn) at 40/80/120/160 kimg
                       (+ what the parts before it left unused)
    extras       rest  img/s of progan, stylegan, sagan, biggan, pix2pix, cyclegan, stylegan3-t-fmnist32,
                       the studio's Explore (ms per new seed of a 256 px StyleGAN2, target < 100 ms),
                       a short biggan-emoji64 run (swd), then the emoji presets' img/s
    pack           10  results.json, summary.md, profile.txt, artifacts.tgz
    total         540

What comes back (the device tool returns at most 8 files of 16 MiB, two folders deep), all directly
in OUT:

    results.json   one record per part (schema below)
    summary.md     the parts, their status and seconds, the headline figures
    profile.txt    the profiler summary of one stylegan2-official-64 step (tiny preset in --check)
    artifacts.tgz  per-part logs, metrics.jsonl / stats.jsonl and sample grids of the runs, and the
                   exported generators that fit (<= 15 MiB in all; the others are listed in
                   results.json with size and sha256)

Scratch files (runs, checkpoints, data subsets, metric caches) go to a work folder outside OUT
(``--work``, default a new temporary folder, removed at the end unless ``--keep-work``).

results.json (``"schema": "ganforge-gpu-first/1"``)::

    {"schema", "mode": "gpu" | "check", "started", "finished", "total_s", "budget_s",
     "git": {"commit", "dirty"}, "host": {"python", "platform", "cpus"},
     "device": {"name", "torch", "cuda", "driver", "date"},       # from the stage part
     "plan": [{"name", "limit_s", "title"}],
     "parts": [{"name", "title", "status": "ok" | "failed" | "skipped" | "timed out", "reason",
                "seconds", "limit_s", "exit_code", "device", "torch", "cuda", "date",
                "command", "equivalent", "figures": {...}, "log_tail": [...]}],
     "archive": {"file", "bytes", "included": [...], "left_out": [{"path", "bytes", "sha256", "why"}]}}

Figures per part: see ``part_*`` below and docs/benchmarks.md ("The first GPU call").
``benchmarks/results_to_docs.py results.json`` turns the file into the tables of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from pathlib import Path

SCHEMA = "ganforge-gpu-first/1"
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:  # throughput.py and results_to_docs.py, beside this file
    sys.path.insert(0, str(BENCH))
STATUSES = ("ok", "failed", "skipped", "timed out")

# name, limit (s) on the GPU, limit (s) in --check, title
PARTS = [
    ("stage", 20, 40, "data found and verified; device, driver, torch, CUDA"),
    ("gpu_tests", 100, 100, "gpu-marked tests (pytest -m gpu tests/gpu)"),
    ("throughput", 190, 130, "StyleGAN2/3 official-config and DCGAN/CUDA-graph throughput, one profile"),
    ("quality", 160, 150, "stylegan2-fmnist32 toward 160 kimg with fid10k beside the official run"),
    ("extras", 60, 110, "other families' throughput, a short biggan-emoji64 run"),
]
SURPLUS_TAKER = "quality"  # gets what the parts before it left unused
REST_TAKER = "extras"  # gets whatever is left
CHECK_SUBSET = (2000, 500)  # Fashion-MNIST train / test images the --check parts train on
BUDGET_S = 540  # 9 minutes, on the GPU and in --check
PACK_S = 10
ARCHIVE_CAP = 15 * 2**20  # the device tool returns files of at most 16 MiB

# The official StyleGAN2 (NVlabs stylegan3 repository, --cfg=stylegan2), one H100, RGB, fp16 in the top
# 4 resolutions, no augmentation: img/s of the speed benchmark (docs/benchmarks.md).
OFFICIAL_IMG_S = {"stylegan2-official-32": 555, "stylegan2-official-64": 376, "stylegan2-official-256": 143}
# The official StyleGAN3 (docs/configs.md of the NVlabs repository), 256 px, 1 GPU, --batch=32 --gamma=2: s/kimg
# on one A100 (not the card these rows run on: the ratio compares a newer card with an older one).
OFFICIAL_SG3_S_PER_KIMG = {"stylegan3-official-t-256": 49.81, "stylegan3-official-r-256": 56.73}
DCGAN_TARGET_IMG_S = 40_000
# shared/anchors/stylegan2-official/QUALITY.md: the official run on Fashion-MNIST 32 px, fid10k (fmnist-cnn).
OFFICIAL_FID10K = {40: 6.545, 80: 5.206, 120: 4.414, 160: 2.385}
OFFICIAL_S_PER_KIMG = (1.67, 1.91)

# What each mode runs. --check swaps every preset for a tiny one (and counts for tiny counts) but runs
# the same code: the same parts, rows, data paths, deadlines and records.
SETTINGS = {
    "gpu": {
        "sg2": [("stylegan2-official-32", [], "stylegan2-official-32"),
                ("stylegan2-official-64", [], "stylegan2-official-64"),
                ("stylegan2-official-256", [], "stylegan2-official-256")],
        "sg2_steps": (16, 4),  # timed steps 4..19: one lazy R1 (every 16), four path-length steps (every 4)
        "sg2_subset": 2048,  # images of the RGB Fashion-MNIST the speed runs train on
        "sg3": [("stylegan3-official-t-256", [], "stylegan3-official-t-256"),
                ("stylegan3-official-r-256", [], "stylegan3-official-r-256")],
        "sg3_steps": (6, 3),  # timed steps 3..8, no R1 step among them (every 16)
        "dcgan": ("dcgan-fmnist32", [], "dcgan-fmnist32"),
        "dcgan_steps": (300, 30),
        "profile": ("stylegan2-official-64", [], 16, 8),  # preset, overrides, profiled steps, warm-up
        "quality": ("stylegan2-fmnist32", [
            "train.total_kimg=160", "train.tick_kimg=8", "train.snapshot_ticks=5", "metrics.names=fid10k",
            "metrics.interval_kimg=40", "metrics.extractor=fmnist-cnn", "train.keep_checkpoints=1"]),
        "quality_metric": "fid10k",
        "quality_kimg": {40: 40, 80: 80, 120: 120, 160: 160},  # kimg here -> kimg of the official run
        "quality_margin_s": 20,  # stop training this long before the slot ends (checkpoint, copies)
        "extras": [("progan-fmnist32", ["model.progressive=false"], "progan-fmnist32 (32 px networks)"),
                   ("stylegan-fmnist32-fixed", [], "stylegan-fmnist32-fixed"),
                   ("sagan-fmnist32", [], "sagan-fmnist32"),
                   ("biggan-fmnist32", [], "biggan-fmnist32"),
                   ("pix2pix-fmnist-edges", [], "pix2pix-fmnist-edges"),
                   ("cyclegan-fmnist-sneaker2boot", [], "cyclegan-fmnist-sneaker2boot"),
                   ("stylegan3-t-fmnist32", [], "stylegan3-t-fmnist32")],
        "extras_more": [("biggan-deep-fmnist32", [], "biggan-deep-fmnist32"),
                   ("biggan-emoji64", [], "biggan-emoji64"),
                   ("pix2pix-emoji-gray2color", [], "pix2pix-emoji-gray2color"),
                   ("sngan-emoji64", [], "sngan-emoji64"),
                   ("stylegan2-emoji64", [], "stylegan2-emoji64")],
        "extras_steps": (40, 10),
        "extras_row_s": 8,  # start a row only with this much of the slot left
        "emoji": ("biggan-emoji64", ["train.tick_kimg=10", "train.snapshot_ticks=1", "train.keep_checkpoints=1"]),
        "emoji_metric": ("swd", None),  # name, num_real (None: all 3,655)
        "emoji_min_train_s": 20,
        "emoji_eval_s": 25,  # kept back for loading, the metric and the copies
        "emoji_max_train_s": 60,  # then the rows of extras_more
        "explore": ("stylegan2-official-256", ["train.batch_size=4"]),  # studio Explore, a new seed (< 100 ms)
        "explore_seeds": 30,
        "explore_min_s": 25,
    },
    "check": {
        "sg2": [("stylegan2-tiny", ["data.channels=3", "data.resolution=16"], "stylegan2-official-32"),
                ("stylegan2-tiny", ["data.channels=3", "data.resolution=32", "data.resize=crop"], "stylegan2-official-64"),
                ("stylegan2-tiny", ["data.channels=3", "data.resolution=16", "data.resize=crop", "train.batch_size=4"],
                 "stylegan2-official-256")],  # 64 px takes half a minute on two cores: not needed to check the row
        "sg2_steps": (2, 2),
        "sg2_subset": 64,
        "sg3": [("stylegan3-t-tiny", ["data.channels=3"], "stylegan3-official-t-256"),
                ("stylegan3-r-tiny", ["data.channels=3"], "stylegan3-official-r-256")],
        "sg3_steps": (2, 1),
        "dcgan": ("dcgan-tiny", ["train.batch_size=16"], "dcgan-fmnist32"),
        "dcgan_steps": (4, 4),
        "profile": ("stylegan2-tiny", ["data.channels=3", "data.resolution=32"], 2, 2),
        "quality": ("stylegan2-tiny", [
            "data.resolution=32", "train.total_kimg=0.064", "train.tick_kimg=0.008", "train.snapshot_ticks=2",
            "metrics.names=fid1k", "metrics.interval_kimg=0.016", "metrics.extractor=fmnist-cnn",
            "train.keep_checkpoints=1"]),
        "quality_metric": "fid1k",
        "quality_kimg": {0.016: 40, 0.032: 80, 0.048: 120, 0.064: 160},
        "quality_margin_s": 15,
        "extras": [("progan-tiny", ["model.progressive=false"], "progan-fmnist32 (32 px networks)"),
                   ("stylegan-tiny", ["model.progressive=false"], "stylegan-fmnist32-fixed"),
                   ("sagan-tiny", [], "sagan-fmnist32"),
                   ("biggan-tiny", [], "biggan-fmnist32"),
                   ("pix2pix-tiny", [], "pix2pix-fmnist-edges"),
                   ("cyclegan-tiny", [], "cyclegan-fmnist-sneaker2boot"),
                   ("stylegan3-t-tiny", [], "stylegan3-t-fmnist32")],
        "extras_more": [("biggan-deep-tiny", [], "biggan-deep-fmnist32")],
        "extras_steps": (2, 1),
        "extras_row_s": 5,
        "emoji": ("biggan-tiny", ["data.name=emoji", "data.channels=3", "train.total_kimg=1000",
                                  "train.tick_kimg=0.008", "train.snapshot_ticks=1", "train.keep_checkpoints=1"]),
        "emoji_metric": ("swd1k", 1000),
        "emoji_min_train_s": 3,
        "emoji_eval_s": 30,
        "emoji_max_train_s": 8,  # stopped by its deadline, as on the GPU
        "explore": ("stylegan2-tiny", []),
        "explore_seeds": 3,
        "explore_min_s": 10,
    },
}


# ---------------------------------------------------------------------------------------------
# Small helpers


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, obj) -> None:
    """Whole or not at all: a reader (the orchestrator, after a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def src_sha256() -> str:
    """One digest of every file under src/ganforge (not caches): the code a run measured, also where the
    working tree arrives without its .git (the device machine)."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "src" / "ganforge").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def git_info() -> dict:
    """The commit (and whether tracked files differ from it) and the digest of src/. Without git (the copy
    on the device machine has no .git) the commit recorded by ``--stage`` in the carried folder stands in,
    with ``same_code_as_staged`` saying whether src/ is what was staged."""
    def run(*args):
        try:
            r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False, text=True, timeout=10)
            return r.stdout.strip() if r.returncode == 0 else ""
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = run("rev-parse", "HEAD")
    info = {"commit": commit or None, "dirty": bool(run("status", "--porcelain", "--untracked-files=no")) if commit else None,
            "src_sha256": src_sha256()}
    if not commit:
        for d in (os.environ.get("GPU_FIRST_SOURCE_DATA"), os.environ.get("GANFORGE_DATA"), str(ROOT / ".carry" / "gpu")):
            f = Path(d) / "source.json" if d else None
            if f is not None and f.is_file():
                try:
                    staged = json.loads(f.read_text())
                except (OSError, json.JSONDecodeError):
                    continue
                info.update(commit=staged.get("commit"), dirty=staged.get("dirty"), from_staging=str(f),
                            same_code_as_staged=staged.get("src_sha256") == info["src_sha256"])
                break
    return info


def tree_bytes() -> int | None:
    """Bytes of what the device tool copies without a carry list: tracked and untracked, not ignored."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, check=False,
                             timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    total = 0
    for name in out.split(b"\0"):
        p = ROOT / os.fsdecode(name)
        if name and p.is_file():
            total += p.stat().st_size
    return total


# ---------------------------------------------------------------------------------------------
# Data: what the call carries, and the subsets the speed runs and --check train on

FMNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def stage_data(dest: Path) -> dict:
    """Copy Fashion-MNIST's four IDX files and the emoji set's two sources (as this machine's ganforge
    finds them, without downloading) into ``dest/fashion-mnist`` and ``dest/emoji``, where ganforge
    finds them with ``GANFORGE_DATA=dest``. Returns what was copied."""
    from ganforge.data.builtin import find_file, locate_builtin
    from ganforge.data.emoji import locate_sources

    files = []
    src_dir = locate_builtin("fashion-mnist", download=False)
    for name in FMNIST_FILES:
        files.append(("fashion-mnist", find_file(src_dir, name)))
    font, listing = locate_sources(download=False)
    files += [("emoji", font), ("emoji", listing)]
    copied = []
    dest.mkdir(parents=True, exist_ok=True)
    write_json(dest / "source.json", {**git_info(), "staged": now_iso()})  # the commit, for a machine without git
    for sub, src in files:
        target = dest / sub / src.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.exists() and os.path.samefile(src, target)):
            shutil.copyfile(src, target)
        copied.append({"file": f"{sub}/{src.name}", "from": str(src), "bytes": target.stat().st_size})
    return {"dir": str(dest), "files": copied, "bytes": sum(f["bytes"] for f in copied)}


def verify_data(data_dir: Path | None) -> dict:
    """What the parts will load: Fashion-MNIST's files (their unpacked sha256 against the pinned ones)
    and the emoji sources (ganforge checks their sha256 itself). Raises on anything missing."""
    from ganforge.data.builtin import BUILTIN_DATASETS, find_file, locate_builtin
    from ganforge.data.emoji import locate_sources

    spec = BUILTIN_DATASETS.get("fashion-mnist")
    folder = locate_builtin("fashion-mnist", download=False)
    out = {"GANFORGE_DATA": os.environ.get("GANFORGE_DATA"), "fashion-mnist": str(folder), "files": []}
    for name in FMNIST_FILES:
        p = find_file(folder, name)
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        want = spec.raw_sha256.get(name.removesuffix(".gz"))
        got = hashlib.sha256(raw).hexdigest()
        out["files"].append({"file": str(p), "bytes": p.stat().st_size, "items": int.from_bytes(raw[4:8], "big"),
                             "sha256_ok": got == want})
    font, listing = locate_sources(download=False)
    out["files"] += [{"file": str(font), "bytes": font.stat().st_size, "sha256_ok": True},
                     {"file": str(listing), "bytes": listing.stat().st_size, "sha256_ok": True}]
    return out


def write_fmnist_subset(dest: Path, n_train: int, n_test: int) -> Path:
    """The first ``n_train`` / ``n_test`` Fashion-MNIST images as IDX files in ``dest/fashion-mnist``
    (found with ``GANFORGE_DATA=dest``): the same loader, fewer images."""
    from ganforge.data.builtin import load_builtin_arrays
    from ganforge.data.idx import write_idx

    folder = dest / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, stem in (("train", n_train, "train"), ("test", n_test, "t10k")):
        x, y, _, _ = load_builtin_arrays("fashion-mnist", split, download=False)
        write_idx(folder / f"{stem}-images-idx3-ubyte", x[:n, 0])
        write_idx(folder / f"{stem}-labels-idx1-ubyte", y[:n].astype("uint8"))
    return dest


class data_env:
    """``GANFORGE_DATA`` set to ``path`` inside the block."""

    def __init__(self, path: Path):
        self.path, self.old = path, None

    def __enter__(self):
        self.old = os.environ.get("GANFORGE_DATA")
        os.environ["GANFORGE_DATA"] = str(self.path)

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("GANFORGE_DATA", None)
        else:
            os.environ["GANFORGE_DATA"] = self.old


# ---------------------------------------------------------------------------------------------
# One part, in its own process


class Part:
    """What a part process writes: ``WORK/parts/NAME.json``, rewritten after every row, so a part
    stopped by its limit still hands over what it measured."""

    def __init__(self, name: str, mode: str, work: Path, out: Path, deadline: float):
        self.name, self.mode, self.work, self.out, self.deadline = name, mode, work, out, deadline
        self.s = SETTINGS[mode]
        self.rec: dict = {"status": "ok", "reason": None, "figures": {}, "equivalent": None}
        self.artifacts = work / "artifacts" / name
        self.artifacts.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.time()

    def save(self) -> None:
        write_json(self.work / "parts" / f"{self.name}.json", self.rec)

    def device(self) -> None:
        import torch

        cuda = torch.cuda.is_available()
        self.rec.update({"device": torch.cuda.get_device_name() if cuda else (platform.processor() or "cpu"),
                         "torch": torch.__version__, "cuda": torch.version.cuda if cuda else None,
                         "date": datetime.date.today().isoformat()})
        self.save()


def part_stage(p: Part) -> None:
    """Figures: the data folder, each file with its size and sha256 verdict; device, driver, torch, CUDA;
    in --check also the staging copy (what ``--stage`` writes) and its size beside the 64 MiB carry limit."""
    import torch

    p.device()
    f = p.rec["figures"]
    if p.mode == "check":  # what `gpu_first.sh --stage DIR` does, then the subset the CPU parts train on
        source = os.environ.get("GPU_FIRST_SOURCE_DATA")
        if source:
            with data_env(Path(source)):
                staged = stage_data(p.work / "carry")
        else:
            os.environ.pop("GANFORGE_DATA", None)
            staged = stage_data(p.work / "carry")
        tree = tree_bytes()
        f["staged"] = {**staged, "tree_bytes": tree, "carry_limit_bytes": 64 * 2**20,
                       "fits": tree is not None and staged["bytes"] + tree <= 64 * 2**20}
        with data_env(p.work / "carry"):
            f["carried"] = verify_data(p.work / "carry")
            # the CPU parts train on 2,000 train / 500 test images (the reference statistics of all 60,000
            # take minutes on two cores) and on the staged emoji sources; GANFORGE_DATA points there
            write_fmnist_subset(p.work / "data", CHECK_SUBSET[0], CHECK_SUBSET[1])
        (p.work / "data" / "emoji").mkdir(parents=True, exist_ok=True)
        for src in (p.work / "carry" / "emoji").iterdir():
            if not (p.work / "data" / "emoji" / src.name).exists():
                os.symlink(src, p.work / "data" / "emoji" / src.name)
        f["check_data"] = {"dir": str(p.work / "data"), "fashion-mnist train": CHECK_SUBSET[0],
                           "fashion-mnist test": CHECK_SUBSET[1], "emoji": "all (the staged sources)"}
    else:
        f["carried"] = verify_data(None)
    bad = [x["file"] for x in f["carried"]["files"] if not x["sha256_ok"]]
    if bad:
        p.rec.update(status="failed", reason=f"files with another content: {', '.join(bad)}")
    elif p.mode == "check" and not f["staged"]["fits"]:
        p.rec.update(status="failed", reason="the staged data and the working tree exceed the call's 64 MiB")
    f["cpus"] = os.cpu_count()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        f["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                    "capability": f"{props.major}.{props.minor}", "count": torch.cuda.device_count()}
        try:
            f["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                         capture_output=True, check=False, text=True, timeout=20).stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            f["driver"] = None
    p.save()


def part_gpu_tests(p: Part) -> None:
    """Figures: collected / passed / failed / skipped / errors and each test's outcome (and the skip
    reason). Status: ok when none failed and some passed; skipped when all were skipped (no CUDA)."""
    junit = p.work / "gpu_tests.xml"
    files = ["tests/gpu/test_cuda_graph.py", "tests/gpu/test_cuda.py"]  # the captured step first
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", *files, "-v", "-rs", "-p", "no:cacheprovider",
           f"--junitxml={junit}"]
    p.rec["equivalent"] = "python -m pytest -m gpu " + " ".join(files) + " -v"
    limit = max(5.0, p.left())
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False, text=True, timeout=limit)
        text, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        text, rc = e.stdout or "", None
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
    print(text)
    tests = parse_junit(junit) if junit.exists() else parse_verbose(text)
    counts = {k: sum(1 for t in tests.values() if t["outcome"] == k) for k in ("passed", "failed", "skipped", "error")}
    p.rec["figures"] = {"collected": len(tests), **counts, "exit_code": rc, "tests": tests}
    if rc is None:
        p.rec.update(status="timed out", reason=f"pytest ran past the slot; {len(tests)} results read from its output")
    elif counts["failed"] or counts["error"] or rc not in (0, 5):
        p.rec.update(status="failed", reason=f"{counts['failed']} failed, {counts['error']} errors (pytest exit {rc})")
    elif tests and counts["skipped"] == len(tests):
        why = sorted({t.get("message") or "" for t in tests.values()})
        p.rec.update(status="skipped", reason=f"all {len(tests)} gpu tests skipped: {'; '.join(why)}")
    elif not tests:
        p.rec.update(status="failed", reason=f"no gpu test collected (pytest exit {rc})")
    p.save()


def parse_junit(path: Path) -> dict:
    import xml.etree.ElementTree as ET

    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, message = "passed", None
        for kind, label in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            el = case.find(kind)
            if el is not None:
                outcome, message = label, (el.get("message") or "").strip()[:300]
                break
        out[name] = {"outcome": outcome, "seconds": round(float(case.get("time") or 0), 2), "message": message}
    return out


def parse_verbose(text: str) -> dict:
    """``path::test PASSED`` lines of ``pytest -v`` (used when pytest was stopped before its report)."""
    out = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if "::" in parts[0] and len(parts) > 1 and parts[1] in ("PASSED", "FAILED", "SKIPPED", "ERROR"):
            out[parts[0]] = {"outcome": {"ERROR": "error"}.get(parts[1], parts[1].lower()), "seconds": None,
                             "message": None}
    return out


def _free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _row(preset, stands_for, mode, overrides, steps, warmup, cache, reference=None) -> dict:
    """One throughput row through benchmarks/throughput.py's ``measure`` (the function behind the
    earlier tables); a failure is recorded in the row, not raised."""
    from throughput import measure

    row = {"preset": preset, "stands_for": stands_for, "mode": mode, "overrides": list(overrides),
           "steps": steps, "warmup": warmup, "reference_img_per_s": reference}
    t0 = time.time()
    try:
        r = measure(preset, steps, warmup, list(overrides), cache)
        row.update(status="ok", batch_size=r["batch_size"], n_critic=r["n_critic"], img_per_s=round(r["img_per_s"], 1),
                   ms_per_step=round(r["ms_per_step"], 3), params=r["params"], graphed=r["graphed"],
                   peak_gpu_mem_gib=None if r["peak_gpu_mem_gib"] is None else round(r["peak_gpu_mem_gib"], 3))
        if reference:
            row["vs_reference"] = round(r["img_per_s"] / reference, 3)
    except Exception as e:  # noqa: BLE001 - one row's failure is a figure; the next row is still measured
        traceback.print_exc()
        row.update(status="failed", error=f"{type(e).__name__}: {e}".strip()[:500])
    row["seconds"] = round(time.time() - t0, 1)
    print(f"{preset} [{mode}]: " + (f"{row['img_per_s']:,.1f} img/s" if row["status"] == "ok" else row["error"]), flush=True)
    _free_memory()
    return row


def _skipped_row(preset, stands_for, mode, overrides, why) -> dict:
    return {"preset": preset, "stands_for": stands_for, "mode": mode, "overrides": list(overrides),
            "status": "skipped", "reason": why}


def part_throughput(p: Part) -> None:
    """Figures: ``rows`` (preset, stands_for, mode, status, batch_size, img_per_s, ms_per_step,
    peak_gpu_mem_gib, params, graphed, reference_img_per_s, vs_reference; error/reason when not ok),
    ``data`` (what the StyleGAN2 rows trained on) and ``profile`` (see ``profile_step``)."""
    import torch

    p.device()
    s, f = p.s, p.rec["figures"]
    rows = f["rows"] = []
    n = s["sg2_subset"]
    subset = write_fmnist_subset(p.work / "subset-throughput", n, 16)
    f["data"] = (f"StyleGAN2 rows: the first {n:,} Fashion-MNIST train images, brought to each preset's size and "
                 f"RGB by ganforge's loader (the speed does not depend on which images); DCGAN rows: all 60,000")
    if p.mode == "check":
        f["data"] = f"--check: tiny presets; StyleGAN2 rows on {n} images, DCGAN rows on the staged subset"
    sg2_steps, sg2_warm = s["sg2_steps"]
    p.rec["equivalent"] = (f"python benchmarks/throughput.py --presets {','.join(x[0] for x in s['sg2'])} --steps "
                           f"{sg2_steps} --warmup {sg2_warm} (on a {n}-image subset); python benchmarks/throughput.py "
                           f"--presets {s['dcgan'][0]} --steps {s['dcgan_steps'][0]} [--set train.cuda_graph=true]")
    cache_sub: dict = {}
    cache_full: dict = {}

    def sg2_rows(mode, extra):
        for preset, over, stands in s["sg2"]:
            if p.left() < (8 if p.mode == "check" else 25):
                rows.append(_skipped_row(preset, stands, mode, over + extra, "no time left in the part's slot"))
            else:
                with data_env(subset):
                    rows.append(_row(preset, stands, mode, over + extra, sg2_steps, sg2_warm, cache_sub,
                                     OFFICIAL_IMG_S[stands]))
            p.save()

    sg2_rows("eager", [])
    sg3_steps, sg3_warm = s["sg3_steps"]
    for preset, over, stands in s["sg3"]:
        reference = round(1000 / OFFICIAL_SG3_S_PER_KIMG[stands], 2)
        if p.left() < (8 if p.mode == "check" else 40):
            rows.append(_skipped_row(preset, stands, "eager", over, "no time left in the part's slot"))
        else:
            with data_env(subset):
                row = _row(preset, stands, "eager", over, sg3_steps, sg3_warm, cache_sub, reference)
            row["reference_note"] = (f"official {OFFICIAL_SG3_S_PER_KIMG[stands]} s/kimg on one A100 "
                                     "(StyleGAN3 docs/configs.md)")
            if row["status"] == "ok":
                row["s_per_kimg"] = round(1000 / row["img_per_s"], 2)
            rows.append(row)
        p.save()
    dc_preset, dc_over, dc_stands = s["dcgan"]
    dc_steps, dc_warm = s["dcgan_steps"]
    for mode, extra in (("eager", []), ("cuda_graph", ["train.cuda_graph=true"])):
        if p.left() < 5:
            rows.append(_skipped_row(dc_preset, dc_stands, mode, dc_over + extra, "no time left in the part's slot"))
            continue
        row = _row(dc_preset, dc_stands, mode, dc_over + extra, dc_steps, dc_warm, cache_full, DCGAN_TARGET_IMG_S)
        if mode == "cuda_graph" and row["status"] == "ok" and not row["graphed"]:
            why = ("no CUDA device: the step ran eagerly" if not torch.cuda.is_available()
                   else "the step was not captured (the reason is in the part's log)")
            row = {**row, "status": "skipped", "reason": why, "img_per_s_eager_fallback": row.pop("img_per_s")}
            row.pop("vs_reference", None)
        rows.append(row)
        p.save()
    if p.left() > (8 if p.mode == "check" else 20):
        prof_preset, prof_over, prof_steps, prof_warm = s["profile"]
        with data_env(subset):
            f["profile"] = profile_step(prof_preset, prof_over, prof_steps, prof_warm, p.out / "profile.txt")
    else:
        f["profile"] = {"status": "skipped", "reason": "no time left in the part's slot"}
    p.save()
    sg2_rows("bf16 autocast", ["train.mixed_precision=true"])
    headline = [r for r in rows if r["mode"] == "eager"]
    failed = [f"{r['preset']} [{r['mode']}]" for r in headline if r["status"] == "failed"]
    if failed or f["profile"].get("status") == "failed":
        p.rec.update(status="failed", reason="failed: " + ", ".join(failed + (["profile"] if f["profile"].get("status") == "failed" else [])))
    p.save()


def _is_launch(name: str) -> bool:
    """CUDA runtime/driver calls that launch work: cudaLaunchKernel, cuLaunchKernel(Ex), cudaLaunchKernelExC,
    cudaLaunchCooperativeKernel, cudaGraphLaunch."""
    return "LaunchKernel" in name or "LaunchCooperativeKernel" in name or name in ("cudaGraphLaunch", "cuGraphLaunch")


def profile_step(preset: str, overrides: list[str], steps: int, warmup: int, out_txt: Path) -> dict:
    """torch.profiler over ``steps`` training steps after ``warmup``: the top kernels by GPU time (on a
    CPU: the top operators by self CPU time), kernel launches per step, GPU time vs wall time per step.
    The table goes to ``out_txt``."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from ganforge.config import apply_overrides
    from ganforge.presets import get_preset
    from ganforge.training.trainer import Trainer

    res = {"preset": preset, "overrides": overrides, "steps": steps, "warmup": warmup, "file": out_txt.name}
    try:
        cfg = apply_overrides(get_preset(preset), overrides)
        with tempfile.TemporaryDirectory() as tmp:
            t = Trainer(cfg, tmp)
            cuda = t.device.type == "cuda"
            acc: dict = {}
            for _ in range(warmup):
                t.train_step(acc)
            if cuda:
                torch.cuda.synchronize(t.device)
            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
            t0 = time.perf_counter()
            with profile(activities=acts) as prof:
                for _ in range(steps):
                    t.train_step(acc)
                if cuda:
                    torch.cuda.synchronize(t.device)
            wall = time.perf_counter() - t0
        ka = prof.key_averages()

        def dev_time(e):  # microseconds
            return float(getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0) or 0)

        if cuda:
            kernels = [e for e in ka if str(getattr(e, "device_type", "")).endswith("CUDA") and dev_time(e) > 0]
            if not kernels:  # a torch that files kernels otherwise: device time and no CPU time of their own
                kernels = [e for e in ka if dev_time(e) > 0 and not e.self_cpu_time_total]
            kernels.sort(key=dev_time, reverse=True)
            total = sum(dev_time(e) for e in kernels) or 1.0
            top = [{"name": e.key[:120], "ms_per_step": round(dev_time(e) / 1000 / steps, 4),
                    "share": round(dev_time(e) / total, 4), "calls_per_step": round(e.count / steps, 2)} for e in kernels[:15]]
            res.update(kind="kernels", top=top, gpu_ms_per_step=round(total / 1000 / steps, 3),
                       kernels_per_step=round(sum(e.count for e in kernels) / steps, 1),
                       launches_per_step=round(sum(e.count for e in ka if _is_launch(e.key)) / steps, 1))
            sort = "self_device_time_total"
        else:
            ops = sorted(ka, key=lambda e: e.self_cpu_time_total, reverse=True)
            total = sum(e.self_cpu_time_total for e in ops) or 1.0
            top = [{"name": e.key[:120], "ms_per_step": round(e.self_cpu_time_total / 1000 / steps, 4),
                    "share": round(e.self_cpu_time_total / total, 4), "calls_per_step": round(e.count / steps, 2)}
                   for e in ops[:15]]
            res.update(kind="cpu operators (no CUDA device: no kernels, no launches)", top=top, gpu_ms_per_step=None,
                       kernels_per_step=None, launches_per_step=None,
                       aten_ops_per_step=round(sum(e.count for e in ka if e.key.startswith("aten::")) / steps, 1))
            sort = "self_cpu_time_total"
        res["wall_ms_per_step_profiled"] = round(1000 * wall / steps, 3)
        try:
            table = ka.table(sort_by=sort, row_limit=40)
        except Exception:  # noqa: BLE001 - older/newer names of the sort key
            table = ka.table(sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=40)
        head = [f"ganforge profile of {steps} training steps of {preset} {' '.join(overrides)} after {warmup} warm-up steps",
                f"device: {torch.cuda.get_device_name() if cuda else 'cpu'}; torch {torch.__version__}; "
                f"CUDA {torch.version.cuda if cuda else '-'}; {datetime.date.today().isoformat()}",
                f"wall time per step under the profiler: {res['wall_ms_per_step_profiled']} ms; "
                f"GPU kernel time per step: {_dash(res['gpu_ms_per_step'])} ms; kernels per step: "
                f"{_dash(res['kernels_per_step'])}; launches per step: {_dash(res['launches_per_step'])}", ""]
        out_txt.write_text("\n".join(head) + table + "\n")
        res["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - the profile's failure is a figure
        traceback.print_exc()
        res.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])
    _free_memory()
    return res


def _dash(x) -> str:
    return "-" if x is None else str(x)


class _Stopper:
    """SIGTERM to this process at ``when`` (time.time()): the trainer finishes the step, writes a
    checkpoint and returns (ganforge.signals.Interrupts). Before and after training SIGTERM raises
    KeyboardInterrupt, which the part catches."""

    def __init__(self, when: float):
        from ganforge.signals import install_sigterm

        self.fired = False
        install_sigterm()
        self.timer = threading.Timer(max(0.0, when - time.time()), self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self):
        self.fired = True
        print("gpu_first: the part's training slot has ended; stopping training at the next step", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    def cancel(self):
        self.timer.cancel()


class Run:
    """One training run of a part, stopped by its deadline: the trainer (for a snapshot where training
    stopped), its result (None when stopped outside a step), directory, seconds, and the dataset."""

    def __init__(self, preset: str, overrides: list[str], runs: Path, stop_at: float, train_s: float | None = None):
        """The run of ``preset`` + ``overrides`` (data loaded and networks built first: the clock is for
        training), stopped at ``stop_at`` or after ``train_s`` seconds, whichever comes first. The trainer is
        ganforge's (``Trainer.train``: ticks, snapshots, exports, metrics as ``ganforge train`` runs them)."""
        import ganforge
        from ganforge.config import apply_overrides
        from ganforge.data import load_dataset
        from ganforge.training.trainer import Trainer, new_run_dir

        self.cfg = apply_overrides(ganforge.get_preset(preset), ["train.progress=false", *overrides])
        self.dataset = load_dataset(self.cfg.data)
        self.dir = new_run_dir(runs, self.cfg.preset)
        self.trainer = Trainer(self.cfg, self.dir, dataset=self.dataset)
        self.result = None
        t0 = time.time()
        stopper = _Stopper(min(stop_at, t0 + train_s) if train_s is not None else stop_at)
        try:
            self.result = self.trainer.train()
        except KeyboardInterrupt:
            print("gpu_first: stopped outside a training step", flush=True)
        finally:
            stopper.cancel()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.seconds = round(time.time() - t0, 1)
        self.stopped = stopper.fired
        self.kimg = self.trainer.cur_nimg / 1000
        self.ticks = [r for r in _read_jsonl(self.dir / "stats.jsonl") if "img_per_s" in r]

    def snapshot_at_stop(self):
        """Export the (EMA) generator where training stopped, as a tick's snapshot would -> the network."""
        net = self.trainer.snapshot_generator()
        self.trainer.export(net)
        return net


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def _keep_run(run: Path | None, dest: Path) -> list[str]:
    """Copy what comes back of a run (config, stats, metrics, sample grids, exported generators) into
    the part's artifacts; checkpoints stay behind."""
    kept = []
    if run is None:
        return kept
    dest.mkdir(parents=True, exist_ok=True)
    for pattern in ("config.json", "stats.jsonl", "metrics.jsonl", "samples/*.png", "exports/*"):
        for src in sorted(run.glob(pattern)):
            rel = src.relative_to(run)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / rel)
            kept.append(str(rel))
    return kept


def _median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def part_quality(p: Part) -> None:
    """Figures: preset, target_kimg, kimg_reached, reached (bool), snapshots [{kimg, official_kimg,
    metric, value, official_fid10k, seconds}], img_per_s_median, s_per_kimg, train_seconds, metric_seconds,
    why (when the target was not reached), exports [{file, bytes}]."""
    p.device()
    s, f = p.s, p.rec["figures"]
    preset, over = s["quality"]
    metric = s["quality_metric"]
    target = float(next(o.split("=")[1] for o in over if o.startswith("train.total_kimg=")))
    p.rec["equivalent"] = f"ganforge train --preset {preset} " + " ".join(f"--set {o}" for o in over)
    f.update(preset=preset, overrides=over, metric=metric, target_kimg=target, official_target_kimg=160,
             official="shared/anchors/stylegan2-official/QUALITY.md (official StyleGAN2, one H100, 2026-11-22)")
    p.save()
    stop_at = p.deadline - s["quality_margin_s"]
    run = Run(preset, over, p.work / "runs" / "quality", stop_at)
    rows, reached, seconds = run.ticks, run.kimg, run.seconds
    recs = _read_jsonl(run.dir / "metrics.jsonl")
    if run.stopped and reached > (recs[-1]["kimg"] if recs else 0) and run.ticks and p.left() > s["quality_margin_s"] / 2:
        # stopped between snapshots: one more, where it stopped (the kimg reached gets its number too)
        try:
            run.trainer._metrics(run.snapshot_at_stop())  # appends to metrics.jsonl as at a tick
            recs = _read_jsonl(run.dir / "metrics.jsonl")
        except Exception:  # noqa: BLE001 - the snapshots measured so far stand
            traceback.print_exc()
    snaps = []
    for r in recs:
        kimg = round(float(r["kimg"]), 3)
        official_kimg = s["quality_kimg"].get(kimg) or s["quality_kimg"].get(round(kimg))
        snaps.append({"kimg": kimg, "official_kimg": official_kimg, "metric": r["metric"], "value": r["value"],
                      "official_fid10k": OFFICIAL_FID10K.get(official_kimg), "seconds": r.get("wall_time_s"),
                      "extractor": r.get("extractor"), "num_gen": r.get("num_gen"), "num_real": r.get("num_real")})
    metric_s = round(sum(x["seconds"] or 0 for x in snaps), 1)
    ips = _median([r.get("img_per_s") for r in rows])
    f.update(kimg_reached=round(reached, 3), reached=reached >= target - 1e-9, snapshots=snaps,
             img_per_s_median=ips, s_per_kimg=round(1000 / ips, 3) if ips else None,
             official_s_per_kimg=list(OFFICIAL_S_PER_KIMG), train_seconds=seconds, metric_seconds=metric_s,
             stopped_by_deadline=run.stopped, ticks=len(rows), bad_steps=rows[-1].get("bad_steps") if rows else None)
    if not f["reached"]:
        if ips:
            per_metric = metric_s / len(snaps) if snaps else 0.0
            interval = float(next(o.split("=")[1] for o in over if o.startswith("metrics.interval_kimg=")))
            n_snaps = round(target / interval)
            need = target * 1000 / ips + per_metric * n_snaps
            speed = (f"{ips:,.0f} img/s = {f['s_per_kimg']} s/kimg, the official run "
                     f"{OFFICIAL_S_PER_KIMG[0]}-{OFFICIAL_S_PER_KIMG[1]} s/kimg; {target:g} kimg and "
                     f"{n_snaps} metric snapshots would need about {need:.0f} s")
        else:
            speed = "no tick finished, so no speed was measured"
        f["why"] = (f"the part's slot ended: training stopped at {reached:g} of {target:g} kimg after {seconds:g} s "
                    f"({metric_s:g} s of metrics in all; {speed})")
        if not rows:
            p.rec.update(status="failed", reason="training stopped before its first tick (see the log)")
    kept = _keep_run(run.dir, p.artifacts / "run")
    f["exports"] = [{"file": k, "bytes": (p.artifacts / "run" / k).stat().st_size} for k in kept if k.startswith("exports/")]
    if not snaps and p.rec["status"] == "ok":
        p.rec.update(status="failed", reason=f"no {metric} snapshot was measured")
    p.save()


def _extras_rows(p: Part, spec: list, rows: list, cache: dict) -> None:
    steps, warm = p.s["extras_steps"]
    for preset, over, stands in spec:
        names = [preset]
        for name in names:
            if p.left() < p.s["extras_row_s"]:
                rows.append(_skipped_row(name, stands, "eager", over, "no time left in the part's slot"))
            else:
                rows.append(_row(name, stands, "eager", over, steps, warm, cache))
            p.save()


def part_extras(p: Part) -> None:
    """Figures: ``rows`` as in the throughput part (the families the issue names first, then, after the
    emoji run, the emoji presets; a row that would not fit the slot is skipped with the reason),
    ``explore``: the studio's ms per new seed of a 256 px StyleGAN2 (``_explore``), and
    ``emoji``: preset, status, kimg_reached, train_seconds, stopped_by_deadline, img_per_s_median, metric,
    value (its pyramid levels in value_detail), num_gen, num_real, at_kimg, why."""
    p.device()
    s, f = p.s, p.rec["figures"]
    rows = f["rows"] = []
    steps, warm = s["extras_steps"]
    cache: dict = {}
    p.rec["equivalent"] = (f"python benchmarks/throughput.py --presets <each row> --steps {steps} --warmup {warm}; "
                           f"ganforge train --preset {s['emoji'][0]} (stopped by the slot), then its {s['emoji_metric'][0]}")
    _extras_rows(p, s["extras"], rows, cache)
    cache.clear()
    _free_memory()
    f["explore"] = _explore(p)
    p.save()
    f["emoji"] = _emoji_run(p)
    p.save()
    _extras_rows(p, s["extras_more"], rows, cache)
    failed = [f"{r['preset']}" for r in rows if r["status"] == "failed"]
    if f["emoji"].get("status") == "failed":
        failed.append("emoji run")
    if f["explore"].get("status") == "failed":
        failed.append("studio explore")
    if failed:
        p.rec.update(status="failed", reason="failed: " + ", ".join(failed))
    p.save()


def _explore(p: Part) -> dict:
    """The studio's Explore on this device (issue 22): ms per new seed of ``Explorer.image`` (the PNG of
    ``ganforge generate``) for a one-step model of the preset, as ``benchmarks/studio.py --direct``
    measures it (no HTTP: the device machine has no web packages; HTTP adds 1-2 ms on a CPU)."""
    import torch

    import studio as studio_bench  # benchmarks/studio.py

    preset, over = p.s["explore"]
    e: dict = {"preset": preset, "overrides": over, "target_ms": 100}
    if p.left() < p.s["explore_min_s"]:
        e.update(status="skipped", reason=f"{p.left():.0f} s left in the slot")
        return e
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            overrides = dict(x.split("=", 1) for x in over)
            rel = studio_bench.train_one_step(Path(tmp), preset, device, overrides)
            e.update(studio_bench.explore_latency(Path(tmp), rel, device, p.s["explore_seeds"], direct=True))
        e["status"] = "ok"
    except Exception as ex:  # noqa: BLE001 - a figure that failed says why
        traceback.print_exc()
        e.update(status="failed", error=f"{type(ex).__name__}: {ex}"[:500])
    _free_memory()
    return e


def _emoji_run(p: Part) -> dict:
    """The short emoji run: what the slot has left (at most emoji_max_train_s of training), then the metric
    of the last exported snapshot."""
    s = p.s
    preset, over = s["emoji"]
    e = {"preset": preset, "overrides": over}
    train_s = p.left() - s["emoji_eval_s"]
    if s["emoji_max_train_s"]:
        train_s = min(train_s, s["emoji_max_train_s"])
    if train_s < s["emoji_min_train_s"]:
        e.update(status="skipped", reason=f"{p.left():.0f} s left in the slot, fewer than the run needs")
        return e
    run = Run(preset, over, p.work / "runs" / "emoji", p.deadline - s["emoji_eval_s"], train_s)
    e.update(kimg_reached=round(run.kimg, 3), train_seconds=run.seconds, stopped_by_deadline=run.stopped,
             ticks=len(run.ticks), img_per_s_median=_median([r.get("img_per_s") for r in run.ticks]),
             why="A short run, stopped by its time slot (the preset trains 2,000 kimg). No Inception FID: its weights "
                 "(87 MB) do not fit one call's 64 MiB carry, so the score is SWD, which needs no weights.")
    name, num_real = s["emoji_metric"]
    try:
        from ganforge.metrics import compute

        net = run.snapshot_at_stop()  # the generator where training stopped, exported like a tick's
        rec = compute(name, net, run.dataset, device=str(run.trainer.device), num_real=num_real,
                      seed=run.cfg.train.seed)[0]
        value = rec.value.get("avg") if isinstance(rec.value, dict) else rec.value
        e.update(status="ok", metric=name, value=value, value_detail=rec.value, num_gen=rec.num_gen,
                 num_real=rec.num_real, metric_seconds=rec.wall_time_s, at_kimg=round(run.kimg, 3))
    except Exception as ex:  # noqa: BLE001 - the emoji run's failure is a figure
        traceback.print_exc()
        e.update(status="failed", metric=name, error=f"{type(ex).__name__}: {ex}"[:500])
    _keep_run(run.dir, p.artifacts / "emoji-run")
    return e


PART_FUNCS = {"stage": part_stage, "gpu_tests": part_gpu_tests, "throughput": part_throughput,
              "quality": part_quality, "extras": part_extras}


def run_part_process(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gpu_first.py part")
    ap.add_argument("name", choices=list(PART_FUNCS))
    ap.add_argument("--mode", choices=("gpu", "check"), required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--deadline", type=float, required=True)
    a = ap.parse_args(argv)
    p = Part(a.name, a.mode, Path(a.work), Path(a.out), a.deadline)
    p.save()
    print(f"gpu_first: part {a.name} ({a.mode}), {p.left():.0f} s to its deadline", flush=True)
    try:
        PART_FUNCS[a.name](p)
    except KeyboardInterrupt:
        p.rec.update(status="timed out", reason="stopped by the part's time limit")
    except BaseException as e:  # noqa: BLE001 - recorded, then the orchestrator goes on
        traceback.print_exc()
        p.rec.update(status="failed", reason=f"{type(e).__name__}: {e}".strip()[:800])
    p.save()
    print(f"gpu_first: part {a.name}: {p.rec['status']}" + (f" ({p.rec['reason']})" if p.rec["reason"] else ""), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# The orchestrator: no torch here, only processes, clocks and files


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 8), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, n: int = 30) -> list[str]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line[-300:] for line in lines[-n:]]


def orchestrate(out: Path, mode: str, work: Path, budget: float) -> dict:
    t_start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env["XDG_CACHE_HOME"] = str(work / "cache")  # metric reference caches: fresh, and not in the user's
    env["MPLBACKEND"] = "Agg"
    if mode == "check":
        env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU check never uses a GPU, even where one exists
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"  # tiny nets; spinning threads on a shared CPU cost minutes
        if env.get("GANFORGE_DATA"):  # where the stage part finds what it stages
            env["GPU_FIRST_SOURCE_DATA"] = env["GANFORGE_DATA"]
        env["GANFORGE_DATA"] = str(work / "data")
    results = {"schema": SCHEMA, "mode": mode, "started": now_iso(), "finished": None, "total_s": None,
               "budget_s": budget, "git": git_info(),
               "host": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
               "device": {}, "out": str(out), "work": str(work),
               "plan": [{"name": n, "limit_s": g if mode == "gpu" else c, "title": t} for n, g, c, t in PARTS],
               "parts": [], "archive": None}
    surplus = 0.0
    stopping = False
    for name, gpu_limit, check_limit, title in PARTS:
        planned = gpu_limit if mode == "gpu" else check_limit
        left = budget - PACK_S - (time.monotonic() - t_start)
        limit = left if name == REST_TAKER else planned + (surplus if name == SURPLUS_TAKER else 0.0)
        limit = min(limit, left)
        if name == SURPLUS_TAKER:
            surplus = 0.0
        log = work / "logs" / f"{name}.log"
        cmd = [sys.executable, str(Path(__file__).resolve()), "part", name, "--mode", mode, "--work", str(work),
               "--out", str(out)]
        rec = {"name": name, "title": title, "status": None, "reason": None, "seconds": 0.0, "limit_s": round(limit, 1),
               "exit_code": None, "device": None, "torch": None, "cuda": None, "date": datetime.date.today().isoformat(),
               "command": " ".join(shlex.quote(c) for c in cmd), "equivalent": None,
               "figures": {}, "log_tail": []}
        if limit < 5 or stopping:
            rec.update(status="skipped", reason="the call was stopped from outside" if stopping
                       else f"no time left of the {budget:g} s budget")
            results["parts"].append(rec)
            _finish(results, out, work, t_start)
            continue
        print(f"== {name} (limit {limit:.0f} s): {title}", flush=True)
        t0 = time.monotonic()
        deadline = time.time() + limit - 3  # the part's own clock: it stops its rows / training before the kill
        with open(log, "w") as logf:
            proc = subprocess.Popen(cmd + ["--deadline", f"{deadline:.3f}"], cwd=ROOT, env=env, stdout=logf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            timed_out = False
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
            except KeyboardInterrupt:  # the whole call is being stopped: record, pack, leave
                _kill_group(proc)
                rec.update(status="timed out", reason="the call was stopped from outside")
                timed_out = stopping = True
        rec["seconds"] = round(time.monotonic() - t0, 1)
        rec["exit_code"] = proc.returncode
        part = {}
        pj = work / "parts" / f"{name}.json"
        if pj.exists():
            try:
                part = json.loads(pj.read_text())
            except json.JSONDecodeError:
                part = {}
        for k in ("status", "reason", "figures", "equivalent", "device", "torch", "cuda", "date"):
            if part.get(k) is not None and not (k == "status" and rec["status"]):
                rec[k] = part[k]
        if timed_out and rec["status"] != "timed out":
            rec.update(status="timed out", reason=f"killed at its limit of {limit:.0f} s"
                       + (f" (it had reported: {rec['status']}{': ' + rec['reason'] if rec['reason'] else ''})" if rec["status"] else ""))
        elif rec["status"] is None or (proc.returncode not in (0, None) and rec["status"] == "ok"):
            tail = _tail(log, 3)
            rec.update(status="failed", reason=f"the part's process exited with {proc.returncode}: " + " | ".join(tail))
        if name == "stage" and rec["device"]:
            results["device"] = {"name": rec["device"], "torch": rec["torch"], "cuda": rec["cuda"],
                                 "driver": rec["figures"].get("driver"), "date": rec["date"]}
        for k in ("device", "torch", "cuda"):  # parts without torch (gpu_tests) carry the stage's
            if rec[k] is None and results["device"].get({"device": "name"}.get(k, k)):
                rec[k] = results["device"][{"device": "name"}.get(k, k)]
        rec["log_tail"] = _tail(log)
        results["parts"].append(rec)
        if name != SURPLUS_TAKER and name != REST_TAKER:
            surplus += max(0.0, planned - rec["seconds"])
        print(f"== {name}: {rec['status']} after {rec['seconds']:.1f} s"
              + (f" ({rec['reason']})" if rec["reason"] else ""), flush=True)
        _finish(results, out, work, t_start)
    results["finished"] = now_iso()
    _finish(results, out, work, t_start, final=True)
    return results


def _finish(results: dict, out: Path, work: Path, t_start: float, final: bool = False) -> None:
    """results.json, summary.md and artifacts.tgz, rewritten after every part (a call stopped from
    outside still returns what was done)."""
    results["total_s"] = round(time.monotonic() - t_start, 1)
    results["archive"] = build_archive(work, out)
    write_json(out / "results.json", results)
    from results_to_docs import summary_md

    (out / "summary.md").write_text(summary_md(results))


def build_archive(work: Path, out: Path) -> dict:
    """artifacts.tgz: logs and small text first, then sample grids, then exported generators, each kept
    while the archive stays under ARCHIVE_CAP; what does not fit is listed with its size and sha256."""
    files = [p for p in sorted((work / "logs").glob("*.log"))]
    art = work / "artifacts"
    if art.exists():
        allf = [p for p in sorted(art.rglob("*")) if p.is_file()]
        rank = lambda p: (0 if p.suffix in (".json", ".jsonl", ".txt") else 1 if p.suffix == ".png" else 2)
        files += sorted(allf, key=lambda p: (rank(p), str(p)))
    included, left_out, total = [], [], 0
    tmp = work / "artifacts.tgz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for p in files:
            size = p.stat().st_size
            rel = str(p.relative_to(work))
            if total + size > ARCHIVE_CAP:
                left_out.append({"path": rel, "bytes": size, "sha256": sha256(p),
                                 "why": f"would take the archive past {ARCHIVE_CAP // 2**20} MiB (the device tool returns files of at most 16 MiB)"})
                continue
            tar.add(p, arcname=rel)
            included.append(rel)
            total += size
    shutil.move(str(tmp), str(out / "artifacts.tgz"))
    return {"file": "artifacts.tgz", "bytes": (out / "artifacts.tgz").stat().st_size, "included": included,
            "left_out": left_out}


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["part"]:
        return run_part_process(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 prog="benchmarks/gpu_first.sh")
    ap.add_argument("out", nargs="?", help="output folder (results.json, summary.md, profile.txt, artifacts.tgz)")
    ap.add_argument("--check", action="store_true", help="run every part on the CPU with tiny presets and counts")
    ap.add_argument("--stage", nargs="?", const=str(ROOT / ".carry" / "gpu"), metavar="DIR",
                    help="copy the data the GPU call needs into DIR (default .carry/gpu) and say what to carry")
    ap.add_argument("--work", help="scratch folder (default: a new temporary folder)")
    ap.add_argument("--keep-work", action="store_true", help="keep the scratch folder (runs, checkpoints)")
    ap.add_argument("--budget", type=float, default=BUDGET_S, help=f"seconds for the whole call (default {BUDGET_S})")
    a = ap.parse_args(argv)
    if a.stage is not None:
        dest = Path(a.stage).resolve()
        info = stage_data(dest)
        tree = tree_bytes() or 0
        for f in info["files"]:
            print(f"{f['file']:45s} {f['bytes'] / 2**20:7.2f} MiB  (from {f['from']})")
        total = info["bytes"] + tree
        print(f"staged {info['bytes'] / 2**20:.1f} MiB in {dest}; with the working tree ({tree / 2**20:.1f} MiB) "
              f"{total / 2**20:.1f} MiB of the device call's 64 MiB")
        try:
            rel = dest.relative_to(ROOT)
        except ValueError:
            rel = None
        if rel is None:
            print("note: the device tool carries only git-ignored folders inside the repository; stage into .carry/gpu")
        else:
            print(f"""device call: run(command='bash benchmarks/gpu_first.sh "$OUT"', carry=["{rel}"], timeout_s=600)""")
        return 0 if total <= 64 * 2**20 else 1
    if not a.out:
        ap.error("OUT is required (or --stage)")
    mode = "check" if a.check else "gpu"
    out = Path(a.out).resolve()
    work = Path(a.work).resolve() if a.work else Path(tempfile.mkdtemp(prefix="gpu_first-"))
    if mode == "gpu" and not os.environ.get("GANFORGE_DATA") and (ROOT / ".carry" / "gpu").is_dir():
        os.environ["GANFORGE_DATA"] = str(ROOT / ".carry" / "gpu")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        results = orchestrate(out, mode, work, a.budget)
    finally:
        if not a.keep_work and not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print((out / "summary.md").read_text())
    bad = [p["name"] for p in results["parts"] if p["status"] not in ("ok", "skipped")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
