"""ganforge.studio.explore: the Explore page's pictures are the command line's (the same PNG bytes as
``ganforge generate`` / ``mix`` / ``translate`` write, the frames of ``interpolation_frames``), every bad
parameter is one 400 naming the value, paths stay inside the runs folder, uploads are bounded, the image
queue is bounded and leaves the event loop free, and the model cache reloads a changed file."""

from __future__ import annotations

import io
import os
import shutil
import threading
import time

import anyio
import numpy as np
import pytest
import torch
from helpers.data import make_dataset, make_translation_dataset
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.studio import explore
from ganforge.studio.errors import StudioError
from ganforge.studio.explore import (
    MAX_UPLOAD_BYTES,
    Explorer,
    parse_image_args,
    parse_interp_args,
    parse_mix_args,
)
from ganforge.synthesis.style import interpolation_frames

WEIGHTS = "generator.safetensors"


def _train(root, preset, dataset, **over):
    cfg = ganforge.get_preset(preset)
    r = ganforge.train(cfg, out=root, dataset=dataset, overrides={
        "train.total_kimg": cfg.train.batch_size / 1000, "train.progress": False, "metrics.names": "", **over})
    return f"{r.run_dir.name}/{WEIGHTS}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder with one-step runs: a conditional StyleGAN2 (3 classes, noise inputs), a DCGAN (not
    style-based, unconditional), a StyleGAN3 (style-based, no noise inputs) and a pix2pix translator."""
    root = tmp_path_factory.mktemp("runs")
    rels = {
        "sg2": _train(root, "stylegan2-tiny", make_dataset(num_classes=3),
                      **{"model.conditional": True, "data.use_labels": True}),
        "dcgan": _train(root, "dcgan-tiny", make_dataset()),
        "sg3": _train(root, "stylegan3-t-tiny", make_dataset()),
        "p2p": _train(root, "pix2pix-tiny", make_translation_dataset(make_dataset(n=8))),
    }
    return root, rels


@pytest.fixture(scope="module")
def ex(runs):
    return Explorer(runs[0], "cpu", max_models=4)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def refused(fn, *args, **kwargs) -> StudioError:
    with pytest.raises(StudioError) as info:
        fn(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------------------
# The command line's pictures.


@pytest.mark.parametrize("name,psi,flags,kwargs", [
    ("sg2", None, [], {}),
    ("sg2", 0.5, [], {}),
    ("sg2", 0.5, ["--class", "2", "--noise-mode", "none"], {"class_idx": 2, "noise_mode": "none"}),
    ("sg3", 0.5, [], {}),
    ("dcgan", None, [], {}),
])
def test_image_is_the_file_ganforge_generate_writes(runs, ex, tmp_path, name, psi, flags, kwargs):
    root, rels = runs
    out = tmp_path / "cli"
    argv = ["generate", "--model", str(root / rels[name]), "--seeds", "0,7", "--out", str(out), "--device", "cpu"]
    assert main(argv + (["--psi", str(psi)] if psi is not None else []) + flags) == 0
    got = [ex.image(rels[name], seed, psi=1.0 if psi is None else psi, **kwargs) for seed in (0, 7)]
    assert got[0] == (out / "seed0000.png").read_bytes()
    assert got[1] == (out / "seed0007.png").read_bytes()
    assert not np.array_equal(pixels(got[0]), pixels(got[1]))  # the seeds name different images


def test_image_through_the_queue_is_the_same_and_psi_changes_it(runs, ex):
    rel = runs[1]["sg2"]
    direct = ex.image(rel, 3, psi=0.7)
    assert anyio.run(lambda: ex.run(ex.image, rel, **parse_image_args({"seed": "3", "psi": "0.7"}))) == direct
    assert ex.image(rel, 3, psi=1.0) != direct


@pytest.mark.parametrize("rows,cols,styles,psi,flags,kwargs", [
    ("0,1", "2-4", "coarse", 1.0, [], {}),
    ("5", "1,9", "0-1,4", 0.6, ["--class", "1", "--noise-mode", "none"], {"class_idx": 1, "noise_mode": "none"}),
])
def test_mix_is_the_grid_ganforge_mix_writes(runs, ex, tmp_path, rows, cols, styles, psi, flags, kwargs):
    root, rels = runs
    out = tmp_path / "cli"
    assert main(["mix", "--model", str(root / rels["sg2"]), "--rows", rows, "--cols", cols, "--styles", styles,
                 "--psi", str(psi), "--out", str(out), "--device", "cpu"] + flags) == 0
    (written,) = out.iterdir()
    assert ex.mix(rels["sg2"], rows, cols, styles, psi=psi, **kwargs) == written.read_bytes()
    args = parse_mix_args({"rows": rows, "cols": cols, "styles": styles, "psi": str(psi)})
    assert args["rows"] == list(ganforge.args.parse_seeds(rows)) and args["styles"] == styles


@pytest.mark.parametrize("name,space,frames,psi,class_idx", [
    ("sg2", "w", 5, 1.0, None),
    ("sg2", "z", 4, 0.7, 1),
    ("sg3", "w", 3, 1.0, None),
])
def test_interp_frames_are_the_frames_of_interpolate(runs, ex, name, space, frames, psi, class_idx):
    rel = runs[1][name]
    G = ex.load(rel).net
    want = interpolation_frames(G, [2, 9], frames - 1, space=space, psi=psi, class_idx=class_idx)
    assert len(want) == frames
    for k in range(frames):
        got = pixels(ex.interp(rel, 2, 9, k, frames, psi=psi, space=space, class_idx=class_idx))
        assert np.array_equal(got.reshape(want[k].shape[1], want[k].shape[2], -1),
                              want[k].permute(1, 2, 0).numpy()), f"frame {k}"
    assert not np.array_equal(want[0].numpy(), want[-1].numpy())


def test_interp_renders_only_the_batch_of_the_frame_and_keeps_it(runs, monkeypatch):
    rel = runs[1]["sg2"]
    ex = Explorer(runs[0])
    rendered = []
    real = Explorer._frame_batch

    def spy(G, a, b, steps, start, batch, **kw):
        out = real(G, a, b, steps, start, batch, **kw)
        rendered.append((start, len(out)))
        return out

    monkeypatch.setattr(Explorer, "_frame_batch", staticmethod(spy))
    frames = 40  # 39 frames of the transition: synthesis batches of 32 and 7, then the end seed's frame
    G = ex.load(rel).net
    want = interpolation_frames(G, [0, 1], frames - 1)
    synthesized = []  # images per call of the synthesis network
    hook = G.synthesis.register_forward_hook(lambda mod, args, out: synthesized.append(out.shape[0]))
    try:
        for k in (0, 31, 5, 32, 38, 39):
            assert np.array_equal(pixels(ex.interp(rel, 0, 1, k, frames)), want[k, 0].numpy()), f"frame {k}"
    finally:
        hook.remove()
    assert rendered == [(0, 32), (32, 7), (39, 1)]  # frames 31 and 5 came from the kept first batch
    assert synthesized == [32, 7, 1]  # never more than the batch holding the frame
    ex.interp(rel, 0, 1, 3, frames, noise_mode="random")
    ex.interp(rel, 0, 1, 3, frames, noise_mode="random")
    assert rendered[-2:] == [(0, 32), (0, 32)]  # random noise is drawn again, never kept


def test_info_says_what_each_model_can_do(runs, ex):
    _, rels = runs
    sg2 = ex.info(rels["sg2"])
    assert sg2["path"] == rels["sg2"] and sg2["run"] == rels["sg2"].split("/")[0]
    assert sg2["kind"] == "generator" and sg2["num_classes"] == 3 and sg2["class_names"] == ["class0", "class1", "class2"]
    assert sg2["style"] is True and sg2["noise"] is True and sg2["num_ws"] == 6
    assert sg2["style_groups"] == {"coarse": [0, 1], "middle": [2, 3], "fine": [4, 5]}
    assert sg2["noise_modes"] == ["const", "random", "none"] and sg2["z_dim"] == ex.load(rels["sg2"]).net.z_dim
    assert sg2["resolution"] == 16 and sg2["recipe"] and sg2["kimg"] is not None
    sg3 = ex.info(rels["sg3"])
    assert sg3["style"] is True and sg3["noise"] is False and sg3["noise_modes"] == []
    dcgan = ex.info(rels["dcgan"])
    assert dcgan["style"] is False and dcgan["num_ws"] is None and dcgan["style_groups"] is None
    assert dcgan["num_classes"] == 0 and dcgan["noise_modes"] == []
    p2p = ex.info(rels["p2p"])
    assert p2p["kind"] == "translator" and p2p["directions"] == ["AtoB"] and p2p["z_dim"] is None


# ------------------------------------------------------------------------------------------------
# Refusals: parameters, paths, kinds.


@pytest.mark.parametrize("parse,params,needle", [
    (parse_image_args, {"seed": "-1"}, "seed must be an integer >= 0 and <= 4294967295, got -1"),
    (parse_image_args, {"seed": "4294967296"}, "got 4294967296"),
    (parse_image_args, {"seed": "abc"}, "seed must be an integer >= 0 and <= 4294967295, got 'abc'"),
    (parse_image_args, {"psi": "nan"}, "bad truncation psi 'nan' (psi): expected a finite number from -100 to 100"),
    (parse_image_args, {"psi": "1e9"}, "'1e9' (psi)"),
    (parse_image_args, {"psi": "inf"}, "'inf' (psi)"),
    (parse_image_args, {"class": "-2"}, "class must be an integer >= 0, got -2"),
    (parse_image_args, {"class": "x"}, "class must be an integer >= 0, got 'x'"),
    (parse_image_args, {"noise": "loud"}, "unknown noise mode 'loud'; valid choices: random, const, none (noise)"),
    (parse_mix_args, {"cols": "1"}, "rows: missing; give 1 to 8 seeds"),
    (parse_mix_args, {"rows": "1", "cols": "0-20"}, "cols '0-20': 21 seeds; give 1 to 8 seeds"),
    (parse_mix_args, {"rows": "a-b", "cols": "1"}, "bad rows 'a-b': expected numbers and ranges"),
    (parse_mix_args, {"rows": "1", "cols": "1", "styles": "x" * 300}, "styles 'xxxx"),
    (parse_interp_args, {"frames": "1"}, "frames must be an integer >= 2 and <= 256, got 1"),
    (parse_interp_args, {"frames": "257"}, "frames must be an integer >= 2 and <= 256, got 257"),
    (parse_interp_args, {"frames": "16", "frame": "16"}, "frame must be an integer >= 0 and <= 15, got 16"),
    (parse_interp_args, {"space": "q"}, "unknown interpolation space 'q'; valid choices: w, z (space)"),
    (parse_interp_args, {"a": "-5"}, "a must be an integer >= 0 and <= 4294967295, got -5"),
])
def test_every_bad_parameter_is_one_400_naming_the_value(parse, params, needle):
    e = refused(parse, params)
    assert e.status == 400 and needle in e.message


def test_parameters_have_defaults():
    assert parse_image_args({}) == {"seed": 0, "psi": 1.0, "class_idx": None, "noise_mode": None}
    assert parse_image_args({"seed": " 12 ", "psi": "0.5", "class": "", "noise": "none"}) == {
        "seed": 12, "psi": 0.5, "class_idx": None, "noise_mode": "none"}
    assert parse_interp_args({"frames": "8", "frame": "7", "space": "z"}) == {
        "a": 0, "b": 1, "frame": 7, "frames": 8, "psi": 1.0, "space": "z", "class_idx": None, "noise_mode": None}


@pytest.mark.parametrize("name,call,needle", [
    ("sg2", lambda ex, rel: ex.image(rel, 0, class_idx=3), "class 3 out of range: model '{rel}' has classes 0..2"),
    ("dcgan", lambda ex, rel: ex.image(rel, 0, class_idx=0), "class 0: model '{rel}' is unconditional"),
    ("dcgan", lambda ex, rel: ex.image(rel, 0, psi=0.5), "psi 0.5: model '{rel}'"),
    ("dcgan", lambda ex, rel: ex.image(rel, 0, noise_mode="random"), "noise random: model '{rel}'"),
    ("sg3", lambda ex, rel: ex.image(rel, 0, noise_mode="random"), "has no noise inputs"),
    ("sg2", lambda ex, rel: ex.mix(rel, [1], [2], "7"), "styles '7': expected coarse, middle, fine"),
    ("sg2", lambda ex, rel: ex.mix(rel, [1], [2], "coarse,9-3"), "within 0..5"),
    ("dcgan", lambda ex, rel: ex.mix(rel, [1], [2]), "is not style-based; style mixing needs"),
    ("dcgan", lambda ex, rel: ex.interp(rel, 0, 1, 0), "is not style-based; interpolation needs"),
    ("sg2", lambda ex, rel: ex.interp(rel, 0, 1, 4, 4), "frame must be an integer >= 0 and <= 3, got 4"),
])
def test_what_the_model_cannot_do_is_a_400(runs, ex, name, call, needle):
    rel = runs[1][name]
    e = refused(call, ex, rel)
    assert e.status == 400 and needle.format(rel=rel) in e.message


def test_a_model_of_the_other_kind_names_the_page_that_takes_it(runs, ex):
    _, rels = runs
    e = refused(ex.image, rels["p2p"], 0)
    assert e.status == 400 and "is an image-to-image translator" in e.message and "/api/translate" in e.message
    e = refused(ex.mix, rels["p2p"], [0], [1])
    assert e.status == 400 and "style mixing needs a generator of images from noise" in e.message
    e = refused(ex.translate, rels["sg2"], png_of(np.zeros((16, 16), np.uint8)))
    assert e.status == 400 and "is a generator of images from noise" in e.message and "/api/image" in e.message


def test_paths_outside_the_runs_folder_are_403_and_missing_ones_404(runs, ex, tmp_path):
    root, rels = runs
    for rel in ("../x.safetensors", f"{rels['sg2'].split('/')[0]}/../../etc/passwd", "/etc/passwd",
                "a\\b.safetensors"):
        assert refused(ex.image, rel, 0).status == 403, rel
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(root / rels["dcgan"], outside / WEIGHTS)
    (root / "link").symlink_to(outside)
    try:
        e = refused(ex.image, f"link/{WEIGHTS}", 0)
        assert e.status == 403 and "outside the runs folder" in e.message
    finally:
        (root / "link").unlink()
    assert refused(ex.image, "nope/generator.safetensors", 0).status == 404
    e = refused(ex.image, f"{rels['sg2'].split('/')[0]}/config.json", 0)
    assert e.status == 400 and "expected a .safetensors export" in e.message
    assert ex.info(rels["sg2"].split("/")[0])["path"] == rels["sg2"].split("/")[0]  # a run folder: its export


def test_a_broken_model_file_is_a_400_without_the_absolute_path(runs, ex):
    root, _ = runs
    (root / "broken").mkdir(exist_ok=True)
    (root / "broken" / WEIGHTS).write_bytes(b"not safetensors at all")
    e = refused(ex.image, f"broken/{WEIGHTS}", 0)
    assert e.status == 400 and "cannot read model weights" in e.message and str(root) not in e.message


def test_the_work_of_one_request_is_bounded(runs, ex, monkeypatch):
    rel = runs[1]["sg2"]
    monkeypatch.setattr(explore, "MAX_REQUEST_PIXELS", 16 * 16 * 8)
    e = refused(ex.mix, rel, [1, 2], [3, 4])  # 3 x 3 images of 16 x 16
    assert e.status == 400 and "9 images of 16x16 pixels is more than the 2048 pixels" in e.message
    assert len(ex.mix(rel, [1], [2, 3, 4])) > 0  # 2 x 4 = 8 images fit


# ------------------------------------------------------------------------------------------------
# Uploads.


def png_of(arr: np.ndarray, fmt: str = "PNG", **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,ext,shape", [("PNG", "png", (16, 16)), ("PNG", "png", (20, 30, 3)),
                                           ("BMP", "bmp", (9, 12)), ("WEBP", "webp", (16, 16, 3))])
def test_translate_is_what_ganforge_translate_writes(runs, ex, tmp_path, fmt, ext, shape):
    root, rels = runs
    arr = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = png_of(arr, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / f"x.{ext}").write_bytes(data)
    (tmp_path / "in" / "x.png").write_bytes(data) if ext != "png" else None
    assert main(["translate", "--model", str(root / rels["p2p"]), "--input", str(tmp_path / "in"), "--out",
                 str(tmp_path / "out"), "--device", "cpu"]) == 0
    got = ex.translate(rels["p2p"], data)
    assert got == (tmp_path / "out" / "x.png").read_bytes()  # the same image written as a .png by the command
    assert pixels(got).shape[:2] == (16, 16)
    e = refused(ex.translate, rels["p2p"], data, direction="BtoA")
    assert e.status == 400 and "direction 'BtoA'" in e.message and "valid choices: AtoB" in e.message


def _big_png(w: int, h: int) -> bytes:
    """A small file declaring a w x h image (a decompression bomb when large)."""
    return png_of(np.zeros((h, w), np.uint8), optimize=True)


@pytest.mark.parametrize("data,status,needle", [
    (b"", 415, "empty upload: send a PNG, JPEG, WebP or BMP image"),
    (b"hello, not an image", 415, "is not a PNG, JPEG, WebP or BMP image; accepted formats: PNG, JPEG, WebP, BMP"),
    (png_of(np.zeros((8, 8), np.uint8), "GIF"), 415, "accepted formats: PNG, JPEG, WebP, BMP"),
    (png_of(np.zeros((8, 8), np.uint8), "TIFF"), 415, "accepted formats"),
    (png_of(np.full((64, 64), 7, np.uint8))[:60], 415, "cannot be decoded"),
    (b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD_BYTES), 413, f"bytes: at most {MAX_UPLOAD_BYTES} bytes"),
    (_big_png(4097, 1), 413, "upload of 4097x1 pixels: images of at most 4096x4096 pixels"),
    (_big_png(6000, 6000), 413, "upload of "),
])
def test_uploads_are_bounded_before_a_model_is_loaded(runs, data, status, needle):
    ex = Explorer(runs[0])
    e = refused(ex.translate, runs[1]["p2p"], data)
    assert e.status == status and needle in e.message
    assert ex.cached() == []


def test_an_upload_of_4096_pixels_a_side_is_read(runs):
    arr = explore.read_upload(_big_png(4096, 2))
    assert arr.shape == (2, 4096, 1)
    jpeg = png_of(np.full((10, 12, 3), 200, np.uint8), "JPEG")
    assert explore.read_upload(jpeg).shape == (10, 12, 3)


# ------------------------------------------------------------------------------------------------
# The queue.


def test_a_full_queue_is_503_while_the_running_request_completes(runs):
    ex = Explorer(runs[0], max_pending=1)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        assert release.wait(10)
        return "slow done"

    async def main_():
        results = {}

        async def first():
            results["first"] = await ex.run(slow)

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            with anyio.fail_after(10):
                while not started.is_set():
                    await anyio.sleep(0.01)
            # the loop is free while the first request renders: this coroutine runs
            with pytest.raises(StudioError) as info:
                await ex.run(lambda: "second")
            results["second"] = info.value
            assert ex.pending == 1
            release.set()
        return results

    results = anyio.run(main_)
    assert results["first"] == "slow done"
    assert results["second"].status == 503
    assert results["second"].message == "busy: 1 image requests are queued; try again"
    assert ex.pending == 0
    assert anyio.run(ex.run, lambda: "later") == "later"  # the slot is free again


def test_queued_requests_wait_and_render_one_at_a_time(runs):
    ex = Explorer(runs[0], max_pending=3)
    active, peak, order = [0], [0], []
    lock = threading.Lock()

    def work(name):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        order.append(name)
        return name

    async def main_():
        out = []

        async def one(name):
            out.append(await ex.run(work, name))

        ticks = 0
        async with anyio.create_task_group() as tg:
            for name in ("a", "b", "c"):
                tg.start_soon(one, name)
            while len(out) < 3:  # the event loop keeps running meanwhile
                ticks += 1
                await anyio.sleep(0.005)
        return out, ticks

    out, ticks = anyio.run(main_)
    assert sorted(out) == ["a", "b", "c"] and peak[0] == 1 and ticks > 5


def test_a_library_error_in_the_worker_reaches_the_caller(runs):
    ex = Explorer(runs[0])
    e = anyio.run(lambda: _catch(ex.run(ex.image, runs[1]["dcgan"], 0, psi=0.5)))
    assert isinstance(e, StudioError) and e.status == 400 and ex.pending == 0


async def _catch(coro):
    try:
        await coro
    except Exception as e:  # noqa: BLE001
        return e
    return None


# ------------------------------------------------------------------------------------------------
# The model cache.


def test_the_cache_holds_at_most_max_models_least_recently_used_dropped(runs):
    _, rels = runs
    ex = Explorer(runs[0], max_models=2)
    first = ex.load(rels["sg2"]).net
    ex.load(rels["dcgan"])
    assert ex.load(rels["sg2"]).net is first  # a hit: the same network, now the most recent
    ex.load(rels["sg3"])
    assert ex.cached() == [rels["sg2"], rels["sg3"]]
    ex.load(rels["dcgan"])
    assert ex.cached() == [rels["sg3"], rels["dcgan"]]
    assert ex.load(rels["sg2"]).net is not first  # dropped before, loaded again


def test_a_reexported_file_is_loaded_again(runs):
    root, rels = runs
    (root / "copy").mkdir(exist_ok=True)
    target = root / "copy" / WEIGHTS
    shutil.copy(root / rels["dcgan"], target)
    ex = Explorer(root, max_models=4)
    rel = f"copy/{WEIGHTS}"
    a = ex.load(rel).net
    assert ex.load(rel).net is a and ex.info(rel)["style"] is False
    st = os.stat(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same bytes, newer file: reloaded
    b = ex.load(rel).net
    assert b is not a and ex.cached() == [rel]
    shutil.copy(root / rels["sg2"], target)  # another model under the same name
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert ex.info(rel)["style"] is True and ex.cached() == [rel]
    assert ex.image(rel, 4) == ex.image(rels["sg2"], 4)


def test_loaded_models_are_in_eval_mode_without_gradients(runs, ex):
    net = ex.load(runs[1]["sg2"]).net
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert torch.is_inference_mode_enabled() is False  # nothing left switched on after a render
