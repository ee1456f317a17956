"""The image-to-image translation family: pix2pix (paired data) and CycleGAN (unpaired data)."""

from ganforge.families.translation import presets as _presets  # noqa: F401  (registers the presets)
from ganforge.families.translation.recipe import CycleGANRecipe, Pix2PixRecipe
from ganforge.registry import FamilySpec, register_family

SPEC = register_family(FamilySpec(
    name="translation", summary="pix2pix and CycleGAN: image-to-image translation",
    recipes={"pix2pix": Pix2PixRecipe, "cyclegan": CycleGANRecipe}))
