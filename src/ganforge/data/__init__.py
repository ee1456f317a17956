"""Data layer: built-in IDX datasets, image folders / zip archives, pre-flight scan, loading.

``load_dataset(DataConfig)`` is the entry point the trainer uses; ``check_path`` backs
``ganforge data check PATH``.
"""

from ganforge.data.builtin import BUILTIN_DATASETS, locate_builtin
from ganforge.data.dataset import ImageDataset, load_dataset
from ganforge.data.idx import read_idx
from ganforge.data.scan import ScanReport, check_path, scan_images

__all__ = [
    "BUILTIN_DATASETS",
    "ImageDataset",
    "ScanReport",
    "check_path",
    "load_dataset",
    "locate_builtin",
    "read_idx",
    "scan_images",
]
