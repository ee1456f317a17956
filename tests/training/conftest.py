"""Fixtures of the training tests."""

from __future__ import annotations

import sys
from pathlib import Path

# --import-mode=importlib does not put test folders on sys.path; the shared helpers live in the uniquely
# named sibling module gf_training_helpers.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
