"""``ganforge translate``: run a trained pix2pix / CycleGAN model over a folder (or zip) of images.

Every image of the input is read with the dataset reader's limits and bad-image rules, brought to the
model's resolution with a resize policy (crop, pad, stretch) and its input channels, translated, and
written under the output folder with the same relative path and file name (the format follows the
extension, so ``a.jpg`` becomes a JPEG again). Nothing is overwritten unless asked: all output paths
are checked before the first image is translated. A side-by-side grid (input | output) of the first
images can be written too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.errors import GanforgeError

GRID_NAME = "translate-grid.png"


@dataclass
class TranslateResult:
    written: int
    skipped: int
    out: Path
    grid: Path | None = None


def _prepare(arr: np.ndarray, resolution: int, resize: str, channels: int) -> np.ndarray:
    from ganforge.data.folder import resize_array, to_channels

    return to_channels(resize_array(arr, resolution, resize), channels)


def _source(path: Path):
    """The input as an image source whose sub-folders are just folders (kept in the output), not classes."""
    from ganforge.data.folder import ImageSource

    class Unlabelled(ImageSource):
        def labels(self):
            return (), None

    return Unlabelled(path)


def _output_path(out: Path, rel: str) -> Path:
    return out.joinpath(*Path(rel).parts)


def check_translate_args(input_path: str | Path, out: str | Path, *, resize: str = "pad",
                         on_bad_image: str = "error") -> None:
    """What ``translate_folder`` checks without the model, for the CLI to check before loading it: the
    resize and bad-image policies, an input that exists and is a folder or a zip (a named pipe would
    block its reader), and an output folder that is not the input folder."""
    from ganforge.args import path_kind
    from ganforge.data.folder import check_resize_policy
    from ganforge.data.scan import check_bad_image_policy

    check_resize_policy(resize)
    check_bad_image_policy(on_bad_image)
    input_path, out = Path(input_path), Path(out)
    kind = path_kind(input_path)
    if kind is None:
        raise GanforgeError(f"--input {str(input_path)!r} does not exist; give a folder or zip of images")
    if kind not in ("folder", "file"):
        raise GanforgeError(f"--input {str(input_path)!r} is a {kind}, not a folder or zip of images")
    if kind == "folder" and out.resolve() == input_path.resolve():
        raise GanforgeError(f"--out {str(out)!r} is the input folder; choose another folder (the inputs are kept)")


def translate_folder(model: Any, input_path: str | Path, out: str | Path, *, direction: str | None = None,
                     device: str | torch.device = "cpu", batch_size: int = 16, resize: str = "pad",
                     overwrite: bool = False, on_bad_image: str = "error", grid: int = 0,
                     progress: bool = True) -> TranslateResult:
    """Translate every image in ``input_path`` with ``model`` (a loaded ``Translator``) into ``out``.

    Raises a GanforgeError before writing anything for: an unknown direction, a missing input, an
    output folder that is the input folder, existing outputs without ``overwrite``, bad images under
    ``on_bad_image="error"``.
    """
    from tqdm import tqdm

    from ganforge.args import check_int
    from ganforge.data.folder import has_allowed_extension
    from ganforge.data.scan import apply_bad_image_policy, scan_source
    from ganforge.limits import FORWARD_BATCH_MAX, TRANSLATE_GRID_MAX
    from ganforge.outputs import check_writable_dir, make_dir, write_file
    from ganforge.images import _pil, grid_image, to_uint8

    directions = tuple(model.directions)
    direction = direction or directions[0]
    if direction not in directions:
        raise GanforgeError(f"--direction {direction!r}: this model translates {', '.join(directions)} "
                            f"(valid choices: {', '.join(directions)})")
    check_int(batch_size, "--batch-size", 1, FORWARD_BATCH_MAX)
    check_int(grid, "--grid", 0, TRANSLATE_GRID_MAX)
    check_translate_args(input_path, out, resize=resize, on_bad_image=on_bad_image)
    input_path, out = Path(input_path), Path(out)
    check_writable_dir(out, "--out")
    in_ch, _ = model.channels[direction]
    resolution = int(model.meta["resolution"]) if hasattr(model, "meta") else None
    if resolution is None:
        raise GanforgeError("the model has no export metadata (resolution); load it with ganforge.load_generator")
    with _source(input_path) as src:
        files = [f for f in src.files if has_allowed_extension(f)]
        targets = [_output_path(out, f) for f in files] + ([out / GRID_NAME] if grid else [])
        existing = [p for p in targets if p.exists()]
        if existing and not overwrite:
            raise GanforgeError(f"{len(existing)} output file(s) already exist, e.g. {existing[0]}; pass --overwrite "
                                f"or choose another --out (nothing was written)")
        if on_bad_image == "error":  # every file checked before the first output is written
            apply_bad_image_policy(scan_source(src), on_bad_image)
        make_dir(out, "--out")
        pending: list[tuple[str, np.ndarray]] = []
        shown: list[torch.Tensor] = []
        written = 0
        bar = tqdm(total=len(files), unit="img", file=sys.stderr, disable=None if progress else True,
                   dynamic_ncols=True)

        def flush() -> None:
            nonlocal written
            if not pending:
                return
            x = torch.from_numpy(np.stack([a.transpose(2, 0, 1) for _, a in pending])).to(device)
            with torch.no_grad():
                y = to_uint8(model(x.float() / 127.5 - 1, direction)).cpu()
            for (rel, _), img, inp in zip(pending, y, x.cpu()):
                path = _output_path(out, rel)
                make_dir(path.parent, "--out")  # sub-folders of the input are kept
                fmt_img = _pil(img)
                try:
                    write_file(path, lambda f, im=fmt_img, p=path: im.save(f, format=_format_of(p)),
                               overwrite=overwrite)
                except FileExistsError:
                    raise GanforgeError(f"{path} appeared while translating; stopped without overwriting it "
                                        f"({written} images written)") from None
                written += 1
                if len(shown) < 2 * grid:
                    shown.extend([inp, img])
            bar.update(len(pending))
            pending.clear()

        def consume(entry, arr: np.ndarray) -> None:
            pending.append((entry.rel, arr))
            if len(pending) >= batch_size:
                flush()

        try:
            report = scan_source(src, transform=partial(_prepare, resolution=resolution, resize=resize, channels=in_ch),
                                 consume=consume)
            flush()
        finally:
            bar.close()
    skipped = apply_bad_image_policy(report, on_bad_image)
    grid_path = None
    if grid and shown:
        channels = max(t.shape[0] for t in shown)
        cells = torch.stack([t.expand(channels, -1, -1) for t in shown])
        img = grid_image(cells, cols=2 * min(4, grid), scale=max(1, 64 // resolution))
        grid_path = out / GRID_NAME
        try:
            write_file(grid_path, lambda f: img.save(f, format="PNG"), overwrite=overwrite)
        except FileExistsError:
            raise GanforgeError(f"{grid_path} appeared while translating; stopped without overwriting it "
                                f"({written} images written)") from None
    return TranslateResult(written, skipped, out, grid_path)


def _format_of(path: Path) -> str:
    from PIL import Image

    ext = path.suffix.lower()
    Image.init()
    fmt = Image.EXTENSION.get(ext)
    if fmt is None:
        raise GanforgeError(f"cannot write {str(path)!r}: no image format for extension {ext!r}")
    return fmt
