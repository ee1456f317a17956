"""The StyleGAN3 tools: generate --translate/--rotate, ganforge video, and every style tool on an alias-free
model (variation refused: StyleGAN3 has no noise inputs).

Most tests use a one-step stylegan3-t-tiny run (16 px, fast); the pixel-shift test uses the official
config-T reference generator of /work/shared/anchors (32 px), whose output moves by exactly the asked
number of pixels in the interior, up to the small aliasing StyleGAN3 leaves (measured max 1e-3 on the
[-1, 1] output; tolerance 5e-3, 6 px border excluded, where torch.roll wraps around).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.interfaces import input_transform
from ganforge.synthesis import motion, style
from ganforge.synthesis.generate import generate_images

ANCHOR = Path("/work/shared/anchors/stylegan3-official/sg3t-32gray")
EYE = torch.eye(3)


@pytest.fixture(scope="module")
def G3(sg3_run):
    return ganforge.load_generator(sg3_run)


def png(path) -> np.ndarray:
    return np.array(Image.open(path))


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------------ translate / rotate


@pytest.mark.skipif(not ANCHOR.with_suffix(".json").exists(), reason="the official StyleGAN3 anchors are not here")
def test_translating_by_whole_pixels_moves_the_picture_by_that_many_pixels():
    from safetensors.torch import load_file

    from ganforge.families.stylegan3.networks import Generator

    kwargs = json.loads(ANCHOR.with_suffix(".json").read_text())["G_kwargs"]
    G = Generator(**kwargs).eval()
    G.load_state_dict({k.removeprefix("G_ema."): v for k, v in load_file(ANCHOR.with_suffix(".safetensors")).items()})
    res = G.img_resolution
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), None)
    dx, dy, m = 3, -2, 6
    with torch.no_grad():
        base = G.synthesis(ws)[0]
        with motion.moved_input(G, motion.input_matrix((dx / res, dy / res), 0.0)):
            moved = G.synthesis(ws)[0]
    expected = torch.roll(base, shifts=(dy, dx), dims=(1, 2))  # x right, y down, as documented
    error = (moved - expected)[:, m:-m, m:-m].abs().max()
    assert error < 5e-3
    assert (moved - base)[:, m:-m, m:-m].abs().max() > 20 * error  # it did move
    assert torch.equal(input_transform(G), EYE)


def test_zero_motion_gives_the_plain_images_and_the_transform_is_restored(G3, tmp_path):
    plain = generate_images(G3, "0-1", tmp_path / "plain", progress=False)
    still = generate_images(G3, "0-1", tmp_path / "still", translate="0,0", rotate=0, progress=False)
    turned = generate_images(G3, "0-1", tmp_path / "turned", rotate=90, translate=(0.1, 0), progress=False)
    assert plain.written == still.written == turned.written == 2
    for name in ("seed0000.png", "seed0001.png"):
        assert np.array_equal(png(tmp_path / "plain" / name), png(tmp_path / "still" / name))
        assert not np.array_equal(png(tmp_path / "plain" / name), png(tmp_path / "turned" / name))
    assert torch.equal(input_transform(G3), EYE)


def test_the_matrix_is_the_inverse_of_official_make_transform_and_restored_after_an_error(G3):
    from ganforge.families.stylegan3.networks import make_transform

    official = np.linalg.inv(make_transform((0.3, -0.2), np.radians(30)))
    assert np.allclose(motion.input_matrix((0.3, -0.2), 30).numpy(), official, atol=1e-6)
    assert torch.equal(motion.input_matrix(), EYE)
    with pytest.raises(RuntimeError, match="boom"), motion.moved_input(G3, motion.input_matrix((0.5, 0), 45)):
        assert not torch.equal(input_transform(G3), EYE)
        raise RuntimeError("boom")
    assert torch.equal(input_transform(G3), EYE)


@pytest.mark.parametrize("value", ["1", "a,b", "nan,0", "0,inf", "17,0", "1,2,3", ""])
def test_bad_translate_values_are_refused_naming_the_value(value):
    with pytest.raises(GanforgeError, match="bad --translate"):
        motion.parse_translate(value)


# ------------------------------------------------------------------------------------------------ video


def test_video_frames_start_at_the_generated_image_and_leave_the_transform_alone(G3, tmp_path):
    generate_images(G3, [0], tmp_path, progress=False)
    frames = motion.motion_frames(G3, [0], motion="rotate", frames=5)
    assert frames.shape == (5, G3.img_channels, G3.img_resolution, G3.img_resolution) and frames.dtype == torch.uint8
    assert np.array_equal(frames[0, 0].numpy(), png(tmp_path / "seed0000.png"))
    assert not torch.equal(frames[0], frames[1])
    grid = motion.motion_frames(G3, [0, 1, 2, 3], motion="translate", frames=3, radius=0.1)
    side = 2 * (G3.img_resolution + 2) + 2  # 2 x 2 seeds with make_grid's 2-px gaps
    assert grid.shape == (3, G3.img_channels, side, side)
    assert np.array_equal(grid[0, 0, 2:2 + G3.img_resolution, 2:2 + G3.img_resolution].numpy(),
                          png(tmp_path / "seed0000.png"))
    assert torch.equal(input_transform(G3), EYE)


def test_motion_path_is_a_full_turn_or_a_circle_through_the_start():
    turn = motion.motion_path("rotate", 4)
    assert [r for _, r in turn] == [0.0, 90.0, 180.0, 270.0] and all(t == (0.0, 0.0) for t, _ in turn)
    circle = motion.motion_path("translate", 4, radius=0.5)
    assert np.allclose([t for t, _ in circle], [(0, 0), (-0.5, 0.5), (-1, 0), (-0.5, -0.5)])


def test_video_cli_writes_a_readable_gif(sg3_run, tmp_path, capsys):
    out = tmp_path / "sub" / "turn.gif"
    code, printed, err = run_cli(["video", "--model", str(sg3_run), "--out", str(out), "--seeds", "0-1",
                                  "--frames", "6", "--fps", "12"], capsys)
    assert code == 0, err
    assert "6 frames" in printed
    with Image.open(out) as im:
        assert im.n_frames == 6
        width, height = im.size
    scale = 128 // 16
    assert (width, height) == ((2 * 18 + 2) * scale, (18 + 2) * scale)
    code, _, err = run_cli(["video", "--model", str(sg3_run), "--out", str(out), "--frames", "2"], capsys)
    assert code == 2 and "already exists; pass --overwrite" in err


def test_mp4_without_imageio_ffmpeg_is_refused_before_the_model_is_loaded(sg3_run, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a))

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the mp4 writer was checked")

    monkeypatch.setattr("ganforge.commands._common.load_model", no_load)
    out = tmp_path / "turn.mp4"
    code, _, err = run_cli(["video", "--model", str(sg3_run), "--out", str(out)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "imageio-ffmpeg" in err and "ganforge[video]" in err
    assert not out.exists()


def test_video_memory_bound():
    class Big:
        img_resolution, img_channels = 1024, 3

    with pytest.raises(GanforgeError, match="MiB of frames"):
        motion.check_video_memory(Big(), 4, 1000)
    assert motion.check_video_memory(Big(), 1, 10) == 10 * 3 * 1024 * 1024


# ------------------------------------------------------------------------------------------------ hostile values


BAD = [
    (["generate", "--translate", "1"], "bad --translate '1'"),
    (["generate", "--translate", "a,b"], "bad --translate 'a,b'"),
    (["generate", "--translate", "nan,0"], "bad --translate 'nan,0'"),
    (["generate", "--translate", "0,40"], "within +-16 image widths"),
    (["generate", "--rotate", "nan"], "--rotate must be a finite number of degrees, got nan"),
    (["generate", "--noise-mode", "random"], "--noise-mode random: this model ('stylegan3-t') has no noise inputs"),
    (["variation"], "has none (StyleGAN3 removed them)"),
    (["video", "--out", "{out}/v.avi"], "must end in .gif or .mp4"),
    (["video", "--out", "{out}/v.gif", "--frames", "0"], "--frames must be an integer >= 1 and <= 4096, got 0"),
    (["video", "--out", "{out}/v.gif", "--fps", "1000"], "--fps must be an integer >= 1 and <= 100, got 1000"),
    (["video", "--out", "{out}/v.gif", "--motion", "zoom"], "unknown motion 'zoom'"),
    (["video", "--out", "{out}/v.gif", "--motion", "translate", "--degrees", "90"], "--motion translate takes --radius"),
    (["video", "--out", "{out}/v.gif", "--radius", "0.1"], "--motion rotate takes --degrees"),
    (["video", "--out", "{out}/v.gif", "--motion", "translate", "--radius", "0"], "--radius must be a finite number > 0"),
    (["video", "--out", "{out}/v.gif", "--degrees", "inf"], "--degrees must be a finite number of degrees"),
    (["video", "--out", "{out}/v.gif", "--seeds", "0-300"], "a video frame tiles at most 256"),
    (["video", "--out", "{out}/v.gif", "--trunc-cutoff", "99"], "--trunc-cutoff 99 out of range"),
    (["video", "--out", "{out}/v.gif", "--class", "2"], "--class 2 given but the model is unconditional"),
]


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_values_exit_2_with_one_line_and_write_nothing(argv, needle, sg3_run, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a.format(out=out) for a in argv]
    if argv[0] != "video":
        argv += ["--out", str(out)]
    code, _, err = run_cli([argv[0], "--model", str(sg3_run), *argv[1:]], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert needle in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("argv,flag", [(["generate", "--translate", "0,0"], "--translate"),
                                       (["generate", "--rotate", "10"], "--rotate"),
                                       (["video", "--out", "{out}/v.gif"], "--motion rotate")])
def test_models_without_a_moving_input_are_refused_naming_the_option(argv, flag, sg2_run, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a.format(out=out) for a in argv]
    if argv[0] == "generate":
        argv += ["--out", str(out)]
    code, _, err = run_cli([argv[0], "--model", str(sg2_run), *argv[1:]], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{flag} needs a generator with a moving input, but this model is 'stylegan2" in err
    assert "only alias-free (StyleGAN3) generators have one" in err
    assert not out.exists()


# ------------------------------------------------------------------------------------------------ style tools


def test_style_groups_of_an_alias_free_model_are_thirds_of_its_style_inputs(G3):
    groups = style.style_groups(G3)
    n = G3.num_ws
    assert groups["coarse"] + groups["middle"] + groups["fine"] == list(range(n))
    assert all(groups.values())
    assert style.parse_styles("coarse", G3) == groups["coarse"]


def test_every_style_tool_works_on_a_stylegan3_model(sg3_run, tmp_path, capsys):
    model = ["--model", str(sg3_run)]
    target = tmp_path / "target.png"
    Image.fromarray((np.arange(256).reshape(16, 16)).astype(np.uint8), mode="L").save(target)
    runs = {
        "generate": ["generate", *model, "--seeds", "0-1", "--psi", "0.5", "--trunc-cutoff", "2", "--out",
                     str(tmp_path / "gen")],
        "truncation": ["truncation", *model, "--seeds", "0-1", "--psi", "1,0.5,0", "--out", str(tmp_path / "tr")],
        "mix": ["mix", *model, "--rows", "0-1", "--cols", "2-3", "--out", str(tmp_path / "mix")],
        "interpolate": ["interpolate", *model, "--seeds", "0,1", "--frames", "3", "--out", str(tmp_path / "int")],
        "project": ["project", str(target), *model, "--steps", "2", "--out", str(tmp_path / "proj")],
    }
    for name, argv in runs.items():
        code, _, err = run_cli(argv, capsys)
        assert code == 0, f"{name}: {err}"
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == ["seed0000.png", "seed0001.png"]
    assert (tmp_path / "tr" / "truncation.png").exists() and (tmp_path / "mix" / "mix-coarse.png").exists()
    assert (tmp_path / "int" / "interp-w-0_1.gif").exists()
    assert len(list((tmp_path / "proj").iterdir())) == 4


def test_video_on_a_full_disk_leaves_nothing_new_and_keeps_an_old_file(sg3_run, tiny_disk, capsys):
    """The video goes through the one atomic writer: on a real full disk (a tiny tmpfs) the command ends in
    one error naming the file, no partial file is left, and with --overwrite the old video is kept whole."""
    disk = tiny_disk(256 * 1024)
    out = disk.path / "turn.gif"
    argv = ["video", "--model", str(sg3_run), "--out", str(out), "--seeds", "0-1", "--frames", "6"]
    assert run_cli(argv, capsys)[0] == 0
    old = out.read_bytes()
    disk.fill()
    code, _, err = run_cli([*argv, "--frames", "8", "--overwrite"], capsys)
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in err
    assert out.read_bytes() == old and sorted(p.name for p in disk.path.iterdir()) == [".filler", "turn.gif"]
    new = disk.path / "new.gif"
    code, _, err = run_cli([*argv[:4], str(new), *argv[5:]], capsys)
    assert code == 2 and "No space left on device" in err and not new.exists()
