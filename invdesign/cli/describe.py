"""`invdesign describe`: measure the descriptors of one volume file and print them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from invdesign.cli.errors import UserError, user_errors


def parse_index(index: str) -> int | str:
    """``--index`` value: an integer position, or (``.h5`` files) a sample name."""
    try:
        return int(index)
    except ValueError:
        return index


def resolve_device(device: str) -> Any:
    """``--device`` value -> ``torch.device``; a clear error for bad names or missing CUDA."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise UserError(f"--device: unknown device {device!r} (use cpu or cuda)") from None
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"--device: unsupported device {device!r} (use cpu or cuda)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine")
    return dev


def json_number(value: Any) -> float | None:
    """A descriptor value as a JSON number (NaN and infinities become null)."""
    number = float(value)
    return number if math.isfinite(number) else None


def describe_file(path: Path, index: int | str, periodic: bool, device: str) -> tuple[dict, tuple]:
    """Read one volume and measure it; returns ``(descriptors, shape)``."""
    import objectives
    from objectives.io import read_volume

    dev = resolve_device(device)
    volume = read_volume(path, index)
    labels = objectives.as_label_tensor(volume, device=dev)
    values = objectives.describe(labels, periodic=periodic)
    return {str(k): json_number(v) for k, v in values.items()}, volume.shape


def register(app: typer.Typer) -> None:
    """Add ``describe`` to the app."""

    @app.command("describe")
    def describe(
        path: Path = typer.Argument(..., help="Volume file: .npy .npz .h5 .hdf5 .vti .tif .tiff .txt"),
        periodic: bool = typer.Option(False, "--periodic", help="Wrap the lateral sides (x, y)."),
        device: str = typer.Option("cpu", "--device", help="Torch device: cpu or cuda."),
        as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
        index: str = typer.Option("0", "--index", help="Sample of a many-sample file (position, or .h5 name)."),
    ) -> None:
        """Print the GraSPI descriptors of a volume (three-phase names if it holds label 2)."""
        with user_errors():
            values, shape = describe_file(path, parse_index(index), periodic, device)
        if as_json:
            typer.echo(json.dumps(values))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{path} [{index}] shape {tuple(shape)}", title_justify="left")
        table.add_column("descriptor")
        table.add_column("value", justify="right")
        for name, value in values.items():
            table.add_row(name, "nan" if value is None else f"{value:.6g}")
        Console().print(table)
