"""The classic family, recipe ``gan``: DCGAN, WGAN, WGAN-GP, LSGAN, SNGAN, SAGAN, BigGAN (and R1/R2), which
differ only in networks, objective, penalties and optimizer settings, all chosen by config."""

from ganforge.families.classic import biggan, dcgan, resnet  # noqa: F401  (register their networks)
from ganforge.families.classic import presets as _presets  # noqa: F401  (registers the presets)
from ganforge.families.classic.recipe import GANRecipe
from ganforge.registry import FamilySpec, register_family

SPEC = register_family(FamilySpec(
    name="classic", summary="DCGAN, WGAN(-GP), LSGAN, SNGAN, SAGAN, BigGAN: one G/D recipe chosen by config",
    recipes={"gan": GANRecipe}))
