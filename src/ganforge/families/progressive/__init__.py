"""The progressive family: ProGAN (recipe ``progan``) and StyleGAN (recipe ``stylegan``), grown level by
level on a schedule that is a pure function of the images seen."""

from ganforge.families.progressive import presets as _presets  # noqa: F401  (registers the presets)
from ganforge.families.progressive.recipe import ProGANRecipe, StyleGANRecipe
from ganforge.registry import FamilySpec, register_family

SPEC = register_family(FamilySpec(
    name="progressive", summary="ProGAN and StyleGAN: progressive growing with fade-in",
    recipes={"progan": ProGANRecipe, "stylegan": StyleGANRecipe}))
