"""The style tools (mix, truncation, variation, interpolate, project) on hostile input and a full disk:
bounds checked before the model is loaded, one message and exit 2, and every file written through the
one writer (a real full disk: a tiny tmpfs), so an old file survives, nothing partial or empty is left,
and a failed run never blocks the next one."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main

PAGE = os.sysconf("SC_PAGE_SIZE")  # tmpfs charges whole pages


@pytest.fixture(scope="module")
def target_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("target") / "target.png"
    yy, xx = np.mgrid[0:24, 0:24]
    Image.fromarray(((xx * 10 + yy * 3) % 256).astype(np.uint8), mode="L").save(path)
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), err
    return lines[0]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def complete(path: Path) -> bool:
    """A whole output file: a PNG/GIF that decodes, an .npz that loads."""
    if path.suffix == ".npz":
        with np.load(path) as z:
            return "ws" in z.files
    with Image.open(path) as im:
        im.load()
    return True


# ---------------------------------------------------------------- bounds before any work


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test: the checks below must all come before it."""
    import ganforge.api

    def load(*a, **k):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(ganforge.api, "load_generator", load)


@pytest.mark.parametrize("argv,needle", [
    (["mix", "--rows", "0-100000", "--cols", "1"],
     "--rows '0-100000' and --cols '1': a grid of (100001 + 1) x (1 + 1)"),
    (["mix", "--rows", "0-63", "--cols", "0-63"], "= 4225 images; a grid holds at most 4096 images"),
    (["mix", "--rows", "-1", "--cols", "1"], "bad --rows '-1'"),
    (["mix", "--rows", "0", "--cols", "x"], "bad --cols 'x'"),
    (["truncation", "--seeds", "0-999", "--psi", "1,0.5,0,0.2,0.4"], "1000 rows x 5 columns = 5000 images"),
    (["truncation", "--psi", ",".join(["0.5"] * 5000)], "5000 values, at most 4096"),
    (["truncation", "--cutoff", "-5"], "--cutoff must be an integer >= 0, got -5"),
    (["truncation", "--psi", "1,1e9"], "bad truncation psi 1000000000.0 (--psi): expected a finite number from -100 "
                                       "to 100"),
    (["variation", "--seed", "4294967296"], "--seed must be an integer >= 0 and <= 4294967295, got 4294967296"),
    (["variation", "--seed", "-3"], "--seed must be an integer >= 0 and <= 4294967295, got -3"),
    (["variation", "--noise-seed", "-3"], "--noise-seed must be an integer >= 0 and <= 4294967295, got -3"),
    (["variation", "--noise-seed", "99999999999999999999"], "--noise-seed must be an integer >= 0 and <= 4294967295"),
    (["variation", "--draws", "5000"], "--draws must be >= 2 to show variation and <= 4096"),
    (["variation", "--psi", "inf"], "bad truncation psi inf (--psi)"),
    (["interpolate", "--frames", "1000000000"], "--frames must be an integer >= 1 and <= 4096, got 1000000000"),
    (["interpolate", "--frames", "0"], "--frames must be an integer >= 1 and <= 4096, got 0"),
    (["interpolate", "--seeds", "0-1000", "--frames", "24"],
     "--frames 24 x 1000 transitions between 1001 seeds (--seeds '0-1000') = 24001 frames; an interpolation has at "
     "most 4096 frames"),
    (["interpolate", "--seeds", "0-4294967295", "--frames", "1"], "an interpolation has at most 4096 frames"),
    (["interpolate", "--seeds", "5"], "interpolation needs at least two seeds"),
    (["interpolate", "--fps", "0"], "--fps must be an integer >= 1 and <= 100, got 0"),
    (["interpolate", "--fps", "-5"], "--fps must be an integer >= 1 and <= 100, got -5"),
    (["interpolate", "--seeds", ",".join(map(str, range(120)))], "--seeds '0,1,2,3"),
    (["project", "{target}", "--lr", "nan"], "--lr must be a finite number > 0 and <= 10, got nan"),
    (["project", "{target}", "--lr", "inf"], "--lr must be a finite number > 0 and <= 10, got inf"),
    (["project", "{target}", "--lr", "0"], "--lr must be a finite number > 0 and <= 10, got 0.0"),
    (["project", "{target}", "--lr", "-1"], "--lr must be a finite number > 0 and <= 10, got -1.0"),
    (["project", "{target}", "--steps", "0"], "--steps must be an integer >= 1 and <= 10000, got 0"),
    (["project", "{target}", "--steps", "10000000"], "--steps must be an integer >= 1 and <= 10000, got 10000000"),
    (["project", "{target}", "--seed", "-1"], "--seed must be an integer >= 0 and <= 4294967295, got -1"),
    (["project", "{folder}"], "target image '{folder}' is a folder, not an image file"),
    (["project", "{missing}"], "target image '{missing}' does not exist"),
    # PIL's decompression-bomb guard, set to the data layer's limit, stops both when the header is read
    (["project", "{bomb}"], "cannot use target image '{bomb}': oversized: 144000000 pixels, limit 67108864 pixels "
                            "(data.max_image_pixels)"),
    (["project", "{big}"], "cannot use target image '{big}': oversized: 81000000 pixels, limit 67108864 pixels "
                           "(data.max_image_pixels)"),
])
def test_bad_values_are_refused_before_the_model_is_loaded(argv, needle, no_model, target_png, tmp_path, capsys):
    folder = tmp_path / "a folder"
    folder.mkdir()
    bomb, big = tmp_path / "bomb.png", tmp_path / "big.png"
    if "{bomb}" in argv:  # 144 megapixels declared by a file of a few kilobytes
        Image.new("1", (12000, 12000)).save(bomb)
    if "{big}" in argv:
        Image.new("1", (9000, 9000)).save(big)
    where = {"target": target_png, "folder": folder, "missing": tmp_path / "nope.png", "bomb": bomb, "big": big}
    argv = [a.format(**where) for a in argv]
    out = tmp_path / "figs"
    code, _, err = run([argv[0], "--model", "some-run", "--out", out, *argv[1:]], capsys)
    assert code == 2 and needle.format(**where) in one_error(err)
    assert not out.exists()


def test_cutoff_beyond_the_model_is_refused_by_truncation_and_generate_alike(sg2_run, tmp_path, capsys):
    out = tmp_path / "figs"
    code, _, err = run(["truncation", "--model", sg2_run, "--out", out, "--cutoff", "50"], capsys)
    assert code == 2 and ("--cutoff 50 out of range: this model has 6 style layers, so the cutoff must be in 0..6"
                          in one_error(err))
    code, _, err = run(["generate", "--model", sg2_run, "--out", out, "--psi", "0.5", "--trunc-cutoff", "50"], capsys)
    assert code == 2 and ("--trunc-cutoff 50 out of range: this model has 6 style layers, so the cutoff must be in "
                          "0..6" in one_error(err))
    code, _, err = run(["generate", "--model", sg2_run, "--out", out, "--trunc-cutoff", "-5"], capsys)
    assert code == 2 and "--trunc-cutoff must be an integer >= 0, got -5" in one_error(err)
    assert not out.exists()
    assert run(["truncation", "--model", sg2_run, "--out", out, "--cutoff", "6", "--seeds", "0-1"], capsys)[0] == 0


def test_a_target_image_within_the_limits_is_projected(sg2_run, target_png, tmp_path, capsys):
    code, out, _ = run(["project", target_png, "--model", sg2_run, "--out", tmp_path / "p", "--steps", "2",
                        "--no-progress"], capsys)
    assert code == 0 and "final loss" in out
    assert sorted(files(tmp_path / "p")) == ["target-w-compare.png", "target-w-latent.npz", "target-w-progress.gif",
                                             "target-w-projected.png"]


# ---------------------------------------------------------------- a real full disk


TOOLS = {  # argv of a run, and extra flags that change every file it writes
    "mix": (["mix", "--rows", "0-3", "--cols", "4-7"], ["--psi", "0.5"]),
    "truncation": (["truncation", "--seeds", "0-5", "--psi", "1,0.5,0"], ["--cutoff", "2"]),
    "variation": (["variation", "--seed", "1", "--draws", "16"], ["--psi", "0.5"]),
    "interpolate": (["interpolate", "--seeds", "0,1", "--frames", "4"], ["--psi", "0.5"]),
    "project": (["project", "{target}", "--steps", "3", "--no-progress"], ["--lr", "0.05"]),
}


def tool_argv(name, model, out, target, changed=False, overwrite=False):
    base, change = TOOLS[name]
    argv = [a.format(target=target) for a in base] + (change if changed else []) + (["--overwrite"] if overwrite else [])
    return [argv[0], "--model", model, "--out", out, *argv[1:]]


def leave_free(disk, pages: int) -> None:
    """Fill the tiny disk, then give back exactly ``pages`` pages."""
    disk.fill()
    filler = disk.path / ".filler"
    os.truncate(filler, filler.stat().st_size - pages * PAGE)


def free_all(disk) -> None:
    (disk.path / ".filler").unlink()


@pytest.mark.parametrize("tool", list(TOOLS))
def test_full_disk_new_files_leave_nothing_and_the_next_run_works(tool, sg2_run, target_png, tiny_disk, capsys):
    disk = tiny_disk(512 * 1024)
    out = disk.path / "figs"
    disk.fill()
    code, _, err = run(tool_argv(tool, sg2_run, out, target_png), capsys)
    line = one_error(err)
    assert code == 2 and "No space left on device" in line and str(out) in line
    assert files(out) == {}  # no empty or partial file to block the next run
    free_all(disk)
    code, _, err = run(tool_argv(tool, sg2_run, out, target_png), capsys)
    assert code == 0, err
    assert files(out) and all(complete(out / n) for n in files(out))


@pytest.mark.parametrize("pages", [0, 1])
@pytest.mark.parametrize("tool", list(TOOLS))
def test_full_disk_with_overwrite_keeps_the_old_files(tool, pages, sg2_run, target_png, tiny_disk, tmp_path, capsys):
    """--overwrite on a full disk (0 pages free: --out's write check fails before any work) and on a disk
    with one page free (the check passes, a file does not fit): each file is its old version or its
    complete new one, the one that failed is the old one, and nothing else is in the folder."""
    roomy = tmp_path / "roomy"
    assert run(tool_argv(tool, sg2_run, roomy, target_png, changed=True), capsys)[0] == 0
    new = files(roomy)
    disk = tiny_disk(512 * 1024)
    out = disk.path / "figs"
    assert run(tool_argv(tool, sg2_run, out, target_png), capsys)[0] == 0
    old = files(out)
    assert set(old) == set(new) and all(old[n] != new[n] for n in old if not n.endswith("-std.png"))
    leave_free(disk, pages)
    code, _, err = run(tool_argv(tool, sg2_run, out, target_png, changed=True, overwrite=True), capsys)
    line = one_error(err)
    assert code == 2 and "No space left on device" in line
    now = files(out)
    assert set(now) == set(old)  # no temporary, no partial file beside them
    if pages == 0:
        assert f"cannot write to --out {str(out)!r}: No space left on device" in line and now == old
    failed = [n for n in old if f"cannot write {str(out / n)!r}: No space left on device" in line]
    assert len(failed) == (0 if pages == 0 else 1)
    assert all(now[n] == old[n] for n in failed)
    for name, data in now.items():
        assert data in (old[name], new[name])
        if data == new[name] and data != old[name]:
            assert name in line  # "... already replaced by the new version"


MULTI = {"variation": 2, "interpolate": 2, "project": 4}  # tools writing several files: how many


@pytest.mark.parametrize("tool,failing", [(t, k) for t, n in MULTI.items() for k in range(1, n)])
def test_when_a_later_file_does_not_fit_the_earlier_ones_are_removed(tool, failing, sg2_run, target_png, tiny_disk,
                                                                     tmp_path, capsys):
    """All or nothing for the files a run creates: file number ``failing`` (0-based) finds the disk full,
    the ones written before it are removed again, and the same command then runs once there is space."""
    roomy = tmp_path / "roomy"
    code, stdout, _ = run(tool_argv(tool, sg2_run, roomy, target_png), capsys)
    assert code == 0
    order = [Path(w.rstrip(",")).name for w in stdout.split() if str(roomy) in w]  # as the command reports them
    assert sorted(order) == sorted(files(roomy)) and len(order) == MULTI[tool]
    pages = [math.ceil((roomy / n).stat().st_size / PAGE) for n in order]
    disk = tiny_disk(512 * 1024)
    out = disk.path / "figs"
    leave_free(disk, sum(pages[:failing]) + pages[failing] - 1)
    code, _, err = run(tool_argv(tool, sg2_run, out, target_png), capsys)
    line = one_error(err)
    assert code == 2 and f"cannot write {str(out / order[failing])!r}: No space left on device" in line
    assert "removed " + ", ".join(order[:failing]) + " written before it, so nothing of this run is left" in line
    assert files(out) == {}
    free_all(disk)
    assert run(tool_argv(tool, sg2_run, out, target_png), capsys)[0] == 0  # not blocked
    assert sorted(files(out)) == sorted(order)
