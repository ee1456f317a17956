import pytest

from ganforge.errors import GanforgeError
from ganforge.registry import Registry


def test_registry_rejects_duplicates_and_lists_choices():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    reg.register("b")(2)
    assert reg.get("b") == 2 and reg.names() == ["a", "b"] and "a" in reg
    with pytest.raises(ValueError, match="duplicate"):
        reg.add("a", 3)
    with pytest.raises(GanforgeError, match="unknown widget 'c'; valid choices: a, b"):
        reg.get("c")
