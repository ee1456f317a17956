"""Draw docs/images/layers.png from the layer contract that CI enforces (pyproject.toml, import-linter).

    python docs/draw_layers.py [OUT.png]

Each row is a layer, highest first: a module may import from the rows below its own, never from a row
above; modules that share a row and are separated by ``|`` in the contract may not import each other.
The picture is made from the contract itself, so it shows what is checked, not what was intended.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = "ganforge layers"

# What each part is, in a few words (shown under its name when the row has room).
NOTES = {
    "cli": "entry point", "__main__": "python -m", "launch": "torchrun wrapper", "docs_gen": "docs",
    "commands": "one module per command", "api": "train, load_generator", "families": "one package per family",
    "training": "loop, executors, recorder", "validation": "config rules", "synthesis": "generate, style tools",
    "metrics": "registered metrics", "data": "datasets, streaming", "augment": "ADA, DiffAugment",
    "losses": "adversarial, penalties", "nn": "layers, ops", "interfaces": "generator kinds",
    "distributed": "ranks", "signals": "interrupts", "devices": "device names", "presets": "preset registry",
    "config": "typed config", "registry": "registries", "outputs": "atomic writer", "io": "bounded readers",
    "args": "argument checks", "limits": "bounds", "errors": "GanforgeError",
}


def layers_from_pyproject(path: Path = ROOT / "pyproject.toml") -> list[list[str]]:
    cfg = tomllib.loads(path.read_text())["tool"]["importlinter"]
    (contract,) = [c for c in cfg["contracts"] if c["name"] == CONTRACT]
    return [[m.strip() for m in row.replace(":", "|").split("|") if m.strip()] for row in contract["layers"]]


def draw(rows: list[list[str]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    width, row_h, gap = 12.0, 0.62, 0.16
    fig_h = len(rows) * (row_h + gap) + 0.9
    fig, ax = plt.subplots(figsize=(width, fig_h), dpi=110)
    ax.set_xlim(0, width)
    ax.set_ylim(0, fig_h)
    ax.axis("off")
    ax.text(width / 2, fig_h - 0.3, "ganforge import layers (enforced by lint-imports): each row imports only "
            "from rows below it", ha="center", va="center", fontsize=10, weight="bold")
    palette = ["#dbe9f6", "#e3f1df", "#fdf0d5", "#f6dede", "#e9e1f5", "#e0f2f1"]
    for i, row in enumerate(rows):
        y = fig_h - 0.75 - (i + 1) * (row_h + gap) + gap
        box_w = (width - 0.4) / len(row)
        for j, name in enumerate(row):
            x = 0.2 + j * box_w
            ax.add_patch(FancyBboxPatch((x + 0.04, y), box_w - 0.08, row_h, boxstyle="round,pad=0.02",
                                        fc=palette[i % len(palette)], ec="#555555", lw=0.8))
            ax.text(x + box_w / 2, y + row_h * 0.62, name, ha="center", va="center", fontsize=9,
                    family="monospace")
            note = NOTES.get(name)
            if note and box_w > 1.2:
                ax.text(x + box_w / 2, y + row_h * 0.25, note, ha="center", va="center", fontsize=7,
                        color="#444444")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "layers.png"
    draw(layers_from_pyproject(), target)
    print(target)
