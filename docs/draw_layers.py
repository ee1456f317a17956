"""Draw docs/images/layers.png from the layer contract that CI enforces (pyproject.toml, import-linter).

    python docs/draw_layers.py [OUT.png]

Each row is a layer, highest first: a module may import from the rows below its own, never from a row
above. Modules that share a row are drawn as separate boxes when the contract separates them with ``|``
(independent: they may not import each other) and inside one frame when it uses ``:`` (they may). The
modules the contract leaves out of the layers (``exhaustive_ignores``) and the names of the other
contracts are listed under the rows. The picture is made from the contract itself, so it shows what is
checked, not what was intended.
"""

from __future__ import annotations

import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = "ganforge layers"

# What each part is, in a few words (shown under its name). A module of the contract that has no note here
# is drawn without one and named on stderr, so a new layer member does not go unexplained by accident.
NOTES = {
    "__main__": "python -m ganforge", "launch": "torchrun wrapper", "docs_gen": "writes configs.md",
    "cli": "parser + main", "commands": "one module per command", "api": "train, load_generator, import",
    "families": "one package per family", "training": "loop, executors, recorder",
    "validation": "one rule per config key", "synthesis": "generate, style tools, translate",
    "metrics": "metric registry, protocol", "data": "datasets, streaming", "augment": "ADA, DiffAugment",
    "losses": "adversarial, penalties", "nn": "layers, StyleGAN ops", "interfaces": "generator interfaces",
    "images": "uint8, grids, PNG", "distributed": "ranks, collectives", "devices": "device names",
    "presets": "preset registry", "args": "flag validators", "config": "typed config", "io": "official pickles",
    "outputs": "atomic writer", "limits": "every bound", "signals": "interrupts", "registry": "Registry, FAMILIES, RECIPES",
    "errors": "GanforgeError", "moved": "old module paths",
}


def read_contracts(path: Path = ROOT / "pyproject.toml") -> list[dict]:
    return tomllib.loads(path.read_text())["tool"]["importlinter"]["contracts"]


def parse_row(row: str) -> tuple[list[str], bool]:
    """(modules, independent) of one layer line: ``a | b`` independent, ``a : b`` not, one module either."""
    if ":" in row and "|" in row:
        raise ValueError(f"a layer mixes '|' and ':': {row!r}")
    sep = ":" if ":" in row else "|"
    return [m.strip() for m in row.split(sep) if m.strip()], sep == "|"


def layers_from_pyproject(path: Path = ROOT / "pyproject.toml") -> list[list[str]]:
    """The modules of each layer, highest first."""
    return [parse_row(row)[0] for row in _layer_contract(read_contracts(path))["layers"]]


def _layer_contract(contracts: list[dict]) -> dict:
    (contract,) = [c for c in contracts if c["name"] == CONTRACT]
    return contract


def draw(contracts: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.patches import FancyArrow, FancyBboxPatch

    contract = _layer_contract(contracts)
    rows = [parse_row(r) for r in contract["layers"]]
    ignored = contract.get("exhaustive_ignores", [])
    others = [c["name"] for c in contracts if c is not contract]

    width, left, right = 13.0, 0.75, 0.15
    row_h, gap = 0.72, 0.14
    head, foot = 0.95, 0.35 + 0.22 * (len(others) + 2)
    fig_h = head + len(rows) * (row_h + gap) + foot
    fig, ax = plt.subplots(figsize=(width, fig_h), dpi=110)
    ax.set_xlim(0, width)
    ax.set_ylim(0, fig_h)
    ax.axis("off")
    ax.text(width / 2, fig_h - 0.3, f"ganforge import layers: contract \u201c{CONTRACT}\u201d in pyproject.toml, "
            "checked by lint-imports", ha="center", va="center", fontsize=11, weight="bold")
    ax.text(width / 2, fig_h - 0.62, "a module imports only from rows below its own; separate boxes in one row "
            "may not import each other", ha="center", va="center", fontsize=9, color="#333333")

    cmap = colormaps["Blues"]
    top = fig_h - head
    bottom = top - len(rows) * (row_h + gap) + gap
    # Imports point down: one arrow beside the rows.
    ax.add_patch(FancyArrow(0.32, top - 0.1, 0, -(top - bottom - 0.35), width=0.03, head_width=0.16,
                            head_length=0.22, length_includes_head=True, color="#777777"))
    ax.text(0.14, (top + bottom) / 2, "imports go down", rotation=90, ha="center", va="center", fontsize=8,
            color="#555555")
    missing = []
    usable = width - left - right
    for i, (names, independent) in enumerate(rows):
        y = top - (i + 1) * (row_h + gap) + gap
        fc = cmap(0.12 + 0.5 * i / max(1, len(rows) - 1))
        box_w = usable / len(names)
        if not independent:  # one frame around modules that may import each other
            ax.add_patch(FancyBboxPatch((left + 0.02, y - 0.03), usable - 0.04, row_h + 0.06,
                                        boxstyle="round,pad=0.02", fc="none", ec="#333333", lw=1.2, ls="--"))
        for j, name in enumerate(names):
            x = left + j * box_w
            ax.add_patch(FancyBboxPatch((x + 0.04, y), box_w - 0.08, row_h, boxstyle="round,pad=0.02",
                                        fc=fc, ec="#444444", lw=0.8))
            # monospace: a character is 0.6 em wide; shrink a name that would not fit its box
            size = min(9.5, (box_w - 0.2) * 72 / (0.6 * len(name)))
            ax.text(x + box_w / 2, y + row_h * 0.7, name, ha="center", va="center", fontsize=size,
                    family="monospace", weight="bold")
            note = NOTES.get(name)
            if note is None:
                missing.append(name)
                continue
            chars = max(8, int((box_w - 0.15) * 13))  # what fits on one line at 7 pt
            ax.text(x + box_w / 2, y + row_h * 0.3, "\n".join(textwrap.wrap(note, chars)[:2]), ha="center",
                    va="center", fontsize=7, color="#222222", linespacing=1.0)
    lines = []
    if ignored:
        lines.append(f"outside the layers (exhaustive_ignores; any layer may import it): {', '.join(ignored)}")
    lines.append("the other contracts:")
    lines += [f"  \u2022 {name}" for name in others]
    for k, line in enumerate(lines):
        ax.text(left, bottom - 0.35 - 0.22 * k, line, ha="left", va="center", fontsize=8.5, color="#222222")
    if missing:
        print(f"no note for {', '.join(missing)} (add one to NOTES in {Path(__file__).name})", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "layers.png"
    draw(read_contracts(), target)
    print(target)
