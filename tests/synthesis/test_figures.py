"""ganforge.synthesis.figures and .files called from Python: each style tool's files, the same bytes as
its command writes, the checks before any work, and a figure's files written all or nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge.api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.families.stylegan2.networks import Generator
from ganforge.synthesis import figures, style
from ganforge.synthesis.files import output_paths, png_writer, write_all


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=1, mapping_kwargs={"num_layers": 2},
                  channel_base=256, channel_max=16).eval()
    with torch.no_grad():  # a w average away from zero, as after training
        G.mapping.w_avg.normal_()
    return G


@pytest.fixture
def cli_loads(monkeypatch, G):
    """`--model anything` loads ``G``."""
    monkeypatch.setattr(ganforge.api, "load_generator", lambda path, device="cpu": G)


def test_truncation_and_mixing_write_what_their_commands_write(G, tmp_path, cli_loads, capsys):
    done = figures.write_truncation_sweep(G, "0-2", tmp_path / "lib", psis=[1, 0])
    assert [p.name for p in done.paths] == ["truncation.png"]
    assert main(["truncation", "--model", "m", "--seeds", "0-2", "--psi", "1,0", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "lib" / "truncation.png").read_bytes() == (tmp_path / "cli" / "truncation.png").read_bytes()
    grid = style.truncation_sweep(G, [0, 1, 2], [1.0, 0.0])  # the picture, enlarged 4 times (32 px model)
    assert np.array_equal(np.asarray(Image.open(done.paths[0])), grid[0].repeat_interleave(4, 0)
                          .repeat_interleave(4, 1).numpy())

    done = figures.write_style_mixing(G, [0, 1], range(10, 12), tmp_path / "lib", styles="coarse,fine")
    assert [p.name for p in done.paths] == ["mix-coarse+fine.png"] and done.layers == [0, 1, 2, 3, 6, 7]
    assert main(["mix", "--model", "m", "--rows", "0,1", "--cols", "10-11", "--styles", "coarse,fine", "--out",
                 str(tmp_path / "cli")]) == 0
    assert "layers 0,1,2,3,6,7 from the column seeds" in capsys.readouterr().out
    assert done.paths[0].read_bytes() == (tmp_path / "cli" / "mix-coarse+fine.png").read_bytes()


def test_variation_and_interpolation(G, tmp_path):
    done = figures.write_variation(G, 3, tmp_path, draws=3)
    assert [p.name for p in done.paths] == ["variation-seed3.png", "variation-seed3-std.png"]
    done = figures.write_interpolation(G, "0,1", tmp_path, frames=3, fps=10)
    assert [p.name for p in done.paths] == ["interp-w-0_1.gif", "interp-w-0_1-strip.png"] and done.frames == 4
    with Image.open(done.paths[0]) as im:
        assert im.n_frames == 4
    done = figures.write_interpolation(G, [5, 6], tmp_path, frames=2, space="z", loop=True)
    assert done.paths[0].name == "interp-z-5-6.gif" and done.frames == 4  # a list is named by its ranges


def test_projection_from_an_array(G, tmp_path):
    target = np.full((40, 40, 1), 128, np.uint8)  # cropped to the model's 32 px
    done = figures.write_projection(G, target, tmp_path, name="face.png", steps=3, progress=False)
    assert [p.name for p in done.paths] == ["face-w-latent.npz", "face-w-projected.png", "face-w-compare.png",
                                            "face-w-progress.gif"]
    assert len(done.projection.losses) == 3
    with np.load(done.paths[0]) as z:
        assert z["ws"].shape == (1, G.num_ws, G.w_dim)


def test_checks_before_any_work(G, tmp_path):
    out = tmp_path / "never"
    for call, needle in (
        (lambda: figures.write_style_mixing(G, "0-99", "0-99", out), "= 10201 images; a grid holds at most 4096"),
        (lambda: figures.write_truncation_sweep(G, "0-999", out, psis=[1] * 5), "1000 rows x 5 columns"),
        (lambda: figures.write_variation(G, 0, out, draws=1), "--draws must be >= 2"),
        (lambda: figures.write_interpolation(G, [0], out), "at least two seeds"),
        (lambda: figures.write_interpolation(G, [0, 1], out, fps=0), "--fps must be an integer >= 1"),
        (lambda: figures.write_truncation_sweep(G, [0], out, noise_mode="loud"), "unknown noise mode 'loud'"),
        (lambda: figures.write_projection(G, np.zeros((8, 8, 1), np.uint8), out, steps=0), "--steps must be"),
        (lambda: figures.write_truncation_sweep(torch.nn.Linear(1, 1), [0], out), "needs a style-based generator"),
    ):
        with pytest.raises(GanforgeError, match=needle):
            call()
    assert not out.exists()


def test_a_figure_is_written_all_or_nothing(tmp_path):
    img = torch.zeros(1, 4, 4, dtype=torch.uint8)
    (tmp_path / "old.png").write_bytes(b"old")
    first, old, third = output_paths(tmp_path, ["first.png", "old.png", "third.png"], overwrite=True)

    def full_disk(path, overwrite):
        raise GanforgeError(f"cannot write {path}: no space left on device")

    with pytest.raises(GanforgeError, match=r"removed first\.png written before it.*old\.png already replaced"):
        write_all([(first, png_writer(img)), (old, png_writer(img)), (third, full_disk)], overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]  # the new old.png: complete
    with pytest.raises(GanforgeError, match=r"old\.png already exists; pass --overwrite"):
        output_paths(tmp_path, ["old.png"], overwrite=False)
