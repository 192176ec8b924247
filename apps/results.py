"""Reading a ``DesignResult`` for display: the ranked candidate table and one candidate's volume.

``DesignResult.candidates`` is a pandas DataFrame (one row per candidate volume, ranked, with trial,
conditions, measured descriptors, ``distance``, ``success`` and the recipe ``phi``, ``chi``,
``log_time``); ``DesignResult.volume(rank)`` gives the label volume of the row of that rank
(the best few are held in memory, others are read from the study's artifact store).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from generators.protocol import RECIPE_NAMES

RECIPE = RECIPE_NAMES


def candidate_table(result: Any) -> pd.DataFrame:
    """The candidates as a DataFrame with a fresh 0..n-1 index (row ``i`` <-> volume ``i``)."""
    frame = getattr(result, "candidates", None)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError("the design result has no candidates table")
    return frame.reset_index(drop=True)


def candidate_volume(result: Any, row: int) -> np.ndarray:
    """Label volume ``(X, Y, Z)`` (uint8) of candidate ``row`` of :func:`candidate_table`."""
    table = candidate_table(result)
    if not 0 <= row < len(table):
        raise ValueError(f"candidate {row} does not exist (there are {len(table)})")
    rank = int(table.loc[row, "rank"]) if "rank" in table.columns else row
    vol = result.volume(rank)
    if hasattr(vol, "detach"):
        vol = vol.detach().cpu().numpy()
    return np.asarray(vol, dtype=np.uint8)


def condition_columns(frame: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """Condition name -> its column in the candidates table (``condition_<name>``, else ``<name>``)."""
    out = {}
    for n in names:
        for col in (f"condition_{n}", n):
            if col in frame.columns:
                out[n] = col
                break
    return out


def recipe(row: pd.Series) -> dict[str, float]:
    """The predicted recipe of a candidate: ``phi``, ``chi``, ``log_time`` and ``time`` = 10**log_time."""
    out = {k: float(row[k]) for k in RECIPE if k in row and pd.notna(row[k])}
    if "log_time" in out:
        out["time"] = float(10.0 ** out["log_time"])
    return out


def surrogate_recipe(row: pd.Series) -> dict[str, float]:
    """The recipe the model's surrogate found for a candidate (``recipe_*`` columns): ``phi``,
    ``chi``, ``time`` and ``predicted_distance``; empty when the candidate has none."""
    keys = ("phi", "chi", "time", "predicted_distance")
    if not all(f"recipe_{k}" in row and pd.notna(row[f"recipe_{k}"]) for k in keys):
        return {}
    return {k: float(row[f"recipe_{k}"]) for k in keys}


def volume_bytes(volume: np.ndarray, fmt: str) -> bytes:
    """The file a user downloads for a volume: ``npz`` (key ``volume``), ``vti`` or ``tif``.

    Written by ``objectives.io.write_volume`` (the project's writers); ``npz`` falls back to numpy's
    writer with the same layout when those are not installed.
    """
    import tempfile
    from pathlib import Path

    fmt = fmt.lower().lstrip(".")
    if fmt not in ("npz", "vti", "tif"):
        raise ValueError(f"unknown download format {fmt!r} (npz, vti, tif)")
    try:
        from objectives.io import write_volume
    except ImportError:
        if fmt != "npz":
            raise ValueError(f"{fmt} export needs objectives.io, which is not installed") from None
        buf = io.BytesIO()
        np.savez_compressed(buf, volume=np.asarray(volume, dtype=np.uint8))
        return buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"candidate.{fmt}"
        write_volume(path, np.asarray(volume, dtype=np.uint8))
        return path.read_bytes()


def table_csv(frame: pd.DataFrame) -> bytes:
    """The candidates table as CSV bytes (UTF-8, no index)."""
    return frame.to_csv(index=False).encode("utf-8")
