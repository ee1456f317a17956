"""What every dataset type declares, and the content hash both loaders share.

A dataset says what it is: its ``kind`` is ``"images"`` (``ImageDataset``: images and optional labels)
or ``"translation"`` (``TranslationDataset``: two image domains, A and B). Code outside ``ganforge.data``
asks ``is_translation(ds)`` (or reads ``ds.kind``) instead of probing for attributes. ``ImageData`` and
``TranslationData`` spell out, as ``typing.Protocol`` classes, what each kind offers; a translation
dataset also offers the image interface (its target domain B, unlabelled).

This module imports nothing from the rest of ``ganforge.data``: every other data module may import it.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Final, Literal, Protocol, runtime_checkable

import numpy as np
import torch

DatasetKind = Literal["images", "translation"]
IMAGES: Final = "images"
TRANSLATION: Final = "translation"
KINDS: Final = (IMAGES, TRANSLATION)


@runtime_checkable
class ImageData(Protocol):
    """The image interface every dataset offers (``ImageDataset``; ``TranslationDataset`` through its domain B).

    ``images_u8`` is uint8 ``[N, C, R, R]``: a CPU tensor, or for a streamed folder / zip (``streamed``) a
    ``ganforge.data.stream.StreamedImages`` that reads rows when indexed. ``labels`` is int64 ``[N]`` or
    None; ``num_classes`` is 0 when unlabelled.
    """

    kind: ClassVar[DatasetKind]

    @property
    def images_u8(self) -> Any: ...

    @property
    def labels(self) -> torch.Tensor | None: ...

    @property
    def class_names(self) -> tuple[str, ...]: ...

    name: str
    content_hash: str
    skipped: int

    @property
    def resolution(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def streamed(self) -> bool: ...

    def __len__(self) -> int: ...


@runtime_checkable
class TranslationData(ImageData, Protocol):
    """A translation dataset (``kind == "translation"``): domains A (``a_u8``, the input side) and B (``b_u8``,
    the target side), uint8 ``[N, C, R, R]`` CPU tensors, paired one to one (``paired``) or not."""

    a_u8: torch.Tensor
    b_u8: torch.Tensor
    paired: bool
    names: tuple[str, ...] | None
    split: str

    @property
    def channels_a(self) -> int: ...

    @property
    def channels_b(self) -> int: ...

    def domain(self, which: str) -> ImageData:
        """Domain ``"A"`` or ``"B"`` as an unlabelled image dataset."""
        ...


def is_translation(ds: ImageData) -> bool:
    """Whether ``ds`` is a translation dataset (two domains), from the kind it declares."""
    return ds.kind == TRANSLATION


def content_hash(images_u8: torch.Tensor, labels: torch.Tensor | None) -> str:
    """sha256 hex over a version tag, the shape, the pixel bytes and the label bytes.

    Args:
        images_u8: uint8 ``[N, C, H, W]``.
        labels: int64 ``[N]`` or None.

    Returns:
        64 hex characters; equal for equal content wherever it was loaded from.
    """
    h = hashlib.sha256()
    h.update(b"ganforge-dataset-v1\n")
    h.update(("shape=" + ",".join(str(int(s)) for s in images_u8.shape) + "\n").encode())
    # numpy arrays expose the buffer protocol: hash without another full copy of the pixels.
    h.update(np.ascontiguousarray(images_u8.numpy()))
    hash_labels(h, labels)
    return h.hexdigest()


def hash_labels(h, labels: torch.Tensor | None) -> None:
    """Feed ``labels`` (int64 ``[N]`` or None) into the hash ``h``, as every content hash does."""
    if labels is None:
        h.update(b"labels=none")
    else:
        h.update(b"labels=int64le\n")
        h.update(np.ascontiguousarray(labels.numpy().astype("<i8")))
