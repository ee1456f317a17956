"""``python -m ganforge ...`` (and ``torchrun ... -m ganforge train ...``): the ``ganforge`` command."""

from ganforge.cli import _entry

_entry()
