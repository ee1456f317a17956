"""The StyleGAN2 family, recipe ``stylegan2``: the official networks parameter for parameter, lazy R1 and
path-length regularization, style mixing; official snapshots import through ``importer``."""

from ganforge.families.stylegan2 import presets as _presets  # noqa: F401  (registers the presets)
from ganforge.families.stylegan2.importer import import_official
from ganforge.families.stylegan2.recipe import StyleGAN2Recipe
from ganforge.registry import FamilySpec, register_family

SPEC = register_family(FamilySpec(
    name="stylegan2", summary="StyleGAN2 (config F, ADA's small-data settings): mapping + modulated synthesis",
    recipes={"stylegan2": StyleGAN2Recipe}, importer=import_official))
