"""Fixtures for the data-layer tests."""

from __future__ import annotations

import pytest

from ganforge.data import builtin


@pytest.fixture
def isolated_dirs(tmp_path, monkeypatch):
    """Point every built-in search location at empty temp folders (no real data, no network)."""
    dirs = {
        "root": tmp_path / "root",
        "env": tmp_path / "env",
        "xdg": tmp_path / "xdg",
        "system": tmp_path / "system",
    }
    for d in dirs.values():
        d.mkdir()
    monkeypatch.setenv("GANFORGE_DATA", str(dirs["env"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs["xdg"]))
    monkeypatch.setattr(builtin, "SYSTEM_DATA_DIRS", [dirs["system"]])
    return dirs
