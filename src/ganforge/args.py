"""The command line's one argument layer: validators and parsers for flag values, run before any work.

Every check here raises a ``GanforgeError`` whose one-line message names the flag, the value given and
what is valid, so ``ganforge.cli.main`` prints it and exits with status 2 (no traceback, nothing
written). The bounds come from ``ganforge.limits``.

* argparse ``type=`` helpers (they run while the command line is parsed): ``bounded_int``, ``seed``,
  ``finite_float``, ``positive_float``, ``psi``, ``psi_list``, ``fps``, ``choice``, ``path_text``.
* the same checks for values that do not come from argparse (library calls, model-dependent bounds):
  ``check_int``, ``check_float``, ``check_psi``, ``check_choice``.
* parsers called first thing by a command: ``parse_seeds`` (seed lists as lazy ranges; ``Seeds.of``
  for seeds a Python caller gives), ``parse_classes``, ``comma_list``, ``optional_positive_int``.
* path checks that never open a special file (a named pipe blocks the reader forever):
  ``check_input_file``, ``check_not_special``, ``check_file_names``, ``check_paths`` (several path
  options at once) and ``check_paths_first``, which puts it in front of a subcommand's handler.

Values are shown in messages with ``shown``, which cuts an over-long value so the message stays one
readable line.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import stat
from pathlib import Path
from typing import Callable, Iterable

from ganforge.errors import GanforgeError
from ganforge.limits import FILE_NAME_MAX, FPS_MAX, GRID_MAX, PATH_MAX, PSI_MAX, SEED_MAX

SHOWN_MAX = 60  # characters of a value quoted in a message
NOISE_MODES = ("random", "const", "none")  # noise inputs of style-based generators (--noise-mode)


def shown(value: object, limit: int = SHOWN_MAX) -> str:
    """``repr`` of a text (``str`` of anything else), cut to about ``limit`` characters with its length."""
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} digits"
    return f"{text[:limit - 20]}...{text[-8:]} ({size})"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else str(x)


def describe_range(lo: float | None, hi: float | None, *, integer: bool, lo_open: bool = False,
                   hi_open: bool = False) -> str:
    """'an integer >= 1 and <= 4096' / 'a finite number > 0 and <= 10', as ``ganforge.validation`` words it."""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_fmt(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {_fmt(hi)}")
    return ("an integer" if integer else "a finite number") + (" " + " and ".join(parts) if parts else "")


def check_int(value: object, flag: str, lo: int | None = None, hi: int | None = None, *,
              describe: str | None = None) -> int:
    """``value`` (an int, or a text holding one) within ``lo..hi``, else a GanforgeError naming ``flag``."""
    what = describe or describe_range(lo, hi, integer=True)
    if isinstance(value, bool):
        raise GanforgeError(f"{flag} must be {what}, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:  # not an integer, or more digits than Python converts
            raise GanforgeError(f"{flag} must be {what}, got {shown(value)}") from None
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise GanforgeError(f"{flag} must be {what}, got {shown(number)}")
    return number


def bounded_int(flag: str, lo: int | None = None, hi: int | None = None, *,
                describe: str | None = None) -> Callable[[str], int]:
    """argparse ``type=``: an integer in ``lo..hi`` (either may be None); ``describe`` rewords the range."""

    def parse(text: str) -> int:
        return check_int(text, flag, lo, hi, describe=describe)

    parse.__name__ = f"integer for {flag}"
    return parse


def seed(flag: str) -> Callable[[str], int]:
    """argparse ``type=``: a seed, 0..SEED_MAX."""
    return bounded_int(flag, 0, SEED_MAX)


def fps(flag: str) -> Callable[[str], int]:
    """argparse ``type=``: frames per second, 1..FPS_MAX."""
    return bounded_int(flag, 1, FPS_MAX)


def check_float(value: object, flag: str, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, hi_open: bool = False, describe: str | None = None) -> float:
    """``value`` (a number, or a text holding one) finite and within the bounds, else a GanforgeError."""
    what = describe_range(lo, hi, integer=False, lo_open=lo_open, hi_open=hi_open)
    if isinstance(value, bool):
        raise GanforgeError(f"{flag} must be {what}, got {value!r}")
    try:
        number = float(value if isinstance(value, (int, float)) else str(value).strip())
    except (ValueError, OverflowError):
        raise GanforgeError(f"{flag} must be {describe or what}, got {shown(value)}") from None
    ok = math.isfinite(number)
    if ok and lo is not None:
        ok = number > lo if lo_open else number >= lo
    if ok and hi is not None:
        ok = number < hi if hi_open else number <= hi
    if not ok:
        raise GanforgeError(f"{flag} must be {describe or what}, got {shown(number)}")
    return number


def finite_float(flag: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False, describe: str | None = None) -> Callable[[str], float]:
    """argparse ``type=``: a finite number within the bounds (NaN and infinities refused)."""

    def parse(text: str) -> float:
        return check_float(text, flag, lo, hi, lo_open=lo_open, hi_open=hi_open, describe=describe)

    parse.__name__ = f"number for {flag}"
    return parse


def positive_float(flag: str, hi: float | None = None) -> Callable[[str], float]:
    """argparse ``type=``: a finite number > 0 (and <= ``hi``)."""
    return finite_float(flag, 0.0, hi, lo_open=True)


def check_choice(value: str, what: str, choices: tuple[str, ...], flag: str | None = None) -> str:
    """``value`` if it is one of ``choices``, else 'unknown <what> <value>; valid choices: ...' (and the flag)."""
    if value not in choices:
        where = f" ({flag})" if flag and flag != what else ""
        raise GanforgeError(f"unknown {what} {shown(value)}; valid choices: {', '.join(choices)}{where}")
    return value


def choice(flag: str, choices: tuple[str, ...], what: str | None = None, *, fold_case: bool = False
           ) -> Callable[[str], str]:
    """argparse ``type=``: one of ``choices`` (``fold_case``: compared in lower case, returned lower)."""

    def parse(text: str) -> str:
        value = text.lower() if fold_case else text
        if value not in choices:
            check_choice(text, what or flag, choices, flag)  # raises, quoting the value as given
        return value

    parse.__name__ = f"choice for {flag}"
    return parse


def check_psi(value: float, flag: str | None = "--psi") -> float:
    """A truncation psi: finite and within -PSI_MAX..PSI_MAX (1 = no truncation, 0 = the W mean)."""
    where = f" ({flag})" if flag else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and -PSI_MAX <= number <= PSI_MAX):
        raise GanforgeError(f"bad truncation psi {shown(value)}{where}: expected a finite number from "
                            f"{_fmt(-PSI_MAX)} to {_fmt(PSI_MAX)} (1 = no truncation, 0 = the average image)")
    return number


def psi(flag: str) -> Callable[[str], float]:
    """argparse ``type=``: one truncation psi."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise GanforgeError(f"bad {flag} {shown(text)}: expected a number like 0.7 (1 = no truncation)") from None
        return check_psi(value, flag)

    parse.__name__ = f"psi for {flag}"
    return parse


def comma_list(text: str, flag: str, max_items: int, example: str) -> list[str]:
    """The non-empty comma-separated items of ``text``; at most ``max_items`` of them."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if len(items) > max_items:
        raise GanforgeError(f"bad {flag} {shown(text)}: {len(items)} values, at most {max_items}")
    if not items:
        raise GanforgeError(f"bad {flag} {shown(text)}: no value given (e.g. {example})")
    return items


def psi_list(flag: str, max_items: int = GRID_MAX) -> Callable[[str], list[float]]:
    """argparse ``type=``: comma-separated psi values like 1,0.7,0.5 (at most ``max_items``)."""

    def parse(text: str) -> list[float]:
        items = comma_list(text, flag, max_items, "1,0.7,0.5")
        try:
            values = [float(s) for s in items]
        except ValueError:
            raise GanforgeError(f"bad {flag} {shown(text)}: expected numbers like 1,0.7,0.5") from None
        return [check_psi(v, flag) for v in values]

    parse.__name__ = f"psi list for {flag}"
    return parse


def path_text(flag: str) -> Callable[[str], str]:
    """argparse ``type=``: a path as given, refusing an empty one ('' would mean the current folder) and
    one no file system takes (a name longer than ``FILE_NAME_MAX`` bytes, a path longer than
    ``PATH_MAX``), which would otherwise fail half-way, after creating the folders before that name."""

    def parse(text: str) -> str:
        if not text.strip() or "\0" in text:
            raise GanforgeError(f"{flag} must be a path, got {shown(text)}")
        size = len(os.fsencode(text))
        if size > PATH_MAX:
            raise GanforgeError(f"{flag} {shown(text)} is {size} bytes long; a path holds at most {PATH_MAX} bytes")
        for part in Path(text).parts:
            size = len(os.fsencode(part))
            if size > FILE_NAME_MAX:
                raise GanforgeError(f"{flag} {shown(text)}: the name {shown(part)} is {size} bytes long; file and "
                                    f"folder names hold at most {FILE_NAME_MAX} bytes")
        return text

    parse.__name__ = f"path for {flag}"
    return parse


# ------------------------------------------------------------------------------------------------
# Seeds


class Seeds:
    """Seeds as a list of ``range``s, e.g. '0-3,7' -> [range(0, 4), range(7, 8)].

    ``len()``, iteration and ``in`` never build a list, so '0-4294967295' costs nothing until the
    seeds are used one by one. ``text`` is how messages and output names show the seeds: the text
    ``parse_seeds`` was given, else the ranges written as '0-3,7'.
    """

    def __init__(self, ranges: list[range], text: str | None = None):
        self.ranges = ranges
        self.text = text if text is not None else ",".join(
            f"{r.start}-{r.stop - 1}" if len(r) > 1 else str(r.start) for r in ranges)

    @classmethod
    def of(cls, seeds: Seeds | str | Iterable[int], what: str = "seeds") -> Seeds:
        """``seeds`` as ``Seeds``: returned as it is when it already is one, parsed when it is a text like
        '0-3,7', else each value checked to be an integer in 0..SEED_MAX (``what`` names them in the
        message) and runs of consecutive seeds joined into one range."""
        if isinstance(seeds, Seeds):
            return seeds
        if isinstance(seeds, str):
            return parse_seeds(seeds, what)
        if isinstance(seeds, range) and seeds.step == 1:  # a range of any length, without listing it
            if len(seeds):
                check_int(seeds.start, what, 0, SEED_MAX)
                check_int(seeds.stop - 1, what, 0, SEED_MAX)
            return cls([seeds] if len(seeds) else [])
        ranges: list[range] = []
        for value in seeds:
            s = check_int(value, what, 0, SEED_MAX)
            if ranges and ranges[-1].stop == s:
                ranges[-1] = range(ranges[-1].start, s + 1)
            else:
                ranges.append(range(s, s + 1))
        return cls(ranges)

    def __len__(self) -> int:
        return sum(len(r) for r in self.ranges)

    def __iter__(self):
        for r in self.ranges:
            yield from r

    def __contains__(self, seed: object) -> bool:
        return any(seed in r for r in self.ranges)

    def unique(self) -> Seeds:
        """The same seeds, each once, in increasing order (overlapping ranges merged)."""
        merged: list[range] = []
        for r in sorted(self.ranges, key=lambda r: r.start):
            if merged and r.start <= merged[-1].stop:
                if r.stop > merged[-1].stop:
                    merged[-1] = range(merged[-1].start, r.stop)
            else:
                merged.append(r)
        return Seeds(merged)

    def __repr__(self) -> str:
        return f"Seeds({Seeds(self.ranges).text})"


def parse_seeds(text: str, flag: str = "--seeds") -> Seeds:
    """'0-3,7,10-11' -> the seeds 0, 1, 2, 3, 7, 10, 11 (as ``Seeds``; ``list()`` it for a list).

    ``flag`` names the option in messages (--seeds, --rows, --cols)."""
    ranges: list[range] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
            else:
                lo = hi = int(part)
        except ValueError:
            raise GanforgeError(f"bad {flag} {shown(text)}: expected numbers and ranges like 0-63 or 1,5,9-12") from None
        if lo < 0 or hi > SEED_MAX:
            raise GanforgeError(f"bad {flag} {shown(text)}: seeds must be in 0..{SEED_MAX}")
        ranges.append(range(lo, hi + 1))
    if not ranges:
        raise GanforgeError(f"bad {flag} {shown(text)}: no seed given")
    return Seeds(ranges, text)


def parse_classes(text: str, flag: str = "--classes") -> list[int]:
    """'0,3,5' or '0-2,7' -> [0, 3, 5] / [0, 1, 2, 7]: class indices in the order given, at most GRID_MAX
    of them (the rows of one grid); whether the model has these classes is checked once it is loaded."""
    rows: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or (m[2] is not None and int(m[2]) < int(m[1])):
            raise GanforgeError(f"bad {flag} {text!r}: expected class indices and ranges like 0,3,5 or 0-4")
        span = range(int(m[1]), int(m[2] or m[1]) + 1)
        if len(rows) + len(span) > GRID_MAX:
            raise GanforgeError(f"bad {flag} {text!r}: a grid holds at most {GRID_MAX} rows")
        rows.extend(span)
    if not rows:
        raise GanforgeError(f"bad {flag} {text!r}: no class given")
    return rows


def optional_positive_int(text: str | None, flag: str, default: int) -> int:
    """``text`` as an integer > 0, or ``default`` when the flag was not given (None)."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise GanforgeError(f"bad {flag} {text!r}: expected a positive integer (default {default})")
    return value


# ------------------------------------------------------------------------------------------------
# Paths


_FILE_KINDS = ((stat.S_ISFIFO, "named pipe"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
               (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "folder"), (stat.S_ISREG, "file"))


def path_kind(path: str | Path) -> str | None:
    """'file', 'folder', 'named pipe', ... of what ``path`` names (symlinks followed, nothing opened);
    None when it does not exist."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        raise GanforgeError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    return next((name for test, name in _FILE_KINDS if test(mode)), "special file")


def check_input_file(path: str | Path, what: str, flag: str | None = None) -> Path:
    """``path`` must be an existing regular file (never opened here): a missing path, a folder or a
    named pipe (which would block whoever opens it) is one message naming ``what`` and ``flag``."""
    where = f" ({flag})" if flag else ""
    kind = path_kind(path)
    if kind is None:
        raise GanforgeError(f"{what} {str(path)!r}{where} does not exist")
    if kind != "file":
        raise GanforgeError(f"{what} {str(path)!r}{where} is a {kind}, not {_article(what)} file")
    return Path(path)


def _article(what: str) -> str:
    """'target image' -> 'an image', 'official pickle' -> 'a pickle', '... file' -> 'a' (so: 'a file')."""
    noun = what.split()[-1] if what else ""
    if noun in ("", "file"):
        return "a"
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def check_not_special(path: str | Path, flag: str, expected: str) -> None:
    """Refuse a ``path`` that exists but is neither a folder nor a regular file (a named pipe, a device,
    a socket): ``expected`` says what was wanted. A missing path is left to the reader's own message."""
    kind = path_kind(path)
    if kind not in (None, "file", "folder"):
        raise GanforgeError(f"{flag} {str(path)!r} is a {kind}, not {expected}")


def check_file_names(names: list[str], flag: str, value: str) -> None:
    """Output file names made from ``value`` (given with ``flag``) must fit the file system's name limit."""
    for name in names:
        size = len(os.fsencode(name))
        if size > FILE_NAME_MAX:
            raise GanforgeError(f"{flag} {shown(value)} makes the output file name {size} bytes long "
                                f"({shown(name, 40)}); at most {FILE_NAME_MAX} bytes: give a shorter value")


def check_paths(args: argparse.Namespace, *flags: tuple[str, str]) -> None:
    """Each path option (``(dest, flag)``) of ``args`` that was given must not be empty nor name a named
    pipe, device or socket (opening a pipe blocks forever); what else a path must be, its reader checks."""
    for dest, flag in flags:
        value = getattr(args, dest, None)
        if value is not None:
            path_text(flag)(value)
            check_not_special(value, flag, "a folder or a regular file")


def check_paths_first(parser: argparse.ArgumentParser, *flags: tuple[str, str]) -> argparse.ArgumentParser:
    """Put ``check_paths`` for ``flags`` in front of ``parser``'s handler (its ``func`` default). -> ``parser``"""
    run = parser.get_default("func")

    def checked(args: argparse.Namespace) -> int:
        check_paths(args, *flags)
        return run(args)

    parser.set_defaults(func=checked)
    return parser
