"""The data layer's imports: nothing from training (or anything else built on data), and one way inside.

Read from the source (every import statement, inside functions and under ``TYPE_CHECKING`` too) and at
run time (a fresh interpreter that loads, streams and converts data must not load a module of the layers
above). The layering is written down in the ``ganforge.data`` docstring.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import ganforge.data

DATA_DIR = Path(ganforge.data.__file__).parent
# What the data layer may import from ganforge, besides ganforge.data itself (see its docstring). Of these,
# ganforge.validation is the odd one: data convert reads its RESOLUTION_MAX, and importing it loads
# ganforge.metrics.inception; the bound belongs in ganforge.limits.
ALLOWED = ("ganforge.errors", "ganforge.config", "ganforge.outputs", "ganforge.signals", "ganforge.registry",
           "ganforge.validation")
# The layers built on data: never imported by it.
FORBIDDEN = ("ganforge.training", "ganforge.recipes", "ganforge.models", "ganforge.presets", "ganforge.metrics",
             "ganforge.synthesis", "ganforge.api", "ganforge.cli", "ganforge.commands", "ganforge.__main__")


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _module_name(path: Path) -> str:
    return "ganforge.data" if path.name == "__init__.py" else f"ganforge.data.{path.stem}"


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in ``path``; ``from X import y`` counts as ``X.y`` when that is a
    data module (``from ganforge.data import emoji``), else as ``X``."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this package
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                is_module = base == "ganforge" or (base == "ganforge.data" and (DATA_DIR / f"{a.name}.py").exists())
                out.append((node.lineno, sub if is_module else base))
    return out


def _data_files() -> list[Path]:
    files = sorted(DATA_DIR.glob("*.py"))
    assert len(files) > 5
    return files


def test_data_imports_nothing_from_the_layers_built_on_it():
    wrong = []
    for path in _data_files():
        for line, name in _imports(path):
            if not name.startswith("ganforge"):
                continue
            if _under(name, FORBIDDEN) or not (_under(name, ("ganforge.data",)) or _under(name, ALLOWED)):
                wrong.append(f"{path.name}:{line}: {name}")
    assert not wrong, "the data layer imports from outside what it may import:\n" + "\n".join(wrong)


def _data_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _data_files():
        me = _module_name(path)
        graph[me] = {n for _, n in _imports(path) if _under(n, ("ganforge.data",)) and n != me}
    return graph


def test_the_data_modules_import_one_another_one_way():
    """No cycle among the data modules, imports inside functions included (``dataset`` / ``stream`` /
    ``translation`` imported one another)."""
    graph = _data_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles in ganforge.data:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_loaders_sit_in_the_documented_order():
    graph = _data_graph()
    below = {  # module: what it must not import (those above it in the ganforge.data docstring)
        "ganforge.data.base": {"ganforge.data.dataset", "ganforge.data.translation", "ganforge.data.stream"},
        "ganforge.data.stream": {"ganforge.data.dataset", "ganforge.data.translation", "ganforge.data.load"},
        "ganforge.data.dataset": {"ganforge.data.translation", "ganforge.data.load", "ganforge.data.convert"},
        "ganforge.data.translation": {"ganforge.data.load", "ganforge.data.convert"},
    }
    for mod, above in below.items():
        assert not graph[mod] & above, (mod, graph[mod] & above)
    assert "ganforge.data" not in set().union(*(v for k, v in graph.items() if k != "ganforge.data"))


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
