import copy

import pytest
import torch

from ganforge.training.ema import EMA, recalibrate_batchnorm


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)
        self.bn = torch.nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(self.lin(x))


def test_ema_update_averages_parameters_and_copies_buffers():
    net = Net()
    ema = EMA(net, halflife_kimg=0.01, rampup=None)  # half-life 10 images
    assert ema.ema_net is not net and not ema.ema_net.training
    start = copy.deepcopy(ema.ema_net.state_dict())
    with torch.no_grad():
        net.lin.weight.add_(1.0)
    net.train()
    net(torch.randn(8, 3))  # changes BN running stats
    ema.update(cur_nimg=10_000, batch_nimg=10)  # one half-life: halfway between old and new
    w = ema.ema_net.lin.weight
    assert torch.allclose(w, start["lin.weight"] + 0.5, atol=1e-6)
    assert torch.equal(ema.ema_net.bn.running_mean, net.bn.running_mean)
    assert int(ema.ema_net.bn.num_batches_tracked) == 1


def test_recalibrate_batchnorm_matches_train_mode_statistics():
    net = Net()
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(64, 3, generator=g) * 3 + 2 for _ in range(4)]
    recalibrate_batchnorm(net, lambda i: (batches[i],), num_batches=4)
    assert not net.training
    h = net.lin(torch.cat(batches)).detach()
    assert torch.allclose(net.bn.running_mean, h.mean(0), atol=1e-5)
    assert net.bn.momentum == pytest.approx(0.1)  # restored
