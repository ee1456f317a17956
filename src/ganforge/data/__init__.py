"""Data layer: built-in IDX datasets, image folders / zip archives, pre-flight scan, loading.

``load_dataset(DataConfig)`` is the entry point the trainer uses (a ``TranslationDataset`` for the
image-to-image translation tasks and layouts of ``ganforge.data.translation``); ``check_path`` backs
``ganforge data check PATH``.
"""

from ganforge.data.builtin import BUILTIN_DATASETS, locate_builtin
from ganforge.data.dataset import ImageDataset, load_image_dataset
from ganforge.data.idx import read_idx
from ganforge.data.load import load_dataset
from ganforge.data.scan import ScanReport, check_path, scan_images
from ganforge.data.translation import TRANSLATION_TASKS, TranslationDataset, load_translation_dataset

__all__ = [
    "BUILTIN_DATASETS",
    "ImageDataset",
    "ScanReport",
    "TRANSLATION_TASKS",
    "TranslationDataset",
    "check_path",
    "load_dataset",
    "load_image_dataset",
    "load_translation_dataset",
    "locate_builtin",
    "read_idx",
    "scan_images",
]
