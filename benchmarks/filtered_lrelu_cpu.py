"""CPU timing of ganforge's filtered leaky ReLU (StyleGAN3) on the layer shapes of real generators.

Compares ``ganforge.nn.filtered_lrelu.filtered_lrelu`` (fast path), ``filtered_lrelu_reference`` (the
formula on zero-stuffed tensors) and, with ``--official REPO_DIR`` (a checkout of NVlabs/stylegan3), the
official ``torch_utils.ops.filtered_lrelu.filtered_lrelu(impl='ref')``, forward pass, per layer of
the 32 px T anchor (``sg3t-32gray``) and of the official 256 px config T (or R with ``--cfg r``).
Prints a markdown table: milliseconds per call (median of ``--reps``), ratios, max abs difference.

    python benchmarks/filtered_lrelu_cpu.py [--official /tmp/sg3off] [--cfg t|r] [--reps 5] [--threads 1]
    python benchmarks/filtered_lrelu_cpu.py --check     # tiny shapes, one rep: seconds (CI)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import torch

from ganforge.families.stylegan3.networks import Generator
from ganforge.nn.filtered_lrelu import filtered_lrelu, filtered_lrelu_reference

CONFIGS = {
    # name: (Generator kwargs, batch)
    "T-32 anchor": ({"z_dim": 128, "c_dim": 0, "w_dim": 128, "img_resolution": 32, "img_channels": 1,
                     "channel_base": 1024, "channel_max": 128}, 4),
    "R-32 anchor": ({"z_dim": 128, "c_dim": 0, "w_dim": 128, "img_resolution": 32, "img_channels": 1,
                     "channel_base": 2048, "channel_max": 256, "conv_kernel": 1, "use_radial_filters": True}, 4),
    "T-256": ({"z_dim": 512, "c_dim": 0, "w_dim": 512, "img_resolution": 256, "img_channels": 3}, 1),
    "R-256": ({"z_dim": 512, "c_dim": 0, "w_dim": 512, "img_resolution": 256, "img_channels": 3,
               "channel_base": 65536, "channel_max": 1024, "conv_kernel": 1, "use_radial_filters": True}, 1),
    "check": ({"z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 16, "img_channels": 1, "channel_base": 64,
               "channel_max": 4, "num_layers": 4, "margin_size": 2, "use_radial_filters": True}, 1),
}


def load_official(repo: str):
    """The official filtered_lrelu module from a checkout; stubs two imports its ref path never uses."""
    sys.modules.setdefault("requests", types.ModuleType("requests"))
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            stub = types.ModuleType("pkg_resources")
            stub.parse_version = lambda v: tuple(int(p) for p in v.split("+")[0].split(".")[:3] if p.isdigit())
            sys.modules["pkg_resources"] = stub
    sys.path.insert(0, str(Path(repo).resolve()))
    from torch_utils.ops import filtered_lrelu as official  # type: ignore[import-not-found]

    return official


def layer_cases(cfg: str):
    """(layer name, x, kwargs) for every synthesis layer of the config (filters from a meta-free build)."""
    kwargs, batch = CONFIGS[cfg]
    torch.manual_seed(0)
    G = Generator(**kwargs)
    for name in G.synthesis.layer_names:
        L = getattr(G.synthesis, name)
        n = int(L.in_size[0]) + L.conv_kernel - 1
        x = torch.randn(batch, L.out_channels, n, n)
        yield name, x, {"fu": L.up_filter, "fd": L.down_filter, "b": torch.randn(L.out_channels), "up": L.up_factor,
                            "down": L.down_factor, "padding": L.padding, "gain": 1.0 if L.is_torgb else 2 ** 0.5,
                            "slope": 1.0 if L.is_torgb else 0.2, "clamp": L.conv_clamp}


def timed(fn, reps: int) -> tuple[float, torch.Tensor]:
    with torch.no_grad():
        out = fn()  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", metavar="REPO_DIR", help="checkout of NVlabs/stylegan3 (for impl='ref')")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch.set_num_threads (default 1: stable on a shared machine; 0 = torch default)")
    ap.add_argument("--cfg", default="t", choices=["t", "r"], help="256 px config to time besides the anchor")
    ap.add_argument("--configs", nargs="*", default=None, help=f"subset of {list(CONFIGS)}")
    ap.add_argument("--check", action="store_true", help="tiny shapes, 1 rep, asserts agreement")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = args.configs or (["check"] if args.check else ["T-32 anchor", f"{args.cfg.upper()}-256"])
    reps = 1 if args.check else args.reps
    official = load_official(args.official) if args.official else None

    head = "| config | layer | shape in | up/down | fast ms | ref ms | ref/fast |"
    sep = "|---|---|---|---|---:|---:|---:|"
    if official is not None:
        head += " official ref ms | official/fast |"
        sep += "---:|---:|"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, forward only, median of {reps}\n")
    print(head + " max abs diff |")
    print(sep + "---:|")
    worst = 0.0
    for cfg in configs:
        tot = {"fast": 0.0, "ref": 0.0, "off": 0.0}
        for name, x, kw in layer_cases(cfg):
            t_fast, y_fast = timed(lambda x=x, kw=kw: filtered_lrelu(x, **kw), reps)
            t_ref, y_ref = timed(lambda x=x, kw=kw: filtered_lrelu_reference(x, **kw), reps)
            diff = float((y_fast - y_ref).abs().max())
            tot["fast"] += t_fast
            tot["ref"] += t_ref
            row = (f"| {cfg} | {name} | {list(x.shape)} | {kw['up']}/{kw['down']} | {t_fast:.2f} | {t_ref:.2f} "
                   f"| {t_ref / t_fast:.1f}x |")
            if official is not None:
                t_off, y_off = timed(lambda x=x, kw=kw: official.filtered_lrelu(x, impl="ref", **kw), reps)
                tot["off"] += t_off
                diff = max(diff, float((y_fast - y_off).abs().max()))
                row += f" {t_off:.2f} | {t_off / t_fast:.1f}x |"
            worst = max(worst, diff / max(1.0, float(y_ref.abs().max())))
            print(row + f" {diff:.2g} |")
        row = f"| {cfg} | **all layers** | | | {tot['fast']:.1f} | {tot['ref']:.1f} | {tot['ref'] / tot['fast']:.1f}x |"
        if official is not None:
            row += f" {tot['off']:.1f} | {tot['off'] / tot['fast']:.1f}x |"
        print(row + " |")
    if worst > 1e-4:
        print(f"FAIL: fast and reference disagree (relative max abs diff {worst:.3g})")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
