"""Recipes: how each family is trained. A recipe owns the networks, optimizers and training-time
state and hands the trainer a list of ``Phase`` objects; the trainer knows no model."""

from ganforge.recipes.base import RECIPES, Batch, DatasetInfo, Phase, Recipe, StepContext
from ganforge.recipes import gan as _gan  # noqa: F401  (registers "gan")
from ganforge.recipes import stylegan2 as _stylegan2  # noqa: F401  (registers "stylegan2")
from ganforge.recipes import progressive as _progressive  # noqa: F401  (registers "progan", "stylegan")
from ganforge.recipes import translation as _translation  # noqa: F401  (registers "pix2pix", "cyclegan")

__all__ = ["RECIPES", "Batch", "DatasetInfo", "Phase", "Recipe", "StepContext"]
