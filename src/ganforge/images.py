"""Converting generator output to pixels and writing images and grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] float in [-1, 1] -> uint8 [N, C, H, W] (round to nearest, clamp)."""
    return (img.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def _pil(img_u8: torch.Tensor) -> Image.Image:
    arr = img_u8.detach().cpu().numpy()
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0], mode="L")
    return Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0)), mode="RGB")


def make_grid(images_u8: torch.Tensor, cols: int | None = None, pad: int = 2) -> torch.Tensor:
    """Tile [N, C, H, W] uint8 into one [C, rows*(H+pad)+pad, cols*(W+pad)+pad] image (pad is dark gray)."""
    n, c, h, w = images_u8.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    grid = torch.full((c, rows * (h + pad) + pad, cols * (w + pad) + pad), 40, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y:y + h, x:x + w] = images_u8[i].cpu()
    return grid


def to_image(image_u8: torch.Tensor, scale: int = 1) -> Image.Image:
    """One uint8 [C, H, W] image as a PIL image; ``scale`` enlarges it (nearest neighbour) for viewing."""
    img = _pil(image_u8)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def grid_image(images_u8: torch.Tensor, cols: int | None = None, scale: int = 1) -> Image.Image:
    """The tiled grid as a PIL image; ``scale`` enlarges small images (nearest neighbour) for viewing."""
    return to_image(make_grid(images_u8, cols), scale)


def save_png(img: Image.Image, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write a PIL image as PNG through the project's one writer (temporary file, fsync, rename): a full
    disk or an interrupt leaves an existing ``path`` as it was; without ``overwrite`` an existing file is
    never replaced (``FileExistsError``)."""
    from ganforge.outputs import write_file

    return write_file(path, lambda f: img.save(f, format="PNG"), overwrite=overwrite)


def save_grid(images_u8: torch.Tensor, path: str | Path, cols: int | None = None, scale: int = 1) -> Path:
    """Write a tiled grid PNG; ``scale`` enlarges small images (nearest neighbour) for viewing."""
    return save_png(grid_image(images_u8, cols, scale), path)


def save_image(image_u8: torch.Tensor, path: str | Path) -> Path:
    """Write one [C, H, W] uint8 image as PNG."""
    return save_png(_pil(image_u8), path)
