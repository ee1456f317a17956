"""BigGAN / BigGAN-deep: hierarchical latents, shared class embedding, orthogonal regularisation,
truncation by resampling, and their place in the classic recipe and the CLI."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.cli import main
from ganforge.config import apply_overrides
from ganforge.errors import GanforgeError
from ganforge.families.classic.biggan import (
    BigGANDeepDiscriminator,
    BigGANGenerator,
    CondBatchNorm2d,
    orthogonal_penalty,
    split_z,
)
from ganforge.presets import get_preset
from ganforge.synthesis.latents import truncated_z
from ganforge.training.recipe import RunContext


def test_skip_z_splits_into_equal_chunks_that_sum_to_z_dim():
    G = BigGANGenerator(128, 32, 3, 16, num_classes=10, shared_dim=24, spectral=False)
    assert G.chunks == 4  # input + one per block (4 -> 8 -> 16 -> 32)
    parts = split_z(torch.randn(5, 128), G.chunks)
    assert [p.shape[1] for p in parts] == [32] * 4 and sum(p.shape[1] for p in parts) == 128
    assert G.input.in_features == 32
    bns = [m for m in G.modules() if isinstance(m, CondBatchNorm2d)]
    assert bns and all(bn.gain.in_features == 24 + 32 for bn in bns)  # shared embedding + the block's chunk
    assert sum(isinstance(m, nn.Embedding) for m in G.modules()) == 1  # one embedding shared by every block
    with pytest.raises(GanforgeError, match="model.z_dim=130 must be a multiple of 4"):
        BigGANGenerator(130, 32, 3, 16)


def test_every_chunk_and_the_class_reach_the_image():
    torch.manual_seed(0)
    G = BigGANGenerator(96, 32, 3, 16, num_classes=5, shared_dim=8, spectral=False).eval()
    z, c = torch.randn(2, 96), torch.tensor([0, 1])
    base = G(z, c)
    for i in range(4):  # perturb one chunk at a time
        z2 = z.clone()
        z2[:, 24 * i:24 * (i + 1)] += 1
        assert not torch.allclose(G(z2, c), base)
    assert not torch.allclose(G(z, torch.tensor([2, 3])), base)


def test_deep_variant_two_blocks_per_resolution_and_whole_z_everywhere():
    G = BigGANGenerator(20, 32, 3, 16, num_classes=3, shared_dim=4, spectral=False, deep=True)
    assert len(G.blocks) == 6 and G.chunks == 1
    assert all(bn.gain.in_features == 4 + 20 for bn in G.modules() if isinstance(bn, CondBatchNorm2d))
    img = G(torch.randn(2, 20), torch.tensor([0, 2]))
    D = BigGANDeepDiscriminator(32, 3, 16, spectral=True, num_classes=3, attention_res=16)
    assert img.shape == (2, 3, 32, 32) and D(img, torch.tensor([0, 2])).shape == (2,)
    assert len([m for m in D.blocks if not isinstance(m, nn.Identity)]) == 3 * 2 + 1  # + attention


def test_orthogonal_penalty_against_its_formula():
    net = nn.Sequential(nn.Linear(5, 3), nn.Conv2d(2, 4, 3))
    net.add_module("shared", nn.Embedding(4, 6))  # class embeddings are not regularised
    want = 0.0
    for w in (net[0].weight, net[1].weight.flatten(1)):
        gram = w @ w.t()
        want = want + (gram * (1 - torch.eye(gram.shape[0]))).square().sum()
    got = orthogonal_penalty(net)
    assert torch.allclose(got, want)
    # its gradient is 4 (W W^T masked) W for each matrix
    got.backward()
    w = net[0].weight.detach()
    gram = w @ w.t()
    assert torch.allclose(net[0].weight.grad, 4 * (gram * (1 - torch.eye(3))) @ w, atol=1e-5)
    assert net.shared.weight.grad is None
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    ortho = nn.Linear(6, 4, bias=False)
    with torch.no_grad():
        ortho.weight.copy_(q[:4])
    assert orthogonal_penalty(ortho) < 1e-10  # orthonormal rows: nothing to penalise


def test_truncation_resamples_within_the_bound_deterministically():
    z = truncated_z((64, 128), 0.5, generator=torch.Generator().manual_seed(3))
    assert z.abs().max() <= 0.5
    again = truncated_z((64, 128), 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(z, again)
    first = torch.randn(64, 128, generator=torch.Generator().manual_seed(3))
    keep = first.abs() <= 0.5  # entries already inside the bound are kept, the rest redrawn
    assert torch.equal(z[keep], first[keep]) and not torch.equal(z[~keep], first[~keep].clamp(-0.5, 0.5))
    assert z.std() < 0.35  # a truncated normal at 0.5 has std ~0.28
    with pytest.raises(GanforgeError, match="threshold must be > 0"):
        truncated_z((2, 2), 0.0)


def test_biggan_recipe_adds_the_orthogonal_term_to_g(tiny_dataset):
    from ganforge.registry import RECIPES
    from ganforge.training.recipe import DatasetInfo

    cfg = apply_overrides(get_preset("biggan-tiny"), {"data.resolution": 16})
    r = RECIPES.get("gan")(cfg, DatasetInfo.of(tiny_dataset, cfg), RunContext.single("cpu", seed=0))
    loss, terms = r.g_loss(None)
    assert set(terms) == {"G/adv", "G/ortho"}
    assert torch.allclose(terms["G/ortho"], 1e-4 * orthogonal_penalty(r.G))
    assert torch.allclose(loss, terms["G/adv"] + terms["G/ortho"])


def test_presets_follow_the_paper():
    cfg = get_preset("biggan-fmnist32")
    m, lc = cfg.model, cfg.loss
    assert (m.g_arch, m.d_arch, m.conditional, m.spectral_norm, m.g_spectral_norm) == ("biggan", "biggan", True, True, True)
    assert (lc.kind, lc.ortho_weight, lc.n_critic, m.shared_dim) == ("hinge", 1e-4, 2, 128)
    assert cfg.optim.d_lr == 4 * cfg.optim.g_lr and cfg.train.ema_halflife_kimg is not None
    assert get_preset("biggan-deep-fmnist32").model.g_arch == "biggan-deep"
    assert get_preset("biggan-emoji64").data.name == "emoji"


def test_generate_with_z_truncation(tmp_path, tiny_dataset, capsys):
    import ganforge

    r = ganforge.train(apply_overrides(get_preset("biggan-tiny"), {"train.total_kimg": 0.016}), out=tmp_path,
                       dataset=tiny_dataset)
    args = ["generate", "--model", str(r.run_dir), "--seeds", "0-3", "--class", "1", "--grid"]
    assert main(args + ["--out", str(tmp_path / "plain")]) == 0
    assert main(args + ["--z-trunc", "0.3", "--out", str(tmp_path / "trunc")]) == 0
    assert (tmp_path / "plain" / "grid.png").read_bytes() != (tmp_path / "trunc" / "grid.png").read_bytes()
    assert main(args + ["--z-trunc", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "--z-trunc must be a number >= 0.05" in capsys.readouterr().err
