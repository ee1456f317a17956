"""Per-family config sections: the recipe chooses the types of ``model`` and ``loss``, and every
config tool (overrides, valid keys, JSON, diff, docs) follows it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ganforge.config import (
    Experiment,
    apply_overrides,
    diff,
    from_dict,
    to_dict,
    valid_keys,
)
from ganforge.errors import GanforgeError
from ganforge.families.classic.config import LossConfig, ModelConfig
from ganforge.registry import (
    FAMILIES,
    RECIPES,
    FamilySpec,
    register_family,
    unregister_family,
)
from ganforge.training.recipe import Recipe


@dataclass(frozen=True)
class _ToyModel:
    # Width of the toy family's only layer.
    width: int = 3
    # Toy flag.
    fancy: bool = False


@dataclass(frozen=True)
class _ToyLoss:
    # Toy penalty weight.
    penalty: float | None = None


@pytest.fixture
def toy_family():
    class ToyRecipe(Recipe):
        """A test-only family."""

        config_sections = {"model": _ToyModel, "loss": _ToyLoss}

    register_family(FamilySpec("toy", "a test-only family", {"toy": ToyRecipe}))
    yield ToyRecipe
    unregister_family("toy")
    assert "toy" not in RECIPES and "toy" not in FAMILIES


def test_sections_take_the_recipes_types(toy_family):
    assert type(Experiment().model) is ModelConfig and type(Experiment().loss) is LossConfig
    e = Experiment(recipe="toy")
    assert e.model == _ToyModel() and e.loss == _ToyLoss()
    keys = valid_keys(e)
    assert "model.width" in keys and "loss.penalty" in keys
    assert "model.g_width" not in keys and "loss.kind" not in keys
    assert "train.batch_size" in keys  # common sections stay


def test_unknown_family_key_lists_that_familys_keys(toy_family):
    with pytest.raises(GanforgeError) as e:
        apply_overrides(Experiment(recipe="toy"), ["model.g_width=8"])
    assert "model.g_width" in str(e.value) and "model.width" in str(e.value)


def test_recipe_override_retypes_the_family_sections_first(toy_family):
    # The recipe key is applied first whatever its position, so model.width is a valid key here.
    e = apply_overrides(Experiment(), ["model.width=7", "recipe=toy", "loss.penalty=0.5"])
    assert e.recipe == "toy" and e.model == _ToyModel(width=7) and e.loss == _ToyLoss(penalty=0.5)
    with pytest.raises(GanforgeError, match="unknown recipe 'nope'; valid choices: .*gan"):
        apply_overrides(Experiment(), ["recipe=nope"])


def test_wrong_section_type_is_refused(toy_family):
    with pytest.raises(GanforgeError, match="must be a _ToyModel, got a ModelConfig"):
        Experiment(recipe="toy", model=ModelConfig())


def test_json_round_trip_and_diff_across_families(toy_family):
    e = apply_overrides(Experiment(recipe="toy"), ["model.fancy=true"])
    assert from_dict(to_dict(e)) == e
    d = diff(Experiment(), e)
    assert d["recipe"] == ("gan", "toy")
    assert d["model.g_width"] == (64, "<absent>") and d["model.width"] == ("<absent>", 3)


def test_resume_check_refuses_a_family_change(toy_family):
    from ganforge.training.trainer import check_resume_compatible

    with pytest.raises(GanforgeError, match="recipe: checkpoint has 'gan', requested 'toy'"):
        check_resume_compatible(Experiment(), Experiment(recipe="toy"))


def test_docs_list_every_recipes_keys(toy_family):
    from ganforge.docs_gen import config_table

    table = config_table()
    assert "### Recipe `toy`: A test-only family." in table
    assert "`model.width`" in table and "`model.g_width`" in table


def test_recipe_sees_where_training_stands(tmp_path, tiny_dataset):
    """begin_step gets the images seen before each step; after a resume it starts from the checkpoint."""
    import ganforge
    from ganforge.training import checkpoint as ckpt
    from ganforge.training.trainer import Trainer

    cfg = ganforge.get_preset("dcgan-tiny")
    bs = cfg.train.batch_size
    cfg = apply_overrides(cfg, {"train.total_kimg": 3 * bs / 1000})
    seen = []
    orig = RECIPES.get("gan").begin_step

    def spy(self, ctx):
        seen.append(ctx)
        orig(self, ctx)

    RECIPES.get("gan").begin_step = spy
    try:
        r = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset)
        state = ckpt.load_latest_checkpoint(r.run_dir)[1]
        n_first = len(seen)
        Trainer(cfg, tmp_path / "again", resume_state=state, dataset=tiny_dataset)
    finally:
        RECIPES.get("gan").begin_step = orig
    assert [c.cur_nimg for c in seen[:n_first]] == [0, 0, bs, 2 * bs]  # construction, then 3 steps
    assert [c.step for c in seen[1:n_first]] == [0, 1, 2]
    assert all(c.total_nimg == 3 * bs and c.batch_size == bs for c in seen)
    assert seen[-1].cur_nimg == 3 * bs and seen[-1].step == 3  # the resumed trainer's first context
