"""Reading the runs folder for the studio: which runs there are, where each stands, and what it recorded.

Everything here is a plain synchronous function over ``RUNS_DIR``; the app calls them from its routes and
turns a ``StudioError`` into its HTTP status. Nothing is written and no weights are loaded: a model is
described from its JSON metadata alone.

Runs. A run is a folder directly in ``RUNS_DIR`` holding ``config.json`` or ``stats.jsonl``; a folder
that holds neither is looked into once more (``RUNS_DIR/group/00001-x``), never deeper, and a run's own
sub-folders (``superseded/`` holds a ``stats.jsonl`` too) are never runs. At most ``MAX_RUNS`` are listed,
newest first by name (the ``00003-`` prefix training gives them). A folder reached through a symbolic
link that leaves ``RUNS_DIR`` is neither listed nor read, nor is any file inside a run that does.

The files are untrusted. Training appends ``stats.jsonl`` while the studio reads it, so its last line can
be half-written; anyone can put a 10 GB line, a list nested ten thousand deep or ``"kimg": "many"`` into
a file. So every read is bounded (``MAX_JSON_BYTES`` for a JSON file, the last ``MAX_ROWS_BYTES`` and
``MAX_ROWS`` rows of a ``.jsonl``, ``MAX_LINE_BYTES`` per line, ``MAX_JSON_DEPTH`` of nesting), a line or
file that does not parse, is too big or too deep is skipped, non-finite numbers become ``None``, every
value is type-checked before use, and a file that vanishes between listing and reading (a sample grid
replaced by an atomic rename) is simply absent. None of these functions raises on a file's content;
only a request for a run that is not there (404) or lies outside ``RUNS_DIR`` (403) is refused.

State. ``run_state`` tells running, finished, stopped and failed apart from ``status.json`` (written by
training at its start and end), the process id it names (asked only on the host that wrote it) and
whether ``stats.jsonl`` still grows; see its docstring for the rules.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import socket
import stat
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ganforge.studio.errors import StudioError, not_found
from ganforge.studio.paths import check_relative, inside, safe_path
from ganforge.training import bookkeeping as bk
from ganforge.training.checkpoint import CKPT_DIR, CKPT_RE, EXPORT_JSON, EXPORT_WEIGHTS
from ganforge.training.runlock import LOCK_NAME

# Reading bounds. A JSON file (config.json, status.json, model.json, run.lock) is read whole or not at all.
MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 32
# A .jsonl file: its last MAX_ROWS_BYTES, at most MAX_ROWS rows of it (the newest), lines of at most
# MAX_LINE_BYTES. 200,000 ticks is far more than any run records (a tick is seconds to minutes).
MAX_ROWS_BYTES = 64 << 20
MAX_ROWS = 200_000
MAX_LINE_BYTES = 1 << 20
# The runs listing reads only the end of each run's files (the newest tick, the newest metric values),
# and remembers what it found per file version (``_DIGESTS``), so a refresh of many runs stays cheap.
SUMMARY_TAIL_BYTES = 256 << 10
SUMMARY_HEAD_BYTES = 16 << 10
# Listing bounds: runs, models, entries looked at per folder and in one walk of RUNS_DIR, files listed
# per run folder (grids, exports, checkpoints), columns of the stats table.
MAX_RUNS = 2000
MAX_MODELS = 500
MAX_FOLDER_ENTRIES = 20_000
MAX_WALK_ENTRIES = 100_000
MAX_FILES_LISTED = 10_000
MAX_COLUMNS = 256
MAX_DIFF_KEYS = 1000
# A string from a file shown as a name (a metric, a recipe) is at most this long.
MAX_NAME_CHARS = 200

STATUS_NAME = "status.json"
STATES = ("running", "finished", "stopped", "failed")
ENDED_STATES = ("finished", "stopped", "failed")
# A run without a live process counts as running while stats.jsonl changed within max(RECENT_MIN_S,
# 3 ticks); the window never exceeds RECENT_MAX_S, whatever a row claims a tick takes.
RECENT_MIN_S = 120.0
RECENT_MAX_S = 24 * 3600.0
# Stats row keys that are losses (shown as "latest" in a run's summary): "G/adv", "D/r1", ...
LOSS_PREFIXES = ("G/", "D/")


# ---------------------------------------------------------------------------------------------
# Bounded reading.


@dataclass
class _Blob:
    data: bytes
    mtime: float
    cut: bool  # data is the file's tail, not all of it


def _read(root: Path, path: Path, limit: int, part: str = "whole") -> _Blob | None:
    """The bytes of the regular file ``path`` inside ``root``: all of them (``part="whole"``: None when
    the file is larger than ``limit``), or its first or last ``limit`` (``"head"``, ``"tail"``). None when
    the file is missing, vanished, unreadable, not a regular file (a pipe would block the read) or reached
    through a link leaving ``root``."""
    if not inside(root, path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # missing, vanished since it was listed, no permission, a loop of links
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            cut = st.st_size > limit
            if cut and part == "whole":
                return None
            if cut and part == "tail":
                f.seek(st.st_size - limit)
            data = f.read(limit)
            return _Blob(data, st.st_mtime, cut)
    except OSError:
        return None


# What _loads returns for a value that is not to be used (None is a valid JSON value).
_BAD = object()


def _finite_or_none(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _loads(data: bytes | str) -> Any:
    """Parsed JSON with NaN, Infinity and 1e999 as None, or ``_BAD`` (not JSON, not UTF-8, an integer of
    thousands of digits, nested deeper than ``MAX_JSON_DEPTH``)."""
    try:
        value = json.loads(data, parse_constant=lambda _: None, parse_float=_finite_or_none)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _BAD
    return value if _depth_ok(value) else _BAD


def _depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when no list or dict in ``value`` is nested more than ``limit`` deep (iteratively: a hostile
    file cannot exhaust the stack here)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if depth > limit:
            return False
        stack.extend((c, depth + 1) for c in children)
    return True


def _read_json(root: Path, path: Path) -> Any:
    """The JSON value of a small file, or None (missing, over ``MAX_JSON_BYTES``, bad, too deep)."""
    blob = _read(root, path, MAX_JSON_BYTES)
    if blob is None:
        return None
    value = _loads(blob.data)
    return None if value is _BAD else value


def _read_dict(root: Path, path: Path) -> dict:
    value = _read_json(root, path)
    return value if isinstance(value, dict) else {}


@dataclass
class _Rows:
    rows: list[dict] = field(default_factory=list)
    skipped: int = 0  # lines that did not parse, were too long or too deep, or were not objects
    cut: bool = False  # the file was longer than what was read, or held more than the rows kept
    mtime: float | None = None


def _read_rows(root: Path, path: Path, limit: int | None = None) -> _Rows:
    """The JSON object rows of a ``.jsonl`` file: of its last ``limit`` bytes (``MAX_ROWS_BYTES``), the
    newest ``MAX_ROWS``."""
    limit, max_rows = limit or MAX_ROWS_BYTES, MAX_ROWS
    blob = _read(root, path, limit, "tail")
    if blob is None:
        return _Rows()
    lines = blob.data.split(b"\n")
    if blob.cut:
        lines = lines[1:]  # the end of a line that began before the part read
    # The last piece is "" when the file ends with a newline; otherwise a line training is still writing,
    # kept only if it already parses.
    rows: deque = deque(maxlen=max_rows)  # the newest max_rows
    parsed = skipped = 0
    for line in lines:
        if not line.strip():
            continue
        row = _loads(line) if len(line) <= MAX_LINE_BYTES else _BAD
        if isinstance(row, dict):
            rows.append(row)
            parsed += 1
        else:
            skipped += 1
    return _Rows(list(rows), skipped, blob.cut or parsed > max_rows, blob.mtime)


def _head_rows(root: Path, path: Path) -> list[dict]:
    """The object rows among the first ``SUMMARY_HEAD_BYTES`` of a ``.jsonl`` (complete lines only)."""
    blob = _read(root, path, SUMMARY_HEAD_BYTES, "head")
    if blob is None:
        return []
    rows = [_loads(line) for line in blob.data.split(b"\n")[:-1] if line.strip()]
    return [r for r in rows if isinstance(r, dict)]


def _version(root: Path, path: Path) -> tuple[tuple | None, float | None]:
    """(an identity of this version of the file: device, inode, size, mtime; its mtime), or (None, None)."""
    if not inside(root, path):
        return None, None
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), st.st_mtime


# ---------------------------------------------------------------------------------------------
# Values from the files, type-checked.


def _number(v: Any) -> float | None:
    """A finite int or float (not a bool), else None: ``"2.0"`` from a hand-edited file is no number."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int of 400 digits
        return None
    return f if math.isfinite(f) else None


def _count(v: Any) -> int | None:
    """A non-negative int (not a bool), else None."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _name(v: Any) -> str | None:
    """A short string, else None."""
    return v if isinstance(v, str) and 0 < len(v) <= MAX_NAME_CHARS else None


def _cell(v: Any) -> Any:
    """A stats table cell: a finite number, a bool, a string (cut to ``MAX_NAME_CHARS``), else None."""
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v if _number(v) is not None else None
    if isinstance(v, str):
        return v[:MAX_NAME_CHARS]
    return None


def _url(rel: str) -> str:
    return "/files/" + quote(rel, safe="/")


# ---------------------------------------------------------------------------------------------
# Finding runs.


def _entries(folder: Path) -> list[str]:
    """Names of up to ``MAX_FOLDER_ENTRIES`` sub-folders of ``folder`` (symlinks to folders included;
    names starting with "." and names a request could not spell are left out), sorted."""
    names: list[str] = []
    try:
        with os.scandir(folder) as it:
            for i, entry in enumerate(it):
                if i >= MAX_FOLDER_ENTRIES:
                    break
                try:
                    if not entry.is_dir():
                        continue
                except OSError:
                    continue
                if entry.name.startswith(".") or not _plain_name(entry.name):
                    continue
                names.append(entry.name)
    except OSError:  # missing, not a folder, no permission
        return []
    return sorted(names)


def _plain_name(name: str) -> bool:
    try:
        check_relative(name)
    except StudioError:  # a name with a backslash, a NUL byte, a colon first, ...
        return False
    return "/" not in name


def _holds_run_files(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "stats.jsonl").is_file()


def _discover(root: Path) -> list[str]:
    """Relative names of the runs in ``root`` (depth 1 or 2), newest first, at most ``MAX_RUNS``."""
    names: list[str] = []
    budget = MAX_WALK_ENTRIES
    for top in _entries(root):
        path = root / top
        if not inside(root, path):
            continue
        if _holds_run_files(path):
            names.append(top)
            continue
        budget -= 1
        if budget <= 0:
            break
        for sub in _entries(path):
            budget -= 1
            if budget <= 0:
                break
            if inside(root, path / sub) and _holds_run_files(path / sub):
                names.append(f"{top}/{sub}")
    names.sort(reverse=True)
    return names[:MAX_RUNS]


def _run_dir(root: Path, name: Any) -> Path:
    """The folder of run ``name`` (a 403 when it leaves ``root``, a 404 when it is no run)."""
    what = ("expected the name of a run: a folder of the runs folder, or of a folder in it, holding "
            "config.json or stats.jsonl")
    if not isinstance(name, str):
        raise not_found(f"no run {str(name)[:80]!r} in {str(root)!r}; {what}")
    path = safe_path(root, name, must_exist=False)  # a 403 for "..", absolute paths and links out of root
    parts = name.split("/")
    if (len(parts) > 2 or any(p.startswith(".") for p in parts) or not path.is_dir() or not _holds_run_files(path)
            or (len(parts) == 2 and _holds_run_files(path.parent))):  # a run's superseded/ is no run
        raise not_found(f"no run {name[:80]!r} in {str(root)!r}; {what}")
    return path


# ---------------------------------------------------------------------------------------------
# Presets and families.


def _family(preset: Any, recipe: Any) -> str | None:
    """The family of a run: its preset's recipe's family, else its recipe's, else None."""
    from ganforge.presets import PRESETS, get_preset
    from ganforge.registry import RECIPES

    if isinstance(preset, str) and preset in PRESETS:
        try:
            recipe = get_preset(preset).recipe
        except Exception:  # a broken preset of a plugin: fall back to the run's own recipe
            pass
    if isinstance(recipe, str) and recipe in RECIPES:
        return getattr(RECIPES.get(recipe), "family", None)
    return None


def _translates(recipe: Any) -> bool | None:
    from ganforge.registry import RECIPES

    if isinstance(recipe, str) and recipe in RECIPES:
        return bool(getattr(RECIPES.get(recipe), "translates", False))
    return None


def preset_diff(config: Any) -> tuple[list[dict], str | None]:
    """What a run's ``config.json`` sets differently from its preset: ``[{"key", "value", "preset"}]``
    by key (a key one side lacks shows None there), and a note when there is nothing to compare with."""
    if not isinstance(config, dict):
        return [], "config.json is missing or unreadable: nothing to compare with the preset"
    name = config.get("preset")
    from ganforge.config import flatten_dict, to_dict
    from ganforge.presets import PRESETS, get_preset

    if not isinstance(name, str) or name not in PRESETS:
        return [], (f"preset {str(name)[:80]!r} is not one of this ganforge's presets: the run's settings "
                    f"cannot be compared with it")
    try:
        base = to_dict(get_preset(name))
    except Exception as e:  # a plugin preset that fails to build
        return [], f"preset {name!r} could not be built ({type(e).__name__}): no comparison"
    ran, pre = flatten_dict(config), flatten_dict(base)
    diff = []
    for key in sorted(set(ran) | set(pre)):
        if key == "preset":
            continue
        a, b = ran.get(key), pre.get(key)
        if a != b:  # 2.0 == 2, but "2" != 2
            diff.append({"key": key, "value": a, "preset": b})
            if len(diff) >= MAX_DIFF_KEYS:
                return diff, f"only the first {MAX_DIFF_KEYS} differing keys are shown"
    return diff, None


# ---------------------------------------------------------------------------------------------
# Run state.


def _alive_here(pid: Any, host: Any) -> bool:
    """True when ``pid`` is a live process of this host. Asked only when ``host`` is this host: a pid
    recorded elsewhere (a shared file system) says nothing about a process here."""
    if host != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:  # it exists, under another user
        return True
    except (OSError, OverflowError):  # no such process; a pid too large for the system
        return False
    return True


def _recent(stats_mtime: Any, sec_per_tick: Any, now: float) -> bool:
    """True when stats.jsonl changed within max(``RECENT_MIN_S``, 3 ticks) (at most ``RECENT_MAX_S``)."""
    mtime = _number(stats_mtime)
    if mtime is None:
        return False
    tick = _number(sec_per_tick) or 0.0
    window = min(max(RECENT_MIN_S, 3 * tick), RECENT_MAX_S)
    return now - mtime <= window


def run_state(run_dir: str | Path, stats_mtime: float | None, sec_per_tick: float | None,
              now: float | None = None, *, status: dict | None = None, kimg: float | None = None,
              total_kimg: float | None = None) -> str:
    """One of ``STATES`` for the run in ``run_dir``.

    With ``status.json`` (``status``: its content, read from ``run_dir`` when None): "finished", "stopped"
    or "failed" as it says; "running" while its process (pid on this host) lives or ``stats.jsonl``
    (modified at ``stats_mtime``) is recent, i.e. changed within max(120 s, 3 * ``sec_per_tick``), and
    "failed" otherwise (the process was killed or crashed before it could say so). Without one (older
    runs): "finished" when ``kimg`` reached ``total_kimg``, "running" when stats are recent or
    ``run.lock`` names a live process of this host, "stopped" otherwise.
    """
    run_dir = Path(run_dir)
    now = time.time() if now is None else now
    if status is None:
        status = _read_dict(run_dir, run_dir / STATUS_NAME)
    said = status.get("state") if isinstance(status, dict) else None
    if said in ENDED_STATES:
        return said
    recent = _recent(stats_mtime, sec_per_tick, now)
    if said == "running":
        if "pid" in status:
            alive = _alive_here(status.get("pid"), status.get("host"))
        else:
            alive = _lock_alive(run_dir)
        return "running" if alive or recent else "failed"
    done, total = _number(kimg), _number(total_kimg)
    if done is not None and total is not None and round(done * 1000) >= round(total * 1000):
        return "finished"
    return "running" if recent or _lock_alive(run_dir) else "stopped"


def _lock_alive(run_dir: Path) -> bool:
    """``run.lock`` names a live process of this host (the file is emptied when its holder lets go)."""
    lock = _read_dict(run_dir, run_dir / LOCK_NAME)
    return _alive_here(lock.get("pid"), lock.get("host"))


# ---------------------------------------------------------------------------------------------
# What a run recorded.


def _listed(folder: Path, pattern) -> list[tuple[int, str]]:
    """(image count, name) of the files in ``folder`` matching ``pattern`` (a ``bookkeeping`` name
    pattern), in training order, at most ``MAX_FILES_LISTED``; one folder read, no stat per file."""
    found = []
    try:
        with os.scandir(folder) as it:
            for i, entry in enumerate(it):
                if i >= MAX_FOLDER_ENTRIES or len(found) >= MAX_FILES_LISTED:
                    break
                if pattern.match(entry.name):
                    found.append((bk.nimg_of(entry.name), entry.name))
    except OSError:
        return []
    return sorted(found)


def _grids(run: Path) -> list[tuple[int, str]]:
    return _listed(run / bk.SAMPLES_DIR, bk.SAMPLE_RE)


def _exports(run: Path) -> list[tuple[int, str]]:
    return [(n, name) for n, name in _listed(run / bk.EXPORTS_DIR, bk.EXPORT_RE) if name.endswith(".safetensors")]


def _is_tick(row: dict) -> bool:
    return "warning" not in row


@dataclass
class _StatsDigest:
    """What a run's summary needs of stats.jsonl and metrics.jsonl."""

    last: dict  # the newest tick row
    first_time: float | None  # when the run began: the first tick's time less its duration
    metrics: dict  # the newest value of each metric


def _stats_digest(stats_rows: list[dict], head: list[dict], metric_rows: list[dict]) -> _StatsDigest:
    ticks = [r for r in stats_rows if _is_tick(r)]
    first = next((r for r in head if _is_tick(r)), None)
    first_time = None
    if first is not None and _number(first.get("time")) is not None:
        first_time = _number(first["time"]) - (_number(first.get("sec_per_tick")) or 0.0)
    return _StatsDigest(ticks[-1] if ticks else {}, first_time, _latest_metrics(metric_rows))


def _latest_metrics(rows: list[dict]) -> dict[str, float]:
    """``{"fid1k": 12.3, "pr1k/precision": 0.5}``: the newest finite value of each metric."""
    out: dict[str, float] = {}
    for r in rows:
        name = _name(r.get("metric"))
        if name is None:
            continue
        value = r.get("value")
        if isinstance(value, dict):
            for k, v in list(value.items())[:64]:
                if _number(v) is not None and _name(k):
                    out[f"{name}/{k}"] = v
        elif _number(value) is not None:
            out[name] = value
    return out


# Digests of the files last listed, by file version; cleared when it grows past this many entries.
_DIGESTS: dict[tuple, _StatsDigest] = {}
_DIGESTS_MAX = 8192


def _summary_digest(root: Path, run: Path) -> tuple[_StatsDigest, float | None]:
    """The run's digest from the ends of its files (cached per file version), and the stats mtime."""
    stats_key, mtime = _version(root, run / "stats.jsonl")
    key = (str(run), stats_key, _version(root, run / "metrics.jsonl")[0])
    if key in _DIGESTS:
        return _DIGESTS[key], mtime
    stats = _read_rows(root, run / "stats.jsonl", SUMMARY_TAIL_BYTES)
    metrics = _read_rows(root, run / "metrics.jsonl", SUMMARY_TAIL_BYTES)
    head = stats.rows if not stats.cut else _head_rows(root, run / "stats.jsonl")
    digest = _stats_digest(stats.rows, head, metrics.rows)
    if len(_DIGESTS) >= _DIGESTS_MAX:
        _DIGESTS.clear()
    _DIGESTS[key] = digest
    return digest, mtime


def _summary(name: str, run: Path, config: dict, status: dict, digest: _StatsDigest,
             stats_mtime: float | None, now: float) -> dict:
    """A RunSummary (see the studio's API): the run at a glance."""
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    preset, recipe = _name(config.get("preset")), _name(config.get("recipe"))
    last = digest.last
    kimg = _number(last.get("kimg"))
    if kimg is None:
        kimg = _number(status.get("kimg")) or 0.0
    total = _number(train.get("total_kimg"))
    state = run_state(run, stats_mtime, last.get("sec_per_tick"), now, status=status, kimg=kimg, total_kimg=total)
    started = _number(status.get("started"))
    if started is None:
        started = digest.first_time
    return {
        "name": name,
        "preset": preset,
        "family": _family(preset, recipe),
        "recipe": recipe,
        "kimg": kimg,
        "total_kimg": total,
        "state": state,
        "latest": {k: v for k, v in last.items()
                   if isinstance(k, str) and k.startswith(LOSS_PREFIXES) and _number(v) is not None},
        "metrics": digest.metrics,
        "img_per_s": _number(last.get("img_per_s")),
        "started": started,
        "updated": stats_mtime,
        "grids": len(_grids(run)),
        "exports": len(_exports(run)),
    }


def list_runs(root: str | Path, now: float | None = None) -> list[dict]:
    """A RunSummary of every run in ``root`` (see the module docstring), newest first; [] when ``root``
    does not exist. Reads only the ends of each run's stats and metrics files."""
    root = Path(root)
    now = time.time() if now is None else now
    out = []
    for name in _discover(root):
        run = root / name
        config = _read_dict(root, run / "config.json")
        status = _read_dict(root, run / STATUS_NAME)
        digest, mtime = _summary_digest(root, run)
        out.append(_summary(name, run, config, status, digest, mtime, now))
    return out


def run_detail(root: str | Path, name: str, now: float | None = None) -> dict:
    """Everything the run page shows of run ``name`` (``"00003-x"`` or ``"group/00003-x"``).

    Returns ``{"summary": RunSummary, "config": {...}, "preset_diff": [{"key", "value", "preset"}],
    "preset_note": str|None, "metrics": [records, newest last], "grids": [{"kimg", "url"}], "reals":
    url|None, "exports": [{"name", "kimg", "url", "model", "kind"}], "checkpoints": [{"name", "kimg",
    "bytes"}], "status": {...}, "warnings": [rows], "notes": [what was cut or skipped]}``.
    A 404 ``StudioError`` when ``name`` is no run, a 403 when it leaves ``root``."""
    root = Path(root)
    now = time.time() if now is None else now
    run = _run_dir(root, name)
    config_value = _read_json(root, run / "config.json")
    config = config_value if isinstance(config_value, dict) else {}
    status = _read_dict(root, run / STATUS_NAME)
    stats = _read_rows(root, run / "stats.jsonl")
    metrics = _read_rows(root, run / "metrics.jsonl")
    head = stats.rows if not stats.cut else _head_rows(root, run / "stats.jsonl")
    digest = _stats_digest(stats.rows, head, metrics.rows)
    summary = _summary(name, run, config, status, digest, stats.mtime, now)
    diff, note = preset_diff(config_value)

    kind = _translates(config.get("recipe"))
    if kind is None:  # a recipe this ganforge does not know: ask the newest export's metadata
        kind = _read_dict(root, run / "model.json").get("kind") == "translator"
    exports = [{"name": fname, "kimg": n / 1000, "url": _url(f"{name}/{bk.EXPORTS_DIR}/{fname}"),
                "model": f"{name}/{bk.EXPORTS_DIR}/{fname}", "kind": "translator" if kind else "generator"}
               for n, fname in _exports(run)]
    reals = run / bk.SAMPLES_DIR / "reals.png"
    notes = []
    for fname, rows in (("stats.jsonl", stats), ("metrics.jsonl", metrics)):
        if rows.cut:
            notes.append(f"{fname} is long: only its last {MAX_ROWS_BYTES >> 20} MiB and at most {MAX_ROWS} "
                         f"rows were read")
        if rows.skipped:
            notes.append(f"{fname}: {rows.skipped} line{'s' * (rows.skipped != 1)} that are no JSON object "
                         f"(or longer than {MAX_LINE_BYTES >> 20} MiB, or nested deeper than {MAX_JSON_DEPTH}) "
                         f"were skipped")
    if config_value is None and (run / "config.json").exists():
        notes.append(f"config.json could not be read (larger than {MAX_JSON_BYTES >> 20} MiB, no JSON, or "
                     f"nested deeper than {MAX_JSON_DEPTH})")
    return {
        "summary": summary,
        "config": config,
        "preset_diff": diff,
        "preset_note": note,
        "metrics": metrics.rows,
        "grids": [{"kimg": n / 1000, "url": _url(f"{name}/{bk.SAMPLES_DIR}/{fname}")} for n, fname in _grids(run)
                  if (run / bk.SAMPLES_DIR / fname).is_file()],  # not one removed since the folder was read
        "reals": _url(f"{name}/{bk.SAMPLES_DIR}/reals.png") if reals.is_file() and inside(root, reals) else None,
        "exports": exports,
        "checkpoints": _checkpoints(run),
        "status": status,
        "warnings": [r for r in stats.rows if not _is_tick(r)],
        "notes": notes,
    }


def _checkpoints(run: Path) -> list[dict]:
    """``checkpoints/state-*.pt``, listed only (a checkpoint is a pickle: the studio never loads one)."""
    out = []
    for n, fname in _listed(run / CKPT_DIR, CKPT_RE):
        try:
            size = (run / CKPT_DIR / fname).stat().st_size
        except OSError:  # removed by the trainer's pruning since the folder was read
            continue
        out.append({"name": fname, "kimg": n / 1000, "bytes": size})
    return out


# ---------------------------------------------------------------------------------------------
# The stats table.


def stats_table(root: str | Path, name: str) -> tuple[list[str], list[list]]:
    """The tick rows of run ``name``'s stats.jsonl as (columns, rows): "kimg" and "step" first, the
    other keys in the order they first appear (at most ``MAX_COLUMNS``), a cell None where a row lacks
    its key or holds no number, bool or string there. Warning rows are left out."""
    root = Path(root)
    run = _run_dir(root, name)
    ticks = [r for r in _read_rows(root, run / "stats.jsonl").rows if _is_tick(r)]
    columns = ["kimg", "step"]
    seen = set(columns)
    for r in ticks:
        for k in r:
            if k not in seen and isinstance(k, str) and len(columns) < MAX_COLUMNS:
                seen.add(k)
                columns.append(k)
    return columns, [[_cell(r.get(c)) for c in columns] for r in ticks]


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v  # a spreadsheet would run it as a formula
    return v


def stats_csv(root: str | Path, name: str) -> str:
    """``stats_table`` as CSV text: a header of the columns, one line per tick, empty for None."""
    columns, rows = stats_table(root, name)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([_csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Models.


def _model_meta(root: Path, weights: Path) -> dict | None:
    """The ganforge metadata of an export, from its JSON sidecar (``<stem>.json``, or ``model.json``
    beside it): None when there is none or it is not a ganforge generator's."""
    for side in (weights.with_suffix(".json"), weights.parent / EXPORT_JSON):
        meta = _read_json(root, side)
        if isinstance(meta, dict):
            return meta if meta.get("format") == "ganforge-generator" else None
    return None


def model_info(meta: dict, rel: str, run: str | None) -> dict:
    """A ModelInfo (see the studio's API) from export metadata, every field type-checked."""
    names = meta.get("class_names")
    names = [n[:MAX_NAME_CHARS] for n in names if isinstance(n, str)] if isinstance(names, list) else []
    from ganforge.limits import NUM_CLASSES_MAX

    kimg = _number(meta.get("kimg"))
    return {
        "path": rel,
        "run": run,
        "kind": "translator" if meta.get("kind") == "translator" else "generator",
        "recipe": _name(meta.get("recipe")),
        "preset": _name(meta.get("preset")),
        "resolution": _count(meta.get("resolution")),
        "channels": _count(meta.get("channels")),
        "num_classes": _count(meta.get("num_classes")),
        "class_names": names[:NUM_CLASSES_MAX],
        "kimg": kimg if kimg is not None and kimg >= 0 else None,
    }


def _loose_weights(root: Path, max_depth: int = 3) -> list[str]:
    """Relative paths of ``*.safetensors`` files up to ``max_depth`` parts deep, walking real folders only
    (no symbolic links, nothing hidden, no ``superseded/``: what a resume set aside is no model)."""
    found: list[str] = []
    budget = MAX_WALK_ENTRIES
    stack = [("", 1)]
    while stack:
        rel, depth = stack.pop()
        try:
            with os.scandir(root / rel if rel else root) as it:
                entries = sorted(itertools.islice(it, MAX_FOLDER_ENTRIES), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            budget -= 1
            if budget <= 0:
                return found
            if e.name.startswith(".") or not _plain_name(e.name):
                continue
            path = f"{rel}/{e.name}" if rel else e.name
            try:
                if e.is_dir(follow_symlinks=False):
                    if depth < max_depth and e.name not in (bk.SUPERSEDED_DIR, CKPT_DIR):
                        stack.append((path, depth + 1))
                elif e.name.endswith(".safetensors") and e.is_file():
                    found.append(path)
            except OSError:
                continue
    return sorted(found)


def list_models(root: str | Path) -> list[dict]:
    """A ModelInfo of every export under ``root``, from metadata only: each run's newest
    ``generator.safetensors`` and its ``exports/`` (newest first), runs newest first, then any other
    ``*.safetensors`` with a ganforge ``<stem>.json`` or ``model.json`` beside it, up to 3 folders deep
    (an imported model's folder). At most ``MAX_MODELS``; files without readable metadata are left out."""
    root = Path(root)
    out: list[dict] = []
    seen: set[str] = set()

    def add(rel: str, run: str | None) -> bool:
        """Add the export at ``rel`` if it has metadata; False once ``MAX_MODELS`` are listed."""
        if rel in seen:
            return True
        seen.add(rel)
        weights = root / rel
        if not inside(root, weights) or not weights.is_file():
            return True
        meta = _model_meta(root, weights)
        if meta is not None:
            out.append(model_info(meta, rel, run))
        return len(out) < MAX_MODELS

    runs = _discover(root)
    for name in runs:
        rels = [f"{name}/{EXPORT_WEIGHTS}"]
        rels += [f"{name}/{bk.EXPORTS_DIR}/{f}" for _, f in reversed(_exports(root / name))]
        for rel in rels:
            if not add(rel, name):
                return out
    run_names = set(runs)
    for rel in _loose_weights(root):
        parts = rel.split("/")  # a run's file outside exports/ still belongs to it
        owner = next((r for r in ("/".join(parts[:2]), parts[0]) if len(parts) > 1 and r in run_names), None)
        if not add(rel, owner):
            return out
    return out
