"""benchmarks/studio.py runs (its --check mode: a tiny preset, few seeds and runs) and reports every figure."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "studio.py"


def test_the_studio_benchmark_measures_explore_and_the_listing(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("studio_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "r.json"
    assert bench.main(["--check", "--no-browser", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    (e,) = r["explore"]
    assert e["seeds"] == 3 and 0 < e["min_ms"] <= e["median_ms"] <= e["p90_ms"]
    assert r["listing"]["runs"] == 5 and r["listing"]["api_cold_ms"] > 0 and r["listing"]["api_warm_ms"] > 0
    assert "new seed, median ms" in capsys.readouterr().out


def test_the_direct_mode_times_the_explorer_without_web_packages(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("studio_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "Server", None)  # a GPU machine has no uvicorn: --direct must not need it
    out = tmp_path / "r.json"
    assert bench.main(["--check", "--direct", "--stylegan2-256", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert [e["http"] for e in r["explore"]] == [False, False] and "listing" not in r
    assert r["explore"][1]["model"].endswith("-stylegan2-tiny/generator.safetensors")
