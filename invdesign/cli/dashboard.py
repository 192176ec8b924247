"""`invdesign dashboard`: start the Streamlit dashboard (``streamlit run apps/dashboard.py``).

The server is this command's child: stopping the command (Ctrl-C, SIGTERM, SIGHUP) stops the
server too (:func:`run_server`), so no dashboard keeps serving after its command is gone.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from invdesign.cli.errors import user_errors


def app_path() -> Path:
    """The dashboard script inside the installed ``apps`` package, found without importing it
    (imports flow apps -> invdesign, never back)."""
    spec = importlib.util.find_spec("apps")
    if spec is None or spec.origin is None:
        raise ValueError("the apps package (the dashboard) is not installed")
    return Path(spec.origin).resolve().parent / "dashboard.py"


def streamlit_command(host: str = "127.0.0.1", port: int = 8501) -> list[str]:
    """The ``streamlit run`` command line for the dashboard, bound to ``host:port``, headless."""
    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1..65535 (got {port})")
    if not host.strip():
        raise ValueError("host is empty")
    return [sys.executable, "-m", "streamlit", "run", str(app_path()),
            "--server.address", host, "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_server(cmd: list[str], grace_s: float = 10.0) -> int:
    """Run ``cmd`` as a child process until it exits or this process is told to stop.

    On SIGINT, SIGTERM or SIGHUP the child gets SIGTERM, and SIGKILL if it is still running
    ``grace_s`` seconds later; the previous signal handlers are restored on return.

    Returns
    -------
    int
        The child's exit status, or ``128 + signal`` when a signal stopped it.
    """
    proc = subprocess.Popen(cmd)
    stopped: list[tuple[int, float]] = []

    def stop(signum, _frame) -> None:
        if not stopped:
            stopped.append((signum, time.monotonic()))
        if proc.poll() is None:
            proc.terminate()

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stopped and time.monotonic() - stopped[0][1] > grace_s:
                    proc.kill()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:  # an exception of our own: never leave the server behind
            proc.kill()
            proc.wait()
    return 128 + int(stopped[0][0]) if stopped else code


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` to the app."""

    @app.command()
    def dashboard(
        port: int = typer.Option(8501, help="Port to serve on."),
        host: str = typer.Option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only)."),
    ) -> None:
        """Start the web dashboard (Streamlit): design, watch studies, browse and verify candidates."""
        with user_errors():
            try:
                import streamlit  # noqa: F401
            except ImportError:
                raise ValueError("the dashboard needs streamlit and plotly: "
                                 "pip install 'invdesign[dashboard]'") from None
            cmd = streamlit_command(host, port)
            typer.echo(f"dashboard on http://{host}:{port} (Ctrl-C stops it)")
            code = run_server(cmd)
        raise typer.Exit(code=code)
