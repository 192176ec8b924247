"""`invdesign dataset ch`: build a labelled Cahn-Hilliard data set (HDF5 shards + manifest)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from invdesign.cli.errors import UserError, user_errors


def parse_range(text: str, option: str) -> tuple[float, float]:
    """``"0.3,0.7"`` -> ``(0.3, 0.7)``; a single value gives a zero-width range."""
    try:
        values = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"{option}: expected LOW,HIGH, got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise UserError(f"{option}: expected LOW,HIGH, got {text!r}")
    return values[0], values[1]


def register(app: typer.Typer) -> None:
    """Add the ``dataset`` command group (``dataset ch``) to the app."""
    group = typer.Typer(help="Build training data sets.", no_args_is_help=True)

    @group.command("ch")
    def dataset_ch(
        out: Path = typer.Option(..., "--out", help="Output directory (shards + manifest.json)."),
        shape: str = typer.Option("128,128,64", "--shape", help="Grid X,Y,Z (last axis = thickness)."),
        n_series: int = typer.Option(16, "--n-series", help="Number of simulated (phi, chi) runs."),
        snapshots: int = typer.Option(8, "--snapshots", help="Log-spaced snapshots kept per run."),
        t_min: float = typer.Option(300.0, "--t-min", help="First snapshot time (300: separated structures, as the shipped models' data)."),
        t_max: float = typer.Option(10_000.0, "--t-max", help="Last snapshot time."),
        phi_range: str = typer.Option("0.3,0.7", "--phi-range", help="LOW,HIGH donor fraction."),
        chi_range: str = typer.Option("2.5,4.0", "--chi-range", help="LOW,HIGH Flory-Huggins chi."),
        phases: int = typer.Option(2, "--phases", help="2 or 3 phases."),
        design: str = typer.Option("lhs", "--design", help="lhs (Latin hypercube) or grid."),
        seed: int = typer.Option(0, "--seed", help="Seed of the design and the runs."),
        device: str = typer.Option("cpu", "--device", help="Torch device: cpu or cuda."),
        dtype: str = typer.Option("float32", "--dtype", help="float32 or float64."),
        batch: int = typer.Option(8, "--batch", help="Runs simulated together (one shard each batch)."),
        as_json: bool = typer.Option(False, "--json", help="Print only a compact JSON summary."),
    ) -> None:
        """Simulate a (phi, chi) design, label every snapshot, write resumable HDF5 shards."""
        from invdesign.cli.describe import resolve_device
        from invdesign.cli.simulate import parse_shape

        with user_errors():
            from generators.cahn_hilliard.dataset_builder import BuildConfig, build_dataset

            config = BuildConfig(
                shape=parse_shape(shape), n_series=n_series, snapshots=snapshots, t_min=t_min,
                t_max=t_max, phi_range=parse_range(phi_range, "--phi-range"),
                chi_range=parse_range(chi_range, "--chi-range"), phases=phases, design=design,
                seed=seed, batch=batch, dtype=dtype)
            summary = build_dataset(out, config, device=resolve_device(device), progress=not as_json)
        typer.echo(json.dumps(summary) if as_json else json.dumps(summary, indent=2))

    app.add_typer(group, name="dataset")
