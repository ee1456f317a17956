"""Every config field has a type/choice/range check, devices resolve the same way everywhere, and an
export's metadata is checked before anything is allocated."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from ganforge.api import load_generator, validate_experiment
from ganforge.config import Experiment, to_dict, valid_keys
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.families.classic.config import ModelConfig
from ganforge.presets import PRESETS, get_preset
from ganforge.registry import RECIPES
from ganforge.validation import rules_for

NAN, INF = math.nan, math.inf

# Bad values per field. Every key of the config must be here (a new field needs its own rule and
# its own bad values); each value must be refused with a message naming the key and the value.
BAD: dict[str, list] = {
    "preset": ["", "../up", "a/b", ".hidden", "x" * 101, 5],
    "recipe": ["nope", None],
    "data.name": ["", "   ", None, 3, "x" * 300, "runs/" + "n" * 256 + "/images"],
    "data.root": ["", 3, "r" * 256, "/data/" + "é" * 128],  # 128 x 2 bytes: a name of 256 bytes
    "data.split": ["val", None],
    "data.resolution": [0, -32, 4097, True, 32.0, "32"],
    "data.resize": ["zoom", None],
    "data.channels": [2, 0, True, "1"],
    "data.on_bad_image": ["ignore"],
    "data.pairing": ["side-by-side", "Aligned", "", 3],
    "data.use_labels": [1, "yes", None],
    "data.device_cache_max_bytes": [-1, True, 1.5, None],
    "data.stream": ["sometimes", True, None],
    "data.workers": [-1, 65, 1.5, True],
    "data.prefetch": [0, 65, None, False],
    "data.max_file_bytes": [0, -1, True, 1.5, None],
    "data.max_image_pixels": [0, -5, False, None],
    "model.g_arch": ["stylegan9"],
    "model.d_arch": ["nope"],
    "model.z_dim": [0, 8193, 10**9, True, 100.0],
    "model.g_width": [0, 1025, False],
    "model.d_width": [0, 2**20],
    "model.d_norm": ["instance"],
    "model.spectral_norm": [1, "true"],
    "model.conditional": [0],
    "model.attention_res": [3, 2.5, 10**9],
    "model.g_spectral_norm": ["yes"],
    "model.shared_dim": [0, 1.5],
    "loss.ortho_weight": [0.0, -1e-4, NAN],
    "loss.kind": ["wat"],
    "loss.gp_weight": [0.0, -1.0, NAN, INF, True],
    "loss.r1_gamma": [0.0, NAN, -INF],
    "loss.r2_gamma": [-0.5, INF],
    "loss.clip_value": [0.0, NAN],
    "loss.n_critic": [0, 101, True],
    "optim.name": ["sgd"],
    "optim.g_lr": [0.0, -1e-4, NAN, INF, None],
    "optim.d_lr": [0.0, INF],
    "optim.beta1": [1.0, -0.1, NAN, 1.5],
    "optim.beta2": [1.0, -1e-9, INF],
    "optim.lr_decay_start_kimg": [-1.0, NAN, "soon"],
    "train.batch_size": [0, -1, 65537, True, 64.0],
    "train.total_kimg": [0.0, 0.0004, NAN, INF, -1.0, 1e7 + 1, None],
    "train.tick_kimg": [0.0, NAN, INF, 2e7],
    "train.snapshot_ticks": [0, True],
    "train.seed": [-1, 2**32, 2**63, True, 1.0],
    "train.ema_halflife_kimg": [0.0, NAN, INF, -1.0],
    "train.ema_rampup": [-0.1, NAN, INF],
    "train.device": ["gpu", "cuda:x", "meta", "cpu:1", "", "mps:0", "cuda:99"],
    "train.mixed_precision": [1],
    "train.compile": [("tpu",), ("cuda", "x")],
    "train.cuda_graph": [1, "yes", None],
    "train.max_bad_steps": [0, -3],
    "train.grid_size": [0, 4097],
    "train.tensorboard": ["no"],
    "train.tracker": ["comet", "", "TensorBoard", None, True],
    "train.keep_checkpoints": [0],
    "train.progress": [None],
    "metrics.names": [("fid",), ("fid10k", "lpips")],
    "metrics.interval_kimg": [0.0, NAN, INF],
    "metrics.extractor": ["nope"],
    "metrics.protocol": ["TF", "nope", 1],
    "augment.kind": ["mixup", 1],
    "augment.policy": ["", 3],
    "augment.pipe": ["", None],
    "augment.p": [1.5, -0.1, NAN],
    "augment.target": [2.0, INF],
    "augment.ada_kimg": [0.0, NAN],
    "augment.ada_interval": [0, 1.5],
}


# The family sections of the other recipes (their common keys are covered by BAD above).
FAMILY_BAD: dict[str, dict[str, list]] = {
    "stylegan2": {
        "model.z_dim": [0, 8193, True], "model.w_dim": [0, 1.5], "model.map_layers": [0, 65],
        "model.map_lr_mult": [0.0, NAN, -1.0], "model.cbase": [0, 2**21], "model.cmax": [0, 8193],
        "model.g_arch": ["fancy", None], "model.d_arch": ["unet"], "model.mbstd_group": [0, True],
        "model.mbstd_channels": [0, 65], "model.conv_clamp": [0.0, INF], "model.num_fp16_res": [-1, 17],
        "model.conditional": [1], "loss.r1_gamma": [-1.0, NAN, None], "loss.r1_interval": [0, 10_001],
        "loss.pl_weight": [0.0, NAN], "loss.pl_interval": [0], "loss.pl_batch_shrink": [0],
        "loss.pl_decay": [0.0, 1.5, NAN], "loss.style_mixing_prob": [-0.1, 1.1, NAN],
    },
    "stylegan3": {
        "model.cfg": ["s", "T", None], "model.z_dim": [0, 8193], "model.w_dim": [0, 1.5], "model.map_layers": [0, 65],
        "model.cbase": [0, 2**21], "model.cmax": [0, 8193], "model.num_layers": [2, 65], "model.num_critical": [0],
        "model.first_cutoff": [0.0, NAN], "model.first_stopband": [-1.0, INF], "model.last_stopband_rel": [1.0, 17.0],
        "model.margin_size": [-1, 257], "model.output_scale": [0.0], "model.filter_size": [0, 65],
        "model.lrelu_upsampling": [0, 9], "model.conv_clamp": [0.0, INF], "model.num_fp16_res": [-1, 65],
        "model.magnitude_ema_beta": [1.5, NAN], "model.d_arch": ["unet"], "model.mbstd_group": [0, True],
        "model.mbstd_channels": [0, 65], "model.conditional": [1], "loss.r1_gamma": [-1.0, NAN, None],
        "loss.r1_interval": [0, 10_001], "loss.blur_sigma": [-1.0, NAN], "loss.blur_fade_kimg": [-1.0, INF],
        "loss.style_mixing_prob": [-0.1, 1.1, NAN],
    },
    "pix2pix": {
        "model.g_arch": ["vnet", None], "model.unet_depth": [0, 13], "model.resnet_blocks": [-1, 65],
        "model.g_width": [0], "model.d_width": [0, 1025], "model.d_layers": [0, 9], "model.norm": ["group", None],
        "model.dropout": [1], "model.direction": ["AtoC", None], "loss.kind": ["hinge", None],
        "loss.l1_weight": [-1.0, NAN, None],
    },
    "cyclegan": {
        "model.g_arch": ["vnet"], "model.unet_depth": [0], "model.resnet_blocks": [-1], "model.g_width": [0],
        "model.d_width": [0], "model.d_layers": [0], "model.norm": ["layer"], "model.dropout": ["yes"],
        "loss.kind": ["nonsat"], "loss.cycle_weight": [-1.0, INF, None], "loss.identity_weight": [-0.5, NAN],
        "loss.pool_size": [-1, 100001, 2.5],
    },
    "progan": {
        "model.z_dim": [0], "model.fmap_base": [0], "model.fmap_max": [0, 8193], "model.mbstd_group": [0],
        "model.mbstd_channels": [0], "model.conditional": ["no"], "model.progressive": [1],
        "model.lod_initial_resolution": [2, 4097], "model.lod_training_kimg": [-1.0, NAN],
        "model.lod_transition_kimg": [INF, -0.5], "model.reset_optimizer": [None],
        "loss.kind": ["hinge"], "loss.gp_weight": [0.0, NAN], "loss.drift": [-0.001], "loss.r1_gamma": [0.0],
        "loss.n_critic": [0, 101],
    },
    "stylegan": {
        "model.z_dim": [0], "model.w_dim": [0], "model.map_layers": [0], "model.map_lr_mult": [0.0],
        "model.fmap_base": [0], "model.fmap_max": [0], "model.mbstd_group": [0], "model.mbstd_channels": [0],
        "model.w_avg_beta": [-0.1, 1.5], "model.truncation_cutoff": [0, True], "model.conditional": [0],
        "model.progressive": ["yes"], "model.lod_initial_resolution": [0], "model.lod_training_kimg": [NAN],
        "model.lod_transition_kimg": [-1.0], "model.reset_optimizer": [2], "loss.kind": ["lsgan"],
        "loss.gp_weight": [-1.0], "loss.drift": [0.0], "loss.r1_gamma": [NAN], "loss.n_critic": [0],
        "loss.style_mixing_prob": [2.0],
    },
}
TINY = {"gan": "dcgan-tiny", "stylegan2": "stylegan2-tiny", "stylegan3": "stylegan3-t-tiny", "progan": "progan-tiny", "stylegan": "stylegan-tiny",
        "pix2pix": "pix2pix-tiny", "cyclegan": "cyclegan-tiny"}


def _set(cfg: Experiment, key: str, value) -> Experiment:
    """``cfg`` with one field replaced, bypassing apply_overrides' own type checks."""
    section, _, name = key.rpartition(".")
    if not section:
        return replace(cfg, **{name: value})
    return replace(cfg, **{section: replace(getattr(cfg, section), **{name: value})})


def _named(value, msg: str) -> bool:
    if isinstance(value, tuple):
        return any(repr(v) in msg for v in value)
    return repr(value) in msg or str(value) in msg


def test_every_field_of_every_family_has_a_rule_and_bad_values():
    assert set(TINY) == set(RECIPES.names())
    assert set(rules_for("gan")) == set(valid_keys()) == set(BAD)
    for recipe in FAMILY_BAD:
        keys = set(valid_keys(Experiment(recipe=recipe)))
        assert set(rules_for(recipe)) == keys, recipe
        family = {k for k in keys if k.startswith(("model.", "loss."))}
        assert set(FAMILY_BAD[recipe]) == family, recipe


def test_every_preset_is_valid():
    for name in PRESETS.names():
        validate_experiment(get_preset(name))


@pytest.mark.parametrize("recipe,key,value", [("gan", k, v) for k, vs in BAD.items() for v in vs]
                         + [(r, k, v) for r, bad in FAMILY_BAD.items() for k, vs in bad.items() for v in vs])
def test_bad_value_is_refused_with_key_and_value(recipe, key, value):
    with pytest.raises(GanforgeError) as e:  # a bad recipe is refused as soon as the config is built
        validate_experiment(_set(get_preset(TINY[recipe]), key, value))
    msg = str(e.value)
    assert key in msg and _named(value, msg), msg
    assert "\n" not in msg


@pytest.mark.parametrize("key,value", [("train.seed", 2**32 - 1), ("train.total_kimg", 1e7), ("optim.beta1", 0.0),
                                       ("train.ema_rampup", 0.0), ("train.ema_rampup", None),
                                       ("data.device_cache_max_bytes", 0), ("model.z_dim", 8192),
                                       ("train.grid_size", 4096), ("train.batch_size", 65536),
                                       ("data.resolution", None), ("train.device", "cpu:0"),
                                       ("metrics.extractor", None), ("data.root", None),
                                       ("data.pairing", "unpaired")])
def test_edges_of_the_ranges_are_accepted(key, value):
    validate_experiment(_set(get_preset("dcgan-tiny"), key, value))


def test_paths_longer_than_a_file_system_allows(capsys):
    """data.name / data.root are refused before anything looks at them (the operating system would raise
    ENAMETOOLONG from the first stat): a name over 255 bytes, a path over 4095 bytes."""
    long_path = "/data" + "/a" * 2100  # every name short, 4205 bytes in all
    with pytest.raises(GanforgeError) as e:
        validate_experiment(_set(get_preset("dcgan-tiny"), "data.root", long_path))
    assert str(e.value) == (f"data.root {long_path[:200]!r}...{long_path[-60:]!r} (4205 characters) is a path of 4205 "
                            f"bytes; file systems allow at most 4095 bytes per path")
    with pytest.raises(GanforgeError) as e:
        validate_experiment(_set(get_preset("dcgan-tiny"), "data.name", "photos/" + "p" * 300))
    assert str(e.value) == (f"data.name {'photos/' + 'p' * 300!r} has a file or folder name of 300 bytes (the one "
                            f"starting {'p' * 24!r}); file systems allow at most 255 bytes per name")
    validate_experiment(_set(get_preset("dcgan-tiny"), "data.root", "/d/" + "r" * 255))  # the longest name allowed
    from ganforge.cli import main

    for sets in (["data.name=" + "x" * 300], ["data.name=mnist", f"data.root={long_path}"]):
        key = sets[-1].split("=")[0]
        assert main(["train", "--preset", "dcgan-tiny", *(a for kv in sets for a in ("--set", kv))]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"ganforge: error: {key} ") and "Traceback" not in err and len(err.splitlines()) == 1


def test_protocol_is_checked_against_an_explicit_extractor():
    base = _set(get_preset("dcgan-tiny"), "metrics.extractor", "fmnist-cnn")
    with pytest.raises(GanforgeError, match="metrics.protocol 'tf' applies to the inception-v3-fid extractor; "
                                            "'fmnist-cnn' has one fixed input pipeline"):
        validate_experiment(_set(base, "metrics.protocol", "tf"))
    ok = _set(_set(base, "metrics.extractor", "inception-v3-fid"), "metrics.protocol", "pytorch-fid")
    validate_experiment(ok)


def test_range_message_states_the_range():
    with pytest.raises(GanforgeError, match=r"train.total_kimg must be a finite number >= 0.001 and <= 10000000, "
                                            r"got nan"):
        validate_experiment(_set(get_preset("dcgan-tiny"), "train.total_kimg", NAN))
    with pytest.raises(GanforgeError, match=r"train.seed must be an integer >= 0 and <= 4294967295, got 4294967296"):
        validate_experiment(_set(get_preset("dcgan-tiny"), "train.seed", 2**32))
    with pytest.raises(GanforgeError, match=r"optim.beta2 must be a finite number >= 0 and < 1, got 1.0"):
        validate_experiment(_set(get_preset("dcgan-tiny"), "optim.beta2", 1.0))


def test_conditional_without_labels_and_missing_tensorboard(monkeypatch):
    with pytest.raises(GanforgeError, match="model.conditional=true needs class labels: set data.use_labels=true"):
        validate_experiment(_set(get_preset("dcgan-cond-tiny"), "data.use_labels", False))
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(GanforgeError, match="train.tensorboard=true needs the tensorboard package"):
        validate_experiment(_set(get_preset("dcgan-tiny"), "train.tensorboard", True))


def test_intra_class_fid_during_training_needs_a_conditional_model():
    # refused when the run is configured, not at its first metrics tick
    with pytest.raises(GanforgeError, match=r"^metrics.names: 'ifid1k' \(intra-class FID\) needs a class-conditional "
                                            r"model: set model.conditional=true and data.use_labels=true, or use 'fid1k'$"):
        validate_experiment(_set(get_preset("dcgan-tiny"), "metrics.names", ("fid1k", "ifid1k")))
    validate_experiment(_set(get_preset("dcgan-cond-tiny"), "metrics.names", ("ifid1k",)))


# ---------------------------------------------------------------- devices


def _cuda(monkeypatch, count: int):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_device_without_cuda(monkeypatch):
    _cuda(monkeypatch, 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(GanforgeError) as e:
            resolve_device(name, "train.device")
        assert str(e.value) == (f"device {name!r} (train.device) is not available: CUDA is not available on this "
                                f"machine; valid choices on this machine: auto, cpu")
    assert resolve_device("auto", "train.device") == torch.device("cpu")


def test_device_index_beyond_the_gpus(monkeypatch):
    _cuda(monkeypatch, 1)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(GanforgeError) as e:
        validate_experiment(_set(get_preset("dcgan-tiny"), "train.device", "cuda:3"))
    assert str(e.value) == ("device 'cuda:3' (train.device) is not available: this machine has 1 CUDA device; "
                            "valid choices on this machine: auto, cpu, cuda, cuda:0")
    assert resolve_device("cuda:0") == torch.device("cuda:0")


def test_mps_unavailable_and_garbage(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(GanforgeError, match=r"device 'mps' \(--device\) is not available: the MPS backend"):
        resolve_device("mps", "--device")
    with pytest.raises(GanforgeError, match=r"unknown device 'gpu0' \(--device\); valid choices on this machine: auto, cpu"):
        resolve_device("gpu0", "--device")


# ---------------------------------------------------------------- exported generator metadata


def _export(tmp_path, **meta_changes):
    """A real (tiny) export whose metadata is then changed as given; returns the weights path."""
    from ganforge.families.classic.nets import build_generator
    from ganforge.training.checkpoint import save_export

    mcfg = ModelConfig(z_dim=8, g_width=8)
    G = build_generator(mcfg, resolution=16, channels=1, num_classes=0)
    meta = {"format": "ganforge-generator", "version": 1, "model": to_dict(Experiment(model=mcfg))["model"],
            "resolution": 16, "channels": 1, "num_classes": 0, "class_names": [], "z_dim": 8}
    model = dict(meta["model"])
    for k, v in meta_changes.items():
        if k.startswith("model."):
            model[k[len("model."):]] = v
        else:
            meta[k] = v
    meta["model"] = model if "model" not in meta_changes else meta_changes["model"]
    return save_export(tmp_path, G, meta)


def _record_builds(monkeypatch) -> list[str]:
    """Record the default device (meta or cpu) of every generator build load_generator makes (through
    the recipe named in the export, here the classic one)."""
    recipe = RECIPES.get("gan")
    built: list[str] = []
    real = recipe.build_generator
    monkeypatch.setattr(recipe, "build_generator",
                        classmethod(lambda cls, *a, **k: built.append(torch.empty(0).device.type) or real(*a, **k)))
    return built


def test_good_export_loads(tmp_path, monkeypatch):
    path = _export(tmp_path)
    built = _record_builds(monkeypatch)
    G = load_generator(path)
    assert built == ["meta", "cpu"]
    assert G.z_dim == 8 and G(torch.randn(2, 8)).shape == (2, 1, 16, 16)


@pytest.mark.parametrize("changes,needle", [
    ({"model.z_dim": 10**9}, "model.z_dim must be an integer >= 1 and <= 8192, got 1000000000"),
    ({"model.g_width": 2**20}, "model.g_width must be an integer >= 1 and <= 1024"),
    ({"resolution": 2**20}, "resolution must be an integer >= 1 and <= 4096, got 1048576"),
    ({"resolution": "16"}, "bad value '16' for resolution: expected int"),
    ({"channels": 2}, "unknown channels 2; valid choices: 1, 3"),
    ({"num_classes": -1}, "num_classes must be an integer >= 0"),
    ({"num_classes": True}, "bad value True for num_classes"),
    ({"model": [1, 2]}, "'model' must be an object of model.* settings"),
    ({"model.bogus": 1}, "unknown config key 'model.bogus'"),
    ({"model.z_dim": "lots"}, "bad value 'lots' for model.z_dim"),
    ({"model.g_arch": "stylegan9"}, "unknown model.g_arch 'stylegan9'"),
    ({"z_dim": 9}, "z_dim 9 differs from model.z_dim 8"),
])
def test_bad_metadata_fails_before_building(tmp_path, monkeypatch, changes, needle):
    path = _export(tmp_path, **changes)
    built = _record_builds(monkeypatch)
    with pytest.raises(GanforgeError) as e:
        load_generator(path)
    assert needle in str(e.value) and "has bad metadata" in str(e.value)
    assert built == []


def test_metadata_that_does_not_match_the_tensors_is_caught_on_the_meta_device(tmp_path, monkeypatch):
    path = _export(tmp_path, **{"model.g_width": 512, "model.z_dim": 4096, "resolution": 128, "z_dim": 4096})
    built = _record_builds(monkeypatch)
    with pytest.raises(GanforgeError) as e:
        load_generator(path)
    msg = str(e.value)
    assert "does not match its metadata (dcgan, z_dim 4096, 1x128x128, 0 classes)" in msg
    assert "input.weight: the file has shape [8, 16, 4, 4], the metadata implies [4096, 8192, 4, 4]" in msg
    assert built == ["meta"]  # the 4096 x 8192 x 4 x 4 layer (2 GB) was never allocated


def test_metadata_json_is_not_an_object(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "g.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={"ganforge": json.dumps([1, 2])})
    with pytest.raises(GanforgeError, match="is not a ganforge generator export"):
        load_generator(path)
