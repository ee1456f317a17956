import math

import pytest
import torch

from ganforge.losses import ADVERSARIAL_LOSSES, gradient_penalty, r1_penalty, r2_penalty

REAL = torch.tensor([2.0, -1.0, 0.5])
GEN = torch.tensor([-0.5, 1.0, 3.0])


def _sp(x):  # softplus by hand
    return math.log1p(math.exp(x))


def test_minimax_and_nonsat_by_hand():
    d_expect = sum(_sp(-r) for r in REAL.tolist()) / 3 + sum(_sp(g) for g in GEN.tolist()) / 3
    for name in ("minimax", "nonsat"):
        assert ADVERSARIAL_LOSSES.get(name).d_loss(REAL, GEN).item() == pytest.approx(d_expect, rel=1e-6)
    # minimax G minimises log(1 - sigmoid(g)) = -softplus(g); non-saturating minimises -log sigmoid(g).
    assert ADVERSARIAL_LOSSES.get("minimax").g_loss(GEN).item() == pytest.approx(
        sum(math.log(1 - 1 / (1 + math.exp(-g))) for g in GEN.tolist()) / 3, rel=1e-6)
    assert ADVERSARIAL_LOSSES.get("nonsat").g_loss(GEN).item() == pytest.approx(
        sum(-math.log(1 / (1 + math.exp(-g))) for g in GEN.tolist()) / 3, rel=1e-6)


def test_wasserstein_lsgan_hinge_by_hand():
    w = ADVERSARIAL_LOSSES.get("wasserstein")
    assert w.d_loss(REAL, GEN).item() == pytest.approx((3.5 / 3) - (1.5 / 3))
    assert w.g_loss(GEN).item() == pytest.approx(-3.5 / 3)
    ls = ADVERSARIAL_LOSSES.get("lsgan")
    assert ls.d_loss(REAL, GEN).item() == pytest.approx(0.5 * ((1 + 4 + 0.25) / 3 + (0.25 + 1 + 9) / 3))
    assert ls.g_loss(GEN).item() == pytest.approx(0.5 * (2.25 + 0 + 4) / 3)
    h = ADVERSARIAL_LOSSES.get("hinge")
    # relu(1 - real) = [0, 2, 0.5]; relu(1 + gen) = [0.5, 2, 4]
    assert h.d_loss(REAL, GEN).item() == pytest.approx(2.5 / 3 + 6.5 / 3)
    assert h.g_loss(GEN).item() == pytest.approx(-3.5 / 3)


def test_minimax_saturates_where_nonsat_does_not():
    very_fake = torch.tensor([-20.0], requires_grad=True)
    ADVERSARIAL_LOSSES.get("minimax").g_loss(very_fake).backward()
    g_minimax = very_fake.grad.abs().item()
    very_fake.grad = None
    ADVERSARIAL_LOSSES.get("nonsat").g_loss(very_fake).backward()
    assert g_minimax < 1e-6 < very_fake.grad.abs().item()


class Quad(torch.nn.Module):
    """D(x) = sum(a * x^2) per sample: gradient 2 a x, known in closed form."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.7))

    def forward(self, x):
        return (self.a * x.square()).flatten(1).sum(1)


def test_r1_r2_match_manual_autograd():
    D = Quad()
    x = torch.randn(4, 1, 3, 3)
    expect = 0.5 * 10.0 * (2 * 0.7 * x).square().flatten(1).sum(1).mean()
    assert r1_penalty(D, x, 10.0).item() == pytest.approx(expect.item(), rel=1e-5)
    assert r2_penalty(D, x, 10.0).item() == pytest.approx(expect.item(), rel=1e-5)
    # The penalty is differentiable w.r.t. D's parameters (it is a D loss term).
    r1_penalty(D, x, 10.0).backward()
    assert D.a.grad is not None and D.a.grad.abs().item() > 0


def test_wgan_gp_matches_manual_autograd():
    D = Quad()
    real, gen = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    g = torch.Generator().manual_seed(3)
    gp = gradient_penalty(D, real, gen, 10.0, generator=g)
    eps = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(3))
    x_hat = eps * real + (1 - eps) * gen
    norm = (2 * 0.7 * x_hat).flatten(1).norm(dim=1)
    assert gp.item() == pytest.approx((10.0 * (norm - 1).square().mean()).item(), rel=1e-4)


def test_every_registered_loss_is_finite_and_differentiable():
    for name in ADVERSARIAL_LOSSES.names():
        loss = ADVERSARIAL_LOSSES.get(name)
        r, f = REAL.clone().requires_grad_(True), GEN.clone().requires_grad_(True)
        (loss.d_loss(r, f) + loss.g_loss(f)).backward()
        assert torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all(), name
