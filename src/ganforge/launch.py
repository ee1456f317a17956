"""The launcher behind ``ganforge train --nproc N``: torchrun's own entry point, whose failure summary (which
rank failed, its exit code or signal) is printed as it is, without the launcher's Python traceback.

Run as ``python -m ganforge.launch <torchrun arguments>``; every argument goes to torchrun unchanged.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun_main

    try:
        torchrun_main(sys.argv[1:] if argv is None else argv)
    except ChildFailedError as e:
        print(str(e).strip("\n"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the workers got the signal too and stop after their step
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
