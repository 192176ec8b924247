"""`invdesign simulate`: anneal one blend with the Cahn-Hilliard simulator and save its phase map.

Prints the descriptors as a table (as ``describe`` does), or one JSON object with ``--json``; a
progress bar on stderr follows the simulated time (not with ``--json``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import typer

from invdesign.cli.errors import UserError, user_errors


def parse_shape(text: str) -> tuple[int, ...]:
    """``"128,128,64"`` -> ``(128, 128, 64)``; 2 or 3 sizes, each >= 2."""
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise UserError(f"--shape: expected sizes like 128,128,64, got {text!r}") from None
    if len(shape) not in (2, 3) or any(n < 2 for n in shape):
        raise UserError(f"--shape: need 2 or 3 sizes, each >= 2, got {text!r}")
    return shape


def run_simulation(phi: float, chi: float, anneal_time: float, shape: tuple[int, ...], seed: int,
                   phases: int, device: str, dtype: str, out: Path | None,
                   progress: Callable[[float], None] | None = None) -> dict:
    """Simulate, label, optionally write the volume; return the JSON summary.

    ``progress(t)`` is called after every solver step with the simulated time reached.
    """
    import torch

    from generators.cahn_hilliard import phase_map, simulate
    from generators.cahn_hilliard.attributes import describe_volumes
    from invdesign.cli.describe import json_number, resolve_device

    if not 0 < phi < 1:
        raise UserError(f"--phi must lie in (0, 1), got {phi}")
    if not (math.isfinite(chi) and math.isfinite(anneal_time)) or anneal_time <= 0:
        raise UserError("--chi must be finite and --time positive")
    if phases not in (2, 3):
        raise UserError(f"--phases must be 2 or 3, got {phases}")
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if dtype not in dtypes:
        raise UserError(f"--dtype must be float32 or float64, got {dtype!r}")
    if out is not None:
        from objectives.io import volume_format

        volume_format(out)  # unknown extensions fail before the simulation runs
    dev = resolve_device(device)
    start = time.perf_counter()
    callback = None if progress is None else (lambda t, _c: progress(float(t)))
    c = simulate(phi, chi, [anneal_time], shape=shape, seed=seed, device=dev, dtype=dtypes[dtype],
                 callback=callback)[0]
    sim_s = time.perf_counter() - start
    volume = phase_map(c[None], phases, chi=torch.tensor([chi]))[0]
    descriptors = {k: json_number(v[0]) for k, v in describe_volumes(volume[None]).items()}
    recipe = {"phi": phi, "chi": chi, "time": anneal_time, "log_time": math.log10(anneal_time)}
    if out is not None:
        from objectives.io import FORMATS_WITH_ATTRS, volume_format, write_volume

        out.parent.mkdir(parents=True, exist_ok=True)
        attrs = {**recipe, "seed": seed} if volume_format(out) in FORMATS_WITH_ATTRS else None
        write_volume(out, volume.cpu().numpy(), attrs)
    return {
        "out": None if out is None else str(out),
        **recipe,
        "seed": seed,
        "shape": list(shape),
        "phases": phases,
        "device": str(dev),
        "dtype": dtype,
        "simulation_s": round(sim_s, 3),
        "mean_donor_fraction": float(c.double().mean()),
        "descriptors": descriptors,
    }


def print_summary(summary: dict) -> None:
    """The summary as a table of descriptors (as ``describe`` prints them) and one line of facts."""
    from rich.console import Console
    from rich.table import Table

    shape = "x".join(str(n) for n in summary["shape"])
    table = Table(title=f"phi {summary['phi']:g}, chi {summary['chi']:g}, time {summary['time']:g}",
                  title_justify="left")
    table.add_column("descriptor")
    table.add_column("value", justify="right")
    for name, value in summary["descriptors"].items():
        table.add_row(name, "nan" if value is None else f"{value:.6g}")
    console = Console()
    console.print(table)
    where = f"; written to {summary['out']}" if summary["out"] else ""
    console.print(f"seed {summary['seed']}, {summary['phases']} phases, {shape}; simulated in "
                  f"{summary['simulation_s']:.3g} s on {summary['device']} ({summary['dtype']}); "
                  f"mean donor fraction {summary['mean_donor_fraction']:.6g}{where}")


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the app."""

    @app.command("simulate")
    def simulate_cmd(
        phi: float = typer.Option(..., "--phi", help="Mean donor fraction, in (0, 1)."),
        chi: float = typer.Option(..., "--chi", help="Flory-Huggins parameter (separates above 2 at phi 0.5)."),
        anneal_time: float = typer.Option(..., "--time", help="Annealing time (simulation units)."),
        shape: str = typer.Option("128,128,64", "--shape", help="Grid X,Y,Z (last axis = thickness)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the initial noise."),
        out: Path = typer.Option(None, "--out", help="Phase-map file (.npz key 'volume', .npy, .h5, .vti, .tif, .txt)."),
        phases: int = typer.Option(2, "--phases", help="2 (donor/acceptor) or 3 (with a mixed phase)."),
        device: str = typer.Option("cpu", "--device", help="Torch device: cpu or cuda."),
        dtype: str = typer.Option("float32", "--dtype", help="float32 or float64."),
        as_json: bool = typer.Option(False, "--json", help="Print exactly one compact JSON object."),
    ) -> None:
        """Simulate Cahn-Hilliard annealing of a blend; save the phase map and print its descriptors."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("[bold]simulate[/] t"), BarColumn(),
                       TextColumn("{task.completed:.4g} / {task.total:g}"), TimeElapsedColumn(),
                       console=Console(stderr=True), transient=True, disable=as_json)
        with user_errors(), bar:
            task = bar.add_task("t", total=anneal_time)
            summary = run_simulation(phi, chi, anneal_time, parse_shape(shape), seed, phases, device, dtype,
                                     out, progress=lambda t: bar.update(task, completed=min(t, anneal_time)))
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            print_summary(summary)
