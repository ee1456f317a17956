"""The two generator interfaces: every family's exported network conforms to exactly one, and a network
that conforms to none is refused with what it lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge.api import load_generator
from ganforge.errors import GanforgeError
from ganforge.interfaces import (
    GENERATOR,
    TRANSLATOR,
    ImageTranslator,
    NoiseGenerator,
    StyleGenerator,
    check_interface,
    interface_of,
    is_style_based,
)

LEGACY = Path(__file__).parent / "fixtures" / "legacy"
STYLE = {"stylegan-tiny", "stylegan2-tiny", "stylegan2-cond-tiny"}
TRANSLATORS = {"pix2pix-tiny", "cyclegan-tiny"}


@pytest.mark.parametrize("preset", sorted(p.name for p in LEGACY.iterdir() if (p / "model.json").exists()))
def test_every_family_export_declares_one_interface(preset):
    kind = TRANSLATOR if preset in TRANSLATORS else GENERATOR
    G = load_generator(LEGACY / preset, kind=kind)
    assert interface_of(G) == kind
    assert is_style_based(G) == (preset in STYLE)
    assert isinstance(G, ImageTranslator) == (kind == TRANSLATOR)
    if kind == GENERATOR:
        assert isinstance(G, NoiseGenerator) and isinstance(G, StyleGenerator) == (preset in STYLE)


class _Plain(nn.Module):
    z_dim, num_classes = 4, 0

    def forward(self, z, c=None):
        return torch.tanh(z[:, :1, None, None].expand(-1, 1, 4, 4))


def test_a_users_own_module_conforms_without_inheriting():
    G = _Plain()
    check_interface(G, GENERATOR)
    assert interface_of(G) == GENERATOR and not is_style_based(G)


def test_a_module_without_the_members_is_refused_naming_them():
    with pytest.raises(GanforgeError, match=r"net \(Linear\) is not a generator: it lacks z_dim, num_classes"):
        check_interface(nn.Linear(2, 2), GENERATOR, "net")
    with pytest.raises(GanforgeError, match="lacks directions, channels"):
        check_interface(_Plain(), TRANSLATOR)
    with pytest.raises(GanforgeError, match="neither a generator"):
        interface_of(nn.Linear(2, 2))
    with pytest.raises(ValueError):
        check_interface(_Plain(), "painter")


def test_input_transform_is_the_live_buffer_of_an_alias_free_generator_and_none_elsewhere():
    from ganforge.interfaces import input_transform

    class Input(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("transform", torch.eye(3))

    class Synthesis(nn.Module):
        def __init__(self):
            super().__init__()
            self.input = Input()

    class AliasFree(nn.Module):
        def __init__(self):
            super().__init__()
            self.synthesis = Synthesis()

    g = AliasFree()
    assert input_transform(g) is g.synthesis.input.transform  # writing into it moves the input
    g.synthesis.input.transform = torch.eye(2)  # not a 3x3 transform
    assert input_transform(g) is None
    assert input_transform(nn.Linear(1, 1)) is None
    assert input_transform(load_generator(LEGACY / "stylegan2-tiny")) is None  # StyleGAN2 has no moving input
