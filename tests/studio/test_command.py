"""``ganforge studio``: flags checked before anything starts (one line, exit 2), the token rule for
other hosts, a port in use, and a real server process that answers and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ganforge.cli import main
from ganforge.commands import studio as cmd

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def served(monkeypatch):
    """Replace the server loop: record what would be served instead of blocking."""
    seen = {}

    def fake_serve(app, sock):
        seen["app"], seen["port"] = app, sock.getsockname()[1]

    monkeypatch.setattr(cmd, "serve", fake_serve)
    return seen


@pytest.mark.parametrize("argv, needle", [
    (["--port", "70000"], "--port"),
    (["--port", "http"], "--port"),
    (["--host", "example.com"], "--host 'example.com'"),
    (["--token", "short"], "--token"),
    (["--token", "a" * 20 + "/x"], "--token"),
    (["--device", "tpu"], "tpu"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, capsys, served, argv, needle):
    assert main(["studio", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "app" not in served  # nothing was started


def test_a_missing_runs_folder_is_refused(tmp_path, capsys, served):
    assert main(["studio", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err and "app" not in served


def test_a_port_in_use_is_one_clear_error(tmp_path, capsys, served):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["studio", str(tmp_path), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err and "--port 0" in err


def test_loopback_needs_no_token(tmp_path, capsys, served):
    assert main(["studio", str(tmp_path), "--port", "0"]) == 0
    out = capsys.readouterr()
    assert f"open http://127.0.0.1:{served['port']}/   (Ctrl-C" in out.out and "?token=" not in out.out
    assert "warning" not in out.err


def test_another_host_gets_a_generated_token_and_a_warning(tmp_path, capsys, served):
    assert main(["studio", str(tmp_path), "--port", "0", "--host", "0.0.0.0"]) == 0
    out = capsys.readouterr()
    token = re.search(r"\?token=([A-Za-z0-9_-]+)", out.out).group(1)
    assert len(token) >= 16 and served["app"].token == token
    assert "warning" in out.err and "0.0.0.0" in out.err
    # and a second start generates another one
    assert main(["studio", str(tmp_path), "--port", "0", "--host", "0.0.0.0"]) == 0
    assert token not in capsys.readouterr().out


def test_a_given_token_is_used(tmp_path, capsys, served):
    token = "t" * 24
    assert main(["studio", str(tmp_path), "--port", "0", "--token", token]) == 0
    assert f"?token={token}" in capsys.readouterr().out and served["app"].token == token


@pytest.mark.skipif(sys.platform == "win32", reason="signals to a child process")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_server_answers_and_ctrl_c_or_sigterm_stops_it_cleanly(tmp_path, sig):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-m", "ganforge", "studio", str(tmp_path), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = None
        t0 = time.time()
        while url is None and time.time() - t0 < 60:
            line = p.stdout.readline()
            m = re.search(r"open (http://\S+)", line)
            url = m.group(1) if m else None
            assert line or p.poll() is None, p.stderr.read()
        with urllib.request.urlopen(url + "api/runs", timeout=30) as r:
            assert json.loads(r.read()) == {"root": str(tmp_path), "runs": []}
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert "stopped" in out and "Traceback" not in err
    finally:
        if p.poll() is None:
            p.kill()
