"""A small generic name -> object registry.

Models, losses, recipes, presets, datasets and metric extractors are all looked up by name through a
``Registry``; contract tests iterate over the registries so every entry gets the same checks.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

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
