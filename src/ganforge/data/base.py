"""What every dataset module shares: the content hash of the images and labels.

This module imports nothing from the rest of ``ganforge.data``: every other data module may import it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


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
