"""How the metrics package is put together, read from its source (imports anywhere in a module, inside
functions too): no import cycles, no dependency on training code, and an orchestration that knows no
metric by its kind."""

from __future__ import annotations

import ast
from pathlib import Path

import ganforge.metrics

PKG = Path(ganforge.metrics.__file__).parent
# metrics/cli.py is the `ganforge eval` command, not part of the library (it loads generators)
MODULES = {p.stem: p for p in PKG.glob("*.py") if p.stem not in ("__init__", "cli")}
# training code and what builds models (families hold the recipes and networks since the family merge)
OUTSIDE = ("ganforge.recipes", "ganforge.models", "ganforge.families", "ganforge.presets", "ganforge.training",
           "ganforge.cli", "ganforge.commands", "ganforge.api")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, by absolute name (``from a import b`` counts as ``a`` and ``a.b``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    prefix = "ganforge.metrics."
    return {name: {d[len(prefix):] for d in _imports(path) if d.startswith(prefix) and d[len(prefix):] in MODULES}
            for name, path in MODULES.items()}


def test_extractors_do_not_import_the_inception_converter():
    # the converter uses the extractors' content hashes; the weights lookup needs only a file name
    assert "inception_convert" not in _graph()["extractors"]
    assert "extractors" in _graph()["inception_convert"]


def test_no_import_cycles_between_metrics_modules():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            assert state.get(dep) != 1, f"import cycle: {' -> '.join([*path, node, dep])}"
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_metrics_modules_import_no_training_code():
    for name, path in MODULES.items():
        bad = sorted(d for d in _imports(path) if d.startswith(OUTSIDE))
        assert not bad, f"ganforge.metrics.{name} imports {bad}"


def test_the_orchestration_never_compares_metric_kinds():
    """protocol.py (and translation.py) read what metrics declare, never which metric it is."""
    for name in ("protocol", "translation"):
        tree = ast.parse(MODULES[name].read_text())
        kinds = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "kind"]
        assert not kinds, f"{name}.py reads .kind at lines {kinds}"


def test_every_metric_module_is_listed_in_builtin():
    registering = {name for name, path in MODULES.items() if "register_metric(" in path.read_text()} - {"base"}
    listed = {d.rsplit(".", 1)[1] for d in _imports(MODULES["builtin"]) if d.count(".") == 2}
    assert registering == listed
