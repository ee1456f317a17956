"""The built-in families, one package each.

A family package holds its config sections and their rules (``config.py``), its networks, its recipe
(``recipe.py``) and its presets (``presets.py``), and its ``__init__`` registers a
``ganforge.registry.FamilySpec``. The core (config, trainer, CLI, metrics) reads the registries and names no
family. Adding a family: a new package here and one line below.
"""

from ganforge.families import classic, progressive, stylegan2, stylegan3, translation  # noqa: F401  (each registers itself)
