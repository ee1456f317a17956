"""The two generator interfaces that everything outside a family relies on.

A family's networks may be anything inside; what leaves the family (exports, the trainer's sampling
network, what ``load_generator`` returns, what metrics and tools take) is one of:

- ``NoiseGenerator``: ``G(z [N, z_dim], c [N] int64 | None) -> [N, C, H, W]`` in [-1, 1], with ``z_dim`` and
  ``num_classes`` (0: unconditional). A ``StyleGenerator`` adds the split of the official StyleGAN code:
  ``mapping(z, c, truncation_psi=, truncation_cutoff=) -> ws [N, num_ws, w_dim]`` and
  ``synthesis(ws, noise_mode=) -> images``, with ``num_ws``, ``w_dim`` and ``layer_resolutions`` (the
  resolution each w drives), which the style tools, PPL in w and projection need.
- ``ImageTranslator``: ``T(x [N, C_in, H, W], direction=None) -> [N, C_out, H, W]`` with ``directions`` (e.g.
  ("AtoB", "BtoA")) and ``channels[direction] = (C_in, C_out)``.

The interfaces are structural (``typing.Protocol``): a network conforms by having the members, so a
user's own module works without inheriting from anything. ``check_interface`` runs where a model enters
(``load_generator``, ``synthesis.generate_images``) and names what is missing; after it the code asks
``interface_of`` / ``is_style_based`` (or ``isinstance(G, StyleGenerator)``) instead of probing attributes.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ganforge.errors import GanforgeError

GENERATOR = "generator"
TRANSLATOR = "translator"
KINDS = (GENERATOR, TRANSLATOR)


@runtime_checkable
class NoiseGenerator(Protocol):
    """Images from latents (and optional class labels)."""

    z_dim: int
    num_classes: int

    def __call__(self, z: Any, c: Any = None) -> Any: ...


@runtime_checkable
class StyleGenerator(NoiseGenerator, Protocol):
    """A noise generator split into mapping and synthesis networks, as the official StyleGAN code."""

    w_dim: int
    num_ws: int
    layer_resolutions: Any
    mapping: Any
    synthesis: Any


@runtime_checkable
class ImageTranslator(Protocol):
    """Images from images, in one or two directions."""

    directions: tuple[str, ...]
    channels: dict[str, tuple[int, int]]

    def __call__(self, x: Any, direction: str | None = None) -> Any: ...


def interface_of(net: Any) -> str:
    """``"translator"`` or ``"generator"`` (a GanforgeError when ``net`` is neither).

    A translator is tested first: it also carries ``z_dim`` = ``num_classes`` = 0 so that code sizing
    latents sees none.
    """
    if isinstance(net, ImageTranslator):
        return TRANSLATOR
    if isinstance(net, NoiseGenerator):
        return GENERATOR
    raise GanforgeError(f"{type(net).__name__} is neither a generator of images from noise (needs z_dim, "
                        f"num_classes and G(z, c)) nor an image translator (needs directions, channels and T(x))")


def is_style_based(net: Any) -> bool:
    """True for a noise generator with the mapping / synthesis split (StyleGAN, StyleGAN2)."""
    return interface_of(net) == GENERATOR and isinstance(net, StyleGenerator)


def _missing(net: Any, proto: type) -> list[str]:
    names = [n for n in getattr(proto, "__protocol_attrs__", ()) if n != "__call__"]
    if not names:  # Python < 3.12 keeps them in annotations
        names = [n for k in reversed(proto.__mro__) for n in getattr(k, "__annotations__", {})]
        names = list(dict.fromkeys(names))
    return [n for n in names if not hasattr(net, n)]


def check_interface(net: Any, kind: str, where: str = "model") -> None:
    """Raise a GanforgeError unless ``net`` conforms to ``kind`` ("generator" or "translator"), naming the
    members it lacks."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    proto = NoiseGenerator if kind == GENERATOR else ImageTranslator
    missing = _missing(net, proto) + ([] if callable(net) else ["__call__"])
    if missing:
        raise GanforgeError(f"{where} ({type(net).__name__}) is not a {kind}: it lacks {', '.join(missing)}")


def input_transform(net: Any) -> Any:
    """The user transform of an alias-free (StyleGAN3) generator's input, or None when it has none.

    StyleGAN3 keeps a [3, 3] buffer ``synthesis.input.transform`` that rotates and translates the Fourier
    features its synthesis starts from (the official scripts write the inverse of the wanted motion into
    it). The live buffer is returned: writing into it changes the generator's output. Tools and metrics
    that move the input (``generate --translate/--rotate``, ``video --motion``, the equivariance metrics)
    ask this instead of probing attributes.
    """
    synthesis = getattr(net, "synthesis", None)
    t = getattr(getattr(synthesis, "input", None), "transform", None)
    return t if getattr(t, "shape", None) is not None and tuple(t.shape) == (3, 3) else None
