"""Images from seeds, as ``ganforge generate`` writes them, for Python callers and the command alike.

    from ganforge import load_generator
    from ganforge.synthesis.generate import generate_images

    G = load_generator("runs/00000-dcgan-fmnist32")
    generate_images(G, range(16), "samples")             # samples/seed0000.png ... seed0015.png
    generate_images(G, "0-63", "samples", grid=True)     # samples/grid.png

A seed names one image: its latent, and for a conditional model without a chosen class its class,
come from a CPU ``torch.Generator`` seeded with that seed alone, so an image does not depend on the
other seeds generated with it (with ``batch_size`` > 1 up to the last bit of a few pixels, which is
why the command's default is 1).

Seed ranges may be endless in practice ('0-4294967295'): seeds stay lazy ranges (``ganforge.args.
Seeds``), existing files are found with one listing of the folder, and images are written one by one
as they are made, each through the project's one writer (``ganforge.outputs``), so an interrupt
leaves only complete files. Messages name the ``ganforge generate`` flags that match the arguments,
as the other synthesis functions do, so the command and a Python caller read the same words.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ganforge import outputs
from ganforge.args import (
    NOISE_MODES,
    Seeds,
    check_choice,
    check_float,
    check_int,
    check_psi,
    parse_classes,
    shown,
)
from ganforge.devices import module_device
from ganforge.errors import GanforgeError
from ganforge.images import grid_image, to_image, to_uint8
from ganforge.interfaces import GENERATOR, check_interface, is_style_based
from ganforge.limits import FORWARD_BATCH_MAX, GRID_MAX, Z_TRUNC_MAX, Z_TRUNC_MIN
from ganforge.synthesis.latents import truncated_z
from ganforge.synthesis.motion import (
    check_rotate,
    input_matrix,
    moved_input,
    parse_translate,
    require_input_transform,
)

GRID_NAME, CLASS_GRID_NAME = "grid.png", "class-grid.png"  # the files of grid=True and class_grid=True


def seed_file_name(seed: int) -> str:
    """The file one seed's image is written to: seed0007.png (at least four digits)."""
    return f"seed{seed:04d}.png"


@dataclass
class Generated:
    """What ``generate_images`` wrote.

    Attributes:
        out: the output folder.
        grid: the grid file (``grid.png`` / ``class-grid.png``), or None when one file per seed was written.
        written: how many per-seed files were written (0 for a grid).
        count: how many images were generated.
        rows: the classes of the class grid's rows (None without ``class_grid``).
        cols: the seeds per row of a class grid (the number of seeds otherwise).
    """

    out: Path
    grid: Path | None
    written: int
    count: int
    rows: list[int] | None
    cols: int


def latent_batches(G, seeds: Iterable[int], batch_size: int, class_idx: int | None = None, device="cpu",
                   z_trunc: float | None = None) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor | None]]:
    """The inputs of ``G`` for ``seeds``, ``batch_size`` seeds at a time.

    Args:
        G: a generator with ``z_dim`` and ``num_classes`` (0: unconditional).
        seeds: the seeds, consumed lazily.
        batch_size: seeds per batch (the last batch may be smaller).
        class_idx: the class of every image of a conditional model; None: each seed draws its own.
        device: where the latents and labels are put.
        z_trunc: None, or redraw the entries of z beyond +-z_trunc (BigGAN's truncation trick), from
            the seed's own generator.

    Returns:
        An iterator of ``(seeds, z, c)``: the batch's seeds, z [N, z_dim] and the class labels [N]
        (None for an unconditional model).
    """
    it = iter(seeds)
    while True:
        chunk = list(itertools.islice(it, batch_size))
        if not chunk:
            return
        zs, cs = [], []
        for s in chunk:
            g = torch.Generator().manual_seed(s)
            if z_trunc is None:
                zs.append(torch.randn(1, G.z_dim, generator=g))
            else:
                zs.append(truncated_z((1, G.z_dim), z_trunc, generator=g))
            if G.num_classes:
                cs.append(class_idx if class_idx is not None else int(torch.randint(G.num_classes, (1,), generator=g)))
        c = torch.tensor(cs, device=device) if G.num_classes else None
        yield chunk, torch.cat(zs).to(device), c


def existing_outputs(out: str | Path, seeds: Seeds | Iterable[int]) -> list[Path]:
    """The files in ``out`` that writing ``seeds`` one file per seed would replace, sorted.

    One listing of the folder and a range test per file, so a huge seed range costs no more than the
    folder's contents; a name that only looks like an output (seed00007.png for seed 7) is not one.
    """
    out, seeds = Path(out), Seeds.of(seeds)
    if not out.is_dir():
        return []
    found = []
    with os.scandir(out) as it:
        for entry in it:
            m = re.fullmatch(r"seed(\d+)\.png", entry.name)
            if m and entry.name == seed_file_name(int(m[1])) and int(m[1]) in seeds:
                found.append(out / entry.name)
    return sorted(found)


def check_generate_options(seeds: Seeds | str | Iterable[int], *, grid: bool = False, class_grid: bool = False,
                           classes: str | Sequence[int] | None = None, class_idx: int | None = None
                           ) -> list[int] | None:
    """Everything about a ``generate_images`` call that can be refused before a model is loaded: the
    combinations of ``grid`` / ``class_grid`` / ``classes`` / ``class_idx``, the classes given and the
    size of a grid.

    Args:
        seeds: the seeds (``Seeds``, a text like '0-63' or integers).
        grid, class_grid, classes, class_idx: as for ``generate_images``; ``classes`` may also be the
            text of ``--classes`` ('0,3,5', '0-4').

    Returns:
        The class grid's rows asked for with ``classes`` (None: every class, or no class grid).

    Raises:
        GanforgeError: the first problem, in one line naming the flag.
    """
    seeds = Seeds.of(seeds)
    if classes is not None and not class_grid:
        raise GanforgeError("--classes chooses the rows of --class-grid; add --class-grid")
    if class_grid and grid:
        raise GanforgeError("--grid and --class-grid cannot be combined: --grid tiles the seeds, --class-grid "
                            "writes one row per class")
    if class_grid and class_idx is not None:
        raise GanforgeError(f"--class {class_idx} and --class-grid cannot be combined: the grid has a row per "
                            f"class; choose rows with --classes")
    if isinstance(classes, str):
        rows = parse_classes(classes)
    elif classes is not None:
        rows = [check_int(k, "--classes", 0) for k in classes]
        if not rows or len(rows) > GRID_MAX:
            raise GanforgeError(f"bad --classes {shown(str(rows))}: a grid holds 1 to {GRID_MAX} rows")
    else:
        rows = None
    grid_flag = "--grid" if grid else "--class-grid" if class_grid else None
    count = len(seeds)
    if grid_flag and count > GRID_MAX:
        raise GanforgeError(f"{grid_flag} with {count} seeds ({seeds.text!r}): a grid holds at most {GRID_MAX} "
                            f"images; give fewer seeds or leave out {grid_flag} to write one file per seed")
    return rows


def class_grid_rows(G, asked: Sequence[int] | None, cols: int) -> list[int]:
    """The classes of the class grid's rows for model ``G``: every class, or ``asked`` checked against its
    range; ``cols`` seeds per row, and the whole grid within ``GRID_MAX`` images."""
    if not G.num_classes:
        raise GanforgeError("--class-grid needs a class-conditional model, but this model is unconditional")
    rows = list(range(G.num_classes)) if asked is None else list(asked)
    bad = next((k for k in rows if k >= G.num_classes), None)
    if bad is not None:
        raise GanforgeError(f"--classes {bad} out of range: the model has classes 0..{G.num_classes - 1}")
    if len(rows) * cols > GRID_MAX:
        raise GanforgeError(f"--class-grid with {len(rows)} classes x {cols} seeds = {len(rows) * cols} images: a "
                            f"grid holds at most {GRID_MAX} images; give fewer seeds or choose rows with --classes")
    return rows


def style_kwargs(G, psi: float | None, trunc_cutoff: int | None, noise_mode: str | None) -> dict:
    """The truncation and noise arguments of ``G``'s forward: only style-based models take them, and
    only they may be asked for."""
    from ganforge.synthesis.style import (
        check_cutoff,
        check_noise_applies,
        require_style_based,
    )

    if psi is not None or noise_mode is not None or trunc_cutoff is not None:
        require_style_based(G, "--psi / --trunc-cutoff / --noise-mode")
        check_cutoff(G, trunc_cutoff, "--trunc-cutoff")
        check_noise_applies(G, noise_mode, "--noise-mode")
    if is_style_based(G):
        # Style-based models: constant noise by default, as the official generate script, so a seed
        # names one image.
        return {"truncation_psi": 1.0 if psi is None else psi, "truncation_cutoff": trunc_cutoff,
                "noise_mode": noise_mode or "const"}
    return {}


def _input_motion(G, translate, rotate) -> torch.Tensor | None:
    """The input transform for ``translate`` / ``rotate`` (None when neither is given), after checking the
    values and that ``G`` is alias-free."""
    if translate is None and rotate is None:
        return None
    t = (0.0, 0.0) if translate is None else parse_translate(translate, "--translate")
    r = 0.0 if rotate is None else check_rotate(rotate, "--rotate")
    require_input_transform(G, "--translate" if translate is not None else "--rotate")
    return input_matrix(t, r)


def _check_class(G, class_idx: int | None) -> None:
    if class_idx is None:
        return
    if G.num_classes == 0:
        raise GanforgeError(f"--class {class_idx} given but the model is unconditional")
    if not 0 <= class_idx < G.num_classes:
        raise GanforgeError(f"--class {class_idx} out of range: the model has classes 0..{G.num_classes - 1}")


def generate_images(G, seeds: Seeds | str | Iterable[int], out: str | Path, *, grid: bool = False,
                    class_grid: bool = False, classes: str | Sequence[int] | None = None,
                    class_idx: int | None = None, psi: float | None = None, trunc_cutoff: int | None = None,
                    noise_mode: str | None = None, z_trunc: float | None = None,
                    translate: str | Sequence[float] | None = None, rotate: float | None = None,
                    batch_size: int = 1, overwrite: bool = False, device: str | torch.device | None = None,
                    progress: bool = True) -> Generated:
    """Generate one image per seed with ``G`` and write them into the folder ``out``.

    Every check comes before the first image: the arguments, what depends on the model (a style-based
    model for the truncation options, the classes), then the folder (writable; without ``overwrite``
    no output file may exist yet).

    Args:
        G: a loaded generator (``ganforge.load_generator``), called as ``G(z, c, **style options)``.
        seeds: ``Seeds``, a text like '0-63' or '1,5,9-12', or integers in 0..2**32-1.
        out: the output folder (created when missing).
        grid: write one ``grid.png`` tiling the seeds (at most ``GRID_MAX`` images) instead of one
            ``seedNNNN.png`` per seed.
        class_grid: write one ``class-grid.png`` with a row per class and a column per seed (conditional
            models); a seed's latent is the same in every row, so the rows differ only by class.
        classes: the rows of ``class_grid`` (indices, or a text like '0,3,5' / '0-4'); None: every class.
        class_idx: the class of every image of a conditional model; None: each seed draws one.
        psi: truncation psi of a style-based model (1: none, 0: the W-mean image); None: 1.
        trunc_cutoff: truncate only the style layers below this index (style-based models).
        noise_mode: 'random', 'const' or 'none' (style-based models; None: 'const').
        z_trunc: redraw the entries of z beyond +-z_trunc (BigGAN's truncation; any model that takes z).
        translate: move the picture by (x, y) image widths (a text 'X,Y' or two numbers; x right, y down;
            1 / img_resolution is one pixel), as official gen_images.py; alias-free (StyleGAN3) models
            only, each component within +-``motion.TRANSLATE_MAX``.
        rotate: turn the picture by this many degrees (counter-clockwise on screen), as official
            gen_images.py; alias-free (StyleGAN3) models only. The input transform of ``G`` is put back
            afterwards (``synthesis.motion.moved_input``).
        batch_size: images per forward pass; 1 makes each image bit-identical whatever else is generated.
        overwrite: replace existing output files.
        device: where the latents go; None: the device of ``G``'s parameters.
        progress: show a progress bar on stderr (when it is a terminal).

    Returns:
        A ``Generated`` naming the folder, the grid file or the number of files written.

    Raises:
        GanforgeError: a bad argument or combination, a model that cannot do what is asked, an output
            file that exists (without ``overwrite``) or appears meanwhile, a folder that cannot be
            written. Files written before a failure stay (each is complete); the message counts them.
    """
    check_interface(G, GENERATOR, "G")  # a translator or a foreign module is refused here, naming what it lacks
    seeds = Seeds.of(seeds)
    for flag, value, lo in (("--class", class_idx, 0), ("--trunc-cutoff", trunc_cutoff, 0)):
        if value is not None:
            check_int(value, flag, lo)
    check_int(batch_size, "--batch-size", 1, FORWARD_BATCH_MAX)
    if psi is not None:
        psi = check_psi(psi, "--psi")
    if noise_mode is not None:
        check_choice(noise_mode, "noise mode", NOISE_MODES, "--noise-mode")
    if z_trunc is not None:
        z_trunc = check_float(z_trunc, "--z-trunc", Z_TRUNC_MIN, Z_TRUNC_MAX,
                              describe=f"a number >= {Z_TRUNC_MIN:g} and <= {Z_TRUNC_MAX:g}")
    asked_rows = check_generate_options(seeds, grid=grid, class_grid=class_grid, classes=classes,
                                        class_idx=class_idx)
    matrix = _input_motion(G, translate, rotate)
    device = module_device(G) if device is None else torch.device(device)
    style_kw = style_kwargs(G, psi, trunc_cutoff, noise_mode)
    _check_class(G, class_idx)
    count = len(seeds)
    rows = class_grid_rows(G, asked_rows, count) if class_grid else None

    out = Path(out)
    outputs.check_writable_dir(out, "--out")
    grid_name = GRID_NAME if grid else CLASS_GRID_NAME if class_grid else None
    if grid_name:
        existing = [out / grid_name] if (out / grid_name).exists() else []
    else:
        seeds = seeds.unique()  # one file per seed; a repeated seed would only rewrite its own file
        count = len(seeds)
        existing = existing_outputs(out, seeds)
    if existing and not overwrite:
        raise GanforgeError(f"{len(existing)} output file(s) already exist, e.g. {existing[0]}; "
                            f"pass --overwrite or choose another --out")
    outputs.make_dir(out, "--out")

    cols = count
    if rows is None:
        batches = latent_batches(G, seeds, batch_size, class_idx, device, z_trunc)
    else:  # row after row: each seed's latent with class k, so the rows differ only by class
        batches = itertools.chain.from_iterable(latent_batches(G, seeds, batch_size, k, device, z_trunc)
                                                for k in rows)
        count = len(rows) * cols
    with moved_input(G, matrix):
        images = _generate(G, batches, style_kw, out if grid_name is None else None, count, overwrite,
                           progress)
    if grid_name is None:
        return Generated(out=out, grid=None, written=images, count=count, rows=None, cols=cols)
    path = out / grid_name
    picture = grid_image(images, cols=cols if rows is not None else None, scale=max(1, 64 // G.img_resolution))
    try:
        outputs.write_file(path, lambda f: picture.save(f, format="PNG"), overwrite=overwrite)
    except FileExistsError:
        raise GanforgeError(f"{path} appeared while generating; stopped without overwriting it") from None
    return Generated(out=out, grid=path, written=0, count=count, rows=rows, cols=cols)


def _generate(G, batches, style_kwargs: dict, out: Path | None, count: int, overwrite: bool, progress: bool):
    """Run ``G`` over ``batches``. With ``out``, write each image to its seed's file as it comes and
    return how many were written; without, return all images as one uint8 tensor (for a grid)."""
    from tqdm import tqdm

    written, kept = 0, []
    bar = tqdm(total=count, unit="img", file=sys.stderr, disable=None if progress else True, dynamic_ncols=True)
    try:
        with torch.no_grad():
            for chunk, z, c in batches:
                imgs = to_uint8(G(z, c, **style_kwargs)).cpu()
                if out is None:
                    kept.append(imgs)
                else:
                    for s, img in zip(chunk, imgs):
                        path = out / seed_file_name(s)
                        try:
                            outputs.write_file(path, lambda f, img=img: to_image(img).save(f, format="PNG"),
                                               overwrite=overwrite)
                        except FileExistsError:
                            raise GanforgeError(f"{path} appeared while generating; stopped without "
                                                f"overwriting it ({written} of {count} images written)") from None
                        written += 1
                bar.update(len(chunk))
    except GanforgeError as e:
        if written:
            raise type(e)(f"{e} ({written} of {count} images were written before it)") from None
        raise
    finally:
        bar.close()
    return written if out is not None else torch.cat(kept)
