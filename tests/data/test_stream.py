"""Streaming folders / zips from disk (data.stream) and ``ganforge data convert``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig, Experiment, TrainConfig
from ganforge.data import load_dataset
from ganforge.data.convert import convert, member_name
from ganforge.data.dataset import should_stream
from ganforge.data.stream import StreamedImages
from ganforge.errors import GanforgeError
from ganforge.training.feed import ImageFeed, StreamFeed, make_feed


def _folder(root: Path, n_per_class: int = 9, seed: int = 0) -> Path:
    """Two classes of mixed gray / color, png / jpg images of assorted non-square sizes."""
    rng = np.random.default_rng(seed)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(n_per_class):
            h, w = (int(v) for v in rng.integers(20, 50, 2))
            a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            img = Image.fromarray(a[..., 0]) if i % 4 == 0 else Image.fromarray(a)
            img.save(root / cls / (f"{i}.jpg" if i % 3 == 1 else f"{i}.png"))
    return root


@pytest.fixture
def folder(tmp_path) -> Path:
    return _folder(tmp_path / "images")


def _cfg(path: Path, **kw) -> DataConfig:
    return DataConfig(name=str(path), resolution=16, use_labels=True, **kw)


def test_streamed_dataset_reads_what_the_in_memory_one_holds(folder):
    mem = load_dataset(_cfg(folder, stream="never"))
    st = load_dataset(_cfg(folder, stream="always"))
    assert isinstance(st.images_u8, StreamedImages) and isinstance(mem.images_u8, torch.Tensor)
    assert st.images_u8.shape == mem.images_u8.shape and st.images_u8.numel() == mem.images_u8.numel()
    assert st.class_names == mem.class_names and torch.equal(st.labels, mem.labels)
    idx = torch.tensor([5, 0, 17, 5])
    assert torch.equal(st.images_u8[idx], mem.images_u8[idx])
    assert torch.equal(st.images_u8[3], mem.images_u8[3])
    assert torch.equal(st.images_u8[2:7], mem.images_u8[2:7])
    view = st.images_u8.take(np.array([9, 1, 4]))  # rows chosen, nothing read yet
    assert isinstance(view, StreamedImages) and len(view) == 3
    assert torch.equal(view[1:], mem.images_u8[[1, 4]])


def test_streamed_content_hash_follows_pixels_and_settings(folder, tmp_path):
    a = load_dataset(_cfg(folder, stream="always"))
    assert load_dataset(_cfg(folder, stream="always")).content_hash == a.content_hash
    assert load_dataset(replace(_cfg(folder, stream="always"), resize="crop")).content_hash != a.content_hash
    assert load_dataset(replace(_cfg(folder, stream="always"), channels=1)).content_hash != a.content_hash
    img = folder / "dog" / "8.png"
    Image.fromarray(255 - np.array(Image.open(img))).save(img)  # the pixels training sees change
    assert load_dataset(_cfg(folder, stream="always")).content_hash != a.content_hash


def test_auto_streams_above_the_device_cache_limit():
    cfg = DataConfig(name="x", resolution=16)
    assert not should_stream(cfg, 100)  # 100 * 3 * 256 bytes
    assert should_stream(replace(cfg, device_cache_max_bytes=100 * 3 * 256 - 1), 100)
    assert not should_stream(replace(cfg, device_cache_max_bytes=100 * 256, channels=1), 100)
    assert not should_stream(replace(cfg, device_cache_max_bytes=0, stream="never"), 100)
    assert should_stream(replace(cfg, stream="always"), 1)
    assert not should_stream(replace(cfg, device_cache_max_bytes=0, resolution=None), 100)  # native: unknown size


def test_auto_mode_really_streams_a_large_folder(folder):
    ds = load_dataset(_cfg(folder, device_cache_max_bytes=1000))
    assert isinstance(ds.images_u8, StreamedImages)
    assert isinstance(load_dataset(_cfg(folder)).images_u8, torch.Tensor)


def _exp(folder: Path, **data) -> Experiment:
    return Experiment(data=_cfg(folder, **data), train=TrainConfig(seed=3))


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_feed_gives_the_in_memory_batches_and_resumes_exactly(folder, workers):
    cpu = torch.device("cpu")
    mem_ds = load_dataset(_cfg(folder, stream="never"))
    st_ds = load_dataset(_cfg(folder, stream="always"))
    ref = make_feed(mem_ds, _exp(folder), cpu, 0, 1)
    feed = make_feed(st_ds, _exp(folder, workers=workers, prefetch=2), cpu, 0, 1)
    assert isinstance(ref, ImageFeed) and isinstance(feed, StreamFeed)
    sizes = [8, 8, 5, 8, 8, 8]  # a batch size change restarts the workers; 47 > 18 crosses epochs
    for bs in sizes[:3]:
        a, b = ref.next(bs), feed.next(bs)
        assert torch.equal(a.real_img, b.real_img) and torch.equal(a.c, b.c)
    state = feed.state_dict()  # the workers have read ahead; the state counts what training took
    assert state == ref.state_dict()
    expected = [ref.next(bs) for bs in sizes[3:]]
    feed.close()
    again = make_feed(st_ds, _exp(folder, workers=workers, prefetch=2), cpu, 0, 1)
    again.load_state_dict(state)
    for bs, e in zip(sizes[3:], expected):
        got = again.next(bs)
        assert torch.equal(got.real_img, e.real_img) and torch.equal(got.c, e.c)
    again.close()


def test_an_interrupt_while_waiting_for_the_workers_takes_no_batch(folder):
    """Ctrl-C / SIGTERM mostly lands in the wait for the next batch; the checkpoint written then must not
    count that batch as taken, or a resumed run would skip it."""
    cpu = torch.device("cpu")
    st_ds = load_dataset(_cfg(folder, stream="always"))
    ref = make_feed(load_dataset(_cfg(folder, stream="never")), _exp(folder), cpu, 0, 1)
    feed = make_feed(st_ds, _exp(folder, workers=1, prefetch=2), cpu, 0, 1)
    ref.next(4), feed.next(4)
    state = feed.state_dict()

    class Interrupted:
        def __next__(self):
            raise KeyboardInterrupt

    real_it, feed.loader._it = feed.loader._it, Interrupted()
    with pytest.raises(KeyboardInterrupt):
        feed.next(4)
    assert feed.state_dict() == state and feed.loader._it is None  # the position stays; the loader starts afresh
    del real_it
    a, b = ref.next(4), feed.next(4)
    assert torch.equal(a.real_img, b.real_img)
    feed.close()


def test_a_dead_worker_seen_by_the_feed_is_one_clear_error(folder):
    feed = make_feed(load_dataset(_cfg(folder, stream="always")), _exp(folder, workers=1, prefetch=1),
                     torch.device("cpu"), 0, 1)
    feed.next(4)

    class Dead:
        def __next__(self):
            raise RuntimeError("DataLoader worker (pid(s) 4242) exited unexpectedly")

    feed.close()
    feed.loader._it, feed.loader._batch_size = Dead(), 4
    with pytest.raises(GanforgeError, match=r"reading the streamed data stopped \(RuntimeError: DataLoader worker "
                                            r"\(pid\(s\) 4242\) exited unexpectedly\).*lower data.workers \(now 1\)"):
        feed.next(4)
    assert feed.loader._it is None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the worker through /proc")
def test_a_worker_killed_during_training_ends_it_with_one_line(folder, tmp_path):
    """torch's SIGCHLD handler raises wherever the main process is when a worker dies (the OOM killer's
    SIGKILL): the command still ends with one line, no traceback."""
    p = subprocess.Popen([sys.executable, "-m", "ganforge", "train", "--preset", "dcgan-tiny", "--data", str(folder),
                          "--resolution", "16", "--kimg", "1000", "--set", "data.stream=always", "--set",
                          "data.workers=1", "--set", "train.progress=false", "--out", str(tmp_path / "runs")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not list((tmp_path / "runs").glob("*/stats.jsonl")):
        assert p.poll() is None and time.time() - t0 < 120, p.communicate()
        time.sleep(0.1)
    children = (Path("/proc") / str(p.pid) / "task" / str(p.pid) / "children").read_text().split()
    assert children, "no worker process"
    for c in children:
        os.kill(int(c), signal.SIGKILL)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(
        "ganforge: error: reading the streamed data stopped"), err  # the feed or the CLI: one wording


def test_training_stops_its_worker_processes(folder, tmp_path):
    import multiprocessing

    from ganforge.config import apply_overrides
    from ganforge.presets import get_preset
    from ganforge.training.trainer import Trainer

    cfg = apply_overrides(get_preset("dcgan-tiny"), {
        "data.name": str(folder), "data.resolution": 16, "data.stream": "always", "data.workers": 2,
        "train.progress": False, "metrics.names": "", "train.total_kimg": 0.016, "train.tick_kimg": 0.016})
    t = Trainer(cfg, tmp_path)
    t.train()
    assert t.step == 2 and multiprocessing.active_children() == []  # not only once the Trainer is collected


def test_read_ahead_that_would_not_fit_in_memory_is_refused_before_any_worker_starts(folder, monkeypatch):
    import multiprocessing

    from ganforge.data import memory as memory_mod

    feed = make_feed(load_dataset(_cfg(folder, stream="always")), _exp(folder, workers=2, prefetch=3),
                     torch.device("cpu"), 0, 1)
    need = feed.loader.read_ahead_bytes(8)
    assert need == (2 * 3 + 1) * 8 * 3 * 16 * 16
    monkeypatch.setattr(memory_mod, "available_memory", lambda: (need - 1, "test"))
    with pytest.raises(GanforgeError, match=r"reading ahead 3 batch\(es\) of 8 images .* 2 data worker.*lower "
                                            r"data.workers or data.prefetch"):
        feed.next(8)
    assert multiprocessing.active_children() == [] and feed.state_dict()["position"] == 0
    monkeypatch.setattr(memory_mod, "available_memory", lambda: (need, "test"))
    assert feed.next(8).real_img.shape == (8, 3, 16, 16)
    feed.close()


def test_ranks_stream_their_slices(folder):
    cpu = torch.device("cpu")
    st_ds = load_dataset(_cfg(folder, stream="always"))
    whole = make_feed(st_ds, _exp(folder, workers=0), cpu, 0, 1).next(8).real_img
    parts = [make_feed(st_ds, _exp(folder, workers=0), cpu, r, 2).next(8).real_img for r in (0, 1)]
    assert torch.equal(torch.cat(parts), whole)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_changed_after_the_scan_is_named(folder, workers):
    st = load_dataset(_cfg(folder, stream="always"))
    (folder / "cat" / "0.png").write_bytes(b"not an image any more")
    with pytest.raises(GanforgeError, match=r"0\.png.*changed after the pre-flight scan"):
        st.images_u8[torch.arange(len(st))]
    feed = make_feed(st, _exp(folder, workers=workers), torch.device("cpu"), 0, 1)
    with pytest.raises(GanforgeError) as e:  # the worker's error arrives as itself, not wrapped in a traceback
        feed.next(18)
    assert "cat/0.png" in str(e.value) and "Traceback" not in str(e.value) and "\n" not in str(e.value)


def test_training_on_a_streamed_folder_equals_training_in_memory(folder, tmp_path):
    from ganforge.config import apply_overrides
    from ganforge.presets import get_preset
    from ganforge.training.trainer import Trainer

    nets = []
    for stream in ("never", "always"):
        cfg = apply_overrides(get_preset("dcgan-tiny"), {
            "data.name": str(folder), "data.resolution": 32, "data.stream": stream, "data.workers": 1,
            "train.progress": False, "metrics.names": "", "train.total_kimg": 0.048, "train.tick_kimg": 0.016})
        (tmp_path / stream).mkdir()
        t = Trainer(cfg, tmp_path / stream)
        t.train()
        nets.append({k: v.clone() for k, v in t.recipe.nets["G"].state_dict().items()})
    for k, v in nets[0].items():
        assert torch.equal(v, nets[1][k]), k


# -------------------------------------------------------------------------------------------------
# data convert


def test_convert_gives_the_dataset_loading_the_source_gives(folder, tmp_path):
    out = tmp_path / "conv" / "data.zip"
    done = convert(str(folder), out, 16, progress=False)
    assert done.images == 18 and done.class_names == ("cat", "dog") and done.channels == (1, 3)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        doc = json.loads(z.read("dataset.json"))
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    assert member_name(0) == "00000/img00000000.png" and member_name(1234) == "00001/img00001234.png"
    assert names[:2] == [member_name(0), member_name(1)] and doc["class_names"] == ["cat", "dog"]
    src, conv = load_dataset(_cfg(folder)), load_dataset(_cfg(out))
    assert torch.equal(src.images_u8, conv.images_u8) and torch.equal(src.labels, conv.labels)
    assert conv.class_names == ("cat", "dog")
    streamed = load_dataset(_cfg(out, stream="always"))
    assert torch.equal(streamed.images_u8[torch.arange(18)], src.images_u8)


def test_convert_a_builtin_keeps_labels(tmp_path, monkeypatch):
    from helpers.data import write_mnist_like

    write_mnist_like(tmp_path / "idx")
    monkeypatch.setenv("GANFORGE_DATA", str(tmp_path / "idx"))
    done = convert("mnist", tmp_path / "m.zip", 32, progress=False)
    src = load_dataset(DataConfig(name="mnist", resolution=32))
    conv = load_dataset(DataConfig(name=str(tmp_path / "m.zip"), resolution=32))
    assert done.images == len(src) == 6 and torch.equal(conv.images_u8, src.images_u8)
    assert torch.equal(conv.labels, src.labels) and conv.class_names == src.class_names


def test_convert_never_replaces_or_leaves_a_partial_file(folder, tmp_path):
    out = tmp_path / "data.zip"
    out.write_bytes(b"precious")
    with pytest.raises(GanforgeError, match="already exists.*--overwrite"):
        convert(str(folder), out, 16, progress=False)
    assert out.read_bytes() == b"precious"
    (folder / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(GanforgeError, match="broken.png"):
        convert(str(folder), out, 16, overwrite=True, progress=False)
    assert out.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == ["data.zip", "images"]
    done = convert(str(folder), out, 16, overwrite=True, on_bad_image="skip", progress=False)
    assert done.skipped == 1 and zipfile.is_zipfile(out)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True, text=True, cwd=cwd)


def test_convert_cli_errors_are_one_line_exit_2(folder, tmp_path):
    for args, needle in (
        ([str(folder), "--out", str(tmp_path / "x.tar"), "--resolution", "16"], "ending in .zip"),
        ([str(folder), "--out", str(tmp_path / "x.zip"), "--resolution", "0"], "bad --resolution '0'"),
        ([str(folder), "--out", str(tmp_path / "x.zip"), "--resolution", "5000"], "expected an integer 1..4096"),
        ([str(folder), "--out", str(tmp_path / "x.zip"), "--resolution", "abc"], "expected an integer 1..4096"),
        ([str(folder), "--out", str(tmp_path / "x.zip"), "--resolution", "16", "--channels", "2"], "valid choices: 1, 3"),
        ([str(tmp_path / "nope"), "--out", str(tmp_path / "x.zip"), "--resolution", "16"], "no such file or folder"),
    ):
        r = _cli("data", "convert", *args)
        assert r.returncode == 2, r.stderr
        assert needle in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.zip").exists()
    r = _cli("data", "convert", str(folder), "--out", str(tmp_path / "ok.zip"), "--resolution", "16")
    assert r.returncode == 0, r.stderr
    assert "18 images of 16x16 px" in r.stdout and "2 classes" in r.stdout


def test_labels_file_class_names_are_checked(tmp_path):
    root = tmp_path / "d"
    (root / "00000").mkdir(parents=True)
    Image.new("L", (8, 8)).save(root / "00000" / "a.png")
    (root / "dataset.json").write_text(json.dumps({"labels": [["00000/a.png", 1]], "class_names": ["only"]}))
    with pytest.raises(GanforgeError, match="class_names.*1 classes"):
        load_dataset(DataConfig(name=str(root), resolution=8))
    (root / "dataset.json").write_text(json.dumps({"labels": [["00000/a.png", 1]], "class_names": ["x", 2]}))
    with pytest.raises(GanforgeError, match="list of strings"):
        load_dataset(DataConfig(name=str(root), resolution=8))


def test_metric_features_of_a_streamed_dataset_equal_the_in_memory_ones(folder, tmp_path):
    from ganforge.metrics.extractors import get_extractor
    from ganforge.metrics.protocol import real_features

    ext = get_extractor("fmnist-cnn")
    cfg = DataConfig(name=str(folder), resolution=32, channels=1, use_labels=True)
    mem, st = load_dataset(replace(cfg, stream="never")), load_dataset(replace(cfg, stream="always"))
    a, _ = real_features(mem, ext, 13, cache_dir=tmp_path / "c1", batch_size=4)
    b, _ = real_features(st, ext, 13, cache_dir=tmp_path / "c2", batch_size=4)  # read 4 images at a time
    assert a.shape == (13, ext.feature_dim) and np.array_equal(a, b)
    a1, _ = real_features(mem, ext, 5, cache_dir=tmp_path / "c1", label=1)
    b1, _ = real_features(st, ext, 5, cache_dir=tmp_path / "c2", label=1)
    assert np.array_equal(a1, b1)


def test_metrics_between_streamed_folders_equal_the_in_memory_ones(tmp_path):
    from ganforge.metrics.protocol import compute_between

    real_dir, fake_dir = _folder(tmp_path / "real", 12, seed=1), _folder(tmp_path / "fake", 12, seed=2)
    cfg = DataConfig(resolution=32, channels=1)
    out = []
    for stream in ("never", "always"):
        real = load_dataset(replace(cfg, name=str(real_dir), stream=stream))
        fake = load_dataset(replace(cfg, name=str(fake_dir), stream=stream))
        recs = compute_between("swd", real, fake.images_u8, batch_size=5,
                               cache_dir=tmp_path / f"cache-{stream}")
        out.append([(r.metric, r.value, r.num_gen) for r in recs])
    assert out[0] == out[1] and out[0][0][2] == 24  # every generated image, read 5 at a time


def test_converting_a_converted_zip_changes_nothing(folder, tmp_path):
    first = tmp_path / "a.zip"
    convert(str(folder), first, 16, progress=False)
    second = convert(str(first), tmp_path / "b.zip", 16, progress=False)
    a, b = load_dataset(_cfg(first)), load_dataset(_cfg(second.path))
    assert torch.equal(a.images_u8, b.images_u8) and torch.equal(a.labels, b.labels)
    assert a.class_names == b.class_names == ("cat", "dog")


def test_convert_refuses_a_resolution_training_would_refuse(folder, tmp_path):
    for bad in (0, -3, 4097, 10**11, 16.0, True):
        with pytest.raises(GanforgeError, match="expected an integer 1..4096"):
            convert(str(folder), tmp_path / "x.zip", bad, progress=False)
    assert list(tmp_path.iterdir()) == [folder]


def test_convert_output_has_ordinary_permissions_and_a_stale_temp_file_is_left_alone(folder, tmp_path):
    stale = tmp_path / f".data.zip.tmp-{os.getpid()}"  # the name an earlier version used for its temp file
    stale.write_bytes(b"someone's")
    done = convert(str(folder), tmp_path / "data.zip", 16, progress=False)
    assert stale.read_bytes() == b"someone's"
    umask = os.umask(0)
    os.umask(umask)
    assert (done.path.stat().st_mode & 0o777) == (0o666 & ~umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([stale.name, "data.zip", "images"])


def test_convert_without_hard_links_still_never_replaces(folder, tmp_path, monkeypatch):
    """FAT, exFAT and some network mounts refuse os.link: convert renames instead, and still refuses an
    output that exists."""
    import errno

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    done = convert(str(folder), tmp_path / "a.zip", 16, progress=False)
    assert zipfile.is_zipfile(done.path)
    (tmp_path / "b.zip").write_bytes(b"precious")
    from ganforge.data import convert as convert_module

    real_check = convert_module._check_out
    monkeypatch.setattr(convert_module, "_check_out", lambda out, overwrite: None)  # b.zip "appears" after the check
    with pytest.raises(GanforgeError, match="already exists"):
        convert(str(folder), tmp_path / "b.zip", 16, progress=False)
    monkeypatch.setattr(convert_module, "_check_out", real_check)
    assert (tmp_path / "b.zip").read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "b.zip", "images"]


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_a_terminated_convert_removes_its_temporary_file(tmp_path):
    src = _folder(tmp_path / "big", n_per_class=150)
    out = tmp_path / "out" / "data.zip"
    p = subprocess.Popen([sys.executable, "-m", "ganforge", "data", "convert", str(src), "--out", str(out),
                          "--resolution", "256"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not list(out.parent.glob(".data.*.tmp.zip")):  # writing has begun (outputs.atomic_write's temporary name)
        assert p.poll() is None and time.time() - t0 < 60, p.communicate()
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert list(out.parent.iterdir()) == []
