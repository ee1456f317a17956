"""Image folders and zip archives: listing, class labels, decoding any PIL mode, resizing.

Listing (``ImageSource``):
  * Allowed formats, by extension: png, jpg/jpeg, bmp, gif, webp, tif/tiff. Other files are kept in
    the listing so the pre-flight scan can report them as "disallowed format".
  * OS litter is ignored and counted: ``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, anything under a
    ``__MACOSX/`` tree, ``._*`` AppleDouble files and any other hidden (dot) file or folder.
  * A zip whose every entry sits under one top-level folder (the usual "zip of a folder") has that
    folder stripped, so it behaves exactly like the unpacked folder.
  * Labels: the first-level sub-folder names, sorted, are the classes; with no sub-folders the set
    is unlabelled; images both at the top level and in sub-folders is an error.

Decoding (``decode_to_array``), mode handling on purpose:
  * ``1`` (bilevel) -> L with values 0/255; ``L`` as is; ``I;16*`` / ``I`` (16-bit) -> L by ``>> 8``
    (values scaled, never clipped at 255; ``I`` is clamped to 0..65535 first); ``F`` -> clamped 0..255.
  * ``LA``, ``RGBA``, ``P``/``PA`` with transparency -> alpha composited over BLACK (``c * a / 255``),
    matching the black padding used elsewhere; palettes go through RGBA.
  * ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` ... -> RGB via PIL.
  * Animated images (GIF/WebP/TIFF pages): the first frame.
  An image counts as grayscale when its mode is gray-only or its palette only holds grays.

Resizing (``resize_image``), to ``resolution`` x ``resolution``:
  * ``crop``: scale the shorter side to ``resolution``, keep the centered square.
  * ``pad``: fit the whole image inside the square WITHOUT upscaling (only downscale when the longer
    side is larger than ``resolution``), centered on black. So a 28 px image at 32 gets a 2 px
    black border (as in the usual DCGAN-on-MNIST setup) instead of being blown up.
  * ``stretch``: resize both sides to ``resolution`` (aspect ratio not kept).
  Resampling is LANCZOS with ``reducing_gap=3``: for large downscales PIL first box-reduces by an
  integer factor (fast, alias-free), then LANCZOS does the remaining <= 3x step.
"""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ganforge.errors import GanforgeError

ALLOWED_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
RESIZE_POLICIES = ("crop", "pad", "stretch")
_LITTER_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db"}
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def is_litter(rel: str) -> bool:
    """True for OS-generated junk that is never part of a dataset (see module docstring)."""
    parts = PurePosixPath(rel).parts
    if any(p == "__MACOSX" or p.startswith(".") for p in parts):
        return True  # hidden folders/files, AppleDouble "._x", .DS_Store, macOS zip resource forks
    return parts[-1].lower() in _LITTER_NAMES


def has_allowed_extension(rel: str) -> bool:
    return PurePosixPath(rel).suffix.lower() in ALLOWED_EXTENSIONS


class ImageSource:
    """Uniform read access to the files of an image folder or zip archive.

    Attributes:
        path: the folder or archive given.
        kind: ``"folder"`` or ``"zip"``.
        files: sorted relative POSIX paths of every non-litter file (images and non-images).
        ignored_litter: how many litter files were skipped.
        prefix: top-level folder stripped from every zip entry ("" if none).

    Use as a context manager (closes the zip).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise GanforgeError(f"dataset path {str(self.path)!r} does not exist")
        self._zip: zipfile.ZipFile | None = None
        self._lock = threading.Lock()
        self.prefix = ""
        names: list[str]
        if self.path.is_dir():
            self.kind = "folder"
            names = []
            for dirpath, dirnames, filenames in os.walk(self.path):
                dirnames.sort()
                rel_dir = Path(dirpath).relative_to(self.path)
                for fn in filenames:
                    names.append((rel_dir / fn).as_posix())
        elif zipfile.is_zipfile(self.path):
            self.kind = "zip"
            try:
                self._zip = zipfile.ZipFile(self.path)
                names = [i.filename for i in self._zip.infolist() if not i.is_dir()]
            except (zipfile.BadZipFile, OSError) as e:
                raise GanforgeError(f"cannot read zip archive {str(self.path)!r}: {e}") from None
        else:
            raise GanforgeError(
                f"dataset path {str(self.path)!r} is a file but not a zip archive; give a folder of "
                f"images, a .zip of images, or a built-in name"
            )
        kept = [n for n in names if not is_litter(n)]
        self.ignored_litter = len(names) - len(kept)
        if self.kind == "zip":
            tops = {PurePosixPath(n).parts[0] for n in kept}
            if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in kept):
                self.prefix = tops.pop() + "/"
        self._full = {n[len(self.prefix):]: n for n in kept}
        self.files = sorted(self._full)

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def display(self, rel: str) -> str:
        """Path shown to users: the real file path, or ``archive.zip:member``."""
        if self.kind == "folder":
            return str(self.path / rel)
        return f"{self.path}:{self._full[rel]}"

    def read(self, rel: str, max_bytes: int | None = None) -> bytes:
        """Raw bytes of one file. Raises OSError (or zipfile errors) on failure."""
        if self.kind == "folder":
            return (self.path / rel).read_bytes()
        assert self._zip is not None
        with self._lock:  # one shared file handle: serialize member reads across threads
            return self._zip.read(self._full[rel])

    def labels(self) -> tuple[tuple[str, ...], dict[str, int] | None]:
        """Class names and rel path -> label index, from first-level sub-folders of image files.

        Returns ``((), None)`` when no image lives in a sub-folder.

        Raises:
            GanforgeError: images both at the top level and inside sub-folders.
        """
        images = [f for f in self.files if has_allowed_extension(f)]
        top = [f for f in images if "/" not in f]
        nested = [f for f in images if "/" in f]
        if not nested:
            return (), None
        if top:
            raise GanforgeError(
                f"{self.path}: images both at the top level (e.g. {top[0]!r}) and in class sub-folders "
                f"(e.g. {nested[0]!r}); put every image in a class sub-folder, or none of them"
            )
        classes = tuple(sorted({f.split("/", 1)[0] for f in nested}))
        index = {c: i for i, c in enumerate(classes)}
        return classes, {f: index[f.split("/", 1)[0]] for f in nested}


def _is_gray_palette(img: Image.Image) -> bool:
    pal = img.getpalette() or []
    rgb = np.asarray(pal, dtype=np.int32).reshape(-1, 3)
    return bool(np.all((rgb[:, 0] == rgb[:, 1]) & (rgb[:, 1] == rgb[:, 2])))


def _composite_black(arr: np.ndarray) -> np.ndarray:
    """[H, W, C+1] uint8 with alpha last -> [H, W, C] composited over black, rounded."""
    color = arr[..., :-1].astype(np.uint16)
    alpha = arr[..., -1:].astype(np.uint16)
    return ((color * alpha + 127) // 255).astype(np.uint8)


def decode_to_array(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any mode to uint8 ``[H, W, 1]`` (gray) or ``[H, W, 3]`` (color).

    Args:
        img: an opened PIL image (already ``load()``-ed or lazily loadable).

    Returns:
        A uint8 array; 1 channel when the source is grayscale (incl. gray palettes), else 3.
    """
    mode = img.mode
    if mode == "1":
        arr = np.asarray(img.convert("L"))
    elif mode == "L":
        arr = np.asarray(img)
    elif mode.startswith("I;16") or mode == "I":
        # 16-bit gray: keep the full range by shifting, instead of PIL's clip-at-255 conversion.
        wide = np.asarray(img).astype(np.int64)
        arr = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
    elif mode == "F":
        arr = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
    elif mode in ("LA", "La"):
        arr = _composite_black(np.asarray(img.convert("LA")))
    elif mode == "RGB":
        arr = np.asarray(img)
    elif mode in ("P", "PA"):
        gray = mode == "P" and _is_gray_palette(img)
        rgb = _composite_black(np.asarray(img.convert("RGBA")))
        arr = rgb[..., :1] if gray else rgb
    elif mode in ("RGBA", "RGBa") or "A" in mode:
        arr = _composite_black(np.asarray(img.convert("RGBA")))
    else:  # CMYK, YCbCr, LAB, HSV, RGBX, ...
        arr = np.asarray(img.convert("RGB"))
    if arr.ndim == 2:
        arr = arr[..., None]
    return np.ascontiguousarray(arr, dtype=np.uint8)


def check_resize_policy(resize: str) -> str:
    if resize not in RESIZE_POLICIES:
        raise GanforgeError(f"unknown resize policy {resize!r}; valid choices: {', '.join(RESIZE_POLICIES)}")
    return resize


def resize_array(arr: np.ndarray, resolution: int, resize: str) -> np.ndarray:
    """Bring a uint8 ``[H, W, C]`` image to ``[resolution, resolution, C]`` with a resize policy.

    Args:
        arr: uint8 image, C in {1, 3}.
        resolution: target side length (> 0).
        resize: ``crop``, ``pad`` or ``stretch`` (see module docstring).

    Returns:
        uint8 ``[resolution, resolution, C]``.
    """
    check_resize_policy(resize)
    h, w, c = arr.shape
    r = resolution
    if (h, w) == (r, r):
        return arr
    img = Image.fromarray(arr[..., 0] if c == 1 else arr)
    if resize == "stretch":
        out = img.resize((r, r), Image.Resampling.LANCZOS, reducing_gap=3.0)
    elif resize == "crop":
        # Resample only the centered square of the source straight to r x r: one interpolation,
        # exactly "scale the shorter side to r, then center-crop".
        s = min(w, h)
        left, top = (w - s) / 2, (h - s) / 2
        out = img.resize((r, r), Image.Resampling.LANCZOS, box=(left, top, left + s, top + s), reducing_gap=3.0)
    else:  # pad
        scale = min(1.0, r / max(w, h))
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        inner = img if (nw, nh) == (w, h) else img.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = Image.new(img.mode, (r, r), 0)
        out.paste(inner, ((r - nw) // 2, (r - nh) // 2))
    res = np.asarray(out)
    return np.ascontiguousarray(res[..., None] if res.ndim == 2 else res)


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``[..., H, W, C]`` -> ``[..., H, W, channels]``: gray is repeated; RGB -> gray uses
    ITU-R 601 luma (the same weights as PIL's ``convert("L")``)."""
    c = arr.shape[-1]
    if c == channels:
        return arr
    if channels == 3:
        return np.repeat(arr, 3, axis=-1)
    luma = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
