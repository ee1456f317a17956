"""The ``ganforge`` command line: ``build_parser`` assembles the subcommands of ``ganforge.commands``
and ``main`` runs one.

Subcommands: ``train``, ``generate``, ``translate``, ``presets``, ``report``, ``data check``, ``data
convert``, ``eval``, the latent-space tools ``mix``, ``truncation``, ``variation``, ``interpolate``,
``video`` (StyleGAN3's moving input), ``project``, then ``convert-inception`` and ``import``; each lives
in its own module of ``ganforge.commands``. Every user mistake ends in one message on stderr and exit code 2 (no
traceback); training that diverges exits 3; Ctrl-C writes a checkpoint and exits 130.
"""

from __future__ import annotations

import argparse
import os
import sys

from ganforge.version import __version__
from ganforge.errors import GanforgeError


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors (a missing or unknown option, a value of the wrong type) are one
    ``GanforgeError`` line and exit code 2, like every other user mistake, instead of usage text.
    Sub-parsers are made with the class of their parent, so every command's parser is one too."""

    def error(self, message: str):
        raise GanforgeError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    from ganforge.commands import command_modules

    p = _Parser(prog="ganforge", description="Train, evaluate and use GANs.")
    p.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in command_modules():
        command.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # a bad flag or value: one GanforgeError (see _Parser, ganforge.args)
    except GanforgeError as e:
        print(f"ganforge: error: {e}", file=sys.stderr)
        return e.exit_code
    args.argv = list(sys.argv[1:] if argv is None else argv)  # train --nproc relaunches the same command line
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GanforgeError as e:
        print(f"ganforge: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        from ganforge import distributed
        from ganforge.data.stream import data_worker_error, is_dead_worker

        if is_dead_worker(e):  # raised by torch's SIGCHLD handler wherever training was at the time
            print(f"ganforge: error: {data_worker_error(e)}", file=sys.stderr)
            return 2  # one clear line, as for every other error the user can act on
        if distributed.launched():  # one line with the rank and the cause above torchrun's summary
            print(f"ganforge: error: {distributed.failed_rank_message(e)}", file=sys.stderr)
            if distributed.is_peer_failure(e):  # another rank died or hung: nothing of this rank to debug
                return 2
        raise


def _entry() -> None:
    code = main()
    from ganforge import distributed

    if distributed.launched() and distributed.left_group():
        # A torchrun worker that trained and left its process group: end the process here, skipping the
        # interpreter's teardown. Destroying what is left of gloo and torchrun's store client while the
        # interpreter finalizes aborted now and then ("terminate called without an active exception",
        # SIGABRT after a run had finished and written everything). Every file is closed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _entry()
