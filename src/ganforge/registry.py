"""A small generic name -> object registry.

Families, recipes, networks, losses, presets, datasets, metrics and extractors are all looked up by name
through a ``Registry``; contract tests iterate over the registries so every entry gets the same checks.
This module is a leaf: it imports nothing of ganforge but ``errors``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from ganforge.errors import choices_error

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects. Duplicate names are rejected; unknown names raise a GanforgeError."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REG.register("name")`` adds the decorated object under ``name``."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self._items[name] = obj

    def remove(self, name: str) -> T:
        """Take ``name`` out again (tests, plugins unloading); an unknown name is a GanforgeError."""
        obj = self.get(name)
        del self._items[name]
        return obj

    @contextmanager
    def temporarily(self, name: str, obj: T) -> Iterator[T]:
        """``with REG.temporarily("name", obj):`` the entry exists inside the block only."""
        self.add(name, obj)
        try:
            yield obj
        finally:
            self._items.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise choices_error(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


# ----------------------------------------------------------------------------------------------
# Families. The core reads these two registries and names no family: each package under
# ``ganforge.families`` registers its spec (and so its recipes) when ``ganforge.families`` is imported.


@dataclass(frozen=True)
class FamilySpec:
    """What a family tells the core about itself.

    name: the family's package name ("classic", "stylegan2"); summary: one line for docs and listings;
    recipes: its recipe classes (``ganforge.training.recipe.Recipe`` subclasses) by recipe name, the
    names ``Experiment.recipe`` takes; their class attributes declare the config sections and rules;
    importer: what ``ganforge import`` calls for this family's official snapshots.
    """

    name: str
    summary: str
    recipes: dict[str, Any] = field(default_factory=dict)
    # Reads an official snapshot of this family's networks into a ganforge model folder:
    # importer(pkl, out, overwrite=False) -> path of the weights written; None: the family has none.
    importer: Callable[..., Any] | None = None


FAMILIES: Registry[FamilySpec] = Registry("family")
# Recipe name -> Recipe class, over every registered family.
RECIPES: Registry[Any] = Registry("recipe")


def register_family(spec: FamilySpec) -> FamilySpec:
    """Add a family and its recipes (a duplicate family or recipe name is a ValueError)."""
    clash = [r for r in spec.recipes if r in RECIPES]
    if clash:
        raise ValueError(f"family {spec.name!r}: duplicate recipe name {clash[0]!r}")
    FAMILIES.add(spec.name, spec)
    for name, recipe in spec.recipes.items():
        RECIPES.add(name, recipe)
        recipe.family = spec.name
    return spec


def unregister_family(name: str) -> FamilySpec:
    """Remove a family and its recipes (the inverse of ``register_family``)."""
    spec = FAMILIES.remove(name)
    for recipe in spec.recipes:
        RECIPES.remove(recipe)
    return spec


def family_of(recipe: str) -> str:
    """The name of the family that registered ``recipe``."""
    return RECIPES.get(recipe).family
