"""Module paths from before the family-package restructure still import, saying where the code went."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ganforge.moved import MOVED, SPLIT

# One fresh interpreter for every old path (each is imported there for the first time, so it warns).
SCRIPT = """
import importlib, json, sys, warnings
import ganforge
cases, moved = json.loads(sys.argv[1]), json.loads(sys.argv[2])
bad = []
for old, new in cases:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mod = importlib.import_module(old)
    said = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    if not any(old in m and new in m for m in said):
        bad.append(f"{old}: no warning naming {new}: {said}")
    if old in moved and mod is not importlib.import_module(new):
        bad.append(f"{old} is not {new}")
print(json.dumps(bad))
"""


def test_every_old_path_imports_with_a_warning_naming_the_new_one():
    cases = [(old, new) for old, new in MOVED.items()]
    cases += [(old, sorted({t.split(":")[0] for t in names.values()})[0]) for old, names in SPLIT.items()]
    assert len(cases) >= 20
    r = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(sorted(cases)), json.dumps(sorted(MOVED))],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_split_packages_keep_their_public_names():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ganforge.models import GENERATORS, build_generator  # noqa: F401
        from ganforge.recipes import RECIPES, Batch, DatasetInfo, Phase, Recipe, StepContext  # noqa: F401
    from ganforge.registry import RECIPES as NOW

    assert RECIPES is NOW and "dcgan" in GENERATORS


def test_unknown_old_names_still_fail():
    with pytest.raises(ModuleNotFoundError):
        __import__("ganforge.models.nonexistent")
