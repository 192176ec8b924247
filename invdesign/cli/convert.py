"""`invdesign convert`: convert a volume between file formats, keeping its labels exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from invdesign.cli.describe import parse_index
from invdesign.cli.errors import UserError, user_errors


def convert_file(src: Path, dst: Path, index: int | str, overwrite: bool, vti_encoding: str) -> dict:
    """Convert one volume (and the attributes the target can hold); returns a JSON summary."""
    from objectives.io import FORMATS_WITH_ATTRS, read_sample, volume_format, write_volume

    fmt = volume_format(dst)
    volume_format(src)
    if src.resolve() == dst.resolve():
        raise UserError(f"{dst}: source and destination are the same file")
    if dst.exists() and not overwrite:
        raise UserError(f"{dst}: already exists (pass --overwrite to replace it)")
    volume, attrs = read_sample(src, index)
    kept = attrs if fmt in FORMATS_WITH_ATTRS else {}
    if fmt == "vti":
        kept = {k: v for k, v in kept.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    write_volume(dst, volume, kept, vti_encoding=vti_encoding)
    back, _ = read_sample(dst)
    if back.shape != volume.shape or not np.array_equal(back, volume):
        raise UserError(f"{dst}: written file does not read back the same labels")
    counts = np.bincount(volume.ravel(), minlength=3)
    return {
        "src": str(src),
        "dst": str(dst),
        "index": index,
        "format": fmt,
        "shape": list(volume.shape),
        "voxels": {"donor": int(counts[0]), "acceptor": int(counts[1]), "mixed": int(counts[2])},
        "attrs_written": sorted(kept),
        "attrs_dropped": sorted(set(attrs) - set(kept)),
    }


def register(app: typer.Typer) -> None:
    """Add ``convert`` to the app."""

    @app.command("convert")
    def convert(
        src: Path = typer.Argument(..., help="Source volume file (.npy .npz .h5 .hdf5 .vti .tif .tiff .txt)."),
        dst: Path = typer.Argument(..., help="Destination file; its extension picks the format."),
        index: str = typer.Option("0", "--index", help="Sample of a many-sample source (position, or .h5 name)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace DST if it exists."),
        vti_encoding: str = typer.Option("appended", "--vti-encoding", help="ascii, base64 or appended."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    ) -> None:
        """Convert a volume between formats (labels kept exactly; GraSPI .txt writes mixed as 3)."""
        with user_errors():
            summary = convert_file(src, dst, parse_index(index), overwrite, vti_encoding)
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            typer.echo(f"wrote {summary['dst']} ({summary['format']}, shape {tuple(summary['shape'])})")
