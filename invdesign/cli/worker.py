"""`invdesign worker`: run trials of a shared study (any number of workers at once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from invdesign.cli.errors import user_errors


def register(app: typer.Typer) -> None:
    """Add ``worker`` to the app."""

    @app.command("worker")
    def worker(
        storage: str = typer.Option(..., "--storage", help="Study storage: postgresql://..., sqlite:///..., or a journal file path."),
        study_name: str = typer.Option(..., "--study-name", help="Name of an existing study (made by `design --budget 0`)."),
        n_trials: int = typer.Option(1, "--n-trials", help="Trials this worker runs (> 0)."),
        device: str = typer.Option("cpu", "--device", help="Torch device of the generator, e.g. cuda:0."),
        artifacts: Optional[Path] = typer.Option(None, "--artifacts", help="Check the study's artifact directory is this one (default: the study's)."),
        heartbeat_interval: Optional[int] = typer.Option(None, "--heartbeat-interval", help="Seconds between heartbeats (default 10)."),
        grace_period: Optional[int] = typer.Option(None, "--grace-period", help="Seconds without heartbeat before a trial is failed and retried (default 2 intervals)."),
        wait: float = typer.Option(0.0, "--wait", help="Seconds to keep retrying an unreachable database at start."),
        threads: Optional[str] = typer.Option(None, "--threads", help="torch CPU threads, or 'auto': the free cores, re-checked while running (default; env INVDESIGN_THREADS)."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Run trials of a shared study: everything else is read from the study."""
        from invdesign.distributed import run_worker
        from invdesign.distributed.worker import WorkerError
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from invdesign.threads import ThreadPolicy

        with user_errors():
            policy = ThreadPolicy(threads)
            try:
                with policy:
                    summary = run_worker(storage, study_name, n_trials, device=device, artifacts=artifacts,
                                         heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                                         wait_s=wait)
            except WorkerError as exc:
                Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
                raise typer.Exit(code=1) from None
        if json_out:
            typer.echo(json.dumps(summary.as_dict()))
        else:
            typer.echo(f"worker {summary.worker}: {len(summary.completed)} complete, "
                       f"{len(summary.failed)} failed trials in {summary.seconds:.1f} s")
