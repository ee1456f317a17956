"""Names of what a run directory records per tick.

Names. Sample grids and snapshot exports are named by the exact number of images shown to G when
they were written: the whole kimg as six digits, followed by ``.NNN`` (the remaining images, always
three digits) only when the count is not a whole kimg::

    140 000 images  ->  samples/fakes000140.png      exports/generator-000140kimg.safetensors
        512 images  ->  samples/fakes000000.512.png  exports/generator-000000.512kimg.safetensors

So whole-kimg names are unchanged, ``000000.512`` reads as 0.512 kimg, and no two ticks share a
name. Plain string order is not training order (``fakes000001.200.png`` sorts before
``fakes000001.png``), so anything that lists these files orders them with ``nimg_of``.
"""

from __future__ import annotations

import re
from pathlib import Path

SAMPLES_DIR = "samples"
EXPORTS_DIR = "exports"

_COUNT = r"(\d{6,})(?:\.(\d{3}))?"
SAMPLE_RE = re.compile(rf"^fakes{_COUNT}\.png$")
EXPORT_RE = re.compile(rf"^generator-{_COUNT}kimg\.(?:safetensors|json)$")
_CKPT_RE = re.compile(r"^state-(\d{9})\.pt$")  # as checkpoint.CKPT_RE, without importing torch


def count_tag(nimg: int) -> str:
    """``140000 -> '000140'``, ``512 -> '000000.512'``, ``140512 -> '000140.512'``."""
    if nimg < 0:
        raise ValueError(f"image count must be >= 0, got {nimg}")
    kimg, rest = divmod(int(nimg), 1000)
    return f"{kimg:06d}" + (f".{rest:03d}" if rest else "")


def sample_name(nimg: int) -> str:
    return f"fakes{count_tag(nimg)}.png"


def export_stem(nimg: int) -> str:
    return f"generator-{count_tag(nimg)}kimg"


def nimg_of(name: str) -> int | None:
    """The image count in a sample grid, export or checkpoint file name; None for other names."""
    m = _CKPT_RE.match(name)
    if m:
        return int(m.group(1))
    m = SAMPLE_RE.match(name) or EXPORT_RE.match(name)
    if not m:
        return None
    return int(m.group(1)) * 1000 + int(m.group(2) or 0)


def _listed(folder: Path, pattern: re.Pattern) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and pattern.match(p.name)]
    return sorted(found, key=lambda p: (nimg_of(p.name), p.name))


def sample_grids(run_dir: Path) -> list[Path]:
    """``samples/fakes*.png`` of a run in training order (by image count, not by string)."""
    return _listed(Path(run_dir) / SAMPLES_DIR, SAMPLE_RE)


def export_files(run_dir: Path) -> list[Path]:
    """``exports/generator-*kimg.*`` of a run in training order."""
    return _listed(Path(run_dir) / EXPORTS_DIR, EXPORT_RE)
