"""benchmarks/gpu_first.sh --check: every part of the first GPU call runs end to end on the CPU with tiny
presets, and writes what the GPU call writes (issue 23). One --check run (about a minute on two cores)
serves every test of this module."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import gpu_first
import results_to_docs

OUT_FILES = ["artifacts.tgz", "profile.txt", "results.json", "summary.md"]
RECORD_KEYS = {"name", "title", "status", "reason", "seconds", "limit_s", "exit_code", "device", "torch", "cuda",
               "date", "command", "equivalent", "figures", "log_tail"}


def _data_missing() -> str | None:
    from ganforge.data.builtin import locate_builtin
    from ganforge.data.emoji import locate_sources
    from ganforge.errors import GanforgeError

    try:
        locate_builtin("fashion-mnist", download=False)
        locate_sources(download=False)
    except GanforgeError as e:
        return str(e).splitlines()[0]
    return None


@pytest.fixture(scope="module")
def check_run(tmp_path_factory):
    missing = _data_missing()
    if missing:
        pytest.skip(f"--check stages the real data files (make data): {missing}")
    base = tmp_path_factory.mktemp("gpu_first")
    out, work = base / "out", base / "work"
    env = dict(os.environ, PYTHON=sys.executable, XDG_CACHE_HOME=str(base / "cache"))
    r = subprocess.run(["bash", str(BENCH / "gpu_first.sh"), "--check", str(out), "--work", str(work)],
                       cwd=ROOT, env=env, capture_output=True, check=False, text=True, timeout=900)
    res = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
    return r, out, work, res


def _part(res, name):
    return next(p for p in res["parts"] if p["name"] == name)


def test_check_passes_and_writes_the_four_files_the_device_returns(check_run):
    r, out, _, res = check_run
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert sorted(os.listdir(out)) == OUT_FILES  # the device tool returns at most 8 files, directly in OUT
    for name in OUT_FILES:
        assert (out / name).stat().st_size < 16 * 2**20
    assert res["total_s"] <= res["budget_s"] <= 540


def test_results_json_has_one_whole_record_per_part_in_plan_order(check_run):
    _, _, _, res = check_run
    assert res["schema"] == gpu_first.SCHEMA and res["mode"] == "check"
    names = [p[0] for p in gpu_first.PARTS]
    assert [p["name"] for p in res["plan"]] == names == [p["name"] for p in res["parts"]]
    assert res["device"]["torch"] and res["git"]["src_sha256"]
    for p in res["parts"]:
        assert RECORD_KEYS <= set(p), (p["name"], RECORD_KEYS - set(p))
        assert p["status"] in ("ok", "skipped"), (p["name"], p["status"], p["reason"], p["log_tail"])
        if p["status"] == "skipped":
            assert p["reason"]
        assert 0 < p["seconds"] <= p["limit_s"] + 15
        assert p["device"] and p["torch"] and re.fullmatch(r"\d{4}-\d\d-\d\d", p["date"])
        assert f"part {p['name']} --mode check" in p["command"]
        assert p["log_tail"]
    tests = _part(res, "gpu_tests")
    assert tests["status"] == "skipped" and "CUDA" in tests["reason"]  # honest: nothing ran without a GPU
    f = tests["figures"]
    assert f["collected"] == f["skipped"] > 0 and f["passed"] == f["failed"] == 0
    assert any("test_graphed_steps_on_streamed_data_equal_eager_steps" in k for k in f["tests"])


def test_every_part_reports_its_figures(check_run):
    _, out, _, res = check_run
    tp = _part(res, "throughput")["figures"]
    rows = tp["rows"]
    eager = [r for r in rows if r["mode"] == "eager" and r["stands_for"].startswith("stylegan2-official")]
    assert [r["stands_for"] for r in eager] == list(gpu_first.OFFICIAL_IMG_S)
    for r in eager:
        assert r["status"] == "ok" and r["img_per_s"] > 0 and r["params"]["G"] > 0
        assert r["reference_img_per_s"] == gpu_first.OFFICIAL_IMG_S[r["stands_for"]]
    sg3 = [r for r in rows if r["stands_for"].startswith("stylegan3-official")]
    assert [r["stands_for"] for r in sg3] == list(gpu_first.OFFICIAL_SG3_S_PER_KIMG)
    for r in sg3:  # the official s/kimg (A100) as img/s beside ours
        assert r["status"] == "ok" and r["s_per_kimg"] == pytest.approx(1000 / r["img_per_s"], rel=0.01)
        assert r["reference_img_per_s"] == pytest.approx(1000 / gpu_first.OFFICIAL_SG3_S_PER_KIMG[r["stands_for"]], abs=0.01)
        assert "A100" in r["reference_note"]
    dc = {r["mode"]: r for r in rows if r["stands_for"] == "dcgan-fmnist32"}
    assert dc["eager"]["status"] == "ok" and dc["eager"]["reference_img_per_s"] == 40_000
    assert dc["cuda_graph"]["status"] == "skipped" and "CUDA" in dc["cuda_graph"]["reason"]
    for r in rows:  # a row that failed says why (bf16 autocast of StyleGAN2, say)
        assert r["status"] in ("ok", "failed", "skipped")
        assert r["status"] == "ok" or r.get("error") or r.get("reason")
    prof = tp["profile"]
    assert prof["status"] == "ok" and prof["top"] and prof["launches_per_step"] is None  # no CUDA: no launches
    assert (out / "profile.txt").read_text().startswith("ganforge profile of")

    q = _part(res, "quality")["figures"]
    assert q["reached"] and q["kimg_reached"] == q["target_kimg"]
    assert [s["official_kimg"] for s in q["snapshots"]] == [40, 80, 120, 160]
    for s in q["snapshots"]:
        assert s["metric"] == "fid1k" and s["value"] > 0 and s["official_fid10k"] == gpu_first.OFFICIAL_FID10K[s["official_kimg"]]
    assert len([e for e in q["exports"] if e["file"].endswith(".safetensors")]) == 4

    x = _part(res, "extras")["figures"]
    spec = gpu_first.SETTINGS["check"]
    assert [r["stands_for"] for r in x["rows"]] == [s[2] for s in spec["extras"] + spec["extras_more"]]
    assert all(r["status"] == "ok" for r in x["rows"])
    e = x["emoji"]
    assert e["status"] == "ok" and e["stopped_by_deadline"] and e["value"] > 0 and e["kimg_reached"] > 0
    ex = x["explore"]  # the studio's Explore: ms per new seed (stylegan2-official-256 on the GPU)
    assert ex["status"] == "ok" and ex["preset"] == spec["explore"][0] and not ex["http"]
    assert ex["seeds"] == spec["explore_seeds"] and 0 < ex["median_ms"] <= ex["p90_ms"] and ex["target_ms"] == 100


def test_summary_lists_every_part_and_the_archive_its_logs(check_run):
    _, out, _, res = check_run
    summary = (out / "summary.md").read_text()
    for name, *_ in gpu_first.PARTS:
        assert re.search(rf"^\| {name} \| (ok|skipped)", summary, re.MULTILINE), name
    assert "--check" in summary
    with tarfile.open(out / "artifacts.tgz") as tar:
        members = set(tar.getnames())
    assert {f"logs/{n}.log" for n, *_ in gpu_first.PARTS} <= members
    assert "artifacts/quality/run/metrics.jsonl" in members
    assert members == set(res["archive"]["included"])


def test_results_to_docs_puts_every_figure_in_the_tables(check_run, tmp_path, capsys):
    _, out, _, res = check_run
    md = results_to_docs.tables_md(res)
    assert md.startswith(results_to_docs.CHECK_BANNER)
    for p in res["parts"]:
        assert f"| {p['name']} | {p['status']}" in md
    g = _part(res, "gpu_tests")["figures"]
    assert f"{g['passed']} passed, {g['failed']} failed, {g['skipped']} skipped" in md
    for part in ("throughput", "extras"):
        for r in _part(res, part)["figures"]["rows"]:
            if r["status"] == "ok":
                assert f"| {results_to_docs.ips(r['img_per_s'])} |" in md, r
            else:
                assert results_to_docs._status_cell(r) in md, r
    for s in _part(res, "quality")["figures"]["snapshots"]:
        assert f"| {results_to_docs.num(s['official_fid10k'])} | {results_to_docs.num(s['value'])} |" in md
    prof = _part(res, "throughput")["figures"]["profile"]
    assert prof["top"][0]["name"][:40] in md
    e = _part(res, "extras")["figures"]["emoji"]
    assert results_to_docs.num(e["value"]) in md
    lines = results_to_docs.readme_lines(res)
    assert lines and all("--check run on a CPU: not a measurement" in x for x in lines)

    doc = tmp_path / "benchmarks.md"
    shutil.copyfile(ROOT / "docs" / "benchmarks.md", doc)
    before = doc.read_text()
    with pytest.raises(SystemExit, match="refusing"):  # a CPU check is never written into the docs as measured
        results_to_docs.main([str(out / "results.json"), "--update", str(doc)])
    assert doc.read_text() == before
    png = tmp_path / "fid.png"
    results_to_docs.main([str(out / "results.json"), "--update", str(doc), "--allow-check", "--figure", str(png)])
    text = doc.read_text()
    section = text.split(results_to_docs.BEGIN, 1)[1].split(results_to_docs.END, 1)[0]
    assert section.strip() == md.strip()
    assert text.split(results_to_docs.BEGIN)[0] == before.split(results_to_docs.BEGIN)[0]
    assert re.search(r"^\| ganforge `stylegan2-official-\*` \| owed \| owed \| owed \|$", text, re.MULTILINE)
    assert re.search(r"^\| ganforge `stylegan2-fmnist32`, fid10k \| owed \| owed \| owed \| owed \|$", text, re.MULTILINE)
    assert png.stat().st_size > 0


def test_a_gpu_results_file_fills_the_owed_rows(check_run, tmp_path):
    """The filling itself, on the check's file relabelled as a GPU run (only this test does that)."""
    _, _, _, res = check_run
    fake = json.loads(json.dumps(res))
    fake["mode"] = "gpu"
    for s in _part(fake, "quality")["figures"]["snapshots"]:
        s["metric"] = "fid10k"
    doc = tmp_path / "benchmarks.md"
    shutil.copyfile(ROOT / "docs" / "benchmarks.md", doc)
    results_to_docs.update_doc(doc, fake)
    text = doc.read_text()
    rows = {r["stands_for"]: r for r in _part(fake, "throughput")["figures"]["rows"] if r["mode"] == "eager"}
    cells = " | ".join(results_to_docs.ips(rows[k]["img_per_s"]) for k in gpu_first.OFFICIAL_IMG_S)
    assert f"| ganforge `stylegan2-official-*` | {cells} |" in text
    vals = " | ".join(results_to_docs.num(s["value"]) for s in _part(fake, "quality")["figures"]["snapshots"])
    assert f"| ganforge `stylegan2-fmnist32`, fid10k | {vals} |" in text
    assert results_to_docs.CHECK_BANNER not in text


def test_the_budget_fits_nine_minutes_and_the_docs_and_script_header_say_the_same():
    gpu = sum(g for name, g, _, _ in gpu_first.PARTS if name != gpu_first.REST_TAKER)
    assert gpu + gpu_first.PACK_S < gpu_first.BUDGET_S <= 540
    assert sum(c for _, _, c, _ in gpu_first.PARTS) + gpu_first.PACK_S <= 600  # --check: under 10 minutes
    sh = (BENCH / "gpu_first.sh").read_text()
    doc = (ROOT / "docs" / "benchmarks.md").read_text()
    for name, limit, _, _ in gpu_first.PARTS:
        shown = "rest" if name == gpu_first.REST_TAKER else str(limit)
        assert re.search(rf"^#\s+{name}\s+{shown}\s", sh, re.MULTILINE), name
        assert re.search(rf"^\| `{name}` \| {shown} \|", doc, re.MULTILINE), name
        assert re.search(rf"^\s+{name}\s+{shown}\s", gpu_first.__doc__, re.MULTILINE), name


def test_official_figures_are_the_anchor_s():
    for base in (ROOT / "shared", Path("/work/shared")):
        q = base / "anchors" / "stylegan2-official" / "QUALITY.md"
        if q.is_file():
            break
    else:
        pytest.skip("shared/anchors/stylegan2-official/QUALITY.md is not on this machine")
    table = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^\| (\d+) \| ([\d.]+) \|", q.read_text(), re.MULTILINE)}
    assert {k: table[k] for k in gpu_first.OFFICIAL_FID10K} == gpu_first.OFFICIAL_FID10K


def test_stage_copies_the_data_and_records_the_commit(tmp_path):
    missing = _data_missing()
    if missing:
        pytest.skip(missing)
    dest = tmp_path / "carry"
    r = subprocess.run([sys.executable, str(BENCH / "gpu_first.py"), "--stage", str(dest)], cwd=ROOT,
                       capture_output=True, check=False, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in (dest / "fashion-mnist").iterdir()) == sorted(
        n if (dest / "fashion-mnist" / n).exists() else n.removesuffix(".gz") for n in gpu_first.FMNIST_FILES)
    assert sorted(p.name for p in (dest / "emoji").iterdir()) == ["NotoColorEmoji.ttf", "emoji-test.txt"]
    assert json.loads((dest / "source.json").read_text())["src_sha256"] == gpu_first.src_sha256()
    assert "of the device call's 64 MiB" in r.stdout


def test_pytest_verbose_lines_are_read_when_pytest_was_stopped():
    text = ("tests/gpu/test_cuda.py::test_a[dcgan-tiny] PASSED [ 10%]\n"
            "tests/gpu/test_cuda.py::test_b FAILED [ 20%]\nnoise\ntests/gpu/test_cuda.py::test_c SKIPPED (x)\n")
    got = gpu_first.parse_verbose(text)
    assert {k: v["outcome"] for k, v in got.items()} == {
        "tests/gpu/test_cuda.py::test_a[dcgan-tiny]": "passed", "tests/gpu/test_cuda.py::test_b": "failed",
        "tests/gpu/test_cuda.py::test_c": "skipped"}
