"""Generation from trained generators: images, grids."""

from ganforge.synthesis.images import make_grid, save_grid, save_image, to_uint8

__all__ = ["make_grid", "save_grid", "save_image", "to_uint8"]
