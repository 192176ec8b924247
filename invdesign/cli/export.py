"""`invdesign export`: write a design candidate's volume as npz, vti, tif or h5."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from invdesign.cli.errors import user_errors

FORMATS = ("npz", "vti", "tif", "h5")


def write_candidate(path: Path, volume: np.ndarray, fmt: str | None = None,
                    attrs: dict | None = None) -> Path:
    """Write a label volume with ``objectives.io.write_volume`` (``.npz``: key ``volume``).

    ``fmt`` overrides the suffix of ``path`` (which then gets the format's suffix); ``attrs``
    (candidate descriptors and recipe) are kept by npz, h5 and vti (numeric ones) and dropped
    for tif.
    """
    from objectives.io import write_volume

    suffix = path.suffix.lstrip(".").lower()
    fmt = (fmt or suffix).lower().replace("tiff", "tif").replace("hdf5", "h5")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if suffix.replace("tiff", "tif").replace("hdf5", "h5") != fmt:
        path = path.with_suffix(f".{fmt}")
    if attrs is not None:
        attrs = {k: v for k, v in attrs.items() if fmt != "vti" or isinstance(v, (int, float))}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_volume(path, np.asarray(volume, dtype=np.uint8), None if fmt == "tif" else attrs)
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
        """Export one candidate volume (from a study's artifacts or a candidate file).

        npz, h5 and vti files also hold the candidate's descriptors and recipe as attributes.
        """
        attrs = None
        with user_errors():
            if candidate is not None:
                if not candidate.is_file():
                    raise ValueError(f"candidate file {candidate} does not exist")
                if candidate.suffix.lower() != ".npz":
                    raise ValueError(f"candidate file {candidate} is not a .npz (labels under 'volume')")
                from objectives.io import read_npz_sample

                volume, attrs = read_npz_sample(candidate)  # plain one-line errors, never unpickled
                attrs = attrs or None
            else:
                from invdesign.loop.results import candidates_table, load_trial_volumes, row_attrs
                from invdesign.studies.study import open_existing

                study = open_existing(storage, out, study_name)
                table = candidates_table(study)
                if trial is None:
                    r = 0 if rank is None else rank
                    if not 0 <= r < len(table):
                        raise ValueError(f"no candidate of rank {r} ({len(table)} candidates)")
                    t, s = int(table.iloc[r]["trial"]), int(table.iloc[r]["sample"])
                else:
                    t, s = trial, sample
                    if not 0 <= t < len(study.trials):
                        raise ValueError(f"no trial {t} in study {study.study_name!r}")
                hit = table[(table["trial"] == t) & (table["sample"] == s)] if len(table) else table
                if len(hit):
                    attrs = row_attrs(hit.iloc[0])
                vols = load_trial_volumes(study, t)
                if not 0 <= s < len(vols):
                    raise ValueError(f"trial {t} has {len(vols)} samples, not {s + 1}")
                volume = vols[s]
            path = write_candidate(dest, volume, fmt, attrs)
        typer.echo(str(path))
