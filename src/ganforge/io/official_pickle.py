"""Read official NVlabs StyleGAN2 / StyleGAN2-ADA / StyleGAN3 network pickles without running them.

What such a file holds
----------------------
``network-snapshot-*.pkl`` is a plain ``pickle.dump`` (protocol 3 under Python 3.7, 4 later; not a
``torch.save`` zip) of a dict, in this order::

    {"training_set_kwargs": {class_name, path, use_labels, max_size, xflip, resolution, ...},
     "G": net, "D": net, "G_ema": net, "augment_pipe": net or None}

(the released pretrained pickles may lack some entries; the official loader requires only ``G_ema``
and treats a missing ``training_set_kwargs`` / ``augment_pipe`` as None).

Every net is an instance of a class wrapped by ``torch_utils.persistence.persistent_class``. It
pickles as the call ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with::

    meta = {"type": "class", "version": 6, "module_src": <full source text of the defining module>,
            "class_name": "Generator", "state": <the instance's __dict__>}

``state`` is an ``nn.Module`` ``__dict__``: ``training``, the OrderedDicts ``_parameters``,
``_buffers`` and ``_modules`` (sub-networks, themselves persistent objects), the set
``_non_persistent_buffers_set``, the hook OrderedDicts, the constructor arguments the decorator
captured as ``_init_args`` (tuple) and ``_init_kwargs`` (dict, whose values may be
``dnnlib.util.EasyDict``), and whatever attributes ``__init__`` set (numbers, strings, lists, numpy
arrays and numpy scalars - StyleGAN3 keeps sizes as ``np.broadcast_to`` arrays and sampling rates as
``np.float64``; buffers may be None, e.g. StyleGAN3's identity ``up_filter``).

Tensors use torch's ``__reduce_ex__``: a parameter is ``torch._utils._rebuild_parameter(data,
requires_grad, hooks)``, a tensor ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, hooks)`` and a storage ``torch.storage._load_from_bytes(raw)``, where ``raw`` is a
legacy (non-zip) ``torch.save`` of that storage.

How it is read
--------------
The official loader ``exec``\\ s ``module_src`` and calls the class's ``__setstate__``; this reader does
neither. A ``pickle.Unpickler`` whose ``find_class`` resolves only an explicit allow-list turns each
persistent object into an inert record (``module_src`` stays a string), each ``torch.nn`` module class
into a stand-in class that only stores its state, and ``EasyDict`` into ``dict``. Storage bytes are
parsed here (not by ``torch.load``) with an unpickler that knows only torch's storage type names.
Any other global - ``os.system``, ``builtins.eval``, a class of the snapshot's own modules - is
refused before anything is called; torch's own tensor/storage functions are never called either.
"""

from __future__ import annotations

import ast
import io
import pickle
import re
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.errors import GanforgeError

__all__ = ["NetRecord", "read_official_pickle", "NETWORK_KEYS"]

NETWORK_KEYS = ("G", "D", "G_ema", "augment_pipe")
"""Snapshot entries that hold networks (``augment_pipe`` may be None)."""


@dataclass(eq=False, repr=False)
class NetRecord:
    """One network (or sub-network) read from an official pickle; nothing in it is executable.

    ``state_dict`` uses the names ``module.state_dict()`` of the original network would produce
    (sub-networks flattened with dots, None and non-persistent buffers left out, parameters before
    buffers before children); the tensors are plain CPU tensors that do not require grad.
    """

    class_name: str
    """Class name as the original code spells it, e.g. ``"Generator"`` or ``"Linear"``."""
    module_name: str | None
    """Defining module for plain ``torch.nn`` modules (``"torch.nn.modules.linear"``). None for
    persistent StyleGAN classes: their pickle carries the module's source text, not its name."""
    init_kwargs: dict[str, Any]
    """Constructor arguments captured by the persistence decorator; positional arguments are folded
    in under their parameter names when the class's ``__init__`` can be found in ``module_src``
    (read with ``ast``, never run). Empty for plain ``torch.nn`` modules, which do not record them."""
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any]
    """Other instance attributes (``z_dim``, ``block_resolutions``, numpy sizes, ...)."""
    init_args: tuple = ()
    """Positional constructor arguments that could not be given a name (normally empty)."""
    children: dict[str, "NetRecord"] = field(default_factory=dict)
    """Direct sub-networks by attribute name (``_modules``), None entries left out."""
    module_src: str | None = None
    """Source text of the defining module, for persistent classes. Only ever treated as text."""
    persistence_version: int | None = None
    training: bool | None = None

    @property
    def persistent(self) -> bool:
        """True for classes pickled through ``torch_utils.persistence``."""
        return self.module_src is not None

    def submodule(self, dotted: str) -> "NetRecord":
        """The sub-network at ``"synthesis.b4.conv1"``-style path ("" is this record)."""
        rec = self
        for part in [p for p in dotted.split(".") if p]:
            if part not in rec.children:
                raise KeyError(f"{rec.class_name} has no sub-network {part!r} (has: {', '.join(rec.children) or 'none'})")
            rec = rec.children[part]
        return rec

    def __repr__(self) -> str:
        where = "persistent" if self.persistent else self.module_name
        return (f"NetRecord({self.class_name!r}, {where}, {len(self.state_dict)} tensors, "
                f"children={list(self.children)})")


# --------------------------------------------------------------------------------------------------
# Internal failures, turned into GanforgeErrors naming the file by read_official_pickle.


class _Refused(Exception):
    """The pickle asks for something that could run code."""


class _Invalid(Exception):
    """The pickle is well-formed but is not what an official snapshot holds."""


def _refusal(dotted: str) -> _Refused:
    if dotted.startswith("dnnlib.tflib"):
        return _Refused(f"it is a TensorFlow-era StyleGAN pickle (it references {dotted}); only the PyTorch "
                        "snapshots of StyleGAN2-ADA-PyTorch and StyleGAN3 are supported")
    return _Refused(f"it references {dotted}, which could run code; only tensors and StyleGAN network records are read")


# --------------------------------------------------------------------------------------------------
# Inert stand-ins that the restricted unpickler hands out instead of live objects.


class _PersistentObject:
    """What ``_reconstruct_persistent_obj(meta)`` yields here: the checked meta, nothing else."""

    __slots__ = ("meta",)

    def __init__(self, meta: dict):
        self.meta = meta

    def __setstate__(self, state):  # the official reduce never adds state after the call
        raise _Invalid("a persistent network carries state outside its meta record")


class _TorchModuleStandIn:
    """Base of the per-class stand-ins for plain ``torch.nn`` modules: keeps the pickled __dict__."""

    module_name = ""
    class_name = ""

    def __init__(self, *args, **kwargs):  # reached only if the pickle *calls* the class
        raise _Invalid(f"the pickle calls {self.module_name}.{self.class_name}(...) instead of restoring a module")

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise _Invalid(f"the state of a {self.class_name} module is a {type(state).__name__}, not a dict")
        self.__dict__["_pickled_state"] = state


class _EasyDictStandIn(dict):
    """``dnnlib.util.EasyDict`` is a dict subclass; read as a dict (converted to ``dict`` afterwards)."""

    def __setstate__(self, state):
        if state:  # EasyDict keeps everything in its items, its __dict__ is always empty
            raise _Invalid("an EasyDict carries attribute state")


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol 2 uses it for bytes objects, and nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Invalid("the pickle uses _codecs.encode for something other than bytes")
    return text.encode("latin1")


_NP_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]


_NDARRAY = object()  # what the pickle gets for numpy.ndarray: an argument for _reconstruct, not a callable


def _np_reconstruct(subtype, shape, typecode):
    """numpy's array rebuild: an empty array that the following BUILD fills from its state."""
    if subtype is not _NDARRAY or tuple(shape) != (0,) or not isinstance(typecode, (bytes, str)):
        raise _Invalid("the pickle rebuilds a numpy array in an unexpected way")
    return _NP_RECONSTRUCT(np.ndarray, (0,), typecode)


def _np_dtype(spec, align=False, copy=True):
    if not isinstance(spec, str):
        raise _Invalid("the pickle rebuilds a numpy dtype from something other than its name")
    return np.dtype(spec, bool(align), bool(copy))


def _np_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype):
        raise _Invalid("the pickle rebuilds a numpy scalar without a dtype")
    return _NP_SCALAR(dtype) if data is None else _NP_SCALAR(dtype, data)


def _np_frombuffer(buf, dtype, shape, order):
    """numpy's protocol-5 array rebuild: an array viewing a bytes-like buffer."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise _Invalid("the pickle rebuilds a numpy array from an unexpected buffer")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy(order=order)


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


# Tensor storages: ``torch.storage._load_from_bytes(raw)`` where ``raw`` is a legacy (non-zip)
# ``torch.save`` of one storage: five protocol-2 pickles - magic number, format version 1001, a
# sys_info dict, the storage itself as the persistent id ("storage", torch.<Type>Storage, key,
# location, numel[, view]), the list of keys - followed, per key, by an int64 element count and the
# raw little-endian data. We read that format directly rather than through torch.load: the same
# allow-list logic applies, nothing is allocated before the bytes are actually there, and the result
# does not depend on torch's deprecated TypedStorage.

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_VERSION = 1001
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: torch.dtype
    numel: int


class _Storage:
    """A loaded storage: its elements as a flat CPU tensor."""

    __slots__ = ("flat",)

    def __init__(self, flat: torch.Tensor):
        self.flat = flat


class _StorageUnpickler(pickle.Unpickler):
    """Reads the pickles of a legacy torch.save: storage type names and storage ids, nothing else."""

    def __init__(self, file, refs: dict[str, _StorageRef]):
        super().__init__(file)
        self.refs = refs

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if isinstance(module, str) and isinstance(name, str):
            raise _Refused(f"the data of a tensor inside it references {module}.{name}, which could run code; "
                           "only tensors and StyleGAN network records are read")
        raise _Invalid("a tensor storage names a global with a non-string name")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise _Invalid("a tensor storage has an unexpected storage reference")
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or not _is_count(numel):
            raise _Invalid("a tensor storage has a malformed storage reference")
        if view is not None:
            raise _Invalid("a tensor storage is a storage view (pre-1.0 torch format), which is not supported")
        ref = _StorageRef(key, storage_type.dtype, numel)
        if self.refs.setdefault(key, ref) != ref:
            raise _Invalid("a tensor storage refers to one key with two different types or sizes")
        return ref


def _load_storage(raw):
    """Stand-in for ``torch.storage._load_from_bytes``."""
    if not isinstance(raw, (bytes, bytearray)):
        raise _Invalid("a tensor storage is not stored as bytes")
    f = io.BytesIO(raw)
    refs: dict[str, _StorageRef] = {}
    try:
        if _StorageUnpickler(f, refs).load() != _LEGACY_MAGIC:
            raise _Invalid("a tensor storage is not torch.save data (bad magic number)")
        if _StorageUnpickler(f, refs).load() != _LEGACY_VERSION:
            raise _Invalid("a tensor storage uses an unknown torch.save format version")
        sys_info = _StorageUnpickler(f, refs).load()
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is False:
            raise _Invalid("a tensor storage was saved big-endian or without format information")
        root = _StorageUnpickler(f, refs).load()
        keys = _StorageUnpickler(f, refs).load()
    except (_Invalid, _Refused):
        raise
    except Exception as e:
        raise _Invalid(f"a tensor storage is corrupted ({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(root, _StorageRef):
        raise _Invalid(f"a tensor storage holds a {type(root).__name__}, not a storage")
    if not isinstance(keys, list) or sorted(keys) != sorted(refs):
        raise _Invalid("a tensor storage's key list does not match its storages")
    loaded: dict[str, torch.Tensor] = {}
    for key in keys:
        ref = refs[key]
        header = f.read(8)
        if len(header) < 8 or int.from_bytes(header, "little", signed=True) != ref.numel:
            raise _Invalid("a tensor storage's data is truncated or has the wrong size")
        nbytes = ref.numel * torch.empty((), dtype=ref.dtype).element_size()
        chunk = f.read(nbytes)
        if len(chunk) != nbytes:
            raise _Invalid("a tensor storage's data is truncated")
        if nbytes == 0:
            loaded[key] = torch.empty(0, dtype=ref.dtype)
        else:
            loaded[key] = torch.frombuffer(bytearray(chunk), dtype=ref.dtype)
    return _Storage(loaded[root.key])


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                    metadata=None):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: a view of the storage, bounds-checked."""
    if not isinstance(storage, _Storage):
        raise _Invalid(f"a tensor's data is a {type(storage).__name__}, not a tensor storage")
    size, stride = tuple(size), tuple(stride)
    if (len(size) != len(stride) or not _is_count(storage_offset)
            or not all(_is_count(v) for v in size + stride)):
        raise _Invalid("a tensor has an invalid size, stride or offset")
    numel = storage.flat.numel()
    if all(s > 0 for s in size):
        last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= numel:
            raise _Invalid("a tensor reaches past the end of its storage")
        return storage.flat.as_strided(size, stride, storage_offset)
    return torch.empty(size, dtype=storage.flat.dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """``torch._utils._rebuild_parameter[_with_state]``: the parameter's data as a plain tensor."""
    if not isinstance(data, torch.Tensor):
        raise _Invalid(f"a parameter's data is a {type(data).__name__}, not a tensor")
    return data


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _reconstruct_persistent(meta):
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``: check meta, keep it."""
    if not isinstance(meta, dict):
        raise _Invalid(f"a persistent object's meta is a {type(meta).__name__}, not a dict")
    kind = meta.get("type")
    if kind != "class":
        raise _Invalid(f"unsupported persistent object type {kind!r} (only 'class' objects are read)")
    for key, typ in (("class_name", str), ("module_src", str), ("state", dict)):
        if not isinstance(meta.get(key), typ):
            raise _Invalid(f"a persistent object's meta has no valid {key!r}")
    return _PersistentObject(meta)


_TORCH_DTYPE_NAMES = frozenset(n for n, v in vars(torch).items() if isinstance(v, torch.dtype))

# (module, name) -> what the unpickler gets instead. Both the Python-2 names that protocol 2 writes
# and numpy 1.x / 2.x module paths are listed.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1_encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch", "device"): torch.device,
    ("torch", "Size"): torch.Size,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent,
    ("dnnlib.util", "EasyDict"): _EasyDictStandIn,
    ("dnnlib", "EasyDict"): _EasyDictStandIn,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _np_dtype,
}
for _np_mod in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_np_mod}.multiarray", "_reconstruct")] = _np_reconstruct
    _ALLOWED[(f"{_np_mod}.multiarray", "scalar")] = _np_scalar
    _ALLOWED[(f"{_np_mod}.numeric", "_frombuffer")] = _np_frombuffer
del _np_mod


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the allow-list above and never imports anything."""

    def __init__(self, file):
        super().__init__(file)
        self._module_stand_ins: dict[tuple[str, str], type] = {}

    def find_class(self, module, name):
        if not isinstance(module, str) or not isinstance(name, str):
            raise _Invalid("the pickle names a global with a non-string name")
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        if module == "torch" and name in _TORCH_DTYPE_NAMES:
            return getattr(torch, name)
        if module.startswith("torch.nn.modules.") and name.isidentifier():
            return self._torch_module_stand_in(module, name)
        if module == "torch" and name in _STORAGE_DTYPES:
            raise _Invalid(f"it names {module}.{name} for persistent-id storages, as the data.pkl inside a "
                           "torch.save archive does")
        raise _refusal(f"{module}.{name}")

    def _torch_module_stand_in(self, module: str, name: str) -> type:
        # torch imports every torch.nn.modules.* at start-up, so looking the class up imports nothing.
        live = getattr(sys.modules.get(module), name, None)
        if live is not None and not (isinstance(live, type) and issubclass(live, torch.nn.Module)):
            raise _refusal(f"{module}.{name}")
        key = (module, name)
        if key not in self._module_stand_ins:
            self._module_stand_ins[key] = type(name, (_TorchModuleStandIn,),
                                               {"module_name": module, "class_name": name, "__module__": __name__})
        return self._module_stand_ins[key]

    def persistent_load(self, pid):
        raise _Invalid("it uses persistent-id storages, as the data.pkl inside a torch.save archive does")


# --------------------------------------------------------------------------------------------------
# From unpickled stand-ins to NetRecords.

_MODULE_INTERNALS = frozenset({"training", "_parameters", "_buffers", "_non_persistent_buffers_set", "_modules",
                               "_init_args", "_init_kwargs", "_compiled_call_impl"})
_HOOK_ATTR = re.compile(r"^_\w*hook")  # _forward_hooks, _backward_pre_hooks, _is_full_backward_hook, ...


def _is_module_internal(key) -> bool:
    return isinstance(key, str) and (key in _MODULE_INTERNALS or bool(_HOOK_ATTR.match(key)))


def _init_signature(src: str, class_name: str) -> tuple[list[str], bool] | None:
    """Positional parameter names of ``class_name.__init__`` in ``src`` (parsed, not run), and
    whether it takes ``*args``. None when the class or its own ``__init__`` is not found."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    names = [a.arg for a in args.posonlyargs + args.args][1:]  # drop self
                    return names, args.vararg is not None
            return None
    return None


def _fold_init_args(args: tuple, kwargs: dict, signature) -> tuple[dict, tuple]:
    if not args or signature is None:
        return dict(kwargs), args
    names, has_varargs = signature
    if (len(args) > len(names) and not has_varargs) or any(n in kwargs for n in names[:len(args)]):
        return dict(kwargs), args  # does not match the source: keep them apart rather than guess
    n = min(len(args), len(names))
    folded = dict(zip(names[:n], args[:n]))
    folded.update(kwargs)
    return folded, tuple(args[n:])


class _Converter:
    def __init__(self):
        self._records: dict[int, NetRecord] = {}
        self._active: set[int] = set()
        self._signatures: dict[tuple[str, str], Any] = {}

    def plain(self, value, where: str):
        """Replace stand-ins inside ``value`` by dicts and NetRecords."""
        if isinstance(value, (_PersistentObject, _TorchModuleStandIn)):
            return self.record(value, where)
        if isinstance(value, _EasyDictStandIn):
            return {k: self.plain(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, OrderedDict):
            return OrderedDict((k, self.plain(v, f"{where}.{k}")) for k, v in value.items())
        if isinstance(value, dict):
            return {k: self.plain(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, _Storage):
            return value.flat
        if isinstance(value, np.ndarray) and value.dtype.hasobject:
            out = np.empty(value.shape, dtype=object)
            for i, v in enumerate(value.flat):
                out.flat[i] = self.plain(v, f"{where}[{i}]")
            return out
        if isinstance(value, torch.Size):
            return value
        if isinstance(value, (list, tuple, set, frozenset)):
            return type(value)([self.plain(v, f"{where}[{i}]") for i, v in enumerate(value)])
        return value

    def record(self, obj, where: str) -> NetRecord:
        key = id(obj)
        if key in self._records:  # the same sub-network reached twice: one record, as torch would
            return self._records[key]
        if key in self._active:
            raise _Invalid(f"network {where} contains itself")
        self._active.add(key)
        try:
            rec = self._build(obj, where)
        finally:
            self._active.discard(key)
        self._records[key] = rec
        return rec

    def _build(self, obj, where: str) -> NetRecord:
        if isinstance(obj, _PersistentObject):
            meta = obj.meta
            state, class_name, module_name = meta["state"], meta["class_name"], None
            module_src, version = meta["module_src"], meta.get("version")
        else:
            state = obj.__dict__.get("_pickled_state", {})
            class_name, module_name, module_src, version = obj.class_name, obj.module_name, None, None

        params = _named(state.get("_parameters"), where, "_parameters")
        buffers = _named(state.get("_buffers"), where, "_buffers")
        modules = _named(state.get("_modules"), where, "_modules")
        skip = state.get("_non_persistent_buffers_set") or set()
        if not isinstance(skip, (set, frozenset, list, tuple)):
            raise _Invalid(f"{where}._non_persistent_buffers_set is a {type(skip).__name__}")

        state_dict: dict[str, torch.Tensor] = {}
        for kind, table in (("parameter", params), ("buffer", buffers)):
            for name, tensor in table.items():
                if tensor is None or (kind == "buffer" and name in skip):
                    continue
                if not isinstance(tensor, torch.Tensor):
                    raise _Invalid(f"{kind} {where}.{name} is a {type(tensor).__name__}, not a tensor")
                state_dict[name] = tensor
        children: dict[str, NetRecord] = {}
        for name, child in modules.items():
            if child is None:
                continue
            if not isinstance(child, (_PersistentObject, _TorchModuleStandIn)):
                raise _Invalid(f"sub-module {where}.{name} is a {type(child).__name__}, not a network")
            children[name] = self.record(child, f"{where}.{name}")
            for sub, tensor in children[name].state_dict.items():
                state_dict[f"{name}.{sub}"] = tensor

        init_args = self.plain(state.get("_init_args", ()), f"{where}.init_args")
        init_kwargs = self.plain(state.get("_init_kwargs", {}), f"{where}.init_kwargs")
        if not isinstance(init_args, (tuple, list)) or not isinstance(init_kwargs, dict):
            raise _Invalid(f"{where} has malformed constructor arguments")
        signature = None
        if init_args and module_src is not None:
            sig_key = (module_src, class_name)
            if sig_key not in self._signatures:
                self._signatures[sig_key] = _init_signature(module_src, class_name)
            signature = self._signatures[sig_key]
        init_kwargs, init_args = _fold_init_args(tuple(init_args), dict(init_kwargs), signature)

        extra = {k: self.plain(v, f"{where}.{k}") for k, v in state.items() if not _is_module_internal(k)}
        training = state.get("training")
        return NetRecord(class_name=class_name, module_name=module_name, init_kwargs=init_kwargs,
                         state_dict=state_dict, extra=extra, init_args=init_args, children=children,
                         module_src=module_src, persistence_version=version,
                         training=training if isinstance(training, bool) else None)


def _named(table, where: str, what: str) -> dict:
    if table is None:
        return {}
    if not isinstance(table, dict) or not all(isinstance(k, str) for k in table):
        raise _Invalid(f"{where}.{what} is not a table of named entries")
    return table


# --------------------------------------------------------------------------------------------------


def read_official_pickle(path) -> dict[str, Any]:
    """Read an official StyleGAN2(-ADA) / StyleGAN3 PyTorch ``network-snapshot-*.pkl``.

    Returns ``{"G_ema": NetRecord, "G": NetRecord, "D": NetRecord, "augment_pipe": NetRecord or None,
    "training_set_kwargs": dict or None, ...}`` (``G`` / ``D`` only when the file has them; other
    plain entries are passed through). No code stored in the file is run: module sources stay text,
    and any reference to a callable outside a small allow-list of tensor, numpy and container
    rebuilders is refused with a GanforgeError, as are files that are not pickles, are truncated or
    hold something other than an official snapshot.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise GanforgeError(f"official StyleGAN pickle {path} does not exist") from None
    except OSError as e:
        raise GanforgeError(f"cannot open official StyleGAN pickle {path}: {e.strerror or e}") from None
    with fh:
        head = fh.read(2)
        if not head:
            raise GanforgeError(f"{path} is empty, not an official StyleGAN network pickle")
        if head == b"PK":
            raise GanforgeError(f"{path} is a zip archive (e.g. a torch.save checkpoint), not an official StyleGAN "
                                "network pickle (network-snapshot-*.pkl)")
        if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
            raise GanforgeError(f"{path} is not a pickle file; official StyleGAN network pickles "
                                "(network-snapshot-*.pkl) start with a pickle protocol 2-5 header")
        fh.seek(0)
        try:
            data = _RestrictedUnpickler(fh).load()
        except _Refused as e:
            raise GanforgeError(f"refusing to load {path}: {e}") from None
        except _Invalid as e:
            raise GanforgeError(f"{path} is not a readable official StyleGAN network pickle: {e}") from None
        except GanforgeError:
            raise
        except EOFError:
            raise GanforgeError(f"{path} is truncated: the file ends before the pickle does "
                                "(was it copied or downloaded completely?)") from None
        except Exception as e:  # UnpicklingError, and whatever a corrupted opcode stream provokes
            if "truncated" in str(e):
                raise GanforgeError(f"{path} is truncated: the file ends before the pickle does "
                                    "(was it copied or downloaded completely?)") from None
            raise GanforgeError(f"{path} is corrupted or not an official StyleGAN network pickle "
                                f"({type(e).__name__}: {_first_line(e)})") from None
    try:
        return _snapshot(data)
    except _Invalid as e:
        raise GanforgeError(f"{path} is not an official StyleGAN network snapshot: {e}") from None
    except RecursionError:
        raise GanforgeError(f"{path} is not an official StyleGAN network snapshot: it nests too deeply") from None


def _snapshot(data) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Invalid(f"it holds a {type(data).__name__}, not the dict of networks a snapshot holds")
    if "G_ema" not in data:
        keys = ", ".join(repr(k) for k in data) or "none"
        raise _Invalid(f"it has no 'G_ema' network (entries: {keys})")
    conv = _Converter()
    out = {key: conv.plain(value, str(key)) for key, value in data.items()}
    out.setdefault("training_set_kwargs", None)
    out.setdefault("augment_pipe", None)
    for key in NETWORK_KEYS:
        if key in out and not isinstance(out[key], NetRecord) and not (key == "augment_pipe" and out[key] is None):
            raise _Invalid(f"entry {key!r} is a {type(out[key]).__name__}, not a network")
    if not isinstance(out["training_set_kwargs"], (dict, type(None))):
        raise _Invalid(f"entry 'training_set_kwargs' is a {type(out['training_set_kwargs']).__name__}, not a dict")
    return out
