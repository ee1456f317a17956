"""Generation from trained generators: what ``ganforge generate`` writes (``generate.generate_images``),
latents (``latents``), the latent-space tools (``style``) and their figures as files (``figures``, written
all or nothing by ``files``), image-to-image translation of folders (``translate``). Image conversion and
grids are ``ganforge.images`` (re-exported here)."""

from ganforge.synthesis.generate import generate_images
from ganforge.images import make_grid, save_grid, save_image, to_uint8

__all__ = ["generate_images", "make_grid", "save_grid", "save_image", "to_uint8"]
