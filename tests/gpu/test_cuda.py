"""Checks that need a CUDA device (``pytest -m gpu``); skipped elsewhere."""

import pytest
import torch

import ganforge
from ganforge.config import apply_overrides

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _cfg(name="dcgan-tiny", **over):
    base = {"train.device": "cuda", "train.total_kimg": 0.064, "train.tick_kimg": 0.032}
    base.update(over)
    return apply_overrides(ganforge.get_preset(name), base)


@pytest.mark.parametrize("preset", ["dcgan-tiny", "wgangp-tiny", "sngan-tiny", "dcgan-cond-tiny", "wgan-tiny"])
def test_tiny_presets_train_on_cuda(tmp_path, tiny_dataset, preset):
    r = ganforge.train(_cfg(preset), out=tmp_path, dataset=tiny_dataset)
    assert r.steps == 8 and r.bad_steps == 0
    assert "gpu_mem_gb" in r.stats[-1] and torch.cuda.max_memory_allocated() > 0
    G = ganforge.load_generator(r.run_dir, device="cuda")
    c = torch.zeros(2, dtype=torch.long, device="cuda") if G.num_classes else None
    assert G(torch.randn(2, G.z_dim, device="cuda"), c).is_cuda


def test_cuda_run_resumes_to_the_same_step_count_and_loads_on_cpu(tmp_path, tiny_dataset):
    ganforge.train(_cfg(**{"train.total_kimg": 0.032}), out=tmp_path, dataset=tiny_dataset)
    r = ganforge.train(_cfg(), out=tmp_path, resume="auto", dataset=tiny_dataset)
    assert r.steps == 8 and r.run_dir.name == "00000-dcgan-tiny"
    G = ganforge.load_generator(r.run_dir)  # exported on CUDA, loaded on CPU
    assert G(torch.randn(2, G.z_dim)).shape == (2, 1, 16, 16)


def test_mixed_precision_and_compile_on_cuda(tmp_path, tiny_dataset):
    r = ganforge.train(_cfg(**{"train.mixed_precision": True, "train.compile": "cuda"}), out=tmp_path,
                       dataset=tiny_dataset)
    assert r.bad_steps == 0 and all(abs(r.stats[-1][k]) < 1e6 for k in ("G/adv", "D/adv"))


def test_fused_adam_is_used_on_cuda(tmp_path, tiny_dataset):
    from ganforge.training.trainer import Trainer

    t = Trainer(_cfg(), tmp_path, dataset=tiny_dataset)
    assert all(o.defaults.get("fused") for o in t.recipe.optimizers.values())


def test_metric_features_agree_between_cpu_and_cuda():
    from ganforge.metrics import get_extractor

    ext = get_extractor("fmnist-cnn")
    imgs = torch.randint(0, 256, (32, 1, 32, 32), dtype=torch.uint8)
    a = ext.features(imgs, device="cpu")
    b = ext.features(imgs, device="cuda")
    assert abs(a - b).max() < 1e-3 * (abs(a).max() + 1e-6)
