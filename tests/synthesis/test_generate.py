"""ganforge.synthesis.generate called from Python: the files ``ganforge generate`` writes (the same bytes),
grids and class grids, the checks before the model and before the folder, and seeds given as text, a
range or a list."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge.api
from ganforge.args import Seeds, parse_classes
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.synthesis.generate import (CLASS_GRID_NAME, GRID_NAME, check_generate_options, existing_outputs,
                                         generate_images, latent_batches)


class PixelModel(torch.nn.Module):
    """A 1x8x8 generator without weights: pixels from z, plus a brightness step per class if conditional."""

    def __init__(self, num_classes=0):
        super().__init__()
        self.z_dim, self.num_classes, self.img_channels, self.img_resolution = 4, num_classes, 1, 8

    def forward(self, z, c=None):
        x = torch.tanh(z.repeat_interleave(16, dim=1).view(-1, 1, 8, 8) / 2) * 0.6
        if c is not None:
            x = x + 0.2 * (c.view(-1, 1, 1, 1).float() - 1)
        return x


def pixels(path):
    return np.asarray(Image.open(path))


def test_one_file_per_seed_as_the_command_writes_them(tmp_path, monkeypatch, capsys):
    G = PixelModel()
    done = generate_images(G, [3, 0, 1, 3], tmp_path / "lib", progress=False)
    assert done.grid is None and done.written == 3 and done.out == tmp_path / "lib"  # seed 3 once
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == ["seed0000.png", "seed0001.png", "seed0003.png"]
    monkeypatch.setattr(ganforge.api, "load_generator", lambda path, device="cpu": G)
    assert main(["generate", "--model", "m", "--seeds", "0,1,3", "--out", str(tmp_path / "cli")]) == 0
    assert "wrote 3 images" in capsys.readouterr().out
    for name in ("seed0000.png", "seed0001.png", "seed0003.png"):
        assert (tmp_path / "lib" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


def test_a_seed_names_one_image_whatever_is_generated_with_it(tmp_path):
    G = PixelModel()
    alone = generate_images(G, [5], tmp_path / "a", progress=False)
    batched = generate_images(G, "0-7", tmp_path / "b", batch_size=4, progress=False)
    assert alone.written == 1 and batched.written == 8
    assert np.abs(pixels(tmp_path / "a" / "seed0005.png").astype(int)
                  - pixels(tmp_path / "b" / "seed0005.png").astype(int)).max() <= 1
    (chunk, z, c), = latent_batches(G, [5], 1)
    (_, z8, _), = latent_batches(G, range(8), 8)
    assert chunk == [5] and c is None and torch.equal(z[0], z8[5])


def test_grid_and_class_grid(tmp_path):
    done = generate_images(PixelModel(), range(6), tmp_path, grid=True, progress=False)
    assert done.grid == tmp_path / GRID_NAME and done.count == 6 and done.written == 0
    assert pixels(done.grid).shape == (((8 + 2) * 2 + 2) * 8, ((8 + 2) * 3 + 2) * 8)  # 2 x 3 cells, 8 times larger
    G = PixelModel(num_classes=3)
    done = generate_images(G, [0, 1], tmp_path, class_grid=True, classes="2,0", progress=False)
    assert done.grid == tmp_path / CLASS_GRID_NAME and done.rows == [2, 0] and done.cols == 2 and done.count == 4
    scale = 64 // 8
    im = pixels(done.grid)
    assert im.shape == (((8 + 2) * 2 + 2) * scale, ((8 + 2) * 2 + 2) * scale)
    cell = lambda r, c: im[(2 + r * 10) * scale:(2 + r * 10 + 8) * scale, (2 + c * 10) * scale:][:, :8 * scale]  # noqa: E731
    assert cell(0, 0).mean() > cell(1, 0).mean()  # class 2 is brighter than class 0: the rows differ by class
    done = generate_images(G, [0, 1], tmp_path / "all", class_grid=True, progress=False)
    assert done.rows == [0, 1, 2]


def test_checks_come_before_the_model_and_the_folder(tmp_path):
    out = tmp_path / "never"
    for kwargs, needle in (
        (dict(classes=[1]), "--classes chooses the rows of --class-grid"),
        (dict(grid=True, class_grid=True), "--grid and --class-grid cannot be combined"),
        (dict(class_grid=True, class_idx=1), "--class 1 and --class-grid cannot be combined"),
        (dict(class_grid=True, classes="x"), "bad --classes 'x'"),
    ):
        with pytest.raises(GanforgeError, match=needle):
            check_generate_options("0-3", **kwargs)
    assert check_generate_options(range(4), class_grid=True, classes="0-2,7") == [0, 1, 2, 7]
    with pytest.raises(GanforgeError, match=r"--grid with 5000 seeds \('0-4999'\): a grid holds at most 4096"):
        check_generate_options("0-4999", grid=True)
    with pytest.raises(GanforgeError, match=r"--grid with 5000 seeds \('0-4999'\)"):
        check_generate_options(range(5000), grid=True)  # a range is shown as the text that would give it
    for kwargs, needle in (
        (dict(psi=0.5), "needs a style-based generator"),
        (dict(class_idx=0), "--class 0 given but the model is unconditional"),
        (dict(class_grid=True), "--class-grid needs a class-conditional model"),
        (dict(batch_size=0), "--batch-size must be an integer >= 1"),
        (dict(z_trunc=0.0), "--z-trunc must be a number >= 0.05 and <= 100"),
        (dict(psi=float("nan")), "bad truncation psi"),
    ):
        with pytest.raises(GanforgeError, match=needle):
            generate_images(PixelModel(), [0], out, progress=False, **kwargs)
    with pytest.raises(GanforgeError, match="--classes 5 out of range"):
        generate_images(PixelModel(3), [0], out, class_grid=True, classes=[5], progress=False)
    with pytest.raises(GanforgeError, match="seeds must be an integer >= 0"):
        generate_images(PixelModel(), [-1], out, progress=False)
    assert not out.exists()


def test_existing_files_are_kept_without_overwrite(tmp_path):
    (tmp_path / "seed0002.png").write_bytes(b"mine")
    (tmp_path / "seed02.png").write_bytes(b"not an output name")
    assert existing_outputs(tmp_path, Seeds.of("0-4294967295")) == [tmp_path / "seed0002.png"]
    with pytest.raises(GanforgeError, match=r"1 output file\(s\) already exist, e\.g\. .*seed0002\.png"):
        generate_images(PixelModel(), "0-3", tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0002.png", "seed02.png"]
    assert generate_images(PixelModel(), "0-3", tmp_path, overwrite=True, progress=False).written == 4
    assert (tmp_path / "seed0002.png").read_bytes()[:4] == b"\x89PNG"


def test_seeds_from_python_and_class_lists():
    assert Seeds.of([3, 4, 5, 9]).text == "3-5,9" and list(Seeds.of([3, 4, 5, 9])) == [3, 4, 5, 9]
    assert Seeds.of(range(2**32)).text == "0-4294967295" and len(Seeds.of(range(2**32))) == 2**32
    assert Seeds.of(" 1, 2").text == " 1, 2"  # parsed text is kept as given, for messages and file names
    with pytest.raises(GanforgeError, match="seeds must be an integer >= 0 and <= 4294967295, got 4294967296"):
        Seeds.of(range(2**32 + 1))
    assert parse_classes("0-2,7") == [0, 1, 2, 7]
    with pytest.raises(GanforgeError, match="a grid holds at most 4096 rows"):
        parse_classes("0-4096")


def test_generate_images_refuses_what_is_not_a_noise_generator(tmp_path):
    import torch

    from ganforge.errors import GanforgeError
    from ganforge.synthesis.generate import generate_images

    with pytest.raises(GanforgeError, match=r"G \(Linear\) is not a generator: it lacks z_dim, num_classes"):
        generate_images(torch.nn.Linear(2, 2), "0-1", tmp_path / "out")
    assert not (tmp_path / "out").exists()
