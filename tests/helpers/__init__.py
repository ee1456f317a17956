"""Helpers shared by several test files (plain functions and classes; fixtures stay in conftest.py files).

``tests/conftest.py`` puts the ``tests`` folder on ``sys.path`` once (the suite runs with
``--import-mode=importlib``, which does not), so a test imports them as ``from helpers.training import
tiny_cfg``. One module per subject:

* ``helpers.data``: synthetic datasets, image and IDX files, Debian packages and fake download specs.
* ``helpers.training``: tiny presets, final checkpoints, state comparison, quiet trainers.
* ``helpers.official``: a stand-in for NVlabs' official StyleGAN code, hand-written pickle opcodes and
  official StyleGAN2 snapshots of the anchor networks.

A helper used by one test file only lives in that file.
"""
