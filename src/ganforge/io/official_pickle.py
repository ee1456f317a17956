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
neither. An unpickler whose ``find_class`` resolves only an explicit allow-list turns each
persistent object into an inert record (``module_src`` stays a string), each ``torch.nn`` module class
into a stand-in class that only stores its state, and ``EasyDict`` into ``dict``. Storage bytes are
parsed here (not by ``torch.load``) with an unpickler that knows only torch's storage type names.
Any other global - ``os.system``, ``builtins.eval``, a class of the snapshot's own modules - is
refused before anything is called; torch's own tensor/storage functions are never called either.

Bounds
------
A hostile file gets one ``GanforgeError``, never a hang, a traceback or memory out of proportion to its
size. The reader enforces:

* only regular files are opened (checked with ``stat`` before and ``fstat`` after a non-blocking
  open, so a named pipe or a device never blocks), of at most ``MAX_FILE_BYTES`` (2 GiB; the largest
  official snapshots, 1024x1024 StyleGAN2-ADA / StyleGAN3, are 300-400 MB), and nothing past the size
  ``fstat`` reported is read;
* the pickle is run by the pure-Python unpickler (``pickle._Unpickler``) with a wrapped dispatch
  table: at most ``MAX_PICKLE_OPS`` (1,000,000; an official 1024x1024 snapshot takes about 100,000)
  opcodes, each of which builds, stores or pushes at most one object, counted together for the
  snapshot and the small pickles inside its tensor storages; MARK nesting (and, afterwards, all
  nesting) at most ``MAX_DEPTH`` (100; snapshots nest about 30 deep); the memo is a dict, so a huge
  memo index costs nothing; protocol-0/1 object opcodes, extension codes and out-of-band buffers are
  refused; a length-prefixed opcode never allocates more than the file still holds;
* the data the allowed constructors build (tensor storages, numpy arrays and scalars, bytes, sets)
  is charged against a budget of the file's size plus 64 MiB, so an argument shared through the memo
  cannot be expanded over and over; every constructor checks its arguments' types and sizes before
  looking inside them; numpy dtypes are numeric, boolean, byte/str or object (for object arrays)
  dtypes of at most 64 KiB per item, without fields, subarrays or metadata, and their pickled state
  may change only the byte order; arrays and scalars must hold exactly the bytes (or, for object
  arrays, the values) their shape and dtype declare; a storage's declared size must match the bytes
  present, a tensor's size/stride must fit inside its storage and must not overlap itself (so no
  tensor has more elements than its storage);
* dictionary keys and set elements are numbers (at most 1024 bits), strings, bytes, None, numpy
  numbers or small tuples/frozensets of those (at most 64 values), so hashing them is cheap;
* the walk that turns the result into ``NetRecord``\\ s converts each shared object once (shared
  references stay shared, so a "billion laughs" of memoised lists costs its size, not 2**depth),
  refuses cycles and anything nested deeper than ``MAX_DEPTH``, visits at most ``MAX_WALK_STEPS``
  (2,000,000) values and lists at most ``MAX_TENSOR_ENTRIES`` (100,000) named tensors over all
  records (names at most 256 characters, dotted paths at most 1024); ``module_src`` is parsed (never
  run) for ``__init__`` signatures only up to 1 MiB per source and 8 MiB in all;
* error messages quote values through a bounded ``short_repr``.
"""

from __future__ import annotations

import ast
import io
import math
import os
import pickle
import re
import stat
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.errors import GanforgeError

__all__ = ["NetRecord", "read_official_pickle", "short_repr", "NETWORK_KEYS", "MAX_FILE_BYTES", "MAX_PICKLE_OPS",
           "MAX_DEPTH", "MAX_WALK_STEPS", "MAX_TENSOR_ENTRIES"]

NETWORK_KEYS = ("G", "D", "G_ema", "augment_pipe")
"""Snapshot entries that hold networks (``augment_pipe`` may be None)."""

MAX_FILE_BYTES = 2 << 30
"""Largest file read (2 GiB). Official snapshots are at most a few hundred MB; reading holds about
twice the file in memory (the pickled bytes and the tensors made from them)."""
MAX_PICKLE_OPS = 1_000_000
"""Most pickle opcodes run for one file, the tensor storages' own small pickles included. Each
builds, stores or pushes at most one object; an official 1024x1024 snapshot needs about 100,000."""
MAX_DEPTH = 100
"""Deepest nesting of containers and networks (official snapshots: about 30)."""
MAX_WALK_STEPS = 2_000_000
"""Most values visited while turning the unpickled objects into NetRecords."""
MAX_TENSOR_ENTRIES = 100_000
"""Most named tensors over all records' ``state_dict``\\ s (each tensor counts once per enclosing network)."""
DATA_SLACK_BYTES = 64 << 20
"""Data the allowed constructors may build beyond the file's own size."""
MAX_NAME_CHARS = 256
"""Longest parameter, buffer or sub-network name."""
MAX_DOTTED_CHARS = 1024
"""Longest dotted state_dict name."""
MAX_TENSOR_DIMS = 32
MAX_DTYPE_ITEMSIZE = 64 << 10
MAX_KEY_VALUES = 64
"""Most values inside one tuple / frozenset used as a dict key or set element."""
MAX_KEY_INT_BITS = 1024
MAX_CALL_ARGS = 8
MAX_SOURCE_PARSED = 1 << 20
"""Longest ``module_src`` parsed (with ``ast``, never run) to name positional constructor arguments."""
MAX_SOURCES_PARSED = 8 << 20
"""Most ``module_src`` characters parsed for one file."""

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
                names = ", ".join(islice(rec.children, 10)) + (", ..." if len(rec.children) > 10 else "")
                raise KeyError(f"{rec.class_name} has no sub-network {part!r} (has: {names or 'none'})")
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


def _fmt_count(n: int) -> str:
    return f"{n:,}"


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


# --------------------------------------------------------------------------------------------------
# Bounded text for messages.


def short_repr(value: Any, limit: int = 120) -> str:
    """``repr(value)`` for an error message: at most ``limit`` characters, computed in bounded time
    whatever ``value`` is (nested or shared containers, huge strings or integers, arrays, tensors)."""
    text = _short(value, 3)
    return text if len(text) <= limit else text[:max(limit - 3, 0)] + "..."


def _type_name(value: Any) -> str:
    name = type(value).__name__
    return name if len(name) <= 60 else name[:57] + "..."


def _short(v: Any, level: int) -> str:
    if v is None or isinstance(v, (bool, float)):
        return repr(v)
    if isinstance(v, int):
        return repr(int(v)) if v.bit_length() <= 128 else f"<a {v.bit_length()}-bit integer>"
    if isinstance(v, str):
        return repr(v[:60]) + ("..." if len(v) > 60 else "")
    if isinstance(v, (bytes, bytearray)):
        return repr(bytes(v[:40])) + (f"...<{len(v):,} bytes>" if len(v) > 40 else "")
    if isinstance(v, np.generic):
        if v.dtype.kind in "biufc":
            return repr(v.item()) if v.dtype.kind != "i" or abs(int(v)) < 1 << 64 else _type_name(v)
        return f"<numpy {v.dtype}>"
    if isinstance(v, np.ndarray):
        return f"array(shape={list(v.shape)}, dtype={v.dtype})"
    if isinstance(v, torch.Tensor):
        return f"tensor(shape={list(v.shape)}, dtype={v.dtype})"
    if isinstance(v, NetRecord):
        return f"<network {_short(v.class_name, 0)}>"
    if isinstance(v, dict):
        if level <= 0:
            return "{...}" if v else "{}"
        items = [f"{_short(k, level - 1)}: {_short(x, level - 1)}" for k, x in islice(v.items(), 4)]
        return "{" + ", ".join(items) + (", ..." if len(v) > 4 else "") + "}"
    if isinstance(v, (list, tuple, set, frozenset)):
        left, right = {list: "[]", tuple: "()"}.get(type(v), "{}")
        if level <= 0:
            return left + ("..." if v else "") + right
        items = [_short(x, level - 1) for x in islice(v, 6)]
        return left + ", ".join(items) + (", ..." if len(v) > 6 else "") + right
    return f"<{_type_name(v)}>"


def _first_line(e: BaseException) -> str:
    """First line of an exception's message, bounded (an argument may be huge or nested)."""
    args = getattr(e, "args", ())
    simple = isinstance(e, UnicodeError) or all(
        (isinstance(a, str) and len(a) <= 4000) or (isinstance(a, int) and a.bit_length() <= 256) for a in args)
    text = str(e).strip() if simple else ""
    line = text.splitlines()[0] if text else type(e).__name__
    return line if len(line) <= 300 else line[:297] + "..."


# A path inside the snapshot, for messages: nested (parent, part) tuples, formatted only on error.

def _part(key: Any) -> str:
    if isinstance(key, str):
        return key if len(key) <= 40 else key[:37] + "..."
    return short_repr(key, 40)


def _where(path: Any) -> str:
    parts = []
    while isinstance(path, tuple):
        path, part = path
        parts.append(part)
    parts.append(str(path))
    text = ".".join(reversed(parts)).replace(".[", "[")
    return text if len(text) <= 200 else text[:60] + "..." + text[-137:]


# --------------------------------------------------------------------------------------------------
# Limits shared by the unpicklers of one file.


class _Limits:
    """Opcodes left and bytes of constructed data left, for one file."""

    def __init__(self, file_bytes: int):
        self.ops_left = MAX_PICKLE_OPS
        self.bytes_left = file_bytes + DATA_SLACK_BYTES
        self.file_bytes = file_bytes

    def charge(self, nbytes: int, what: str) -> None:
        self.bytes_left -= nbytes
        if self.bytes_left < 0:
            raise _Invalid(f"it builds more data than the file holds ({what}: {_fmt_bytes(nbytes)}; the file is "
                           f"{_fmt_bytes(self.file_bytes)}), as a pickle bomb does")


class _BoundedReader:
    """The file as the unpickler sees it: nothing past ``size`` bytes is read, and a read that the
    file cannot satisfy ends in EOFError (a truncated file) instead of a short result."""

    def __init__(self, fh, size: int):
        self._fh = fh
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._left
        want = min(n, self._left)
        data = self._fh.read(want) if want else b""
        self._left -= len(data)
        if len(data) < n:
            raise EOFError
        return data

    def readline(self) -> bytes:
        data = self._fh.readline(self._left) if self._left else b""
        self._left -= len(data)
        if not data.endswith(b"\n"):
            raise EOFError
        return data


_SCALAR_KEY_TYPES = (bool, str, bytes, float, complex, type(None), torch.dtype, np.bool_, np.number)


def _check_key(key: Any) -> None:
    """Dict keys and set elements: cheap to hash and compare, whatever the pickle shares."""
    if isinstance(key, int) and not isinstance(key, bool):
        if key.bit_length() > MAX_KEY_INT_BITS:
            raise _Invalid(f"it uses a {key.bit_length():,}-bit integer as a dictionary key or set element")
        return
    if isinstance(key, _SCALAR_KEY_TYPES):
        return
    if type(key) in (tuple, frozenset):
        todo, seen = [key], 0
        while todo:
            item = todo.pop()
            for x in item:
                seen += 1
                if seen > MAX_KEY_VALUES:
                    raise _Invalid(f"it uses a {type(key).__name__} of more than {MAX_KEY_VALUES} values as a "
                                   "dictionary key or set element")
                if type(x) in (tuple, frozenset):
                    todo.append(x)
                elif isinstance(x, int) and not isinstance(x, bool):
                    if x.bit_length() > MAX_KEY_INT_BITS:
                        raise _Invalid("it uses a huge integer inside a dictionary key or set element")
                elif not isinstance(x, _SCALAR_KEY_TYPES):
                    raise _Invalid(f"it uses a {type(key).__name__} holding a {_type_name(x)} as a dictionary key "
                                   "or set element")
        return
    raise _Invalid(f"it uses a {_type_name(key)} as a dictionary key or set element")


def _check_keys(items, step: int = 1) -> None:
    for i in range(0, len(items), step):
        _check_key(items[i])


class _BoundedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with every opcode counted and the dangerous ones checked.

    Subclasses provide ``find_class`` and ``persistent_load``. Only the callables ``find_class``
    hands out are ever called (REDUCE), only stand-in classes are instantiated (NEWOBJ), and state is
    set (BUILD) only on stand-ins, numpy arrays and numpy dtypes, after checking it.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, limits: _Limits):
        super().__init__(file)
        self._limits = limits

    def load(self):
        self._unframer = pickle._Unframer(self._file_read, self._file_readline)
        self.read = self._unframer.read
        self.readinto = self._unframer.readinto
        self.readline = self._unframer.readline
        self.metastack = []
        self.stack = []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch, limits = self.read, self.dispatch, self._limits
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError
                limits.ops_left -= 1
                if limits.ops_left < 0:
                    raise _Invalid(f"it runs more than {_fmt_count(MAX_PICKLE_OPS)} pickle opcodes (an official "
                                   "snapshot needs about 100,000), as a pickle bomb does")
                op = dispatch.get(key[0])
                if op is None:
                    raise pickle.UnpicklingError(f"invalid load key, {key!r}")
                op(self)
        except pickle._Stop as stop:
            return stop.value

    # -- opcodes that could allocate, call, mutate or nest without bound --

    def _load_mark(self):
        if len(self.metastack) >= MAX_DEPTH:
            raise _Invalid(f"it nests deeper than {MAX_DEPTH} levels")
        self.metastack.append(self.stack)
        self.stack = []
        self.append = self.stack.append
    dispatch[pickle.MARK[0]] = _load_mark

    def _load_bytearray8(self):
        (n,) = pickle.unpack("<Q", self.read(8))
        self.append(bytearray(self.read(n)))  # read() never returns more than the file holds
    dispatch[pickle.BYTEARRAY8[0]] = _load_bytearray8

    def _refuse_opcode(self):
        raise _Invalid("it uses pickle opcodes that official snapshots never contain (protocol 0/1 objects, "
                       "extension codes or out-of-band buffers)")
    for _op in (pickle.INST, pickle.OBJ, pickle.EXT1, pickle.EXT2, pickle.EXT4, pickle.NEXT_BUFFER,
                pickle.READONLY_BUFFER):
        dispatch[_op[0]] = _refuse_opcode
    del _op

    def _load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if type(args) is not tuple or len(args) > MAX_CALL_ARGS:
            raise _Invalid("it calls a function with malformed arguments")
        if isinstance(func, type) and issubclass(func, _TorchModuleStandIn):
            func()  # raises: a torch.nn module is restored, never called
        if id(func) not in _CALLABLES or _CALLABLES[id(func)] is not func:
            raise _Invalid(f"it calls a {_type_name(func)}, which is not a constructor official snapshots use")
        cost = _CALL_COSTS.get(id(func))
        if cost is not None:
            self._limits.charge(cost(args), _QUALNAMES.get(id(func), "a constructor"))
        if func is _load_storage:
            stack[-1] = _load_storage(*args, limits=self._limits)
        else:
            stack[-1] = func(*args)
    dispatch[pickle.REDUCE[0]] = _load_reduce

    def _newobj(self, cls, args, kwargs):
        if not (isinstance(cls, type) and issubclass(cls, (_TorchModuleStandIn, _EasyDictStandIn))):
            raise _Invalid(f"it creates a {_short(cls, 0)} object directly, which official snapshots never do")
        if args != () or kwargs:
            raise _Invalid(f"it creates a {cls.__name__} with arguments, which official snapshots never do")
        self.append(cls.__new__(cls))

    def _load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self._newobj(cls, args if type(args) is tuple else None, None)
    dispatch[pickle.NEWOBJ[0]] = _load_newobj

    def _load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._newobj(cls, args if type(args) is tuple else None, kwargs if type(kwargs) is dict else True)
    dispatch[pickle.NEWOBJ_EX[0]] = _load_newobj_ex

    def _load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, (_TorchModuleStandIn, _EasyDictStandIn, _PersistentObject)):
            inst.__setstate__(state)
        elif type(inst) is np.ndarray:
            _np_setstate(inst, state, self._limits)
        elif isinstance(inst, np.dtype):
            _np_dtype_setstate(inst, state)
        else:
            raise _Invalid(f"it sets the state of a {_type_name(inst)}, which official snapshots never do")
    dispatch[pickle.BUILD[0]] = _load_build

    def _list_target(self):
        target = self.stack[-1]
        if type(target) is not list:
            raise _Invalid(f"it appends to a {_type_name(target)}")
        return target

    def _load_append(self):
        value = self.stack.pop()
        self._list_target().append(value)
    dispatch[pickle.APPEND[0]] = _load_append

    def _load_appends(self):
        items = self.pop_mark()
        self._list_target().extend(items)
    dispatch[pickle.APPENDS[0]] = _load_appends

    def _dict_target(self):
        target = self.stack[-1]
        if type(target) not in (dict, OrderedDict, _EasyDictStandIn):
            raise _Invalid(f"it sets items of a {_type_name(target)}")
        return target

    def _load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        _check_key(key)
        self._dict_target()[key] = value
    dispatch[pickle.SETITEM[0]] = _load_setitem

    def _load_setitems(self):
        items = self.pop_mark()
        target = self._dict_target()
        if len(items) % 2:
            raise _Invalid("it sets dictionary items from an odd number of values")
        _check_keys(items, 2)
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]
    dispatch[pickle.SETITEMS[0]] = _load_setitems

    def _load_dict(self):
        items = self.pop_mark()
        if len(items) % 2:
            raise _Invalid("it builds a dictionary from an odd number of values")
        _check_keys(items, 2)
        self.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})
    dispatch[pickle.DICT[0]] = _load_dict

    def _load_additems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise _Invalid(f"it adds set items to a {_type_name(target)}")
        _check_keys(items)
        target.update(items)
    dispatch[pickle.ADDITEMS[0]] = _load_additems

    def _load_frozenset(self):
        items = self.pop_mark()
        _check_keys(items)
        self.append(frozenset(items))
    dispatch[pickle.FROZENSET[0]] = _load_frozenset


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
            raise _Invalid(f"the state of a {self.class_name} module is a {_type_name(state)}, not a dict")
        self.__dict__["_pickled_state"] = state


class _EasyDictStandIn(dict):
    """``dnnlib.util.EasyDict`` is a dict subclass; read as a dict (converted to ``dict`` afterwards)."""

    def __setstate__(self, state):
        if state:  # EasyDict keeps everything in its items, its __dict__ is always empty
            raise _Invalid("an EasyDict carries attribute state")


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol 2 uses it for bytes objects, and nothing else."""
    if not isinstance(text, str) or not isinstance(encoding, str) or encoding not in ("latin1", "latin-1"):
        raise _Invalid("the pickle uses _codecs.encode for something other than bytes")
    return text.encode("latin1")


def _make_set(items=()):
    """``builtins.set`` as protocol 2/3 calls it: ``set([items])``."""
    if type(items) not in (list, tuple):
        raise _Invalid("the pickle builds a set from something other than a list")
    _check_keys(items)
    return set(items)


def _make_frozenset(items=()):
    if type(items) not in (list, tuple):
        raise _Invalid("the pickle builds a frozenset from something other than a list")
    _check_keys(items)
    return frozenset(items)


def _make_ordered_dict(items=None):
    """``collections.OrderedDict`` as pickled: called with no arguments, items set afterwards."""
    if items is None:
        return OrderedDict()
    if type(items) is not list or not all(type(p) in (list, tuple) and len(p) == 2 for p in items):
        raise _Invalid("the pickle builds an OrderedDict from something other than a list of pairs")
    _check_keys([p[0] for p in items])
    return OrderedDict(items)


def _make_size(dims=()):
    """``torch.Size`` from a tuple of dimensions."""
    if type(dims) not in (list, tuple) or len(dims) > MAX_TENSOR_DIMS or not all(_is_count(d) for d in dims):
        raise _Invalid("the pickle builds a torch.Size from something other than a few non-negative integers")
    return torch.Size(dims)


def _make_device(kind, index=None):
    if not isinstance(kind, str) or len(kind) > 64 or not (index is None or _is_count(index)):
        raise _Invalid("the pickle builds a torch.device from something other than its name and index")
    return torch.device(kind) if index is None else torch.device(kind, index)


_NP_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]
_NP_KINDS = "biufcSUO"
"""Numpy dtype kinds read: bool, (unsigned) integers, floats, complex, bytes, str, object (arrays only)."""


_NDARRAY = object()  # what the pickle gets for numpy.ndarray: an argument for _reconstruct, not a callable


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 1 << 62


def _shape(shape, what: str) -> tuple[int, ...]:
    if type(shape) not in (tuple, list, torch.Size) or len(shape) > MAX_TENSOR_DIMS \
            or not all(_is_count(v) for v in shape):
        raise _Invalid(f"{what} has an invalid shape")
    return tuple(shape)


def _check_dtype(dtype, what: str = "it rebuilds a numpy value", *, object_ok: bool = False) -> np.dtype:
    if not isinstance(dtype, np.dtype):
        raise _Invalid(f"{what} with a {_type_name(dtype)} for its dtype")
    name = short_repr(str(dtype), 40)
    if dtype.fields is not None or dtype.subdtype is not None or dtype.metadata is not None:
        raise _Invalid(f"{what} with the structured numpy dtype {name} (fields, subarrays or metadata), which "
                       "official snapshots never hold")
    if dtype.kind not in _NP_KINDS or (dtype.kind == "O" and not object_ok):
        raise _Invalid(f"{what} with the numpy dtype {name}, which official snapshots never hold (only numbers, "
                       "booleans and short strings are read)")
    if not 0 < dtype.itemsize <= MAX_DTYPE_ITEMSIZE:
        raise _Invalid(f"{what} with the numpy dtype {name}, which has {_fmt_count(dtype.itemsize)} bytes per item "
                       f"(1 to {_fmt_count(MAX_DTYPE_ITEMSIZE)} are read)")
    return dtype


def _np_dtype(spec, align=False, copy=True):
    """``numpy.dtype(name, align, copy)`` as pickled; always a fresh copy (a BUILD must never reach
    numpy's shared dtype singletons)."""
    if not isinstance(spec, str) or not re.fullmatch(r"[a-zA-Z?][0-9]{0,12}", spec) or not isinstance(align, bool):
        raise _Invalid("the pickle rebuilds a numpy dtype from something other than its name")
    return _check_dtype(np.dtype(spec, align, True), "it rebuilds a numpy value", object_ok=True)


def _np_dtype_setstate(dtype: np.dtype, state) -> None:
    """BUILD of a dtype: only the byte order may differ from what its name says."""
    if not (type(state) is tuple and len(state) == 8 and all(type(v) is int for v in (state[0],) + state[5:])
            and type(state[1]) is str and state[1] in ("<", ">", "|", "=") and state[0] == 3
            and state[2] is None and state[3] is None and state[4] is None
            and state[5] in (-1, dtype.itemsize) and state[6] in (-1, dtype.alignment) and state[7] == dtype.flags):
        raise _Invalid(f"the pickle gives the numpy dtype {short_repr(str(dtype), 40)} a state official snapshots "
                       "never hold (fields, subarrays, metadata or another item size)")
    dtype.__setstate__(state)
    _check_dtype(dtype, "it rebuilds a numpy value", object_ok=True)


def _np_reconstruct(subtype, shape, typecode):
    """numpy's array rebuild: an empty array that the following BUILD fills from its state."""
    if (subtype is not _NDARRAY or type(shape) is not tuple or len(shape) != 1 or type(shape[0]) is not int
            or shape[0] != 0 or not isinstance(typecode, (bytes, str)) or len(typecode) > 8):
        raise _Invalid("the pickle rebuilds a numpy array in an unexpected way")
    return _NP_RECONSTRUCT(np.ndarray, (0,), typecode)


def _np_setstate(arr: np.ndarray, state, limits: _Limits) -> None:
    """BUILD of an array: ``(version, shape, dtype, is_fortran, data)``, checked before numpy sees it.
    The data must be exactly what the shape and dtype declare (numpy does not check an object array's
    list, and reads past its end)."""
    if type(state) is not tuple or len(state) not in (4, 5):
        raise _Invalid("a numpy array has a malformed state")
    if len(state) == 5:
        if type(state[0]) is not int or state[0] != 1:
            raise _Invalid("a numpy array has an unknown state version")
        state = state[1:]
    shape, dtype, fortran, data = state
    shape = _shape(shape, "a numpy array")
    dtype = _check_dtype(dtype, "it rebuilds a numpy array", object_ok=True)
    if not isinstance(fortran, bool):
        raise _Invalid("a numpy array has a malformed memory order")
    count = math.prod(shape)
    if dtype.hasobject:
        if type(data) is not list or len(data) != count:
            size = f"{len(data):,} values" if type(data) is list else f"a {_type_name(data)}"
            raise _Invalid(f"a numpy object array of shape {list(shape)} holds {size}, not {count:,} values")
        limits.charge(8 * count, "a numpy object array")
    else:
        if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.itemsize:
            size = f"{len(data):,} bytes" if isinstance(data, (bytes, bytearray)) else f"a {_type_name(data)}"
            raise _Invalid(f"a numpy array of shape {list(shape)} and dtype {dtype} holds {size}, not "
                           f"{count * dtype.itemsize:,} bytes")
        limits.charge(len(data), "a numpy array")
    arr.__setstate__((1, shape, dtype, fortran, data))


def _np_scalar(dtype, data=None):
    """A numpy scalar: its dtype and exactly ``itemsize`` bytes of data (no object scalars)."""
    dtype = _check_dtype(dtype, "it rebuilds a numpy scalar")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise _Invalid(f"a numpy scalar of dtype {dtype} does not hold its {dtype.itemsize:,} bytes of data")
    return _NP_SCALAR(dtype, data)


def _np_frombuffer(buf, dtype, shape, order):
    """numpy's protocol-5 array rebuild: an array viewing a bytes-like buffer."""
    dtype = _check_dtype(dtype, "it rebuilds a numpy array")
    shape = _shape(shape, "a numpy array")
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(order, str) or order not in ("C", "F"):
        raise _Invalid("the pickle rebuilds a numpy array from an unexpected buffer")
    if len(buf) != math.prod(shape) * dtype.itemsize:
        raise _Invalid(f"a numpy array of shape {list(shape)} and dtype {dtype} holds {len(buf):,} bytes, not "
                       f"{math.prod(shape) * dtype.itemsize:,}")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy(order=order)


def _len_or_zero(x) -> int:
    return len(x) if isinstance(x, (str, bytes, bytearray, list, tuple, dict, set, frozenset)) else 0


def _first_len(args: tuple) -> int:
    return _len_or_zero(args[0]) if args else 0


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


class _StorageUnpickler(_BoundedUnpickler):
    """Reads the pickles of a legacy torch.save: storage type names and storage ids, nothing else."""

    def __init__(self, file, refs: dict[str, _StorageRef], limits: _Limits):
        super().__init__(file, limits)
        self.refs = refs

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if isinstance(module, str) and isinstance(name, str):
            raise _Refused(f"the data of a tensor inside it references {_part(module)}.{_part(name)}, which could "
                           "run code; only tensors and StyleGAN network records are read")
        raise _Invalid("a tensor storage names a global with a non-string name")

    def persistent_load(self, pid):
        if not (type(pid) is tuple and len(pid) in (5, 6) and pid[0] == "storage"):
            raise _Invalid("a tensor storage has an unexpected storage reference")
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or len(key) > 256 \
                or not _is_count(numel):
            raise _Invalid("a tensor storage has a malformed storage reference")
        if view is not None:
            raise _Invalid("a tensor storage is a storage view (pre-1.0 torch format), which is not supported")
        ref = _StorageRef(key, storage_type.dtype, numel)
        if self.refs.setdefault(key, ref) != ref:
            raise _Invalid("a tensor storage refers to one key with two different types or sizes")
        return ref


def _load_storage(raw, *, limits: _Limits | None = None):
    """Stand-in for ``torch.storage._load_from_bytes``."""
    if not isinstance(raw, (bytes, bytearray)):
        raise _Invalid("a tensor storage is not stored as bytes")
    if limits is None:
        limits = _Limits(len(raw))
    f = io.BytesIO(raw)
    reader = _BoundedReader(f, len(raw))
    refs: dict[str, _StorageRef] = {}
    try:
        if _StorageUnpickler(reader, refs, limits).load() != _LEGACY_MAGIC:
            raise _Invalid("a tensor storage is not torch.save data (bad magic number)")
        if _StorageUnpickler(reader, refs, limits).load() != _LEGACY_VERSION:
            raise _Invalid("a tensor storage uses an unknown torch.save format version")
        sys_info = _StorageUnpickler(reader, refs, limits).load()
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is False:
            raise _Invalid("a tensor storage was saved big-endian or without format information")
        root = _StorageUnpickler(reader, refs, limits).load()
        keys = _StorageUnpickler(reader, refs, limits).load()
    except (_Invalid, _Refused):
        raise
    except EOFError:
        raise _Invalid("a tensor storage is truncated") from None
    except Exception as e:
        raise _Invalid(f"a tensor storage is corrupted ({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(root, _StorageRef):
        raise _Invalid(f"a tensor storage holds a {_type_name(root)}, not a storage")
    if type(keys) is not list or len(keys) > len(refs) or not all(isinstance(k, str) for k in keys) \
            or sorted(keys) != sorted(refs):
        raise _Invalid("a tensor storage's key list does not match its storages")
    loaded: dict[str, torch.Tensor] = {}
    for key in keys:
        ref = refs[key]
        header = f.read(8)
        if len(header) < 8 or int.from_bytes(header, "little", signed=True) != ref.numel:
            raise _Invalid("a tensor storage's data is truncated or has the wrong size")
        nbytes = ref.numel * torch.empty((), dtype=ref.dtype).element_size()
        if nbytes > len(raw) - f.tell():
            raise _Invalid(f"a tensor storage declares {_fmt_bytes(nbytes)} of data but holds "
                           f"{_fmt_bytes(len(raw) - f.tell())}")
        limits.charge(nbytes, "a tensor storage")
        chunk = f.read(nbytes)
        if nbytes == 0:
            loaded[key] = torch.empty(0, dtype=ref.dtype)
        else:
            loaded[key] = torch.frombuffer(bytearray(chunk), dtype=ref.dtype)
    return _Storage(loaded[root.key])


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                    metadata=None):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: a view of the storage, bounds-checked."""
    if not isinstance(storage, _Storage):
        raise _Invalid(f"a tensor's data is a {_type_name(storage)}, not a tensor storage")
    if type(size) not in (tuple, list, torch.Size) or type(stride) not in (tuple, list) \
            or len(size) > MAX_TENSOR_DIMS or len(size) != len(stride):
        raise _Invalid("a tensor has an invalid size, stride or offset")
    size, stride = tuple(size), tuple(stride)
    if not _is_count(storage_offset) or not all(_is_count(v) for v in size + stride):
        raise _Invalid("a tensor has an invalid size, stride or offset")
    numel = storage.flat.numel()
    if all(s > 0 for s in size):
        last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= numel:
            raise _Invalid("a tensor reaches past the end of its storage")
        return storage.flat.as_strided(size, stride, storage_offset)
    return torch.empty(size, dtype=storage.flat.dtype)


def _rebuild_snapshot_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                             metadata=None):
    """``_rebuild_tensor`` for snapshots, which also refuses views that overlap themselves (a stride
    of 0, say): no tensor then has more elements than the storage holds."""
    tensor = _rebuild_tensor(storage, storage_offset, size, stride)
    span = 0  # elements an element's index can reach through the dimensions looked at so far
    for st, s in sorted((st, s) for s, st in zip(tensor.shape, tensor.stride()) if s > 1):
        if st <= span:
            raise _Invalid(f"a tensor of size {list(tensor.shape)} and stride {list(tensor.stride())} overlaps itself "
                           "(official snapshots hold plain tensors)")
        span += (s - 1) * st
    return tensor


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """``torch._utils._rebuild_parameter[_with_state]``: the parameter's data as a plain tensor."""
    if not isinstance(data, torch.Tensor):
        raise _Invalid(f"a parameter's data is a {_type_name(data)}, not a tensor")
    return data


def _reconstruct_persistent(meta):
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``: check meta, keep it."""
    if type(meta) is not dict:
        raise _Invalid(f"a persistent object's meta is a {_type_name(meta)}, not a dict")
    kind = meta.get("type")
    if not (isinstance(kind, str) and kind == "class"):
        raise _Invalid(f"unsupported persistent object type {short_repr(kind, 60)} (only 'class' objects are read)")
    for key, typ in (("class_name", str), ("module_src", str), ("state", dict)):
        if not isinstance(meta.get(key), typ):
            raise _Invalid(f"a persistent object's meta has no valid {key!r}")
    return _PersistentObject(meta)


_TORCH_DTYPE_NAMES = frozenset(n for n, v in vars(torch).items() if isinstance(v, torch.dtype))

# (module, name) -> what the unpickler gets instead. Both the Python-2 names that protocol 2 writes
# and numpy 1.x / 2.x module paths are listed.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _make_ordered_dict,
    ("builtins", "set"): _make_set,
    ("__builtin__", "set"): _make_set,
    ("builtins", "frozenset"): _make_frozenset,
    ("__builtin__", "frozenset"): _make_frozenset,
    ("_codecs", "encode"): _latin1_encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_snapshot_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch", "device"): _make_device,
    ("torch", "Size"): _make_size,
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

# What REDUCE may call (by identity), and the data each call builds, charged before the call.
_CALLABLES = {id(f): f for f in _ALLOWED.values() if callable(f) and f is not _EasyDictStandIn}
_CALL_COSTS = {
    id(_make_set): lambda a: 64 * _first_len(a),
    id(_make_frozenset): lambda a: 64 * _first_len(a),
    id(_make_ordered_dict): lambda a: 128 * _first_len(a),
    id(_make_size): lambda a: 8 * _first_len(a),
    id(_latin1_encode): _first_len,
    id(_np_frombuffer): _first_len,
    id(_np_scalar): lambda a: a[0].itemsize if a and isinstance(a[0], np.dtype) else 0,
}
_QUALNAMES: dict[int, str] = {}
for (_m, _n), _f in _ALLOWED.items():
    _QUALNAMES.setdefault(id(_f), f"{_m}.{_n}")  # the first name listed: builtins.set, not __builtin__.set
del _m, _n, _f


class _RestrictedUnpickler(_BoundedUnpickler):
    """Unpickler that resolves only the allow-list above and never imports anything."""

    def __init__(self, file, limits: _Limits):
        super().__init__(file, limits)
        self._module_stand_ins: dict[tuple[str, str], type] = {}

    def find_class(self, module, name):
        if not isinstance(module, str) or not isinstance(name, str):
            raise _Invalid("the pickle names a global with a non-string name")
        if len(module) > 200 or len(name) > 200:
            raise _Invalid(f"the pickle names a global with a {len(module) + len(name):,}-character name")
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
_HOOK_ATTR = re.compile(r"_\w*hook")  # _forward_hooks, _backward_pre_hooks, _is_full_backward_hook, ...


def _is_module_internal(key) -> bool:
    return isinstance(key, str) and (key in _MODULE_INTERNALS or (len(key) <= MAX_NAME_CHARS
                                                                   and bool(_HOOK_ATTR.match(key))))


def _init_signatures(src: str) -> dict[str, tuple[list[str], bool] | None]:
    """For every top-level class in ``src`` (parsed, not run): the positional parameter names of its
    own ``__init__`` and whether it takes ``*args``; None for a class without its own ``__init__``."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found: dict[str, tuple[list[str], bool] | None] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name not in found:
            found[node.name] = None
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    names = [a.arg for a in args.posonlyargs + args.args][1:]  # drop self
                    found[node.name] = (names, args.vararg is not None)
                    break
    return found


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


def _container(value) -> bool:
    return (isinstance(value, (dict, list, tuple, set, frozenset)) and not isinstance(value, torch.Size)) \
        or (isinstance(value, np.ndarray) and value.dtype.hasobject)


class _Converter:
    """Turns the unpickled stand-ins into NetRecords and plain values, each shared object once."""

    def __init__(self):
        self._records: dict[int, tuple[NetRecord, int]] = {}
        self._plain: dict[int, tuple[Any, int]] = {}
        self._active: set[int] = set()
        self._steps = MAX_WALK_STEPS
        self._entries = MAX_TENSOR_ENTRIES
        self._sources: dict[str, dict] = {}
        self._parsed = 0

    def _step(self, n: int = 1) -> None:
        self._steps -= n
        if self._steps < 0:
            raise _Invalid(f"it holds more than {_fmt_count(MAX_WALK_STEPS)} values (counting each network's "
                           "tables), far more than an official snapshot")

    def plain(self, value, where, depth: int = 0):
        """Replace stand-ins inside ``value`` by dicts and NetRecords."""
        return self._walk(value, where, depth)[0]

    def _walk(self, value, where, depth: int) -> tuple[Any, int]:
        """(converted value, its nesting height); ``depth`` containers enclose it."""
        self._step()
        if isinstance(value, (_PersistentObject, _TorchModuleStandIn)):
            return self._record(value, where, depth)
        if isinstance(value, _Storage):
            return value.flat, 0
        if not _container(value):
            return value, 0
        key = id(value)
        hit = self._plain.get(key)
        if hit is not None:
            if depth + hit[1] > MAX_DEPTH:
                raise _Invalid(f"{_where(where)} nests deeper than {MAX_DEPTH} levels")
            return hit
        if key in self._active:
            raise _Invalid(f"{_where(where)} contains itself")
        if depth >= MAX_DEPTH:
            raise _Invalid(f"{_where(where)} nests deeper than {MAX_DEPTH} levels")
        self._active.add(key)
        try:
            height = 0
            if isinstance(value, dict):
                out = OrderedDict() if type(value) is OrderedDict else {}
                for k, v in value.items():
                    out[k], h = self._walk(v, (where, _part(k)), depth + 1)
                    height = max(height, h)
            elif isinstance(value, np.ndarray):
                out = np.empty(value.shape, dtype=object)
                for i, v in enumerate(value.flat):
                    out.flat[i], h = self._walk(v, (where, f"[{i}]"), depth + 1)
                    height = max(height, h)
            else:
                items = []
                for i, v in enumerate(value):
                    item, h = self._walk(v, (where, f"[{i}]"), depth + 1)
                    items.append(item)
                    height = max(height, h)
                out = type(value)(items)
            result = (out, height + 1)
        finally:
            self._active.discard(key)
        self._plain[key] = result
        return result

    def record(self, obj, where, depth: int = 0) -> NetRecord:
        return self._record(obj, where, depth)[0]

    def _record(self, obj, where, depth: int) -> tuple[NetRecord, int]:
        key = id(obj)
        hit = self._records.get(key)
        if hit is not None:  # the same sub-network reached twice: one record, as torch would
            if depth + hit[1] > MAX_DEPTH:
                raise _Invalid(f"network {_where(where)} nests deeper than {MAX_DEPTH} levels")
            return hit
        if key in self._active:
            raise _Invalid(f"network {_where(where)} contains itself")
        if depth >= MAX_DEPTH:
            raise _Invalid(f"network {_where(where)} nests deeper than {MAX_DEPTH} levels")
        self._active.add(key)
        try:
            result = self._build(obj, where, depth)
        finally:
            self._active.discard(key)
        self._records[key] = result
        return result

    def _signature(self, src: str, class_name: str):
        if src not in self._sources:
            if len(src) > MAX_SOURCE_PARSED or self._parsed + len(src) > MAX_SOURCES_PARSED:
                self._sources[src] = {}  # too much to parse: positional arguments stay unnamed
            else:
                self._parsed += len(src)
                self._sources[src] = _init_signatures(src)
        return self._sources[src].get(class_name)

    def _build(self, obj, where, depth: int) -> tuple[NetRecord, int]:
        if isinstance(obj, _PersistentObject):
            meta = obj.meta
            state, class_name, module_name = meta["state"], meta["class_name"], None
            module_src, version = meta["module_src"], meta.get("version")
        else:
            state = obj.__dict__.get("_pickled_state", {})
            class_name, module_name, module_src, version = obj.class_name, obj.module_name, None, None
        self._step(len(state))

        params = self._named(state.get("_parameters"), where, "_parameters")
        buffers = self._named(state.get("_buffers"), where, "_buffers")
        modules = self._named(state.get("_modules"), where, "_modules")
        skip = state.get("_non_persistent_buffers_set") or set()
        if type(skip) not in (set, frozenset, list, tuple):
            raise _Invalid(f"{_where(where)}._non_persistent_buffers_set is a {_type_name(skip)}")
        self._step(len(skip))
        if type(skip) in (list, tuple):
            _check_keys(skip)
            skip = set(skip)

        state_dict: dict[str, torch.Tensor] = {}
        for kind, table in (("parameter", params), ("buffer", buffers)):
            for name, tensor in table.items():
                if tensor is None or (kind == "buffer" and name in skip):
                    continue
                if not isinstance(tensor, torch.Tensor):
                    raise _Invalid(f"{kind} {_where((where, _part(name)))} is a {_type_name(tensor)}, not a tensor")
                state_dict[name] = tensor
        self._charge_entries(len(state_dict), where)
        height = 1
        children: dict[str, NetRecord] = {}
        for name, child in modules.items():
            if child is None:
                continue
            if not isinstance(child, (_PersistentObject, _TorchModuleStandIn)):
                raise _Invalid(f"sub-module {_where((where, _part(name)))} is a {_type_name(child)}, not a network")
            children[name], h = self._record(child, (where, _part(name)), depth + 2)
            height = max(height, h + 2)
            sub_dict = children[name].state_dict
            self._charge_entries(len(sub_dict), where)
            for sub, tensor in sub_dict.items():
                if len(name) + 1 + len(sub) > MAX_DOTTED_CHARS:
                    raise _Invalid(f"{_where(where)} names a tensor with more than {MAX_DOTTED_CHARS} characters")
                state_dict[f"{name}.{sub}"] = tensor

        (init_args, h1) = self._walk(state.get("_init_args", ()), (where, "init_args"), depth + 1)
        (init_kwargs, h2) = self._walk(state.get("_init_kwargs", {}), (where, "init_kwargs"), depth + 1)
        if not isinstance(init_args, (tuple, list)) or not isinstance(init_kwargs, dict):
            raise _Invalid(f"{_where(where)} has malformed constructor arguments")
        self._step(len(init_args) + len(init_kwargs))
        signature = None
        if init_args and module_src is not None:
            signature = self._signature(module_src, class_name)
        init_kwargs, init_args = _fold_init_args(tuple(init_args), dict(init_kwargs), signature)
        height = max(height, h1 + 1, h2 + 1)

        extra = {}
        for k, v in state.items():
            if not _is_module_internal(k):
                extra[k], h = self._walk(v, (where, _part(k)), depth + 1)
                height = max(height, h + 1)
        training = state.get("training")
        rec = NetRecord(class_name=class_name, module_name=module_name, init_kwargs=init_kwargs,
                        state_dict=state_dict, extra=extra, init_args=init_args, children=children,
                        module_src=module_src, persistence_version=version,
                        training=training if isinstance(training, bool) else None)
        return rec, height

    def _charge_entries(self, n: int, where) -> None:
        self._entries -= n
        self._step(n)
        if self._entries < 0:
            raise _Invalid(f"its networks name more than {_fmt_count(MAX_TENSOR_ENTRIES)} tensors (counting each "
                           f"sub-network's; at {_where(where)}), far more than an official snapshot")

    def _named(self, table, where, what: str) -> dict:
        if table is None:
            return {}
        if not isinstance(table, dict):
            raise _Invalid(f"{_where(where)}.{what} is not a table of named entries")
        self._step(len(table))
        for k in table:
            if not isinstance(k, str) or len(k) > MAX_NAME_CHARS:
                raise _Invalid(f"{_where(where)}.{what} is not a table of named entries (names are strings of at "
                               f"most {MAX_NAME_CHARS} characters)")
        return table


# --------------------------------------------------------------------------------------------------


_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


def _check_file(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a regular file")
        raise GanforgeError(f"{path} is {kind}, not a file; official StyleGAN network pickles are read from regular "
                            "files only")
    if st.st_size > MAX_FILE_BYTES:
        raise GanforgeError(f"{path} is {_fmt_bytes(st.st_size)}, more than the {_fmt_bytes(MAX_FILE_BYTES)} an "
                            "official StyleGAN network pickle can be (the largest official snapshots are a few "
                            "hundred MB)")


def _open_regular(path: Path):
    """(binary file, size) for a regular file of at most MAX_FILE_BYTES. A named pipe or device is
    refused without blocking: stat before opening, then a non-blocking open and fstat."""
    def cannot(e: BaseException) -> GanforgeError:
        reason = (e.strerror if isinstance(e, OSError) else None) or _first_line(e)
        return GanforgeError(f"cannot open official StyleGAN pickle {path}: {reason}")

    try:
        _check_file(path, os.stat(path))
        nonblock = getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise GanforgeError(f"official StyleGAN pickle {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise cannot(e) from None
    try:
        st = os.fstat(fd)
        _check_file(path, st)  # the file may have been replaced since the stat
        if nonblock:
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~nonblock)
        return os.fdopen(fd, "rb"), st.st_size
    except OSError as e:
        os.close(fd)
        raise cannot(e) from None
    except BaseException:
        os.close(fd)
        raise


_TRUNCATED = "is truncated: the file ends before the pickle does (was it copied or downloaded completely?)"


def read_official_pickle(path) -> dict[str, Any]:
    """Read an official StyleGAN2(-ADA) / StyleGAN3 PyTorch ``network-snapshot-*.pkl``.

    Returns ``{"G_ema": NetRecord, "G": NetRecord, "D": NetRecord, "augment_pipe": NetRecord or None,
    "training_set_kwargs": dict or None, ...}`` (``G`` / ``D`` only when the file has them; other
    plain entries are passed through). No code stored in the file is run: module sources stay text,
    and any reference to a callable outside a small allow-list of tensor, numpy and container
    rebuilders is refused with a GanforgeError, as are files that are not regular files or are larger
    than ``MAX_FILE_BYTES``, are not pickles, are truncated, exceed the bounds in the module docstring
    or hold something other than an official snapshot.
    """
    path = Path(path)
    fh, size = _open_regular(path)
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
            data = _RestrictedUnpickler(_BoundedReader(fh, size), _Limits(size)).load()
        except _Refused as e:
            raise GanforgeError(f"refusing to load {path}: {e}") from None
        except _Invalid as e:
            raise GanforgeError(f"{path} is not a readable official StyleGAN network pickle: {e}") from None
        except GanforgeError:
            raise
        except EOFError:
            raise GanforgeError(f"{path} {_TRUNCATED}") from None
        except MemoryError:
            raise GanforgeError(f"{path} could not be read: it needs more memory than is available") from None
        except Exception as e:  # UnpicklingError, and whatever a corrupted opcode stream provokes
            if "truncated" in _first_line(e):
                raise GanforgeError(f"{path} {_TRUNCATED}") from None
            raise GanforgeError(f"{path} is corrupted or not an official StyleGAN network pickle "
                                f"({type(e).__name__}: {_first_line(e)})") from None
    try:
        return _snapshot(data)
    except _Invalid as e:
        raise GanforgeError(f"{path} is not an official StyleGAN network snapshot: {e}") from None
    except RecursionError:
        raise GanforgeError(f"{path} is not an official StyleGAN network snapshot: it nests too deeply") from None
    except MemoryError:
        raise GanforgeError(f"{path} could not be read: it needs more memory than is available") from None
    except Exception as e:  # a value of an unexpected type where a record needs another: not a snapshot
        raise GanforgeError(f"{path} is not an official StyleGAN network snapshot ({type(e).__name__}: "
                            f"{_first_line(e)})") from None


def _snapshot(data) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Invalid(f"it holds a {_type_name(data)}, not the dict of networks a snapshot holds")
    if "G_ema" not in data:
        keys = ", ".join(short_repr(k, 40) for k in islice(data, 5)) or "none"
        more = f", ... ({len(data):,} in all)" if len(data) > 5 else ""
        raise _Invalid(f"it has no 'G_ema' network (entries: {keys}{more})")
    conv = _Converter()
    out = {key: conv.plain(value, _part(key), 0) for key, value in data.items()}
    out.setdefault("training_set_kwargs", None)
    out.setdefault("augment_pipe", None)
    for key in NETWORK_KEYS:
        if key in out and not isinstance(out[key], NetRecord) and not (key == "augment_pipe" and out[key] is None):
            raise _Invalid(f"entry {key!r} is a {_type_name(out[key])}, not a network")
    if not isinstance(out["training_set_kwargs"], (dict, type(None))):
        raise _Invalid(f"entry 'training_set_kwargs' is a {_type_name(out['training_set_kwargs'])}, not a dict")
    return out
