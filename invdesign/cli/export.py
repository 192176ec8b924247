"""`invdesign export`: write a design candidate's volume as npz, vti, tif or h5."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from invdesign.cli.errors import user_errors

FORMATS = ("npz", "vti", "tif", "h5")


def write_candidate(path: Path, volume: np.ndarray, fmt: str | None = None) -> Path:
    """Write a label volume; npz natively (key ``volume``), other formats via ``objectives.io``."""
    fmt = (fmt or path.suffix.lstrip(".").lower()).replace("tiff", "tif").replace("hdf5", "h5")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if path.suffix.lstrip(".").lower() not in (fmt, "tiff", "hdf5"):
        path = path.with_suffix(f".{fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "npz":
        np.savez_compressed(path, volume=np.asarray(volume, dtype=np.uint8))
        return path
    try:
        from objectives.io import write_volume
    except ImportError:
        raise ValueError(f"writing .{fmt} needs objectives.io, which is not available") from None
    write_volume(path, np.asarray(volume, dtype=np.uint8))
    return path


def register(app: typer.Typer) -> None:
    """Add ``export`` to the app."""

    @app.command()
    def export(
        dest: Annotated[Path, typer.Argument(help="File to write (.npz, .vti, .tif or .h5).")],
        out: Annotated[Path | None, typer.Option("--out", "-o", help="A design's output directory.")] = None,
        storage: Annotated[str | None, typer.Option(help="Optuna storage URL or journal file.")] = None,
        study_name: Annotated[str | None, typer.Option(help="Study name.")] = None,
        rank: Annotated[int | None, typer.Option(help="Candidate rank (0 = best).")] = None,
        trial: Annotated[int | None, typer.Option(help="Trial number (with --sample).")] = None,
        sample: Annotated[int, typer.Option(help="Sample index within the trial.")] = 0,
        candidate: Annotated[Path | None, typer.Option(help="A candidate .npz file instead of a study.")] = None,
        fmt: Annotated[str | None, typer.Option("--format", help="npz, vti, tif or h5 (default: DEST's suffix).")] = None,
    ) -> None:
        """Export one candidate volume (from a study's artifacts or a candidate file)."""
        with user_errors():
            if candidate is not None:
                if not candidate.is_file():
                    raise ValueError(f"candidate file {candidate} does not exist")
                with np.load(candidate) as data:
                    if "volume" not in data:
                        raise ValueError(f"{candidate} holds no 'volume' array")
                    volume = data["volume"]
            else:
                from invdesign.loop.results import candidates_table, load_trial_volumes
                from invdesign.loop.study import open_existing

                study = open_existing(storage, out, study_name)
                if trial is None:
                    table = candidates_table(study)
                    r = 0 if rank is None else rank
                    if not 0 <= r < len(table):
                        raise ValueError(f"no candidate of rank {r} ({len(table)} candidates)")
                    t, s = int(table.iloc[r]["trial"]), int(table.iloc[r]["sample"])
                else:
                    t, s = trial, sample
                    if not 0 <= t < len(study.trials):
                        raise ValueError(f"no trial {t} in study {study.study_name!r}")
                vols = load_trial_volumes(study, t)
                if not 0 <= s < len(vols):
                    raise ValueError(f"trial {t} has {len(vols)} samples, not {s + 1}")
                volume = vols[s]
            path = write_candidate(dest, volume, fmt)
        typer.echo(str(path))
