"""Latent-space tools on a small StyleGAN2: truncation, style mixing, stochastic variation,
interpolation, projection, and their CLI commands."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.families.stylegan2.networks import Generator
from ganforge.synthesis import style


def small_g(resolution=32, seed=0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=resolution, img_channels=1,
                  mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=16).eval()
    with torch.no_grad():  # a w average away from zero, as after training
        G.mapping.w_avg.normal_()
    return G


def grid_cells(grid: torch.Tensor, size: int = 32) -> torch.Tensor:
    """[C, H', W'] grid with 2-px gaps -> [C, rows, cols, size, size] cells."""
    return grid[:, 2:, 2:].unfold(1, size, size + 2).unfold(2, size, size + 2)


@pytest.fixture(scope="module")
def G():
    return small_g()


def test_psi_zero_gives_the_w_mean_image_for_every_seed(G):
    ws = style.seeds_to_ws(G, [0, 1, 2, 3], psi=0.0)
    assert torch.allclose(ws, G.mapping.w_avg.expand_as(ws))
    imgs = G.synthesis(ws, noise_mode="const")
    assert (imgs - imgs[:1]).abs().max() < 1e-5
    grid = style.truncation_sweep(G, [0, 1, 2], [1.0, 0.0])  # rows: seeds, columns: psi
    cells = grid_cells(grid)
    assert not torch.equal(cells[:, 0, 0], cells[:, 1, 0])  # psi 1: seeds differ
    assert torch.equal(cells[:, 0, 1], cells[:, 1, 1]) and torch.equal(cells[:, 1, 1], cells[:, 2, 1])


def test_style_groups_follow_the_paper_and_scale_down_for_small_models(G):
    assert G.layer_resolutions == [4, 4, 8, 8, 16, 16, 32, 32]
    assert style.style_groups(G) == {"coarse": [0, 1, 2, 3], "middle": [4, 5], "fine": [6, 7]}
    big = small_g(resolution=128)
    groups = style.style_groups(big)  # paper: coarse 4-8 px, middle 16-32, fine 64 and up
    assert [big.layer_resolutions[i] for i in groups["coarse"]] == [4, 4, 8, 8]
    assert {big.layer_resolutions[i] for i in groups["middle"]} == {16, 32}
    assert {big.layer_resolutions[i] for i in groups["fine"]} == {64, 128}
    assert style.parse_styles("coarse,fine", G) == [0, 1, 2, 3, 6, 7]
    assert style.parse_styles("0-2,5", G) == [0, 1, 2, 5]
    for bad in ("0-9", "huge", "3-1", ""):
        with pytest.raises(GanforgeError, match="--styles"):
            style.parse_styles(bad, G)


def test_mixing_grid_takes_exactly_the_chosen_layers_from_the_column_seed(G):
    rows, cols, layers = [0, 1], [5, 6, 7], [4, 5, 6, 7]
    grid = style.style_mixing_grid(G, rows, cols, layers)
    cells = grid_cells(grid)
    assert cells.shape[1:3] == (3, 4)  # header row + 2 rows; header column + 3 columns
    col_ws = style.seeds_to_ws(G, cols)
    row_ws = style.seeds_to_ws(G, rows)
    assert torch.equal(cells[:, 0, 1:].permute(1, 0, 2, 3), style.synthesize(G, col_ws))
    mixed = row_ws[1].clone()
    mixed[layers] = col_ws[2][layers]
    assert torch.equal(cells[:, 2, 3], style.synthesize(G, mixed[None])[0])
    # Mixing the fine layers leaves the coarse structure of the row seed: closer to it than the column seed.
    a = style.synthesize(G, row_ws[1:2]).float()
    b = style.synthesize(G, col_ws[2:3]).float()
    m = cells[:, 2, 3][None].float()
    assert (m - a).abs().mean() < (m - b).abs().mean()


def test_stochastic_variation_changes_only_the_noise(G):
    with torch.no_grad():  # make noise visible: the initial strengths are 0
        for name, p in G.synthesis.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    imgs, std = style.stochastic_variation(G, seed=3, num_noise=4, noise_seed=7)
    again, _ = style.stochastic_variation(G, seed=3, num_noise=4, noise_seed=7)
    assert torch.equal(imgs, again)  # reproducible
    assert not torch.equal(imgs[0], imgs[1]) and std.shape == (1, 1, 32, 32) and std.max() == 255
    with torch.no_grad():
        for name, p in G.synthesis.named_parameters():
            if name.endswith("noise_strength"):
                p.zero_()
    flat, std0 = style.stochastic_variation(G, seed=3, num_noise=3)
    assert torch.equal(flat[0], flat[1]) and std0.max() == 0


@pytest.mark.parametrize("space", ["w", "z"])
def test_interpolation_starts_and_ends_at_the_seeds(G, space):
    frames = style.interpolation_frames(G, [0, 1, 2], frames_per_step=4, space=space)
    assert frames.shape[0] == 2 * 4 + 1
    ends = style.synthesize(G, style.seeds_to_ws(G, [0, 1, 2]))
    assert torch.equal(frames[0], ends[0]) and torch.equal(frames[4], ends[1]) and torch.equal(frames[-1], ends[2])
    loop = style.interpolation_frames(G, [0, 1], frames_per_step=3, space=space, loop=True)
    assert loop.shape[0] == 6
    with pytest.raises(GanforgeError, match="at least two seeds"):
        style.interpolation_frames(G, [0], space=space)


def test_animation_writing(tmp_path, G):
    frames = style.interpolation_frames(G, [0, 1], frames_per_step=3)
    gif = style.save_animation(frames, tmp_path / "a.gif")
    with Image.open(gif) as im:
        assert im.n_frames == 4
    with pytest.raises(GanforgeError, match="valid choices: .gif, .mp4"):
        style.save_animation(frames, tmp_path / "a.avi")


def test_projection_recovers_an_image_of_the_generator(G):
    target = style.synthesize(G, style.seeds_to_ws(G, [11]))
    start = style.synthesize(G, G.mapping.w_avg.expand(1, G.num_ws, -1).clone())
    res = style.project(G, target, steps=60, lr=0.1, w_plus=False, record_every=20)
    err0 = (start.float() - target.float()).abs().mean()
    err = (res.image_u8.float() - target.float()).abs().mean()
    assert err < 0.5 * err0 and res.losses[-1] < res.losses[0]
    assert res.ws.shape == (1, G.num_ws, G.w_dim) and torch.equal(res.ws[:, 0], res.ws[:, -1])  # W: one w
    plus = style.project(G, target, steps=20, w_plus=True)
    assert not torch.equal(plus.ws[:, 0], plus.ws[:, -1])  # W+: one w per layer
    assert len(res.frames_u8) == 4  # steps 0, 20, 40 and the last


def test_tools_refuse_models_without_styles(tmp_path, tiny_dataset):
    cfg = ganforge.get_preset("dcgan-tiny")
    r = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset, overrides={"train.total_kimg": cfg.train.batch_size / 1000})
    G = ganforge.load_generator(r.run_dir)
    with pytest.raises(GanforgeError, match="needs a style-based generator .* this model is 'dcgan'"):
        style.truncation_sweep(G, [0], [1.0])


def test_cli_tools_write_their_figures_and_refuse_to_overwrite(sg2_run, tmp_path, capsys):
    out = tmp_path / "figs"
    m = ["--model", str(sg2_run), "--out", str(out)]
    assert main(["mix", *m, "--rows", "0-2", "--cols", "5-6", "--styles", "fine"]) == 0
    assert main(["truncation", *m, "--seeds", "0-2", "--psi", "1,0.5,0"]) == 0
    assert main(["variation", *m, "--seed", "1", "--draws", "3"]) == 0
    assert main(["interpolate", *m, "--seeds", "0,1", "--frames", "3"]) == 0
    assert main(["project", str(out / "truncation.png"), *m, "--steps", "3", "--no-progress"]) == 0
    assert {p.name for p in out.iterdir()} == {
        "mix-fine.png", "truncation.png", "variation-seed1.png", "variation-seed1-std.png", "interp-w-0_1.gif",
        "interp-w-0_1-strip.png", "truncation-w-latent.npz", "truncation-w-projected.png",
        "truncation-w-compare.png", "truncation-w-progress.gif"}
    with Image.open(out / "mix-fine.png") as im:  # 4 rows x 3 columns of 16 px cells, enlarged 8x
        assert im.size == ((3 * 18 + 2) * 8, (4 * 18 + 2) * 8)
    before = (out / "mix-fine.png").read_bytes()
    capsys.readouterr()
    assert main(["mix", *m, "--rows", "3", "--cols", "4", "--styles", "fine"]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "mix-fine.png").read_bytes() == before


@pytest.mark.parametrize("args,needle", [
    (["truncation", "--psi", "1,nan"], "bad truncation psi"),
    (["truncation", "--psi", "x"], "bad --psi"),
    (["mix", "--rows", "0", "--cols", "1", "--styles", "0-99"], "layers must lie in 0..5"),
    (["interpolate", "--space", "q"], "unknown interpolation space 'q'; valid choices: w, z"),
    (["interpolate", "--format", "avi"], "unknown --format 'avi'; valid choices: gif, mp4"),
    (["variation", "--draws", "1"], "--draws must be >= 2"),
    (["truncation", "--noise-mode", "loud"], "unknown noise mode 'loud'; valid choices: random, const, none"),
])
def test_cli_tool_bad_values(sg2_run, tmp_path, capsys, args, needle):
    code = main([*args[:1], "--model", str(sg2_run), "--out", str(tmp_path / "o"), *args[1:]])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_generate_with_psi_zero_gives_one_image_for_every_seed(sg2_run, tmp_path):
    from PIL import ImageChops

    assert main(["generate", "--model", str(sg2_run), "--seeds", "0-3", "--psi", "0", "--out", str(tmp_path / "a")]) == 0
    imgs = [Image.open(tmp_path / "a" / f"seed{s:04d}.png") for s in range(4)]
    assert all(ImageChops.difference(imgs[0], im).getbbox() is None for im in imgs[1:])
    assert main(["generate", "--model", str(sg2_run), "--seeds", "0-1", "--out", str(tmp_path / "b")]) == 0
    a, b = Image.open(tmp_path / "b" / "seed0000.png"), Image.open(tmp_path / "b" / "seed0001.png")
    assert ImageChops.difference(a, b).getbbox() is not None  # psi 1: seeds differ
    # Const noise by default: the same seed gives the same image twice.
    assert main(["generate", "--model", str(sg2_run), "--seeds", "0-1", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "b" / "seed0000.png").read_bytes() == (tmp_path / "c" / "seed0000.png").read_bytes()


def test_generate_psi_needs_a_style_based_model_and_a_finite_value(sg2_run, tmp_path, tiny_dataset, capsys):
    cfg = ganforge.get_preset("dcgan-tiny")
    r = ganforge.train(cfg, out=tmp_path / "runs", dataset=tiny_dataset,
                       overrides={"train.total_kimg": cfg.train.batch_size / 1000})
    capsys.readouterr()
    assert main(["generate", "--model", str(r.run_dir), "--psi", "0.7", "--out", str(tmp_path / "o")]) == 2
    assert "needs a style-based generator" in capsys.readouterr().err
    assert main(["generate", "--model", str(sg2_run), "--psi", "nan", "--out", str(tmp_path / "o")]) == 2
    assert "bad truncation psi nan" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_tools_work_on_the_first_stylegan_too():
    from ganforge.families.progressive.stylegan import StyleGANGenerator

    torch.manual_seed(0)
    G1 = StyleGANGenerator(z_dim=16, w_dim=16, img_resolution=32, img_channels=1, map_layers=2, fmap_base=64,
                           fmap_max=16).eval()
    with torch.no_grad():
        G1.mapping.w_avg.normal_()
    assert G1.layer_resolutions == [4, 4, 8, 8, 16, 16, 32, 32]
    assert style.style_groups(G1) == {"coarse": [0, 1, 2, 3], "middle": [4, 5], "fine": [6, 7]}
    grid = style.truncation_sweep(G1, [0, 1], [1.0, 0.0])
    cells = grid_cells(grid)
    assert torch.equal(cells[:, 0, 1], cells[:, 1, 1]) and not torch.equal(cells[:, 0, 0], cells[:, 1, 0])
    mix = grid_cells(style.style_mixing_grid(G1, [0, 1], [2], [6, 7]))
    assert mix.shape[1:3] == (3, 2)
    assert style.interpolation_frames(G1, [0, 1], frames_per_step=2).shape[0] == 3
