import pytest
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.config import apply_overrides


def test_report_writes_gif_and_plot(tmp_path, tiny_dataset, capsys):
    cfg = apply_overrides(ganforge.get_preset("dcgan-tiny"),
                         {"train.total_kimg": 3, "train.tick_kimg": 1, "train.batch_size": 500})
    r = ganforge.train(cfg, out=tmp_path, dataset=tiny_dataset)
    assert main(["report", str(r.run_dir)]) == 0
    gif = Image.open(r.run_dir / "progress.gif")
    assert gif.n_frames == len(list((r.run_dir / "samples").glob("fakes*.png"))) >= 2
    pytest.importorskip("matplotlib")
    assert (r.run_dir / "losses.png").exists()


def test_report_on_a_non_run_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no samples/fakes*.png" in capsys.readouterr().err
