"""The ``ganforge`` subcommands, one module each.

A command module has ``register(subparsers)``: it adds the command's sub-parser (flags and help text)
with the handler as the parser's ``func`` default and returns the parser. The handler stays thin: it
turns the flags into arguments, calls library functions (``ganforge.api``, ``ganforge.synthesis``,
``ganforge.metrics``, ``ganforge.data``, ...) and prints what they return, so whatever a command does
a Python caller can do with the same functions. Checks that need nothing but the flags run before
a model or dataset is loaded, so a typo costs no waiting.

``ganforge.cli.build_parser`` registers the modules named in ``COMMANDS``, in that order, which is
the order ``ganforge --help`` lists them in. docs/commands.md shows how to add one.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Module names, in the order of `ganforge --help`. A command named like a Python keyword gets a
# trailing underscore (import_), one with a dash an underscore (convert_inception).
COMMANDS = ("train", "generate", "translate", "presets", "report", "data", "eval", "mix", "truncation",
            "variation", "interpolate", "video", "project", "convert_inception", "import_",
            "studio")


def command_modules() -> list[ModuleType]:
    """The modules of ``COMMANDS``, imported (each is light: libraries are imported by its handler)."""
    return [importlib.import_module(f"{__name__}.{name}") for name in COMMANDS]
