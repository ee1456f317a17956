"""``ganforge presets``: the presets as a table (name, networks, loss, batch, length, description)."""

from __future__ import annotations

import argparse


def register(sub) -> argparse.ArgumentParser:
    pr = sub.add_parser("presets", help="list the presets")
    pr.add_argument("--all", action="store_true", help="include the *-tiny test presets")
    pr.set_defaults(func=run)
    return pr


def run(args: argparse.Namespace) -> int:
    from ganforge.presets import DEFAULT_PRESET, PRESETS, arch_and_loss

    rows = [("name", "G/D", "loss", "batch", "kimg", "description")]
    for name in PRESETS.names():
        if name.endswith("-tiny") and not args.all:
            continue
        e = PRESETS.get(name).build()
        arch, loss = arch_and_loss(e)
        desc = PRESETS.get(name).description + (" [default]" if name == DEFAULT_PRESET else "")
        rows.append((name, arch, loss, str(e.train.batch_size),
                     f"{e.train.total_kimg:g}", desc))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 11)
    if not args.all:
        print("\n(--all also lists the *-tiny test presets)")
    return 0
