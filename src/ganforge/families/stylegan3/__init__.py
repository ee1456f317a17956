"""The StyleGAN3 family, recipe ``stylegan3``: the alias-free generator (configs T and R) parameter for
parameter as the official code, trained on StyleGAN2's discriminator. It builds on the stylegan2 family
(discriminator, training loop, label handling); official StyleGAN3 snapshots import through ``importer``."""

from ganforge.families.stylegan3 import presets as _presets  # noqa: F401  (registers the presets)
from ganforge.families.stylegan3.importer import import_official
from ganforge.families.stylegan3.recipe import StyleGAN3Recipe
from ganforge.registry import FamilySpec, register_family

SPEC = register_family(FamilySpec(
    name="stylegan3", summary="StyleGAN3 (configs T and R): alias-free synthesis on StyleGAN2's discriminator",
    recipes={"stylegan3": StyleGAN3Recipe}, importer=import_official))
