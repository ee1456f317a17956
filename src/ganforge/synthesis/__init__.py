"""Generation from trained generators: images and grids (``images``), what ``ganforge generate`` writes
(``generate.generate_images``), the latent-space tools (``style``) and their figures as files
(``figures``), image-to-image translation of folders (``translate``)."""

from ganforge.synthesis.generate import generate_images
from ganforge.images import make_grid, save_grid, save_image, to_uint8

__all__ = ["generate_images", "make_grid", "save_grid", "save_image", "to_uint8"]
