"""Labels from a ``dataset.json`` file (NVlabs' dataset_tool format), in folders and zip archives."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError


def _write_images(root, names):
    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 20 * i, dtype=np.uint8), mode="L").save(path)


NAMES = ["00000/img00000000.png", "00000/img00000001.png", "00001/img00000002.png"]


def test_labels_file_beats_nvlabs_style_subfolders(tmp_path):
    _write_images(tmp_path, NAMES)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [[NAMES[0], 2], [NAMES[1], 0], [NAMES[2], 2]]}))
    ds = load_dataset(DataConfig(name=str(tmp_path), resolution=None, use_labels=True))
    assert ds.labels.tolist() == [2, 0, 2] and ds.class_names == ("0", "1", "2")
    # the same layout without the file: the sub-folders are the classes
    (tmp_path / "dataset.json").unlink()
    ds = load_dataset(DataConfig(name=str(tmp_path), resolution=None, use_labels=True))
    assert ds.class_names == ("00000", "00001")


def test_labels_file_in_a_zip_and_null_labels(tmp_path):
    src = tmp_path / "src"
    _write_images(src, NAMES)
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for n in NAMES:
            z.write(src / n, n)
        z.writestr("dataset.json", json.dumps({"labels": [[n, i % 2] for i, n in enumerate(NAMES)]}))
    ds = load_dataset(DataConfig(name=str(archive), resolution=None, use_labels=True))
    assert ds.labels.tolist() == [0, 1, 0]
    with zipfile.ZipFile(tmp_path / "nolabels.zip", "w") as z:
        for n in NAMES:
            z.write(src / n, n)
        z.writestr("dataset.json", json.dumps({"labels": None}))
    ds = load_dataset(DataConfig(name=str(tmp_path / "nolabels.zip"), resolution=None))
    assert ds.labels is None
    with pytest.raises(GanforgeError, match="use_labels is true but dataset"):
        load_dataset(DataConfig(name=str(tmp_path / "nolabels.zip"), resolution=None, use_labels=True))


@pytest.mark.parametrize("doc,match", [
    ('{"labels": [["00000/img00000000.png", 1]]}', "labels 1 of the 3 images; 2 have none, e.g. '00000/img00000001.png'"),
    ('{"labels": [["00000/img00000000.png", -1]]}', "bad entry .*class index 0..999999"),
    ('{"labels": [["00000/img00000000.png", true]]}', "bad entry"),
    ('{"nope": 1}', 'expected {"labels"'),
    ("{not json", "not valid JSON"),
])
def test_bad_labels_files_are_named(tmp_path, doc, match):
    _write_images(tmp_path, NAMES)
    (tmp_path / "dataset.json").write_text(doc)
    with pytest.raises(GanforgeError, match=match):
        load_dataset(DataConfig(name=str(tmp_path), resolution=None, use_labels=True))
