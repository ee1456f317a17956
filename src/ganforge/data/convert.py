"""``ganforge data convert SRC --out DATA.zip --resolution R``: decode, resize and check a dataset once.

The output is a zip in the layout of NVlabs' ``dataset_tool.py`` (which StyleGAN2-ADA / StyleGAN3 read
too): images ``00000/img00000000.png``, ``00000/img00000001.png``, ... (1000 per folder), R x R,
lossless PNG, each in its own channels (gray stays gray unless ``channels`` is given), stored without
further compression; and ``dataset.json`` with ``{"labels": [[name, class], ...], "class_names": [...]}``
(``"labels": null`` when unlabelled). So loading the zip gives, pixel for pixel, what loading ``SRC`` at
the same ``data.resolution`` / ``data.resize`` / ``data.channels`` gives, class names included, while
a training run (streamed or not) only decodes PNGs: no resizing, no large source images.

The source is any folder, zip or built-in image dataset ``load_dataset`` takes. A folder / zip is
scanned and written image by image (bounded memory, any size); bad files follow ``on_bad_image``.
Nothing is written at ``out`` unless everything succeeds: the zip is built under a temporary name next
to it and renamed at the end; an existing ``out`` is never replaced without ``overwrite``.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.config import DataConfig
from ganforge.errors import GanforgeError
from ganforge.outputs import make_dir
from ganforge.signals import sigterm_as_interrupt

PER_FOLDER = 1000


def member_name(i: int) -> str:
    """The zip member of image ``i`` (NVlabs' ``dataset_tool`` layout)."""
    return f"{i // PER_FOLDER:05d}/img{i:08d}.png"


@dataclass
class Converted:
    path: Path
    images: int
    resolution: int
    channels: tuple[int, ...]  # the channel counts written (1, 3 or both)
    class_names: tuple[str, ...]
    skipped: int

    def summary(self) -> str:
        ch = "/".join(str(c) for c in self.channels)
        classes = f", {len(self.class_names)} classes" if self.class_names else ", unlabelled"
        skipped = f", {self.skipped} bad files skipped" if self.skipped else ""
        return (f"wrote {self.path}: {self.images} images of {self.resolution}x{self.resolution} px, "
                f"{ch} channel(s){classes}{skipped}")


class _ZipWriter:
    def __init__(self, f, channels: int | None):
        self.zf = zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self.channels = channels
        self.names: list[str] = []
        self.written_channels: set[int] = set()

    def add(self, arr_hwc: np.ndarray) -> str:
        from ganforge.data.folder import to_channels

        if self.channels is not None:
            arr_hwc = to_channels(arr_hwc, self.channels)
        c = int(arr_hwc.shape[-1])
        self.written_channels.add(c)
        buf = io.BytesIO()
        Image.fromarray(arr_hwc[..., 0] if c == 1 else arr_hwc).save(buf, format="PNG", compress_level=6)
        name = member_name(len(self.names))
        self.zf.writestr(name, buf.getvalue())
        self.names.append(name)
        return name

    def finish(self, labels: list[int] | None, class_names: tuple[str, ...]) -> None:
        doc: dict = {"labels": None}
        if labels is not None:
            doc = {"labels": [[n, int(y)] for n, y in zip(self.names, labels)], "class_names": list(class_names)}
        self.zf.writestr("dataset.json", json.dumps(doc))
        self.zf.close()


def _check_out(out: Path, overwrite: bool) -> None:
    if out.suffix.lower() != ".zip":
        raise GanforgeError(f"bad --out {str(out)!r}: give a file name ending in .zip (the converted dataset is "
                            f"a zip archive)")
    from ganforge.data.folder import probe_path

    st = probe_path(out, "--out")  # a name too long, a symlink loop: one message, not a traceback
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise GanforgeError(f"--out {str(out)!r} is a folder; give the name of the .zip file to write")
    if st is not None and not overwrite:
        raise GanforgeError(f"--out {str(out)!r} already exists; choose another name, or pass --overwrite "
                            f"to replace it")
    from ganforge.outputs import check_writable_dir

    check_writable_dir(out.parent if str(out.parent) else Path("."), "--out folder", shown=out)


def _write_builtin(cfg: DataConfig, writer: _ZipWriter, bar) -> tuple[list[int] | None, tuple[str, ...], int]:
    from ganforge.data.base import is_translation
    from ganforge.data.load import load_dataset

    ds = load_dataset(cfg)
    if is_translation(ds):
        raise GanforgeError(f"{cfg.name!r} is a translation dataset (two domains); data convert takes a folder, "
                            f"a zip or a built-in image dataset")
    for i in range(len(ds)):
        writer.add(ds.images_u8[i].permute(1, 2, 0).numpy())
        bar.update(1)
    labels = ds.labels.tolist() if ds.labels is not None else None
    return labels, ds.class_names, ds.skipped


def _write_folder(cfg: DataConfig, path: Path, writer: _ZipWriter, bar) -> tuple[list[int] | None, tuple[str, ...], int]:
    from ganforge.data.folder import ImageSource, resize_array
    from ganforge.data.scan import apply_bad_image_policy, scan_source

    def consume(_entry, arr: np.ndarray) -> None:
        writer.add(arr)
        bar.update(1)

    with ImageSource(path) as src:
        report = scan_source(src, max_pixels=cfg.max_image_pixels, max_file_bytes=cfg.max_file_bytes,
                             transform=partial(resize_array, resolution=cfg.resolution, resize=cfg.resize),
                             consume=consume)
    skipped = apply_bad_image_policy(report, cfg.on_bad_image)
    labels = [int(e.label) for e in report.good] if report.class_names else None
    return labels, report.class_names, skipped


def convert(src: str, out: str | os.PathLike, resolution: int, *, resize: str = "pad", channels: int | None = None,
            on_bad_image: str = "error", split: str = "train", overwrite: bool = False,
            max_file_bytes: int = DataConfig.max_file_bytes, max_image_pixels: int = DataConfig.max_image_pixels,
            progress: bool = True) -> Converted:
    """Write ``src`` (folder, zip or built-in name) as a converted zip at ``out`` (see the module docstring)."""
    from ganforge.data.builtin import BUILTIN_DATASETS
    from ganforge.data.dataset import _check_cfg
    from ganforge.data.translation import is_translation_config
    from ganforge.limits import RESOLUTION_MAX

    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 1 <= resolution <= RESOLUTION_MAX:
        raise GanforgeError(f"bad resolution {resolution!r}: expected an integer 1..{RESOLUTION_MAX} (the side of "
                            f"the square images written)")
    out = Path(out).expanduser()
    cfg = DataConfig(name=src, split=split, resolution=resolution, resize=resize, channels=channels,
                     on_bad_image=on_bad_image, max_file_bytes=max_file_bytes, max_image_pixels=max_image_pixels)
    _check_cfg(cfg)
    if is_translation_config(cfg):
        raise GanforgeError(f"{src!r} is a translation dataset (two domains); data convert takes a folder, a zip "
                            f"or a built-in image dataset")
    from ganforge.data.folder import probe_path

    builtin = src in BUILTIN_DATASETS or src == "emoji"
    path = Path(src).expanduser()
    if not builtin and probe_path(path, "SRC") is None:
        raise GanforgeError(f"unknown dataset {src!r}: not a built-in name and no such file or folder")
    _check_out(out, overwrite)
    if not builtin and path.resolve() == out.resolve():
        raise GanforgeError(f"--out {str(out)!r} is the source itself; write the converted dataset elsewhere")
    make_dir(out.parent, "--out")
    with sigterm_as_interrupt():  # from before the temporary file exists: a killed convert removes it like Ctrl-C
        return _write_zip(cfg, src, path, out, builtin, channels, resolution, overwrite, progress)


def _write_zip(cfg: DataConfig, src: str, path: Path, out: Path, builtin: bool, channels: int | None,
               resolution: int, overwrite: bool, progress: bool) -> Converted:
    """Write the zip through the project's one writer (``outputs.atomic_write``): a temporary file beside
    ``out``, given its name at the end (without ``overwrite`` by a hard link that never replaces a file
    that appeared meanwhile), so no partial file is ever left under ``out``, nor the temporary one on
    any error or interrupt."""
    from tqdm import tqdm

    from ganforge.outputs import atomic_write

    done: dict = {}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            writer = _ZipWriter(f, channels)
            try:
                if builtin:
                    labels, names, skipped = _write_builtin(cfg, writer, bar)
                else:
                    labels, names, skipped = _write_folder(cfg, path, writer, bar)
            except BaseException:
                writer.zf.close()  # while its file is still open; atomic_write removes the file
                raise
            writer.finish(labels, names)
        done.update(writer=writer, names=names, skipped=skipped)

    bar = tqdm(unit="img", file=sys.stderr, disable=None if progress else True, dynamic_ncols=True,
               desc=f"converting {src}")
    try:
        atomic_write(out, write, overwrite=overwrite)
    except FileExistsError:
        raise GanforgeError(f"--out {str(out)!r} already exists; choose another name, or pass --overwrite") from None
    finally:
        bar.close()
    writer = done["writer"]
    return Converted(out, len(writer.names), resolution, tuple(sorted(writer.written_channels)), tuple(done["names"]),
                     done["skipped"])
