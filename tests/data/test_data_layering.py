"""The data layer loads nothing of the layers built on it, at run time.

Static imports are checked by import-linter's contracts (pyproject.toml, ``lint-imports`` in ``make test``);
this test covers what a static check cannot see: a fresh interpreter that loads, streams and loads
translation data must not have loaded a module of the layers above (imports by name, plugins).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# What the data layer may load from ganforge besides ganforge.data itself (the layers below it).
ALLOWED = ("ganforge.errors", "ganforge.config", "ganforge.outputs", "ganforge.signals", "ganforge.registry",
           "ganforge.limits")
# The layers built on data: never loaded by it.
FORBIDDEN = ("ganforge.training", "ganforge.families", "ganforge.presets", "ganforge.metrics",
             "ganforge.synthesis", "ganforge.api", "ganforge.cli", "ganforge.commands", "ganforge.validation")


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


_RUN = textwrap.dedent(
    """
    import importlib, importlib.util, json, sys, types
    from pathlib import Path

    # ganforge/__init__.py imports the public API (presets, recipes, models...): stand in for the package so
    # that only what the data layer itself imports gets loaded.
    spec = importlib.util.find_spec("ganforge")
    pkg = types.ModuleType("ganforge")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["ganforge"] = pkg

    import numpy as np
    from PIL import Image

    root = Path(sys.argv[1])
    for cls in ("a", "b"):
        (root / "images" / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((12, 10, 3), 40 * i + (cls == "b"), np.uint8)).save(root / "images" / cls / f"{i}.png")
    (root / "pairs").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 16, 3), 30 * i, np.uint8)).save(root / "pairs" / f"{i}.png")

    for p in sorted(Path(pkg.__path__[0], "data").glob("*.py")):
        importlib.import_module("ganforge.data" if p.stem == "__init__" else "ganforge.data." + p.stem)

    from ganforge.config import DataConfig
    from ganforge.data import is_translation, load_dataset
    from ganforge.data.stream import StreamLoader

    ds = load_dataset(DataConfig(name=str(root / "images"), resolution=8, stream="always", use_labels=True))
    assert ds.streamed and not is_translation(ds)
    loader = StreamLoader(ds.images_u8.reader, len(ds), seed=1, rank=0, world_size=1, workers=0, prefetch=1,
                          pin_memory=False)
    got = loader.next(4)
    assert str(got.images_u8.dtype) == "torch.uint8" and tuple(got.images_u8.shape) == (4, 3, 8, 8)
    assert got.images_u8.equal(ds.images_u8[got.indices])
    loader.close()
    mem = load_dataset(DataConfig(name=str(root / "images"), resolution=8, stream="never"))
    assert not mem.streamed and mem.images_u8.equal(ds.images_u8[list(range(len(ds)))])
    tr = load_dataset(DataConfig(name=str(root / "pairs"), resolution=8, pairing="aligned"))
    assert is_translation(tr) and tr.domain("A").kind == "images"
    print(json.dumps(sorted(m for m in sys.modules if m.startswith("ganforge"))))
    """
)


def test_loading_and_streaming_data_loads_no_module_of_the_layers_above(tmp_path):
    r = subprocess.run([sys.executable, "-c", _RUN, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    loaded = json.loads(r.stdout.strip().splitlines()[-1])
    assert "ganforge.data.stream" in loaded and "ganforge.data.translation" in loaded
    wrong = [m for m in loaded if m != "ganforge" and not (_under(m, ("ganforge.data",)) or _under(m, ALLOWED))]
    assert not wrong, wrong
    assert not [m for m in loaded if _under(m, FORBIDDEN)]
