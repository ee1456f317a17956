"""CLI subcommands of the latent-space tools (style-based generators):

    ganforge mix --model RUN --rows 0-4 --cols 10-14 --styles coarse --out figs/
    ganforge truncation --model RUN --seeds 0-5 --psi 1,0.7,0.5,0 --out figs/
    ganforge variation --model RUN --seed 3 --draws 8 --out figs/
    ganforge interpolate --model RUN --seeds 0,1,2 --space w --frames 24 --out figs/
    ganforge project target.png --model RUN --steps 500 [--w-plus] --out proj/

Each writes PNGs (and GIF/MP4 for animations) into ``--out`` and refuses to replace an existing file
without ``--overwrite``. ``add_style_parsers(subparsers)`` is called by the top-level CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.errors import GanforgeError


def _common(p: argparse.ArgumentParser, out_required: bool = True) -> None:
    p.add_argument("--model", required=True, help="run directory, .safetensors export or model.json")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index for conditional models")
    p.add_argument("--noise-mode", default="const", help="random, const or none (default const)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _psi_list(text: str) -> list[float]:
    try:
        vals = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise GanforgeError(f"bad --psi {text!r}: expected numbers like 1,0.7,0.5") from None
    if not vals:
        raise GanforgeError(f"bad --psi {text!r}: no value given")
    from ganforge.synthesis.style import check_psi

    return [check_psi(v) for v in vals]


def _load(args):
    from ganforge.api import load_generator
    from ganforge.synthesis.style import check_noise_mode
    from ganforge.training.trainer import resolve_device

    check_noise_mode(getattr(args, "noise_mode", "const"))
    return load_generator(args.model, device=resolve_device(args.device))


def _targets(out: Path, names: list[str], overwrite: bool) -> list[Path]:
    paths = [out / n for n in names]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise GanforgeError(f"{existing[0]} already exists; pass --overwrite or choose another --out")
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {str(out)!r} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanforgeError(f"cannot create --out {str(out)!r}: {e.strerror or e}") from None
    return paths


def _save_png(img_u8, path: Path, scale: int = 1) -> Path:
    from ganforge.synthesis.images import to_image

    to_image(img_u8, scale).save(path)
    return path


def _scale(G) -> int:
    return max(1, 128 // int(G.img_resolution))


def _cmd_mix(args) -> int:
    from ganforge.cli import parse_seeds
    from ganforge.synthesis.style import parse_styles, require_style_based, style_mixing_grid

    rows, cols = parse_seeds(args.rows), parse_seeds(args.cols)
    G = _load(args)
    require_style_based(G, "ganforge mix")
    layers = parse_styles(args.styles, G)
    (path,) = _targets(Path(args.out), [f"mix-{args.styles.replace(',', '+')}.png"], args.overwrite)
    grid = style_mixing_grid(G, rows, cols, layers, psi=args.psi, class_idx=args.class_idx, noise_mode=args.noise_mode)
    _save_png(grid, path, _scale(G))
    print(f"wrote {path} (styles {args.styles}: layers {','.join(map(str, layers))} from the column seeds)")
    return 0


def _cmd_truncation(args) -> int:
    from ganforge.cli import parse_seeds
    from ganforge.synthesis.style import require_style_based, truncation_sweep

    seeds, psis = parse_seeds(args.seeds), _psi_list(args.psi)
    G = _load(args)
    require_style_based(G, "ganforge truncation")
    (path,) = _targets(Path(args.out), ["truncation.png"], args.overwrite)
    grid = truncation_sweep(G, seeds, psis, cutoff=args.cutoff, class_idx=args.class_idx, noise_mode=args.noise_mode)
    _save_png(grid, path, _scale(G))
    print(f"wrote {path} (rows: seeds {args.seeds}; columns: psi {', '.join(f'{p:g}' for p in psis)})")
    return 0


def _cmd_variation(args) -> int:
    from ganforge.synthesis.images import make_grid
    from ganforge.synthesis.style import stochastic_variation

    if args.draws < 2:
        raise GanforgeError(f"--draws must be >= 2 to show variation, got {args.draws}")
    G = _load(args)
    imgs, std = stochastic_variation(G, args.seed, args.draws, psi=args.psi, class_idx=args.class_idx,
                                     noise_seed=args.noise_seed)
    grid_path, std_path = _targets(Path(args.out), [f"variation-seed{args.seed}.png",
                                                    f"variation-seed{args.seed}-std.png"], args.overwrite)
    _save_png(make_grid(imgs), grid_path, _scale(G))
    _save_png(std[0], std_path, _scale(G))
    print(f"wrote {grid_path} ({args.draws} noise draws) and {std_path} (per-pixel standard deviation)")
    return 0


def _cmd_interpolate(args) -> int:
    from ganforge.cli import parse_seeds
    from ganforge.synthesis.images import make_grid
    from ganforge.synthesis.style import interpolation_frames, save_animation

    seeds = parse_seeds(args.seeds)
    fmt = args.format.lower()
    if fmt not in ("gif", "mp4"):
        raise GanforgeError(f"unknown --format {args.format!r}; valid choices: gif, mp4")
    if args.space not in ("w", "z"):
        raise GanforgeError(f"unknown interpolation space {args.space!r}; valid choices: w, z")
    if args.frames < 1:
        raise GanforgeError(f"--frames must be >= 1, got {args.frames}")
    G = _load(args)
    stem = f"interp-{args.space}-{args.seeds.replace(',', '_')}"
    anim_path, strip_path = _targets(Path(args.out), [f"{stem}.{fmt}", f"{stem}-strip.png"], args.overwrite)
    frames = interpolation_frames(G, seeds, args.frames, space=args.space, psi=args.psi, class_idx=args.class_idx,
                                  noise_mode=args.noise_mode, loop=args.loop)
    save_animation(frames, anim_path, fps=args.fps, scale=_scale(G))
    step = max(1, args.frames // 4)
    _save_png(make_grid(frames[::step], cols=len(frames[::step])), strip_path, _scale(G))
    print(f"wrote {anim_path} ({len(frames)} frames) and {strip_path}")
    return 0


def _cmd_project(args) -> int:
    import numpy as np
    import torch
    from PIL import Image
    from tqdm import tqdm

    from ganforge.data.folder import decode_to_array, resize_array, to_channels
    from ganforge.synthesis.images import make_grid
    from ganforge.synthesis.style import project, require_style_based, save_animation

    src = Path(args.image)
    if not src.is_file():
        raise GanforgeError(f"target image {args.image!r} does not exist")
    G = _load(args)
    require_style_based(G, "ganforge project")
    try:
        with Image.open(src) as im:
            im.load()
            arr = decode_to_array(im)
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds
        raise GanforgeError(f"cannot read target image {args.image!r}: {type(e).__name__}: {e}") from None
    res, ch = int(G.img_resolution), int(G.img_channels)
    arr = to_channels(resize_array(arr, res, args.resize), ch)
    target = torch.from_numpy(np.array(arr)).permute(2, 0, 1)[None]
    kind = "wplus" if args.w_plus else "w"
    names = [f"{src.stem}-{kind}-latent.npz", f"{src.stem}-{kind}-projected.png", f"{src.stem}-{kind}-compare.png",
             f"{src.stem}-{kind}-progress.gif"]
    latent_path, img_path, cmp_path, video_path = _targets(Path(args.out), names, args.overwrite)
    feature_fn = None
    if args.features:
        from ganforge.metrics.extractors import default_extractor_name, get_extractor

        ext = get_extractor(default_extractor_name(ch, res))
        dev = next(G.parameters()).device
        feature_fn = lambda x: ext.embed_float(x, dev)[0]  # noqa: E731
    bar = tqdm(total=args.steps, desc="project", unit="step", disable=not args.progress)
    result = project(G, target, steps=args.steps, w_plus=args.w_plus, lr=args.lr, feature_fn=feature_fn,
                     seed=args.seed, progress=lambda i, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.4f}")))
    bar.close()
    np.savez(latent_path, ws=result.ws.cpu().numpy(), w_plus=args.w_plus, losses=np.asarray(result.losses),
             distance=result.distance)
    _save_png(result.image_u8[0], img_path)
    _save_png(make_grid(torch.cat([target, result.image_u8])), cmp_path, _scale(G))
    save_animation(torch.cat(result.frames_u8), video_path, fps=10, scale=_scale(G))
    print(f"final loss {result.losses[-1]:.5f} ({result.distance}); wrote {latent_path}, {img_path}, {cmp_path}, "
          f"{video_path}")
    return 0


def add_style_parsers(sub) -> None:
    m = sub.add_parser("mix", help="style-mixing grid (row seeds take the chosen styles of column seeds)")
    _common(m)
    m.add_argument("--rows", required=True, help="row seeds, e.g. 0-4")
    m.add_argument("--cols", required=True, help="column seeds, e.g. 10-14")
    m.add_argument("--styles", default="coarse", help="coarse, middle, fine (combinable) or layers like 0-3,6")
    m.add_argument("--psi", type=float, default=1.0, help="truncation psi (default 1: none)")
    m.set_defaults(func=_cmd_mix)

    t = sub.add_parser("truncation", help="truncation sweep grid: one row per seed, one column per psi")
    _common(t)
    t.add_argument("--seeds", default="0-5")
    t.add_argument("--psi", default="1,0.8,0.6,0.4,0.2,0", help="psi values, comma separated")
    t.add_argument("--cutoff", type=int, default=None, help="truncate only style layers below this index")
    t.set_defaults(func=_cmd_truncation)

    v = sub.add_parser("variation", help="one latent under several noise draws, with the per-pixel std")
    _common(v)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--draws", type=int, default=8)
    v.add_argument("--noise-seed", type=int, default=0)
    v.add_argument("--psi", type=float, default=1.0)
    v.set_defaults(func=_cmd_variation)

    i = sub.add_parser("interpolate", help="interpolation between seeds (lerp in W or slerp in Z) as GIF/MP4 + strip")
    _common(i)
    i.add_argument("--seeds", default="0,1,2,3")
    i.add_argument("--space", default="w", help="w (lerp) or z (slerp)")
    i.add_argument("--frames", type=int, default=24, help="frames per transition")
    i.add_argument("--fps", type=int, default=24)
    i.add_argument("--format", default="gif", help="gif or mp4 (mp4 needs imageio-ffmpeg)")
    i.add_argument("--loop", action="store_true", help="return to the first seed")
    i.add_argument("--psi", type=float, default=1.0)
    i.set_defaults(func=_cmd_interpolate)

    p = sub.add_parser("project", help="invert an image into W or W+ (latent, reconstruction, progress GIF)")
    p.add_argument("image", help="target image file")
    _common(p)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--w-plus", action="store_true", help="one w per layer (W+) instead of one w (W)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--resize", default="crop", help="crop, pad or stretch the target to the model's size")
    p.add_argument("--features", action="store_true",
                   help="add the evaluation extractor's feature distance to the pixel loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=_cmd_project)
