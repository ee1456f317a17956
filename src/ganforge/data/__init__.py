"""Data layer: built-in IDX datasets, image folders / zip archives, pre-flight scan, loading.

``load_dataset(DataConfig)`` is the entry point the trainer uses (a ``TranslationDataset`` for the
image-to-image translation tasks and layouts of ``ganforge.data.translation``, else an ``ImageDataset``);
``check_path`` backs ``ganforge data check PATH``.

Every dataset declares its kind (``ganforge.data.base``): ``ds.kind`` is ``"images"`` or ``"translation"``,
and ``is_translation(ds)`` is how code anywhere tells them apart (never by probing attributes).
``ImageData`` and ``TranslationData`` are the interfaces (``typing.Protocol``) of the two kinds; a
translation dataset also offers the image one (its target domain B, unlabelled). ``ds.streamed`` says
whether ``ds.images_u8`` is read from disk when indexed (``ganforge.data.stream``).

Layering. The data layer hands over plain data: uint8 image tensors, int64 labels, datasets, samplers,
and for streamed folders a loader of ``(indices, uint8 images)`` batches. What training makes of them
(``Batch``, feeds, the device, [-1, 1] floats) belongs to ``ganforge.training``. So the modules of
``ganforge.data`` import, from ganforge, only ``ganforge.data`` itself and the foundation modules
``ganforge.errors``, ``ganforge.config`` (``DataConfig``), ``ganforge.outputs`` (file writes),
``ganforge.signals``, ``ganforge.registry`` and ``ganforge.limits`` (bounds); never ``ganforge.training``,
``families``, ``presets``, ``validation``, ``metrics``, ``synthesis``, ``api`` or the CLI (``cli``,
``commands``), not even inside a function. Those import data, not the other way round: import-linter's
layer contract (pyproject.toml) checks the imports, ``tests/data/test_data_layering.py`` what a run loads.

Inside the package the imports go one way, each module importing only those listed before it:

1. ``base`` (dataset kinds and interfaces, the content hash), ``folder``, ``idx``, ``sampler``
2. ``builtin``, then ``emoji``
3. ``scan`` (the pre-flight scan), then ``memory`` (memory checks)
4. ``stream`` (streamed images and their loader)
5. ``dataset`` (``ImageDataset``, ``load_image_dataset``)
6. ``translation`` (``TranslationDataset``, ``load_translation_dataset``; built on ``dataset``)
7. ``load`` (``load_dataset``: either kind), then ``convert`` (``ganforge data convert``)
"""

from ganforge.data.base import IMAGES, TRANSLATION, ImageData, TranslationData, is_translation
from ganforge.data.builtin import BUILTIN_DATASETS, locate_builtin
from ganforge.data.dataset import ImageDataset, load_image_dataset
from ganforge.data.idx import read_idx
from ganforge.data.load import load_dataset
from ganforge.data.scan import ScanReport, check_path, scan_images
from ganforge.data.translation import TRANSLATION_TASKS, TranslationDataset, load_translation_dataset

__all__ = [
    "BUILTIN_DATASETS",
    "IMAGES",
    "ImageData",
    "ImageDataset",
    "ScanReport",
    "TRANSLATION",
    "TRANSLATION_TASKS",
    "TranslationData",
    "TranslationDataset",
    "check_path",
    "is_translation",
    "load_dataset",
    "load_image_dataset",
    "load_translation_dataset",
    "locate_builtin",
    "read_idx",
    "scan_images",
]
