"""Turning a device name from the user into a ``torch.device`` that exists on this machine.

One function, ``resolve_device``, serves ``train.device`` and the ``--device`` of every command
(generate, translate, eval, the style tools), so all accept the same names and reject a bad one with
the same message: the offending name and the choices that work here (``auto``, ``cpu``, ``cuda`` and
``cuda:0`` .. ``cuda:N-1`` when CUDA is available, ``mps`` when Apple's Metal backend is).
``module_device`` answers the other question: where an already loaded model lives.
"""

from __future__ import annotations

import re

import torch

from ganforge.errors import GanforgeError

_DEVICE_RE = re.compile(r"(?P<type>cpu|cuda|mps)(?::(?P<index>\d+))?")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Device names that resolve on this machine, in the order they are listed in messages."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    return names


def resolve_device(name: str, what: str = "device") -> torch.device:
    """``name`` ("auto", "cpu", "cuda", "cuda:N", "mps") -> an available ``torch.device``.

    ``what`` names the setting in the error message (``train.device``, ``--device``). "auto" picks
    CUDA when available, else the CPU.
    """
    choices = ", ".join(available_devices())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    m = _DEVICE_RE.fullmatch(name) if isinstance(name, str) else None
    if m is None or (m["type"] == "cpu" and m["index"] not in (None, "0")) or (m["type"] == "mps" and m["index"]):
        raise GanforgeError(f"unknown device {name!r} ({what}); valid choices on this machine: {choices}")
    kind, index = m["type"], m["index"]
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise GanforgeError(f"device {name!r} ({what}) is not available: CUDA is not available on this machine; "
                                f"valid choices on this machine: {choices}")
        count = torch.cuda.device_count()
        if index is not None and int(index) >= count:
            raise GanforgeError(f"device {name!r} ({what}) is not available: this machine has {count} CUDA "
                                f"device{'s' if count != 1 else ''}; valid choices on this machine: {choices}")
    if kind == "mps" and not _mps_available():
        raise GanforgeError(f"device {name!r} ({what}) is not available: the MPS backend is not available on this "
                            f"machine; valid choices on this machine: {choices}")
    return torch.device(name)


def module_device(module) -> torch.device:
    """Where ``module`` computes: the device of its first parameter or buffer; the CPU for a module
    without tensors (or any other callable), which has nothing to move."""
    if not isinstance(module, torch.nn.Module):
        return torch.device("cpu")
    tensor = next(iter(module.parameters()), None)
    if tensor is None:
        tensor = next(iter(module.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")
