"""train.cuda_graph on a CUDA device: the captured step trains what the eager step trains."""

import pytest
import torch
from helpers.training import DIFFAUGMENT, quiet_trainer

from ganforge.config import apply_overrides
from ganforge.presets import get_preset
from ganforge.training.trainer import Trainer

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _trainer(tmp_path, preset, tiny_dataset, graph, over):
    return quiet_trainer(tmp_path, preset, tiny_dataset, **{"train.device": "cuda", "train.cuda_graph": graph, **over})


@pytest.mark.parametrize("preset,over", [(n, {}) for n in ["dcgan-tiny", "sngan-tiny", "wgan-tiny", "dcgan-cond-tiny",
                                                           "wgangp-tiny", "dcgan-r1-tiny", "biggan-tiny",
                                                           "sagan-tiny"]] + [("dcgan-tiny", DIFFAUGMENT)])
def test_graphed_steps_equal_eager_steps(tmp_path, tiny_dataset, preset, over):
    steps = 10  # 3 warm-up steps, the capture, 7 replays
    eager = _trainer(tmp_path / "eager", preset, tiny_dataset, False, over)
    acc: dict = {}
    for _ in range(steps):
        eager.train_step(acc)
    g = _trainer(tmp_path / "graph", preset, tiny_dataset, True, over)
    g.graphed = g.sync_free_step()
    assert g.graphed is not None
    gacc: dict = {}
    for _ in range(steps):
        g.graphed_step(gacc)
    torch.cuda.synchronize()
    assert g.graphed is not None and g.graphed.graph is not None, "the step was not captured"
    assert g.step == eager.step == steps
    for name, net in eager.recipe.nets.items():
        other = g.recipe.nets[name].state_dict()
        for k, v in net.state_dict().items():
            if v.dtype.is_floating_point:
                assert torch.allclose(v, other[k], rtol=1e-4, atol=1e-5), (preset, name, k)
            else:
                assert torch.equal(v, other[k]), (preset, name, k)
    for name, e in eager.emas.items():
        for a, b in zip(e.ema_net.parameters(), g.emas[name].ema_net.parameters()):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (preset, name)


def test_graphed_steps_on_streamed_data_equal_eager_steps(tmp_path, image_folder):
    """A streamed feed keeps a pin-memory thread busy while the step is captured (capture_error_mode
    thread_local lets it allocate pinned memory meanwhile); the captured run still trains what eager does."""
    nets = []
    for graph in (False, True):
        cfg = apply_overrides(get_preset("dcgan-tiny"), {
            "data.name": str(image_folder), "data.resolution": 16, "data.stream": "always", "data.workers": 2,
            "train.device": "cuda", "train.progress": False, "metrics.names": "", "train.cuda_graph": graph,
            "train.total_kimg": 0.16, "train.tick_kimg": 0.08})
        run = tmp_path / f"graph-{graph}"
        run.mkdir()
        t = Trainer(cfg, run)
        t.train()
        if graph:
            assert t.graphed is not None and t.graphed.graph is not None, "the step was not captured"
        nets.append({k: v.detach().clone() for k, v in t.recipe.nets["G"].state_dict().items()})
    for k, v in nets[0].items():
        if v.dtype.is_floating_point:
            assert torch.allclose(v, nets[1][k], rtol=1e-4, atol=1e-5), k
        else:
            assert torch.equal(v, nets[1][k]), k
