"""`invdesign dashboard`: start the Streamlit dashboard (``streamlit run apps/dashboard.py``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
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
            typer.echo(f"dashboard on http://{host}:{port}")
            code = subprocess.call(cmd)
        raise typer.Exit(code=code)
