import pytest

from ganforge.config import Experiment, apply_overrides, diff, from_dict, to_dict
from ganforge.errors import GanforgeError


def test_overrides_are_parsed_by_declared_type():
    cfg = apply_overrides(Experiment(), ["train.batch_size=32", "loss.gp_weight=10", "model.spectral_norm=true",
                                         "loss.r1_gamma=none", "metrics.names=fid10k,kid10k",
                                         "model.d_norm=none"])
    assert cfg.train.batch_size == 32 and isinstance(cfg.train.batch_size, int)
    assert cfg.loss.gp_weight == 10.0 and isinstance(cfg.loss.gp_weight, float)
    assert cfg.model.spectral_norm is True
    assert cfg.loss.r1_gamma is None
    assert cfg.metrics.names == ("fid10k", "kid10k")
    assert cfg.model.d_norm is None


def test_unknown_key_lists_valid_keys():
    with pytest.raises(GanforgeError) as e:
        apply_overrides(Experiment(), ["train.batchsize=32"])
    msg = str(e.value)
    assert "train.batchsize" in msg and "train.batch_size" in msg


@pytest.mark.parametrize("item,expect", [("train.batch_size=abc", "integer"), ("model.spectral_norm=maybe", "boolean"),
                                         ("train.total_kimg=fast", "number"), ("train.batch_size", "key=value")])
def test_bad_values_name_the_expected_type(item, expect):
    with pytest.raises(GanforgeError, match=expect):
        apply_overrides(Experiment(), [item])


def test_json_round_trip_and_diff():
    cfg = apply_overrides(Experiment(), ["train.batch_size=7", "metrics.names=fid10k"])
    back = from_dict(to_dict(cfg))
    assert back == cfg
    d = diff(Experiment(), cfg)
    assert set(d) == {"train.batch_size", "metrics.names"}
    assert d["train.batch_size"] == (64, 7)


def test_every_field_has_a_comment():
    """Every key of the common sections and of every recipe's family sections is documented."""
    import dataclasses

    from ganforge.docs_gen import _comments
    from ganforge.registry import RECIPES

    for recipe in RECIPES.names():
        exp = Experiment(recipe=recipe)
        for section in dataclasses.fields(exp):
            value = getattr(exp, section.name)
            if not dataclasses.is_dataclass(value):
                continue
            comments = _comments(type(value))
            for f in dataclasses.fields(value):
                assert comments.get(f.name), f"{recipe}: {section.name}.{f.name} has no comment"
