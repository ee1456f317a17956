"""Old module paths keep working, with a warning naming the new one.

The family-package restructure moved modules (``ganforge.models.stylegan2`` is now
``ganforge.families.stylegan2.networks``, ``ganforge.recipes`` now ``ganforge.training.recipe`` and
``ganforge.registry``, ...). Scripts written against the old paths still import: a finder on
``sys.meta_path`` (installed by ``ganforge/__init__``) answers an old name with the module that replaced it
and emits a ``DeprecationWarning`` saying what to import instead. Packages that were split in two
(``ganforge.recipes``, ``ganforge.models``) are answered with a module holding the old public names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

# old module -> new module (one to one)
MOVED = {
    "ganforge.recipes.base": "ganforge.training.recipe",
    "ganforge.recipes.gan": "ganforge.families.classic.recipe",
    "ganforge.recipes.growth": "ganforge.families.progressive.growth",
    "ganforge.recipes.progressive": "ganforge.families.progressive.recipe",
    "ganforge.recipes.stylegan2": "ganforge.families.stylegan2.recipe",
    "ganforge.recipes.translation": "ganforge.families.translation.recipe",
    "ganforge.models.base": "ganforge.families.classic.nets",
    "ganforge.models.dcgan": "ganforge.families.classic.dcgan",
    "ganforge.models.resnet": "ganforge.families.classic.resnet",
    "ganforge.models.biggan": "ganforge.families.classic.biggan",
    "ganforge.models.progan": "ganforge.families.progressive.progan",
    "ganforge.models.stylegan": "ganforge.families.progressive.stylegan",
    "ganforge.models.stylegan2": "ganforge.families.stylegan2.networks",
    "ganforge.models.translation": "ganforge.families.translation.networks",
    "ganforge.io.import_stylegan": "ganforge.families.stylegan2.importer",
    "ganforge.synthesis.images": "ganforge.images",
    "ganforge.synthesis.cli": "ganforge.commands",
    "ganforge.metrics.cli": "ganforge.commands.eval",
}
# old package -> {public name: "new.module:name"}
SPLIT = {
    "ganforge.recipes": {
        **{n: f"ganforge.training.recipe:{n}" for n in ("Batch", "DatasetInfo", "Phase", "Recipe", "StepContext")},
        "RECIPES": "ganforge.registry:RECIPES",
    },
    "ganforge.models": {
        n: f"ganforge.families.classic.nets:{n}"
        for n in ("GENERATORS", "DISCRIMINATORS", "build_generator", "build_discriminator")
    },
}


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; import it from there (the old path goes in a later release)",
                  DeprecationWarning, stacklevel=3)


class _Alias(importlib.abc.Loader):
    def __init__(self, old: str):
        self.old = old

    def create_module(self, spec):
        if self.old in MOVED:
            _warn(self.old, MOVED[self.old])
            return importlib.import_module(MOVED[self.old])
        mod = types.ModuleType(self.old, f"Moved: see {__name__}.")
        mod.__path__ = []  # a package, so its old submodules resolve through this finder too
        for name, target in SPLIT[self.old].items():
            module, attr = target.split(":")
            setattr(mod, name, getattr(importlib.import_module(module), attr))
        _warn(self.old, ", ".join(sorted({t.split(":")[0] for t in SPLIT[self.old].values()})))
        return mod

    def exec_module(self, module) -> None:
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED or fullname in SPLIT:
            return importlib.util.spec_from_loader(fullname, _Alias(fullname), is_package=fullname in SPLIT)
        return None


def install() -> None:
    """Answer the old module paths (idempotent)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
