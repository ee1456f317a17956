"""The studio's pages in a real browser (Playwright driving the system's Chromium): every page opens without
a console error or an unhandled exception, over real tiny runs, an empty runs folder and a run with no
statistics yet; the runs table sorts and selects; the run page draws its charts (hover, zoom, log scale,
legend) and its tick slider changes the grid; compare shows both runs and their grids; explore redraws the
image when psi, the seed or the class change, renders style mixing and interpolation frames, refuses a bad
seed in words, and translates an uploaded image; the runs and run pages follow a run that is training; a
token given in the URL carries on to the API calls.

Skipped when Playwright or /usr/bin/chromium (or $GANFORGE_CHROMIUM) is missing, unless
GANFORGE_REQUIRE_BROWSER=1 (CI), where that is a failure. The runs, the server and the browser are shared by
the module (about 20 s on 2 cores, 5 of them waiting for a refresh)"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from helpers.data import make_dataset, make_translation_dataset

CHROMIUM = Path(os.environ.get("GANFORGE_CHROMIUM", "/usr/bin/chromium"))  # Debian's chromium package
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REQUIRED = os.environ.get("GANFORGE_REQUIRE_BROWSER") == "1"
TIMEOUT_MS = 15_000


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}"
    return None


MISSING = _missing()
if MISSING and not REQUIRED:
    pytest.skip(f"browser tests: {MISSING} (set GANFORGE_REQUIRE_BROWSER=1 to make this a failure)",
                allow_module_level=True)


# -- the runs folder -----------------------------------------------------------------------------


def _train(root: Path, preset: str, dataset, **over) -> str:
    import ganforge

    r = ganforge.train(ganforge.get_preset(preset), out=root, dataset=dataset,
                       overrides={"train.progress": False, "metrics.names": "", **over})
    return r.run_dir.name


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """Real tiny runs: a DCGAN (4 ticks, a grid and an export at each, fid1k measured at the end with the
    test extractor), a conditional StyleGAN2 (2 ticks), a pix2pix translator (1 tick), and a run that has
    only its config.json (no stats, grids or exports yet)."""
    root = tmp_path_factory.mktemp("runs")
    names = {
        "dcgan": _train(root, "dcgan-tiny", make_dataset(), **{
            "train.total_kimg": 0.032, "train.tick_kimg": 0.008, "train.snapshot_ticks": 1,
            "metrics.names": "fid1k", "metrics.interval_kimg": 0.032, "metrics.extractor": "test-pool4"}),
        "sg2": _train(root, "stylegan2-tiny", make_dataset(num_classes=3), **{
            "train.total_kimg": 0.016, "train.tick_kimg": 0.008, "train.snapshot_ticks": 1,
            "model.conditional": True, "data.use_labels": True}),
        "p2p": _train(root, "pix2pix-tiny", make_translation_dataset(make_dataset(n=8)), **{
            "train.total_kimg": 0.008, "train.tick_kimg": 0.008}),
    }
    fresh = root / "09999-fresh"
    fresh.mkdir()
    (fresh / "config.json").write_text((root / names["dcgan"] / "config.json").read_text())
    names["fresh"] = fresh.name
    return root, names


# -- the server and the browser ------------------------------------------------------------------


def Served(root: Path, token: str | None = None):
    """The studio app over ``root`` served by uvicorn in a thread, on a free loopback port."""
    from ganforge.studio.app import BackgroundServer, create_app

    return BackgroundServer(create_app(root, device="cpu", token=token), timeout_s=20)


@pytest.fixture(scope="module")
def server(runs_dir):
    s = Served(runs_dir[0])
    yield s
    s.close()


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory):
    s = Served(tmp_path_factory.mktemp("empty-runs"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def live_root(runs_dir, tmp_path_factory):
    """A runs folder with a run "training" now: two ticks of the DCGAN's stats just written (a recent
    stats.jsonl and fewer kimg than planned: running) and its first two grids; the test adds ticks."""
    src = runs_dir[0] / runs_dir[1]["dcgan"]
    root = tmp_path_factory.mktemp("live-runs")
    run = root / "00007-live"
    (run / "samples").mkdir(parents=True)
    (run / "config.json").write_text((src / "config.json").read_text())
    rows = [r for r in (src / "stats.jsonl").read_text().splitlines() if '"warning"' not in r]
    (run / "stats.jsonl").write_text("\n".join(rows[:2]) + "\n")
    for name in ("reals.png", "fakes000000.png", "fakes000000.008.png", "fakes000000.016.png"):
        (run / "samples" / name).write_bytes((src / "samples" / name).read_bytes())
    return root, run, src, rows


@pytest.fixture(scope="module")
def browser():
    if MISSING:
        pytest.fail(f"GANFORGE_REQUIRE_BROWSER=1 but the browser tests cannot run: {MISSING}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A fresh browser page that records console errors and warnings, and uncaught exceptions."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console.{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        return self.page


@pytest.fixture
def tab(browser):
    t = Page(browser)
    yield t
    problems = list(t.problems)
    t.context.close()
    assert not problems, "\n".join(problems)


# How many pixels of a canvas are drawn on (not transparent), read from a copy (reading the chart's own
# canvas again and again makes Chromium warn in the console).
INK = """c => { if (!c.width || !c.height) return 0; const t = document.createElement('canvas');
    t.width = c.width; t.height = c.height; const x = t.getContext('2d'); x.drawImage(c, 0, 0);
    const d = x.getImageData(0, 0, t.width, t.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""


def canvas_ink(page, selector: str) -> list[int]:
    """For each canvas matched: how many of its pixels are drawn on."""
    return page.eval_on_selector_all(selector, f"cs => cs.map({INK})")


def wait_drawn(page, selector: str):
    page.wait_for_function(f"sel => {{ const cs = [...document.querySelectorAll(sel)]; "
                           f"return cs.length && cs.every(c => ({INK})(c) > 0); }}", arg=selector, polling=100)


def shown_image(page, selector: str) -> tuple[str, str]:
    """(the API URL an explore image shows, a hash of its decoded pixels), once it has loaded."""
    page.wait_for_function("""sel => { const i = document.querySelector(sel);
        return i && !i.hidden && i.complete && i.naturalWidth > 0 && i.dataset.url; }""", arg=selector)
    return page.eval_on_selector(selector, """i => { const c = document.createElement('canvas');
        c.width = i.naturalWidth; c.height = i.naturalHeight; const x = c.getContext('2d'); x.drawImage(i, 0, 0);
        return [i.dataset.url, Array.from(x.getImageData(0, 0, c.width, c.height).data).join(',')]; }""")


def next_image(page, selector: str, before: str) -> tuple[str, str]:
    page.wait_for_function("""([sel, url]) => { const i = document.querySelector(sel);
        return i && i.dataset.url && i.dataset.url !== url && i.complete && i.naturalWidth > 0; }""",
                           arg=[selector, before])
    url, pixels = shown_image(page, selector)
    return url, hashlib.sha256(pixels.encode()).hexdigest()


def image_hash(page, selector: str) -> tuple[str, str]:
    url, pixels = shown_image(page, selector)
    return url, hashlib.sha256(pixels.encode()).hexdigest()


# -- runs ----------------------------------------------------------------------------------------


def run_rows(page) -> list[str]:
    return page.eval_on_selector_all("table.runs tbody tr", "rs => rs.map(r => r.dataset.run)")


def test_runs_page_lists_sorts_and_selects(tab, server, runs_dir):
    root, names = runs_dir
    page = tab.open(server.url + "/")
    page.wait_for_selector("table.runs tbody tr")
    every = sorted(names.values())
    assert run_rows(page) == every[::-1]  # newest (highest number) first
    assert page.locator("th[aria-sort='descending']").inner_text().startswith("Run")
    page.click("th[data-key='name'] button")
    assert run_rows(page) == every
    page.click("th[data-key='name'] button")
    assert run_rows(page) == every[::-1]

    # img/s sorts by number (not as text), blanks last both ways
    api = json.loads(page.evaluate("fetch('/api/runs').then(r => r.text())"))["runs"]
    speed = {r["name"]: r["img_per_s"] for r in api}
    assert speed[names["fresh"]] is None and sum(v is not None for v in speed.values()) == 3
    page.click("th[data-key='img_per_s'] button")
    up = run_rows(page)
    assert [speed[n] for n in up[:3]] == sorted(v for v in speed.values() if v is not None) and up[3] == names["fresh"]
    page.click("th[data-key='img_per_s'] button")
    down = run_rows(page)
    assert down[:3] == up[:3][::-1] and down[3] == names["fresh"]

    row = page.locator(f"tr[data-run='{names['dcgan']}']")
    assert "finished" in row.inner_text() and "0.032 / 0.032" in row.inner_text()
    assert "fid1k" in row.inner_text()
    assert row.locator("a").get_attribute("href") == f"/run/{names['dcgan']}"
    assert page.locator(".updated").inner_text().startswith("updated ")

    button = page.locator("button", has_text="Compare selected")
    assert button.is_disabled()
    page.check(f"tr[data-run='{names['dcgan']}'] input[type=checkbox]")
    page.check(f"tr[data-run='{names['sg2']}'] input[type=checkbox]")
    assert button.is_enabled() and "(2)" in button.inner_text()
    button.click()
    page.wait_for_url("**/compare?runs=*")
    assert set(page.url.split("runs=")[1].split(",")) == {names["dcgan"], names["sg2"]}
    page.wait_for_selector(".run-chip >> nth=1")


def test_empty_runs_folder_explains_how_to_train(tab, empty_server):
    page = tab.open(empty_server.url + "/")
    page.wait_for_selector(".empty-state")
    text = page.locator(".empty-state").inner_text()
    assert "No runs yet" in text and "ganforge train" in text
    assert "refreshing" in page.locator(".updated").inner_text()  # it looks again for a run to appear
    page = tab.open(empty_server.url + "/explore")
    page.wait_for_selector(".empty-state")
    assert "No models yet" in page.locator(".empty-state").inner_text()
    page = tab.open(empty_server.url + "/compare")
    page.wait_for_selector(".run-chips .muted")


# -- run -----------------------------------------------------------------------------------------


def test_run_page_charts_slider_and_tables(tab, server, runs_dir):
    root, names = runs_dir
    page = tab.open(f"{server.url}/run/{names['dcgan']}")
    wait_drawn(page, ".gf-chart canvas")
    titles = page.eval_on_selector_all(".gf-chart-title", "ts => ts.map(t => t.textContent)")
    assert titles[:2] == ["Generator (G/*)", "Discriminator (D/*)"]
    assert "Metric fid1k" in titles and "Speed (images per second)" in titles
    assert all(n > 200 for n in canvas_ink(page, ".gf-chart canvas"))

    # the chart: hover shows every series' value, a drag zooms, double-click resets, log y, legend toggles
    chart = page.locator(".gf-chart").nth(1)
    box = chart.locator("canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    tip = chart.locator(".gf-chart-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text().startswith("kimg ") and "D/adv" in tip.inner_text()
    assert tip.locator(".gf-chart-tip-row").count() == chart.locator(".gf-chart-key").count()
    before = chart.locator("canvas").screenshot()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + 60, steps=4)
    page.mouse.up()
    chart.locator(".gf-chart-reset").wait_for(state="visible")
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] + 60)  # away: no crosshair in the picture
    page.wait_for_timeout(100)
    assert chart.locator("canvas").screenshot() != before
    chart.locator("canvas").dblclick()
    chart.locator(".gf-chart-reset").wait_for(state="hidden")
    chart.locator(".gf-chart-log input").check()
    key = chart.locator(".gf-chart-key").first
    key.click()
    assert "off" in key.get_attribute("class") and key.get_attribute("aria-pressed") == "false"
    page.wait_for_timeout(100)
    assert canvas_ink(page, ".gf-chart canvas")[1] > 200

    # the sample grid follows the tick slider (arrow keys, Home/End)
    slider = page.locator(".tick-slider")
    assert slider.get_attribute("max") == "4"  # grids at kimg 0, 0.008, ..., 0.032
    img = page.locator("img.grid-img")
    assert img.get_attribute("src").endswith("fakes000000.032.png")
    assert "kimg 0.032 (5 of 5)" in page.locator(".tick-label").inner_text()
    slider.focus()
    page.keyboard.press("ArrowLeft")
    assert img.get_attribute("src").endswith("fakes000000.024.png")
    assert "kimg 0.024 (4 of 5)" in page.locator(".tick-label").inner_text()
    page.keyboard.press("Home")
    assert img.get_attribute("src").endswith("fakes000000.png")
    page.wait_for_function("() => document.querySelector('img.grid-img').naturalWidth > 0")
    img.click()  # the arrow keys work with the focus off the slider too
    page.keyboard.press("ArrowRight")
    assert img.get_attribute("src").endswith("fakes000000.008.png") and slider.input_value() == "1"
    assert page.locator("figure.reals img").get_attribute("src").endswith("samples/reals.png")

    # tables: metrics, exports (Explore links), checkpoints, preset differences, downloads
    metrics = page.locator(".metrics-table tbody tr")
    assert metrics.count() == 1 and "fid1k" in metrics.inner_text() and "test-pool4" in metrics.inner_text()
    metrics.locator("summary").click()
    assert '"extractor": "test-pool4"' in metrics.locator("pre").inner_text()
    explore = page.locator("td.actions a", has_text="Explore").first
    assert explore.get_attribute("href") == (f"/explore?model={names['dcgan']}%2Fexports%2F"
                                             "generator-000000.032kimg.safetensors")
    text = page.locator("main").inner_text()
    assert "state-000000032.pt" in text and "train.total_kimg" in text
    csv_link = page.locator("a", has_text="CSV")
    assert csv_link.get_attribute("href") == f"/api/runs/{names['dcgan']}/stats?format=csv"
    with page.expect_download() as dl:
        csv_link.click()
    assert dl.value.suggested_filename == f"{names['dcgan']}-stats.csv"
    page.locator(".full-config summary").click()
    assert '"preset": "dcgan-tiny"' in page.locator(".full-config pre").inner_text()


def test_run_without_stats_and_a_missing_run(tab, server, runs_dir):
    root, names = runs_dir
    page = tab.open(f"{server.url}/run/{names['fresh']}")
    page.wait_for_selector("text=No statistics yet")
    assert page.locator("text=No sample grids yet").is_visible()
    assert page.locator("text=No exports yet").is_visible()
    assert page.locator(".gf-chart").count() == 0


# -- compare -------------------------------------------------------------------------------------


def test_compare_overlays_runs_and_their_grids(tab, server, runs_dir):
    root, names = runs_dir
    a, b = names["dcgan"], names["sg2"]
    page = tab.open(f"{server.url}/compare?runs={a},{b}")
    page.wait_for_selector(".compare-grid >> nth=1")
    assert page.eval_on_selector_all(".run-chip", "cs => cs.map(c => c.dataset.run)") == [a, b]
    wait_drawn(page, ".gf-chart canvas")
    keys = page.eval_on_selector_all(".chart-card", "cs => cs.map(c => c.dataset.key)")
    assert keys[0] == "G/adv" and "D/adv" in keys and "img_per_s" in keys
    assert "metrics/fid1k" not in keys  # only a's: the charts show the keys both runs have
    legend = page.locator(".chart-card[data-key='G/adv'] .gf-chart-key")
    assert legend.all_inner_texts() == [a, b]

    # the kimg slider: each run's grid at the nearest tick at or before it
    figs = page.locator(".compare-grid")
    assert figs.nth(0).locator("img").get_attribute("src").endswith(f"{a}/samples/fakes000000.032.png")
    assert figs.nth(1).locator("img").get_attribute("src").endswith(f"{b}/samples/fakes000000.016.png")
    page.locator(".tick-slider").focus()
    page.keyboard.press("ArrowLeft")  # kimg 0.024
    assert page.locator(".tick-label").inner_text() == "kimg 0.024"
    assert figs.nth(0).locator("img").get_attribute("src").endswith("fakes000000.024.png")
    assert figs.nth(1).locator("img").get_attribute("src").endswith("fakes000000.016.png")
    page.keyboard.press("Home")
    assert figs.nth(1).locator("img").get_attribute("src").endswith("fakes000000.png")

    # remove one, add another from the picker; the URL follows
    page.click(f".run-chip[data-run='{a}'] button.remove")
    page.wait_for_function("() => document.querySelectorAll('.run-chip').length === 1")
    assert page.url.endswith(f"/compare?runs={b}")
    page.select_option(".compare-picker select", names["p2p"])
    page.click(".compare-picker button:has-text('Add')")
    page.wait_for_selector(".compare-grid >> nth=1")
    assert page.url.endswith(f"/compare?runs={b},{names['p2p']}")


# -- explore -------------------------------------------------------------------------------------


def test_explore_style_model_psi_seed_class_mix_interp(tab, server, runs_dir):
    root, names = runs_dir
    model = f"{names['sg2']}/generator.safetensors"
    page = tab.open(f"{server.url}/explore?model={model}")
    page.wait_for_function("m => document.querySelector('#model-picker').value === m", arg=model)
    url0, h0 = image_hash(page, "img.explore-img")
    assert url0 == f"/api/image?model={model.replace('/', '%2F')}&seed=0&psi=1&noise=const"
    assert page.locator(".request-time").inner_text().endswith("B")  # "123 ms · 300 B"
    assert page.locator(".psi-slider").is_visible()
    assert page.locator(".noise-select").is_visible()

    page.locator(".seed-slider").focus()
    page.keyboard.press("ArrowRight")  # seed 1
    url1, h1 = next_image(page, "img.explore-img", url0)
    assert "seed=1&psi=1&" in url1 and h1 != h0
    assert page.locator(".seed-number").input_value() == "1"

    page.locator(".psi-slider").focus()
    page.keyboard.press("ArrowLeft")  # psi 0.95
    page.keyboard.press("Home")  # psi 0: the average image (whatever the seed)
    url2, h2 = next_image(page, "img.explore-img", url1)
    assert "seed=1&psi=0&" in url2 and h2 not in (h0, h1)
    assert page.locator(".psi-slider + output").inner_text() == "0.00"

    assert page.locator(".class-select option").count() == 4  # "any" and the 3 classes
    page.select_option(".class-select", "2")
    url3, h3 = next_image(page, "img.explore-img", url2)
    assert url3.endswith("&class=2")

    # a bad seed is refused in words, without a request
    page.fill(".seed-number", "-3")
    page.locator(".image-col .error-box").wait_for(state="visible")
    assert "seed" in page.locator(".image-col .error-box").inner_text()
    page.fill(".seed-number", "5")
    url4, _ = next_image(page, "img.explore-img", url3)
    assert page.locator(".image-col .error-box").is_hidden()
    page.locator(".psi-slider").focus()
    page.keyboard.press("End")  # psi 1.5 (at psi 0 every seed gives the same picture)
    next_image(page, "img.explore-img", url4)

    # style mixing: 3 row seeds x 4 column seeds
    page.click(".mix-section summary")
    page.select_option(".mix-styles", "custom")
    page.fill(".mix-custom", "0-1")
    page.click(".mix-section button:has-text('Render')")
    mix_url, _ = image_hash(page, "img.mix-img")
    assert "rows=1,2,3&cols=4,5,6,7&styles=0-1" in mix_url
    single = page.eval_on_selector("img.explore-img", "i => i.naturalWidth")
    assert page.eval_on_selector("img.mix-img", "i => i.naturalWidth") > single

    # interpolation: opening it draws frame 1 of 16; the frame slider moves along
    page.click(".interp-section summary")
    f0_url, f0 = image_hash(page, "img.interp-img")
    assert "frame=0&frames=16" in f0_url and "space=w" in f0_url
    page.locator(".interp-frame").focus()
    page.keyboard.press("End")
    f15_url, f15 = next_image(page, "img.interp-img", f0_url)
    assert "frame=15&" in f15_url and f15 != f0
    assert page.locator(".interp-section output").inner_text() == "16 / 16"


def test_explore_dcgan_has_no_psi_and_the_seed_changes_the_image(tab, server, runs_dir):
    root, names = runs_dir
    page = tab.open(f"{server.url}/explore")
    page.select_option("#model-picker", f"{names['dcgan']}/generator.safetensors")
    page.wait_for_function("() => location.search.includes('dcgan')")
    url0, h0 = image_hash(page, "img.explore-img")
    assert "psi" not in url0 and "noise" not in url0 and "class" not in url0
    assert page.locator(".psi-slider").is_hidden() and page.locator(".class-select").is_hidden()
    assert page.locator(".mix-section").is_hidden() and page.locator(".interp-section").is_hidden()
    page.click("button:has-text('Random')")
    url1, h1 = next_image(page, "img.explore-img", url0)
    assert h1 != h0


def test_explore_translates_an_upload(tab, server, runs_dir):
    from PIL import Image

    root, names = runs_dir
    page = tab.open(f"{server.url}/explore?model={names['p2p']}/generator.safetensors")
    page.wait_for_selector("input.translate-file")
    buf = io.BytesIO()
    Image.new("L", (16, 16), 40).save(buf, format="PNG")
    page.set_input_files("input.translate-file", files=[{"name": "in.png", "mimeType": "image/png",
                                                         "buffer": buf.getvalue()}])
    url, _ = image_hash(page, "img.translate-out")
    assert url.startswith("/api/translate?model=")
    page.wait_for_function("() => document.querySelector('img.translate-in').naturalWidth === 16")


# -- live refresh, token ---------------------------------------------------------------------------


def leave(tab):
    """Stop the pages' refreshing before their server goes (a refresh refused would be a console error)."""
    for p in tab.context.pages:
        p.goto("about:blank")


def test_pages_follow_a_running_run(tab, live_root):
    root, run, src, rows = live_root
    served = Served(root)
    try:
        page = tab.open(served.url + "/")
        page.wait_for_selector("tr[data-run='00007-live'] .state-running")
        assert "0.016 / 0.032" in page.locator("tr[data-run='00007-live']").inner_text()

        run_page = tab.context.new_page()
        run_page.on("console", lambda m: tab.problems.append(f"console.{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
        run_page.on("pageerror", lambda e: tab.problems.append(f"uncaught: {e}"))
        run_page.goto(served.url + "/run/00007-live")
        run_page.wait_for_selector(".gf-chart canvas")
        assert "refreshing every 5 s" in run_page.locator(".updated").inner_text()
        assert run_page.locator(".tick-slider").get_attribute("max") == "2"
        assert run_page.locator("img.grid-img").get_attribute("src").endswith("fakes000000.016.png")

        # the next tick lands: both pages show it within a refresh (5 s)
        (run / "samples" / "fakes000000.024.png").write_bytes((src / "samples" / "fakes000000.024.png").read_bytes())
        with open(run / "stats.jsonl", "a") as f:
            f.write(rows[2] + "\n")
        run_page.wait_for_function("() => document.querySelector('.tick-slider').max === '3'", timeout=9000)
        assert run_page.locator("img.grid-img").get_attribute("src").endswith("fakes000000.024.png")  # followed
        assert "0.024 / 0.032" in run_page.locator(".run-summary").inner_text()
        page.wait_for_function("""() => document.querySelector("tr[data-run='00007-live']").innerText
            .includes('0.024 / 0.032')""", timeout=9000)
    finally:
        leave(tab)
        served.close()


def test_a_token_from_the_url_carries_to_the_api(tab, runs_dir):
    root, names = runs_dir
    token = "t0ken-for-the-browser-test"
    served = Served(root, token=token)
    try:
        page = tab.open(f"{served.url}/?token={token}")
        page.wait_for_selector(f"tr[data-run='{names['dcgan']}']")
        page.click(f"tr[data-run='{names['dcgan']}'] a")  # no token in this URL: the cookie carries it
        page.wait_for_selector(".gf-chart canvas")
        page.wait_for_function("() => document.querySelector('img.grid-img').naturalWidth > 0")
    finally:
        leave(tab)
        served.close()
