"""Label tables: one row per simulated snapshot (set, series, recipe, time, descriptors).

The format the surrogate is fitted on (CSV with a header, or any sequence of mappings / a pandas
DataFrame with these columns):

``set``        name of the data split (``train``, ``held``, ...); optional
``series``     simulation index within its set (one simulation = one noise seed); optional
``phi, chi``   the recipe's blend ratio and Flory-Huggins parameter
``seed``       the simulation's noise seed; optional (recorded so verification can avoid it)
``time``       annealing time (simulation units) and/or ``log_time`` = log10(time)
``separated``  whether the blend had phase-separated at that time (bool: True/False, 1/0); optional
descriptors    any further numeric columns, e.g. the GraSPI two-phase names and ``vol_frac_D``,
               ``vol_frac_M``, ``tortuosity_A``, ``tortuosity_D``
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generators.protocol import RECIPE_NAMES

META = ("set", "series", *RECIPE_NAMES, "seed", "time", "separated")


def read_table(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV label table (values as strings; see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no label table at {p}")
    with p.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"label table {p} has no rows")
    return rows


def as_rows(table) -> list[Mapping]:
    """Rows of a table given as a path, a pandas DataFrame or a sequence of mappings."""
    if isinstance(table, (str, Path)):
        return read_table(table)
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        return table.to_dict(orient="records")
    rows = list(table)
    if not rows or not all(isinstance(r, Mapping) for r in rows):
        raise ValueError("a label table must be a CSV path, a DataFrame or a non-empty sequence of mappings")
    return rows


def descriptor_columns(rows: Sequence[Mapping], phases: int | None = None) -> list[str]:
    """Descriptor columns of a table (everything that is not :data:`META` nor a timing column
    ``*_seconds``); with ``phases`` only the three-phase names (``vol_frac_*``, ``tortuosity_*``) or
    only the others."""
    names = [k for k in rows[0] if k not in META and not k.endswith("seconds")]
    if phases == 3:
        return [n for n in names if n.startswith(("vol_frac_", "tortuosity_"))]
    if phases == 2:
        return [n for n in names if not n.startswith(("vol_frac_", "tortuosity_"))]
    return names


def _bool(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    s = str(value).strip().lower()
    if s in ("true", "1", "1.0", "yes"):
        return True
    if s in ("false", "0", "0.0", "no"):
        return False
    raise ValueError(f"'separated' must be a boolean, got {value!r}")


def _float(row: Mapping, key: str) -> float:
    try:
        return float(row[key])
    except (TypeError, ValueError):
        raise ValueError(f"label table column {key!r} holds a non-number: {row[key]!r}") from None


@dataclass
class TableData:
    """The rows a surrogate is fitted on, as arrays.

    Attributes
    ----------
    recipes : ndarray ``(n, 3)`` phi, chi, log_time
    values : ndarray ``(n, k)`` descriptors in ``names`` order
    groups : ndarray int ``(n,)`` one id per simulated series
    separated : ndarray bool ``(n,)``
    seeds : list of int (the series' noise seeds, when the table has them)
    names : list of str
    dropped : int (rows left out: a non-finite descriptor value)
    """

    recipes: np.ndarray
    values: np.ndarray
    groups: np.ndarray
    separated: np.ndarray
    seeds: list[int]
    names: list[str]
    dropped: int


def table_data(table, names: Iterable[str], sets: Sequence[str] | None = ("train",)) -> TableData:
    """Parse and check a label table for fitting.

    Parameters
    ----------
    table : path, DataFrame or sequence of mappings
    names : descriptor columns to model
    sets : names of the ``set`` values to use (default ``("train",)``; ``None``: every row). Tables
        without a ``set`` column use every row.

    Raises
    ------
    ValueError
        A missing column, no rows of the requested sets, a non-numeric value.
    """
    rows = as_rows(table)
    names = list(names)
    if not names:
        raise ValueError("name at least one descriptor to model")
    cols = set(rows[0])
    missing = [c for c in ("phi", "chi", *names) if c not in cols]
    if "time" not in cols and "log_time" not in cols:
        missing.append("time (or log_time)")
    if missing:
        raise ValueError(f"label table lacks column(s): {', '.join(missing)} (has: {', '.join(sorted(cols))})")
    if sets is not None and "set" in cols:
        have = sorted({str(r["set"]) for r in rows})
        rows = [r for r in rows if str(r["set"]) in set(sets)]
        if not rows:
            raise ValueError(f"label table has no rows of set(s) {', '.join(sets)} (sets: {', '.join(have)})")
    recipes, values, keys, sep, seeds = [], [], [], [], {}
    dropped = 0
    for i, r in enumerate(rows):
        t = math.log10(_float(r, "time")) if "time" in cols and str(r["time"]) != "" else _float(r, "log_time")
        v = [_float(r, n) for n in names]
        if not all(math.isfinite(x) for x in v):
            dropped += 1
            continue
        key = (str(r.get("set", "")), str(r["series"])) if "series" in cols else ("", str(i))
        recipes.append((_float(r, "phi"), _float(r, "chi"), t))
        values.append(v)
        keys.append(key)
        sep.append(_bool(r["separated"]) if "separated" in cols else True)
        if "seed" in cols and str(r["seed"]) != "":
            seeds[key] = int(float(r["seed"]))
    if not recipes:
        raise ValueError("label table has no rows with finite values of the named descriptors")
    ids = {k: j for j, k in enumerate(dict.fromkeys(keys))}
    return TableData(np.asarray(recipes, dtype=np.float64), np.asarray(values, dtype=np.float64),
                     np.asarray([ids[k] for k in keys], dtype=np.int64), np.asarray(sep, dtype=bool),
                     sorted(set(seeds.values())), names, dropped)
