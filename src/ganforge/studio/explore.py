"""What the studio's Explore page computes: images from seeds, style-mixing grids, interpolation frames
and translated uploads, with the exported models of the runs folder.

Every picture is the one the command line makes, down to the byte where the command writes a PNG:

- ``image``: the file ``ganforge generate --seeds SEED [--psi PSI] [--class C] [--noise-mode N]`` writes
  for that seed (the same latent from ``synthesis.generate.latent_batches``, the same forward options,
  the same PNG encoder);
- ``mix``: the grid ``ganforge mix`` writes (``synthesis.style.style_mixing_grid``, enlarged as the
  command enlarges it);
- ``interp``: frame ``frame`` of an interpolation a -> b in ``frames`` frames, i.e. of
  ``synthesis.style.interpolation_frames(G, [a, b], frames - 1)`` (``ganforge interpolate --seeds a,b
  --frames (frames - 1)``: the command's ``--frames`` counts frames per transition, its sequence holds one
  more, the end seed's); only the synthesis batch holding that frame is computed, and kept for the next
  frames of the same interpolation;
- ``translate``: an uploaded image read with the data layer's bounded reader and brought to the model's
  resolution as ``ganforge translate`` brings a folder's images (resize policy ``pad``).

Models are read only through ``ganforge.api.load_generator`` (safetensors; no pickle), from a path
inside the runs folder checked by ``studio.paths.safe_path``, and kept in a small LRU cache keyed by the
resolved file, its modification time and size, so a re-exported file is loaded again.

Every refusal is a ``StudioError`` naming the parameter, the value and what is valid: 400 for a bad
value or a model of the wrong kind, 403/404 for a path, 413 for an upload too large (bytes or pixels),
415 for an upload that is no PNG/JPEG/WebP/BMP image, 503 when too many image requests wait.

``Explorer.run`` runs the work in a worker thread, one request at a time per device, so the event loop
keeps answering the other requests (the runs listing, files) while an image is rendered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ganforge.args import NOISE_MODES, check_choice, check_int, check_psi, parse_seeds, shown
from ganforge.errors import GanforgeError
from ganforge.limits import SEED_MAX
from ganforge.studio.errors import StudioError, bad_request
from ganforge.studio.paths import safe_path

# Uploads (POST /api/translate): at most this many bytes, these formats (PIL decoder names), at most
# this many pixels per side (so at most UPLOAD_SIDE_MAX**2 pixels: the decompression-bomb bound).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
UPLOAD_FORMAT_NAMES = "PNG, JPEG, WebP or BMP"
UPLOAD_SIDE_MAX = 4096
MAX_UPLOAD_PIXELS = UPLOAD_SIDE_MAX * UPLOAD_SIDE_MAX

# Work per request: seeds per side of a mixing grid, frames of an interpolation, pixels rendered by one
# request (images x resolution^2; a 9 x 9 mixing grid of a 1024-px model fits), size of a model file.
MIX_SEEDS_MAX = 8
FRAMES_MIN, FRAMES_MAX = 2, 256
MAX_REQUEST_PIXELS = 96 * 1024 * 1024
MAX_MODEL_BYTES = 2 * 1024**3
STYLES_MAX_CHARS = 200

# Interpolation batches kept for the next frames (a slider scrubbing through one interpolation).
FRAME_CACHE_ITEMS = 8
FRAME_CACHE_BYTES = 128 * 1024 * 1024

# The order the page offers noise modes in (the default first).
PAGE_NOISE_MODES = ("const", "random", "none")

GENERATOR, TRANSLATOR = "generator", "translator"

# One render at a time per device, whatever the event loop or the Explorer asking.
_DEVICE_LOCKS: dict[str, threading.Lock] = {}
_DEVICE_LOCKS_GUARD = threading.Lock()


def _device_lock(device: torch.device) -> threading.Lock:
    with _DEVICE_LOCKS_GUARD:
        return _DEVICE_LOCKS.setdefault(str(device), threading.Lock())


# ------------------------------------------------------------------------------------------------
# Parameters: the query strings of /api/image, /api/mix and /api/interp.


@contextlib.contextmanager
def as_bad_request():
    """A ``GanforgeError`` of the library's checks (its message names the value and the valid range)
    raised inside becomes a 400 with that message."""
    try:
        yield
    except GanforgeError as e:
        raise bad_request(str(e)) from None


def _param(params: Mapping[str, str], name: str) -> str | None:
    """The value of ``name``, None when it is absent or empty (the default applies)."""
    value = params.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def check_seed(value: object, name: str = "seed") -> int:
    """A seed: an integer in 0..2**32-1."""
    with as_bad_request():
        return check_int(value, name, 0, SEED_MAX)


def check_psi_value(value: object, name: str = "psi") -> float:
    """A truncation psi: finite, within the range ``ganforge generate --psi`` accepts."""
    with as_bad_request():
        return check_psi(value, name)


def check_class_value(value: object, name: str = "class") -> int | None:
    """None (no class chosen), or a class index >= 0 (the model's range is checked with the model)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    with as_bad_request():
        return check_int(value, name, 0)


def check_noise_value(value: object, name: str = "noise") -> str | None:
    """None (the model's default: const), or one of const, random, none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    with as_bad_request():
        return check_choice(str(value).strip(), "noise mode", NOISE_MODES, name)


def check_seed_list(value: object, name: str) -> list[int]:
    """1..MIX_SEEDS_MAX seeds: a text like '1,2,3' or '0-3' (``ganforge.args.parse_seeds``) or integers."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise bad_request(f"{name}: missing; give 1 to {MIX_SEEDS_MAX} seeds like 1,2,3 or 0-3")
    with as_bad_request():
        if isinstance(value, str):
            seeds = parse_seeds(value, name)
            if len(seeds) > MIX_SEEDS_MAX:
                raise bad_request(f"{name} {shown(value)}: {len(seeds)} seeds; give 1 to {MIX_SEEDS_MAX} seeds")
            return list(seeds)
        seeds = list(value)  # type: ignore[call-overload]
    if not 1 <= len(seeds) <= MIX_SEEDS_MAX:
        raise bad_request(f"{name}: {len(seeds)} seeds; give 1 to {MIX_SEEDS_MAX} seeds")
    return [check_seed(s, name) for s in seeds]


def check_frames(frames: object, frame: object) -> tuple[int, int]:
    """The frame count (FRAMES_MIN..FRAMES_MAX) and the frame asked for (0..frames-1)."""
    with as_bad_request():
        n = check_int(frames, "frames", FRAMES_MIN, FRAMES_MAX)
        k = check_int(frame, "frame", 0, n - 1)
    return n, k


def check_space(value: object) -> str:
    with as_bad_request():
        return check_choice(str(value), "interpolation space", ("w", "z"), "space")


def check_styles_text(value: object) -> str:
    """The text of ``styles`` (its layers are checked against the model)."""
    text = "coarse" if value is None else str(value).strip()
    if not text or len(text) > STYLES_MAX_CHARS:
        raise bad_request(f"styles {shown(text)}: expected coarse, middle, fine (combinable with commas) or style "
                          f"layers like 0-3,6 (at most {STYLES_MAX_CHARS} characters)")
    return text


def parse_image_args(params: Mapping[str, str]) -> dict:
    """``?seed=0&psi=1&class=&noise=const`` -> the keyword arguments of ``Explorer.image`` (the model's own
    checks, e.g. a class of an unconditional model, come with the model)."""
    return {
        "seed": check_seed(_param(params, "seed") or "0"),
        "psi": check_psi_value(_param(params, "psi") or "1"),
        "class_idx": check_class_value(_param(params, "class")),
        "noise_mode": check_noise_value(_param(params, "noise")),
    }


def parse_mix_args(params: Mapping[str, str]) -> dict:
    """``?rows=1,2,3&cols=4,5&styles=coarse&psi=1&class=&noise=const`` -> the keyword arguments of
    ``Explorer.mix``."""
    return {
        "rows": check_seed_list(_param(params, "rows"), "rows"),
        "cols": check_seed_list(_param(params, "cols"), "cols"),
        "styles": check_styles_text(_param(params, "styles")),
        "psi": check_psi_value(_param(params, "psi") or "1"),
        "class_idx": check_class_value(_param(params, "class")),
        "noise_mode": check_noise_value(_param(params, "noise")),
    }


def parse_interp_args(params: Mapping[str, str]) -> dict:
    """``?a=0&b=1&frame=0&frames=16&psi=1&space=w&class=&noise=const`` -> the keyword arguments of
    ``Explorer.interp``."""
    frames, frame = check_frames(_param(params, "frames") or "16", _param(params, "frame") or "0")
    return {
        "a": check_seed(_param(params, "a") or "0", "a"),
        "b": check_seed(_param(params, "b") or "1", "b"),
        "frame": frame,
        "frames": frames,
        "psi": check_psi_value(_param(params, "psi") or "1"),
        "space": check_space(_param(params, "space") or "w"),
        "class_idx": check_class_value(_param(params, "class")),
        "noise_mode": check_noise_value(_param(params, "noise")),
    }


def parse_translate_args(params: Mapping[str, str]) -> dict:
    """``?direction=AtoB`` (optional; the model's first direction by default) -> ``Explorer.translate``'s
    keyword arguments (the direction is checked against the model)."""
    direction = _param(params, "direction")
    if direction is not None and len(direction) > 40:
        raise bad_request(f"direction {shown(direction)}: expected a direction of the model, e.g. AtoB or BtoA")
    return {"direction": direction}


# ------------------------------------------------------------------------------------------------
# Uploads.


class _UploadSource:
    """The uploaded bytes as a one-file image source for ``ganforge.data.scan.inspect_file`` (the bounded
    reader every dataset image goes through): ``size`` and ``read`` of bytes already in memory."""

    kind = "upload"

    def __init__(self, data: bytes):
        self._data = data

    def display(self, rel: str) -> str:
        return "the upload"

    def size(self, rel: str) -> int:
        return len(self._data)

    def read(self, rel: str, max_bytes: int) -> bytes:
        return self._data


def _too_many_pixels(size: tuple[int, int] | None) -> StudioError:
    got = f"{size[0]}x{size[1]} pixels" if size else f"more than {MAX_UPLOAD_PIXELS} pixels"
    return StudioError(413, f"upload of {got}: images of at most {UPLOAD_SIDE_MAX}x{UPLOAD_SIDE_MAX} pixels are "
                            f"accepted; make it smaller first")


def read_upload(data: bytes) -> np.ndarray:
    """An uploaded image as uint8 [H, W, C] (C 1 or 3), decoded as a dataset image is (``inspect_file``:
    any PIL mode, alpha over black, EXIF orientation applied).

    Refused: more than ``MAX_UPLOAD_BYTES`` bytes (413); anything but a PNG, JPEG, WebP or BMP image (415,
    from the content, whatever the name); a side longer than ``UPLOAD_SIDE_MAX`` pixels (413, from the
    header, before decoding; PIL's own decompression-bomb limit is set to the same bound meanwhile); a
    file that does not decode (415)."""
    from PIL import Image, UnidentifiedImageError

    from ganforge.data.scan import inspect_file, pil_limits

    data = bytes(data)
    if len(data) > MAX_UPLOAD_BYTES:
        raise StudioError(413, f"upload of {len(data)} bytes: at most {MAX_UPLOAD_BYTES} bytes (10 MiB) are accepted")
    if not data:
        raise StudioError(415, f"empty upload: send a {UPLOAD_FORMAT_NAMES} image")
    with pil_limits(MAX_UPLOAD_PIXELS):
        try:
            with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as img:  # the header only
                fmt, size = img.format or "?", img.size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(None) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise StudioError(415, f"the upload ({len(data)} bytes) is not a {UPLOAD_FORMAT_NAMES} image; "
                                   f"accepted formats: PNG, JPEG, WebP, BMP") from None
        if size[0] > UPLOAD_SIDE_MAX or size[1] > UPLOAD_SIDE_MAX:
            raise _too_many_pixels(size)
        ext = {"JPEG": "jpg"}.get(fmt, fmt.lower())
        result = inspect_file(_UploadSource(data), f"upload.{ext}", max_pixels=MAX_UPLOAD_PIXELS,
                              max_file_bytes=MAX_UPLOAD_BYTES, transform=lambda arr: arr)
    if result.array is None:
        reason = result.reason or "not readable"
        if reason.startswith("oversized"):
            raise _too_many_pixels(size)
        raise StudioError(415, f"the upload ({fmt}, {size[0]}x{size[1]}) cannot be decoded: {reason}")
    return result.array


# ------------------------------------------------------------------------------------------------
# Models.


@dataclass
class LoadedModel:
    """A model in the cache: the path asked for, the file, its cache key and kind, the network."""

    rel: str
    path: Path
    key: tuple[str, int, int]
    kind: str
    net: torch.nn.Module


def _png(img) -> bytes:
    """A PIL image as PNG bytes, encoded as the commands encode their files."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _header_kind(path: Path) -> str:
    """"translator" or "generator", from the export's safetensors header alone (no tensor is read); a
    header that cannot be read says "generator" and ``load_generator`` then names the problem."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("ganforge", "{}"))
        return TRANSLATOR if isinstance(meta, dict) and meta.get("kind") == TRANSLATOR else GENERATOR
    except Exception:  # noqa: BLE001 - load_generator reports a broken file in its own words
        return GENERATOR


def _synthesis_batch() -> int:
    """The batch ``synthesis.style.synthesize`` renders frames in (its default): a frame is computed in the
    same batch as there, so it is the same to the last bit."""
    from ganforge.synthesis.style import SYNTH_BATCH

    return SYNTH_BATCH


class Explorer:
    """The Explore page's models and pictures over the runs folder ``root``, computed on ``device``.

    ``max_models``: loaded models kept (least recently used dropped first). ``max_pending``: image requests
    admitted at once through ``run`` (one rendering, the others waiting); one more is refused with 503.
    """

    # The query-string parsers, also reachable from an instance (``explorer.parse_image_args(...)``).
    parse_image_args = staticmethod(parse_image_args)
    parse_mix_args = staticmethod(parse_mix_args)
    parse_interp_args = staticmethod(parse_interp_args)
    parse_translate_args = staticmethod(parse_translate_args)
    read_upload = staticmethod(read_upload)

    def __init__(self, root: str | Path, device: str | torch.device = "cpu", *, max_models: int = 2,
                 max_pending: int = 8):
        from ganforge.devices import resolve_device

        if isinstance(max_models, bool) or not isinstance(max_models, int) or max_models < 1:
            raise ValueError(f"max_models must be an integer >= 1, got {max_models!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"max_pending must be an integer >= 1, got {max_pending!r}")
        self.root = Path(root)
        self.device = resolve_device(device, "--device") if isinstance(device, str) else torch.device(device)
        self.max_models = max_models
        self.max_pending = max_pending
        self._models: OrderedDict[tuple[str, int, int], LoadedModel] = OrderedDict()
        self._frames: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.RLock()
        self._pending = 0
        self._limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # -- concurrency --

    @property
    def pending(self) -> int:
        """Image requests admitted by ``run`` and not finished (rendering or waiting)."""
        return self._pending

    def _limiter(self):
        """A capacity limiter of 1 for this device in the running event loop (waiting requests wait in
        the loop, not in a thread)."""
        import anyio

        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:  # another async backend: one limiter for it
            loop = self
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(1)
        return limiter

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker thread, one at a time on this device, the event loop free
        meanwhile. More than ``max_pending`` requests at once: ``StudioError(503)`` at once."""
        import anyio

        if self._pending >= self.max_pending:
            raise StudioError(503, f"busy: {self._pending} image requests are queued; try again")
        self._pending += 1
        try:
            call = functools.partial(self._call, fn, args, kwargs)
            return await anyio.to_thread.run_sync(call, limiter=self._limiter())
        finally:
            self._pending -= 1

    def _call(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        with _device_lock(self.device):
            return fn(*args, **kwargs)

    # -- models --

    def _resolve(self, rel: str) -> Path:
        """The weights file ``rel`` names inside the runs folder (a ``.safetensors`` export, or a run folder
        holding ``generator.safetensors``); 403 outside, 404 missing, 400 anything else."""
        from ganforge.training.checkpoint import EXPORT_WEIGHTS

        path = safe_path(self.root, rel)
        if path.is_dir():
            path = safe_path(self.root, f"{rel}/{EXPORT_WEIGHTS}")
        if path.suffix != ".safetensors":
            raise bad_request(f"model {shown(rel)}: expected a .safetensors export inside the runs folder "
                              f"(see /api/models)")
        if not path.is_file():
            raise bad_request(f"model {shown(rel)} is not a regular file")
        return path

    def _key(self, path: Path, rel: str) -> tuple[str, int, int]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise StudioError(404, f"no file {shown(rel)} in the runs folder (replaced meanwhile? reload)") from None
        if st.st_size > MAX_MODEL_BYTES:
            raise bad_request(f"model {shown(rel)} is {st.st_size} bytes; the studio loads models of at most "
                              f"{MAX_MODEL_BYTES} bytes")
        return os.path.realpath(path), st.st_mtime_ns, st.st_size

    def load(self, rel: str) -> LoadedModel:
        """The model at ``rel`` (relative to the runs folder), from the cache when the file is unchanged.
        Loaded with ``ganforge.api.load_generator`` of the kind its metadata declares."""
        from ganforge.api import load_generator

        path = self._resolve(rel)
        key = self._key(path, rel)
        with self._lock:
            hit = self._models.get(key)
            if hit is not None:
                self._models.move_to_end(key)
                return hit
            kind = _header_kind(path)
            try:
                net = load_generator(path, self.device, kind=kind)
            except GanforgeError as e:
                raise bad_request(str(e).replace(str(path), rel)) from None
            for old in [k for k in self._models if k[0] == key[0]]:  # an older version of the same file
                del self._models[old]
            self._drop_frames(lambda k: k[0][0] == key[0])
            loaded = self._models[key] = LoadedModel(rel, path, key, kind, net)
            while len(self._models) > self.max_models:
                gone, _ = self._models.popitem(last=False)
                self._drop_frames(lambda k, gone=gone: k[0] == gone)
            return loaded

    def cached(self) -> list[str]:
        """The relative paths of the models held, least recently used first."""
        with self._lock:
            return [m.rel for m in self._models.values()]

    def _describe(self, m: LoadedModel) -> str:
        from ganforge.synthesis.style import model_kind

        recipe = getattr(m.net, "meta", {}).get("recipe")
        return f"{model_kind(m.net)}, recipe {recipe}" if recipe else model_kind(m.net)

    def _generator(self, rel: str, what: str) -> LoadedModel:
        m = self.load(rel)
        if m.kind != GENERATOR:
            raise bad_request(f"model {shown(rel)} is an image-to-image translator ({self._describe(m)}); {what} "
                              f"needs a generator of images from noise. Translate an image with it instead "
                              f"(the Explore page's translate panel, POST /api/translate)")
        return m

    def _style(self, rel: str, what: str) -> LoadedModel:
        from ganforge.interfaces import is_style_based

        m = self._generator(rel, what)
        if not is_style_based(m.net):
            raise bad_request(f"model {shown(rel)} ({self._describe(m)}) is not style-based; {what} needs a "
                              f"StyleGAN-family generator (mapping + synthesis). Generate images from seeds with "
                              f"it instead (/api/image)")
        return m

    def _translator(self, rel: str) -> LoadedModel:
        m = self.load(rel)
        if m.kind != TRANSLATOR:
            raise bad_request(f"model {shown(rel)} is a generator of images from noise ({self._describe(m)}); "
                              f"translating an image needs a pix2pix / CycleGAN translator. Use this model for "
                              f"images from seeds, style mixing and interpolation (/api/image, /api/mix, "
                              f"/api/interp)")
        return m

    def _run_of(self, rel: str) -> str | None:
        """The run folder an export belongs to (``RUN/generator.safetensors``, ``RUN/exports/x``), if any."""
        from ganforge.training.bookkeeping import EXPORTS_DIR

        parts = rel.split("/")[:-1]
        if parts and parts[-1] == EXPORTS_DIR:
            parts = parts[:-1]
        if not parts:
            return None
        run = "/".join(parts)
        folder = self.root / run
        return run if any((folder / f).is_file() for f in ("config.json", "stats.jsonl")) else None

    def info(self, model: str) -> dict:
        """ModelInfo (the studio's API) plus what the loaded model can do: ``style`` (psi and mixing apply),
        ``noise`` (noise modes apply), ``num_ws``, ``style_groups``, ``noise_modes``, ``z_dim``
        (translators: also ``directions``)."""
        from ganforge.interfaces import is_style_based
        from ganforge.studio.runs import model_info
        from ganforge.synthesis.style import has_noise, style_groups

        m = self.load(model)
        G = m.net
        out = model_info(getattr(G, "meta", {}), model, self._run_of(model))
        style = m.kind == GENERATOR and is_style_based(G)
        noise = style and has_noise(G)
        out.update({
            "kind": m.kind,
            "style": style,
            "noise": noise,
            "num_ws": int(G.num_ws) if style else None,
            "style_groups": style_groups(G) if style else None,
            "noise_modes": list(PAGE_NOISE_MODES) if noise else [],
            "z_dim": int(G.z_dim) if m.kind == GENERATOR else None,
        })
        if m.kind == TRANSLATOR:
            out["directions"] = [str(d) for d in G.directions]
        return out

    # -- checks that need the model --

    def _check_options(self, m: LoadedModel, psi: float, class_idx: int | None, noise_mode: str | None) -> None:
        """A class of the model (or none); psi other than 1 only for a style-based model; random noise only
        for a model with noise inputs (const and none are what a model without them does anyway)."""
        from ganforge.interfaces import is_style_based
        from ganforge.synthesis.style import has_noise

        G = m.net
        ncls = int(getattr(G, "num_classes", 0) or 0)
        if class_idx is not None:
            if ncls == 0:
                raise bad_request(f"class {class_idx}: model {shown(m.rel)} is unconditional (it has no classes); "
                                  f"leave class empty")
            if class_idx >= ncls:
                raise bad_request(f"class {class_idx} out of range: model {shown(m.rel)} has classes 0..{ncls - 1} "
                                  f"(or leave class empty: each seed draws its own)")
        style = is_style_based(G)
        if not style and psi != 1.0:
            raise bad_request(f"psi {psi:g}: model {shown(m.rel)} ({self._describe(m)}) is not style-based, so "
                              f"truncation does not apply; use psi=1")
        if noise_mode == "random" and not (style and has_noise(G)):
            raise bad_request(f"noise random: model {shown(m.rel)} ({self._describe(m)}) has no noise inputs, so "
                              f"every noise mode gives the same picture; leave noise empty (or const)")

    def _check_work(self, m: LoadedModel, images: int, what: str) -> None:
        res = int(getattr(m.net, "meta", {}).get("resolution") or getattr(m.net, "img_resolution", 0) or 0)
        if images * res * res > MAX_REQUEST_PIXELS:
            raise bad_request(f"{what}: {images} images of {res}x{res} pixels is more than the {MAX_REQUEST_PIXELS} "
                              f"pixels one request may render; ask for fewer")

    # -- pictures --

    def image(self, model: str, seed: int, psi: float = 1.0, class_idx: int | None = None,
              noise_mode: str | None = None) -> bytes:
        """PNG bytes of seed ``seed``: the bytes of ``seedNNNN.png`` that ``ganforge generate --seeds SEED``
        writes with ``--psi PSI`` (style-based models), ``--class C`` and ``--noise-mode N`` when given.
        ``noise_mode`` None: the command's default (const)."""
        from ganforge.devices import module_device
        from ganforge.images import to_image, to_uint8
        from ganforge.interfaces import is_style_based
        from ganforge.synthesis.generate import latent_batches, style_kwargs

        seed = check_seed(seed)
        psi = check_psi_value(psi)
        class_idx = check_class_value(class_idx)
        noise_mode = check_noise_value(noise_mode)
        m = self._generator(model, "an image from a seed")
        self._check_options(m, psi, class_idx, noise_mode)
        self._check_work(m, 1, "image")
        G = m.net
        style = is_style_based(G)
        with as_bad_request():  # as generate_images: truncation and noise options only for style-based models
            kwargs = style_kwargs(G, psi if style else None, None, noise_mode if style else None)
        with torch.inference_mode():
            ((_, z, c),) = latent_batches(G, [seed], 1, class_idx, module_device(G))
            img = to_uint8(G(z, c, **kwargs)).cpu()[0]
        return _png(to_image(img))

    def _layers(self, m: LoadedModel, styles: str) -> list[int]:
        from ganforge.synthesis.style import parse_styles, style_groups

        G = m.net
        styles = check_styles_text(styles)
        groups = style_groups(G)
        num_ws = int(G.num_ws)
        shape = ", ".join(f"{g} {','.join(map(str, v)) or 'none'}" for g, v in groups.items())
        empty = [p.strip() for p in styles.split(",") if p.strip() in groups and not groups[p.strip()]]
        if empty:
            raise bad_request(f"styles {shown(styles)}: model {shown(m.rel)} has no {empty[0]} layers (its groups: "
                              f"{shape})")
        try:
            return parse_styles(styles, G)
        except GanforgeError:
            raise bad_request(f"styles {shown(styles)}: expected coarse, middle, fine (combinable with commas) or "
                              f"style layers like 0-3,6 within 0..{num_ws - 1} (this model's groups: {shape})") from None

    def mix(self, model: str, rows: list[int] | str, cols: list[int] | str, styles: str = "coarse",
            psi: float = 1.0, class_idx: int | None = None, noise_mode: str | None = None) -> bytes:
        """PNG bytes of the style-mixing grid ``ganforge mix --rows R --cols C --styles S --psi PSI`` writes
        (row seeds take the ``styles`` layers of column seeds; the seeds' own images on top and at the
        left), at most ``MIX_SEEDS_MAX`` seeds per side."""
        from ganforge.images import to_image
        from ganforge.synthesis.files import view_scale
        from ganforge.synthesis.style import style_mixing_grid

        rows, cols = check_seed_list(rows, "rows"), check_seed_list(cols, "cols")
        psi = check_psi_value(psi)
        class_idx = check_class_value(class_idx)
        noise_mode = check_noise_value(noise_mode)
        m = self._style(model, "style mixing")
        self._check_options(m, psi, class_idx, noise_mode)
        layers = self._layers(m, styles)
        self._check_work(m, (len(rows) + 1) * (len(cols) + 1), "mix")
        with torch.inference_mode():
            grid = style_mixing_grid(m.net, rows, cols, layers, psi=psi, class_idx=class_idx,
                                     noise_mode=noise_mode or "const")
        return _png(to_image(grid, view_scale(m.net)))

    def interp(self, model: str, a: int, b: int, frame: int, frames: int = 16, psi: float = 1.0,
               space: str = "w", class_idx: int | None = None, noise_mode: str | None = None) -> bytes:
        """PNG bytes of frame ``frame`` (0..frames-1) of the interpolation from seed ``a`` to seed ``b`` in
        ``frames`` frames (frame 0: ``a``, the last: ``b``): frame ``frame`` of
        ``interpolation_frames(G, [a, b], frames - 1, space=, psi=, class_idx=, noise_mode=)``, i.e. of
        ``ganforge interpolate --seeds a,b --frames (frames - 1)``, at the model's resolution. Only the
        synthesis batch holding the frame is rendered (the same batch as there, so the same pixels), and
        kept for the next frames of the same interpolation."""
        a, b = check_seed(a, "a"), check_seed(b, "b")
        frames, frame = check_frames(frames, frame)
        space = check_space(space)
        psi = check_psi_value(psi)
        class_idx = check_class_value(class_idx)
        noise_mode = check_noise_value(noise_mode)
        m = self._style(model, "interpolation")
        self._check_options(m, psi, class_idx, noise_mode)
        mode = noise_mode or "const"
        steps = frames - 1  # frames per transition, as interpolation_frames counts them
        batch = _synthesis_batch()
        if frame == steps:
            start, count = steps, 1
        else:
            start = frame // batch * batch
            count = min(batch, steps - start)
        self._check_work(m, count, "interp")
        key = (m.key, a, b, steps, psi, space, class_idx, mode, start)
        with self._lock:
            chunk = self._frames.get(key)
            if chunk is not None:
                self._frames.move_to_end(key)
        if chunk is None:
            with torch.inference_mode():
                chunk = self._frame_batch(m.net, a, b, steps, start, batch, space=space, psi=psi,
                                          class_idx=class_idx, noise_mode=mode)
            if mode != "random":
                self._keep_frames(key, chunk)
        from ganforge.images import to_image

        return _png(to_image(chunk[frame - start]))

    @staticmethod
    def _frame_batch(G, a: int, b: int, steps: int, start: int, batch: int, *, space: str, psi: float,
                     class_idx: int | None, noise_mode: str) -> torch.Tensor:
        """uint8 frames [start, start + batch) of ``interpolation_frames(G, [a, b], steps, ...)``: the
        transition's latents as there (all ``steps`` of them: the mapping sees the same batch), then the
        one synthesis batch starting at ``start`` (``start == steps``: the end seed's frame)."""
        from ganforge.devices import module_device
        from ganforge.metrics.ppl import lerp, slerp
        from ganforge.synthesis.style import seed_labels, seed_latent, seeds_to_ws, synthesize

        if start == steps:
            return synthesize(G, seeds_to_ws(G, [b], psi=psi, class_idx=class_idx), noise_mode)
        dev = module_device(G)
        t = torch.arange(steps, dtype=torch.float32) / steps
        if space == "w":
            w0, w1 = seeds_to_ws(G, [a, b], psi=psi, class_idx=class_idx)
            ws = lerp(w0[None].repeat(steps, 1, 1), w1[None].repeat(steps, 1, 1), t.to(dev))
        else:
            c = seed_labels(G, [a, b], class_idx)
            ci = None if c is None else c[0:1].repeat(steps).to(dev)
            z0, z1 = seed_latent(a, int(G.z_dim)), seed_latent(b, int(G.z_dim))
            z = slerp(z0.repeat(steps, 1), z1.repeat(steps, 1), t).to(dev)
            ws = G.mapping(z, ci, truncation_psi=check_psi(psi))
        return synthesize(G, ws[start:start + batch], noise_mode, batch_size=batch)

    def _keep_frames(self, key: tuple, chunk: torch.Tensor) -> None:
        size = chunk.numel() * chunk.element_size()
        if size > FRAME_CACHE_BYTES:
            return
        with self._lock:
            self._frames[key] = chunk
            while (len(self._frames) > FRAME_CACHE_ITEMS
                   or sum(v.numel() * v.element_size() for v in self._frames.values()) > FRAME_CACHE_BYTES):
                self._frames.popitem(last=False)

    def _drop_frames(self, gone: Callable[[tuple], bool]) -> None:
        with self._lock:
            for k in [k for k in self._frames if gone(k)]:
                del self._frames[k]

    def translate(self, model: str, data: bytes, direction: str | None = None) -> bytes:
        """PNG bytes of the uploaded image ``data`` translated by the translator at ``model``: read with
        ``read_upload``'s bounds, brought to the model's resolution and input channels as ``ganforge
        translate`` brings a folder's images (``--resize pad``), translated in ``direction`` (default: the
        model's first), the output encoded as the command writes a ``.png``."""
        from ganforge.data.folder import resize_array, to_channels
        from ganforge.devices import module_device
        from ganforge.images import to_image, to_uint8

        arr = read_upload(data)  # the cheap refusals before a model is loaded
        m = self._translator(model)
        T = m.net
        directions = tuple(str(d) for d in T.directions)
        direction = directions[0] if direction is None else str(direction)
        if direction not in directions:
            raise bad_request(f"direction {shown(direction)}: model {shown(model)} translates "
                              f"{', '.join(directions)} (valid choices: {', '.join(directions)})")
        res = int(T.meta["resolution"])
        self._check_work(m, 1, "translate")
        in_ch, _ = T.channels[direction]
        x = to_channels(resize_array(arr, res, "pad"), in_ch)
        with torch.inference_mode():
            batch = torch.from_numpy(np.stack([x.transpose(2, 0, 1)])).to(module_device(T))
            y = to_uint8(T(batch.float() / 127.5 - 1, direction)).cpu()
        return _png(to_image(y[0]))


__all__ = [
    "Explorer", "LoadedModel", "StudioError", "read_upload", "parse_image_args", "parse_mix_args",
    "parse_interp_args", "parse_translate_args", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS", "UPLOAD_FORMATS",
    "MIX_SEEDS_MAX", "FRAMES_MIN", "FRAMES_MAX", "MAX_REQUEST_PIXELS",
]
