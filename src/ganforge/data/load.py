"""``load_dataset``: the one entry point from a DataConfig to a dataset of either kind.

It sits above both loaders, so neither imports the other: a translation config goes to
``ganforge.data.translation.load_translation_dataset``, every other one to
``ganforge.data.dataset.load_image_dataset``.
"""

from __future__ import annotations

from ganforge.config import DataConfig
from ganforge.data.dataset import ImageDataset, load_image_dataset
from ganforge.data.translation import TranslationDataset, is_translation_config, load_translation_dataset


def load_dataset(cfg: DataConfig) -> ImageDataset | TranslationDataset:
    """Load the dataset described by ``cfg``.

    Built-in names (``fashion-mnist``, ``mnist``, ``emoji``) take precedence over a same-named local path;
    write ``./mnist`` to mean the folder. Folders / archives are read within ``cfg.max_file_bytes``
    per file and ``cfg.max_image_pixels`` per image. A translation config (a task name of
    ``TRANSLATION_TASKS``, or ``data.pairing`` set) is handed to ``load_translation_dataset``.

    Args:
        cfg: the data section of the experiment config.

    Returns:
        An ``ImageDataset`` with uint8 ``[N, C, R, R]`` images (R = ``cfg.resolution``, or the native
        size when that is None); for a translation config a ``TranslationDataset``. Either declares its
        ``kind`` (``ganforge.data.is_translation``).

    Raises:
        GanforgeError: invalid config values, an unknown name / missing path, missing built-in files,
            bad images under ``on_bad_image="error"``, no usable image, a dataset that would not
            fit in the available memory, or ``use_labels`` on an unlabelled dataset (translation
            datasets never have labels).
    """
    if is_translation_config(cfg):
        return load_translation_dataset(cfg)
    return load_image_dataset(cfg)
