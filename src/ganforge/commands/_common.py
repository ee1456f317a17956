"""What several commands share: loading ``--model`` on ``--device``, and the style tools' flags."""

from __future__ import annotations

import argparse

from ganforge.args import NOISE_MODES, bounded_int, check_not_special, choice, path_text


def load_model(args: argparse.Namespace, **kwargs):
    """The model of ``--model`` on ``--device`` -> (model, device). The device is resolved first, so a
    bad ``--device`` is refused before a slow load; a ``--model`` that is a named pipe, never opened.
    ``kwargs`` go to ``ganforge.api.load_generator`` (``kind="translator"``)."""
    from ganforge.api import load_generator
    from ganforge.devices import resolve_device

    device = resolve_device(args.device, "--device")
    check_not_special(args.model, "--model", "a run directory, a .safetensors export or a model.json")
    return load_generator(args.model, device=device, **kwargs), device


def add_style_options(p: argparse.ArgumentParser) -> None:
    """The flags every latent-space tool (mix, truncation, variation, interpolate, project) takes."""
    p.add_argument("--model", required=True, type=path_text("--model"),
                   help="run directory, .safetensors export or model.json")
    p.add_argument("--out", required=True, type=path_text("--out"), help="output folder")
    p.add_argument("--class", dest="class_idx", type=bounded_int("--class", 0), default=None,
                   help="class index for conditional models")
    p.add_argument("--noise-mode", default="const", type=choice("--noise-mode", NOISE_MODES, "noise mode"),
                   help="random, const or none (default const)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
