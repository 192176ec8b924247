"""Stopping ``invdesign dashboard`` (Ctrl-C, SIGTERM) stops its server: nothing keeps serving."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).read()
        return True
    except OSError:
        return False


def _wait(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _processes_with(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (Linux /proc)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = next((ln for ln in (d / "status").read_text().splitlines() if ln.startswith("State:")), "")
            except OSError:
                continue
            if text in cmd and "zombie" not in state:
                pids.append(int(d.name))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_server_stops_its_child(sig, tmp_path):
    """The mechanism, with a plain HTTP server as the child: a signal to the parent stops both."""
    port = _free_port()
    code = ("import sys; from invdesign.cli.dashboard import run_server; "
            f"sys.exit(run_server([sys.executable, '-m', 'http.server', '{port}', '--bind', '127.0.0.1']))")
    parent = subprocess.Popen([sys.executable, "-c", code], env=ENV, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait(lambda: _answers(url), 60, "the server")
        parent.send_signal(sig)
        code = parent.wait(timeout=30)
        _wait(lambda: not _answers(url), 15, "the server to stop")
        assert not _processes_with(f"http.server {port}")
        assert code == 128 + sig
    finally:
        parent.kill()
        for pid in _processes_with(f"http.server {port}"):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_invdesign_dashboard_stops_streamlit(sig, tmp_path):
    """The reported fault: ``invdesign dashboard`` stopped by a signal left Streamlit serving."""
    pytest.importorskip("streamlit", reason="the dashboard extras are not installed")
    port = _free_port()
    cli = subprocess.Popen([sys.executable, "-m", "invdesign.cli.main", "dashboard", "--port", str(port)],
                           env=ENV, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    health = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        _wait(lambda: _answers(health), 180, "streamlit")
        assert _processes_with(f"--server.port {port}")
        cli.send_signal(sig)
        code = cli.wait(timeout=60)
        _wait(lambda: not _answers(health), 30, "streamlit to stop serving")
        _wait(lambda: not _processes_with(f"--server.port {port}"), 30, "streamlit to exit")
        assert code == 128 + sig
    finally:
        cli.kill()
        for pid in _processes_with(f"--server.port {port}"):
            os.kill(pid, signal.SIGKILL)
