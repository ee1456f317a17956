"""The studio's HTTP API through Starlette's test client: listing, a run's curves and files, an image
equal to `ganforge generate`'s, refusals (traversal, uploads, token, host), a run being written, and a
slow image request that does not hold up the rest of the server."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

import ganforge
from ganforge.cli import main
from ganforge.studio.app import CSP, create_app
from helpers.data import make_dataset

RUN = "00000-dcgan-tiny"
MODEL = f"{RUN}/generator.safetensors"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A runs folder with one finished two-tick DCGAN run (grids, exports, checkpoints)."""
    root = tmp_path_factory.mktemp("runs")
    cfg = ganforge.get_preset("dcgan-tiny")
    ganforge.train(cfg, out=root, dataset=make_dataset(), overrides={
        "train.total_kimg": 0.064, "train.tick_kimg": 0.032, "train.progress": False, "metrics.names": ""})
    assert (root / MODEL).is_file()
    return root


@pytest.fixture(scope="module")
def client(root):
    with TestClient(create_app(root, "cpu")) as c:
        yield c


def test_pages_are_html_shells_with_a_strict_content_policy(client):
    for url, page in [("/", "runs"), (f"/run/{RUN}", "run"), ("/compare?runs=a,b", "compare"),
                      (f"/explore?model={MODEL}", "explore")]:
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert f'data-page="{page}"' in r.text and "http://" not in r.text and "https://" not in r.text
        assert r.headers["content-security-policy"] == CSP and r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/studio.js").status_code == 200
    assert client.get("/static/chart.js").status_code == 200


def test_the_runs_listing_and_a_run(client, root):
    listing = client.get("/api/runs").json()
    assert listing["root"] == str(root)
    (run,) = listing["runs"]
    assert run["name"] == RUN and run["state"] == "finished" and run["family"] == "classic"
    assert run["kimg"] == run["total_kimg"] == 0.064 and run["grids"] == 3 and run["exports"] == 2
    detail = client.get(f"/api/runs/{RUN}").json()
    assert [g["kimg"] for g in detail["grids"]] == [0.0, 0.032, 0.064]
    assert detail["status"]["state"] == "finished"
    grid = client.get(detail["grids"][-1]["url"])
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
    assert grid.content == (root / RUN / "samples" / "fakes000000.064.png").read_bytes()
    assert client.get(f"/api/runs/{RUN}x").status_code == 404


def test_curves_as_table_csv_and_json(client, root):
    rows = [json.loads(x) for x in (root / RUN / "stats.jsonl").read_text().splitlines()]
    table = client.get(f"/api/runs/{RUN}/stats").json()
    col = table["columns"].index("G/adv")
    assert [r[col] for r in table["rows"]] == [r["G/adv"] for r in rows if "G/adv" in r]
    csv = client.get(f"/api/runs/{RUN}/stats?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert f'filename="{RUN}-stats.csv"' in csv.headers["content-disposition"]
    assert csv.text.splitlines()[0].split(",")[:2] == ["kimg", "step"] and len(csv.text.splitlines()) == 1 + len(table["rows"])
    js = client.get(f"/api/runs/{RUN}/stats?format=json")
    assert "attachment" in js.headers["content-disposition"] and json.loads(js.content) == table
    bad = client.get(f"/api/runs/{RUN}/stats?format=xml")
    assert bad.status_code == 400 and "'xml'" in bad.json()["error"]


def test_the_image_is_what_ganforge_generate_writes(client, root, tmp_path):
    assert main(["generate", "--model", str(root / MODEL), "--seeds", "5", "--out", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("*.png")
    r = client.get(f"/api/image?model={MODEL}&seed=5")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == written.read_bytes()
    assert client.get(f"/api/image?model={MODEL}&seed=6").content != r.content


@pytest.mark.parametrize("url, status, needle", [
    (f"/api/image?model={MODEL}&seed=-1", 400, "-1"),
    (f"/api/image?model={MODEL}&seed=x", 400, "'x'"),
    (f"/api/image?model={MODEL}&psi=0.5", 400, "psi"),
    ("/api/image?seed=1", 400, "model: missing"),
    ("/api/image?model=../../etc/passwd", 403, "leaves the runs folder"),
    ("/api/image?model=nope/generator.safetensors", 404, "nope"),
    (f"/api/mix?model={MODEL}&rows=1&cols=2", 400, "style"),
    ("/files/../../etc/passwd", 404, ""),
    ("/files/%2e%2e/%2e%2e/etc/passwd", 403, "leaves the runs folder"),
    (f"/files/{RUN}/checkpoints/state-000000064.pt", 403, "serves only"),
    (f"/files/{RUN}/samples/none.png", 404, "none.png"),
])
def test_refusals_are_one_json_error_with_the_value(client, url, status, needle):
    r = client.get(url)
    assert r.status_code == status, r.text
    if needle:
        assert needle in r.json()["error"]


def test_a_symlink_out_of_the_runs_folder_is_refused(client, root, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"password": 1}')
    link = root / RUN / "samples" / "leak.json"
    os.symlink(secret, link)
    try:
        r = client.get(f"/files/{RUN}/samples/leak.json")
        assert r.status_code == 403 and "password" not in r.text
    finally:
        link.unlink()


def test_uploads_that_are_not_images_or_too_big_are_refused(client):
    url = "/api/translate?model=" + MODEL
    r = client.post(url, files={"image": ("x.png", b"not an image", "image/png")})
    assert r.status_code == 415 and "PNG" in r.json()["error"]
    r = client.post(url, content=b"\0" * 16, headers={"content-length": str(11 * 2**20)})
    assert r.status_code == 413 and "MiB" in r.json()["error"]
    r = client.post(url, content=b"\0" * (11 * 2**20))
    assert r.status_code == 413
    r = client.post(url, files={"other": ("x.png", b"123", "image/png")})
    assert r.status_code == 400 and "'image'" in r.json()["error"]
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, "PNG")
    r = client.post(url, files={"image": ("x.png", buf.getvalue(), "image/png")})
    assert r.status_code == 400 and "/api/image" in r.json()["error"]  # a noise generator translates nothing


def test_a_run_being_written_is_read_without_an_error(client, root, tmp_path):
    import shutil

    live = root / "00001-live"
    shutil.copytree(root / RUN, live, ignore=shutil.ignore_patterns("checkpoints", "exports", "*.safetensors"))
    (live / "status.json").write_text(json.dumps({"state": "running", "pid": os.getpid(), "host": os.uname().nodename,
                                                  "started": time.time(), "kimg": 0}))
    try:
        with open(live / "stats.jsonl", "a") as f:
            f.write('{"kimg": 0.096, "step": 12, "G/ad')  # a tick being appended
        runs = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
        assert runs["00001-live"]["state"] == "running" and runs["00001-live"]["kimg"] == 0.064
        table = client.get("/api/runs/00001-live/stats").json()
        assert [r[0] for r in table["rows"]][-1] == 0.064
        (live / "samples" / "fakes000000.032.png").unlink()  # a grid replaced between listing and reading
        assert client.get("/files/00001-live/samples/fakes000000.032.png").status_code == 404
    finally:
        shutil.rmtree(live)


def test_a_token_is_needed_on_every_request_and_kept_in_a_cookie(root):
    token = "k" * 24
    with TestClient(create_app(root, "cpu", token=token)) as c:
        r = c.get("/api/runs")
        assert r.status_code == 403 and "token" in r.json()["error"]
        assert c.get("/?token=wrong" + "x" * 20).status_code == 403
        page = c.get(f"/?token={token}")
        assert page.status_code == 200 and "httponly" in page.headers["set-cookie"].lower()
        assert c.get("/api/runs").status_code == 200  # the cookie now
    with TestClient(create_app(root, "cpu", token=token)) as c:
        assert c.get("/api/runs", headers={"X-Ganforge-Token": token}).status_code == 200
        assert c.get("/static/studio.js").status_code == 403


def test_without_a_token_only_loopback_host_names_are_answered(root):
    with TestClient(create_app(root, "cpu"), base_url="http://127.0.0.1:7860") as c:
        assert c.get("/api/runs").status_code == 200
        assert c.get("/api/runs", headers={"host": "localhost:7860"}).status_code == 200
        r = c.get("/api/runs", headers={"host": "attacker.example:7860"})
        assert r.status_code == 403 and "attacker.example" in r.json()["error"]


def test_an_unexpected_error_is_a_json_500_without_a_traceback(root, monkeypatch):
    from ganforge.studio import runs as runs_mod

    monkeypatch.setattr(runs_mod, "list_runs", lambda root: 1 / 0)
    with TestClient(create_app(root, "cpu"), raise_server_exceptions=False) as c:
        r = c.get("/api/runs")
    assert r.status_code == 500 and "ZeroDivisionError" in r.json()["error"] and "Traceback" not in r.text


def test_a_slow_image_does_not_hold_up_the_runs_listing(root):
    app = create_app(root, "cpu")
    explorer = app.app.state.explorer
    real = explorer.image

    def slow_image(*args, **kwargs):
        time.sleep(1.5)
        return real(*args, **kwargs)

    explorer.image = slow_image
    done = {}

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            async def get(name, url):
                r = await c.get(url)
                done[name] = (time.monotonic(), r.status_code)

            image = asyncio.create_task(get("image", f"/api/image?model={MODEL}&seed=1"))
            await asyncio.sleep(0.2)
            await get("runs", "/api/runs")
            await image

    asyncio.run(go())
    assert done["runs"][1] == 200 and done["image"][1] == 200
    assert done["runs"][0] < done["image"][0] - 0.5  # answered while the image was still rendering
