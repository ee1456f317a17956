"""What a run directory records per tick, and how a resume keeps that record consistent.

Names. Sample grids and snapshot exports are named by the exact number of images shown to G when
they were written: the whole kimg as six digits, followed by ``.NNN`` (the remaining images, always
three digits) only when the count is not a whole kimg::

    140 000 images  ->  samples/fakes000140.png      exports/generator-000140kimg.safetensors
        512 images  ->  samples/fakes000000.512.png  exports/generator-000000.512kimg.safetensors

So whole-kimg names are unchanged, ``000000.512`` reads as 0.512 kimg, and no two ticks share a
name. Plain string order is not training order (``fakes000001.200.png`` sorts before
``fakes000001.png``), so anything that lists these files orders them with ``nimg_of``.

Resume. A checkpoint can be older than the last tick the run recorded: the process was killed
between snapshots, the newest checkpoint was damaged so the previous one was loaded, or an older
checkpoint file was chosen on purpose. The re-run then repeats those ticks. Before it writes
anything, ``supersede_after`` moves what the abandoned stretch left behind into ``superseded/``:

- the rows of ``stats.jsonl`` and ``metrics.jsonl`` (warnings included) past the resume point,
  appended to files of the same names there, each tagged with ``superseded_at_kimg``; a line that a
  kill cut short goes there too, as ``unparsed_line``;
- the sample grids, exports and checkpoints named for an image count past it, under their own
  names, with ``~N`` added before the extension if that name is taken there. Checkpoints go too
  because a newer one of the abandoned stretch would otherwise outrank the resumed run's own, both
  for ``--resume auto`` and when old checkpoints are pruned.

The live files are rewritten atomically; the side files are written and synced first, so a crash in
between can duplicate rows in ``superseded/`` but never lose them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

SAMPLES_DIR = "samples"
EXPORTS_DIR = "exports"
SUPERSEDED_DIR = "superseded"
ROW_FILES = ("stats.jsonl", "metrics.jsonl")

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


def row_nimg(row: dict) -> int | None:
    """The image count a jsonl row was written at (rows carry ``kimg`` with 3 exact decimals)."""
    kimg = row.get("kimg")
    if isinstance(kimg, bool) or not isinstance(kimg, (int, float)):
        return None
    return int(round(kimg * 1000))


@dataclass
class Superseded:
    """What ``supersede_after`` moved, per kind."""

    rows: dict[str, int]
    files: dict[str, int]

    def __bool__(self) -> bool:
        return any(self.rows.values()) or any(self.files.values())

    def describe(self) -> str:
        parts = [f"{n} row{'s' * (n != 1)} of {name}" for name, n in self.rows.items() if n]
        parts += [f"{n} {kind}{'s' * (n != 1)}" for kind, n in self.files.items() if n]
        return ", ".join(parts)


def supersede_after(run_dir: Path, nimg: int) -> Superseded:
    """Move everything the run recorded for image counts past ``nimg`` into ``superseded/``.

    Call it once, on the process that writes the run directory, before training continues from a
    checkpoint at ``nimg``. Returns the counts moved (all zero when the checkpoint is the newest
    record, the usual case).
    """
    run_dir = Path(run_dir)
    side = run_dir / SUPERSEDED_DIR
    tag = {"superseded_at_kimg": round(nimg / 1000, 3)}
    rows = {name: _supersede_rows(run_dir / name, side / name, nimg, tag) for name in ROW_FILES}

    def late(paths: list[Path]) -> list[Path]:
        return [p for p in paths if nimg_of(p.name) > nimg]

    groups = {
        "sample grid": [[p] for p in late(sample_grids(run_dir))],
        "export": _by_stem(late(export_files(run_dir))),
        "checkpoint": [[p] for p in late(_listed(run_dir / "checkpoints", _CKPT_RE))],
    }
    files = {}
    for kind, items in groups.items():
        for group in items:
            _move_group(group, side)
        files[kind] = len(items)
    return Superseded(rows, files)


def _supersede_rows(live: Path, side: Path, nimg: int, tag: dict) -> int:
    if not live.exists():
        return 0
    text = live.read_text()
    keep: list[str] = []
    moved: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a row cut short by a kill: readers could not parse the file
            moved.append(json.dumps({"unparsed_line": line, **tag}))
            continue
        at = row_nimg(row) if isinstance(row, dict) else None
        if at is not None and at > nimg:
            moved.append(json.dumps({**row, **tag}))
        else:
            keep.append(line)
    if not moved and (not text or text.endswith("\n")):
        return 0
    from ganforge.outputs import append_text, write_text

    if moved:
        side.parent.mkdir(parents=True, exist_ok=True)
        append_text(side, "".join(m + "\n" for m in moved))  # first the copy, synced ...
    # ... then the live file, atomically (with a final newline, so the next row starts a line).
    write_text(live, "".join(k + "\n" for k in keep))
    return len(moved)


def _by_stem(paths: list[Path]) -> list[list[Path]]:
    """Exports come in pairs (weights and JSON) that must keep one shared stem when moved."""
    groups: dict[str, list[Path]] = {}
    for p in paths:
        groups.setdefault(p.name[: -len(p.suffix)], []).append(p)
    return list(groups.values())


def _move_group(paths: list[Path], dest: Path) -> None:
    """Move files sharing a stem into ``dest`` under their names, or all with the same ``~N``."""
    dest.mkdir(parents=True, exist_ok=True)

    def target(p: Path, n: int) -> Path:
        return dest / (p.name if n == 0 else f"{p.name[: -len(p.suffix)]}~{n}{p.suffix}")

    n = 0
    while any(target(p, n).exists() for p in paths):
        n += 1
    for p in paths:
        os.replace(p, target(p, n))
