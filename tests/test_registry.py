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


def test_remove_and_temporarily():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    assert reg.remove("a") == 1 and "a" not in reg
    with pytest.raises(GanforgeError, match="unknown widget 'a'"):
        reg.remove("a")
    with reg.temporarily("t", 5) as obj:
        assert obj == 5 and reg.get("t") == 5
    assert "t" not in reg
    with pytest.raises(RuntimeError), reg.temporarily("u", 6):
        raise RuntimeError("the entry goes even when the block fails")
    assert "u" not in reg


def test_register_family_adds_its_recipes_and_refuses_clashes():
    from ganforge.registry import (
        FAMILIES,
        RECIPES,
        FamilySpec,
        family_of,
        register_family,
        unregister_family,
    )

    class A:
        pass

    class B:
        pass

    register_family(FamilySpec("fam-a", "test", {"rec-a": A}))
    try:
        assert family_of("rec-a") == "fam-a" and A.family == "fam-a"
        with pytest.raises(ValueError, match="duplicate recipe name 'rec-a'"):
            register_family(FamilySpec("fam-b", "test", {"rec-a": B}))
        assert "fam-b" not in FAMILIES
    finally:
        unregister_family("fam-a")
    assert "rec-a" not in RECIPES and "fam-a" not in FAMILIES


def test_every_recipe_belongs_to_a_registered_family():
    from ganforge.registry import FAMILIES, RECIPES

    assert set(FAMILIES.names()) >= {"classic", "progressive", "stylegan2", "translation"}
    for name in RECIPES.names():
        fam = FAMILIES.get(RECIPES.get(name).family)
        assert fam.recipes[name] is RECIPES.get(name)
