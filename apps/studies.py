"""Open Optuna studies by storage URL or journal file, and turn their trials into tables.

The dashboard never writes to a study itself: runs go through :func:`invdesign.design`; this module
only reads what the design loop (or other workers) stored, for progress and for watching.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd

from invdesign.studies.storage import mask_url

_JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")


@functools.lru_cache(maxsize=16)
def open_storage(spec: str) -> Any:
    """Turn a storage spec into an Optuna storage (cached per spec; failures are not cached).

    The design loop's opener (:func:`invdesign.studies.storage.open_storage`: URL checks, masked
    passwords), without heartbeats: the page only reads.

    Parameters
    ----------
    spec : str
        An Optuna RDB URL (``sqlite:///path.db``, ``postgresql://user:pw@host/db``) or the path of a
        journal file (``*.log``, ``*.journal``, ``*.jsonl``).

    Raises
    ------
    ValueError
        Empty spec, an unknown scheme, or a storage that cannot be reached (password masked).
    """
    from invdesign.studies.storage import StorageUnavailable
    from invdesign.studies.storage import open_storage as open_design_storage

    spec = (spec or "").strip()
    if not spec:
        raise ValueError("storage is empty: give a URL such as sqlite:///study.db or a journal file")
    if "://" not in spec:
        if not spec.endswith(_JOURNAL_SUFFIXES):
            raise ValueError(
                f"storage {spec!r} is neither a URL (sqlite:///..., postgresql://...) "
                f"nor a journal file ({', '.join(_JOURNAL_SUFFIXES)})"
            )
        Path(spec).parent.mkdir(parents=True, exist_ok=True)
    try:
        return open_design_storage(spec, heartbeat_interval=None)
    except ValueError as exc:
        raise ValueError(f"cannot use storage {mask_url(spec)}: {exc}") from None
    except StorageUnavailable as exc:
        raise ValueError(str(exc)) from None


def study_names(spec: str) -> list[str]:
    """Names of the studies held in a storage (see :func:`open_storage`)."""
    import optuna

    storage = open_storage(spec)
    return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def load_study(spec: str, name: str) -> Any:
    """Open study ``name`` in storage ``spec``; a missing study is a ValueError listing those present."""
    import optuna

    storage = open_storage(spec)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        present = [s.study_name for s in optuna.get_all_study_summaries(storage, False)]
        raise ValueError(
            f"no study named {name!r} in {mask_url(spec)} (present: {', '.join(present) or 'none'})"
        ) from None


def trials_frame(study: Any) -> pd.DataFrame:
    """One row per trial: ``trial``, ``state``, ``value``, the params and the scalar user attrs.

    Non-scalar user attrs (lists, dicts) are left out; columns are sorted for a stable display.
    """
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name, "value": t.value}
        row.update(t.params)
        for key, val in t.user_attrs.items():
            if isinstance(val, (int, float, str, bool)) or val is None:
                row.setdefault(key, val)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["trial", "state", "value"])
    return frame.sort_values("trial").reset_index(drop=True)


def progress(study: Any) -> dict[str, Any]:
    """Counts of trials by state and the best candidate distance so far (``None`` if no trial is
    complete): :func:`invdesign.loop.scoring.study_best`, the number the CLI and ``summary.json``
    show."""
    from invdesign.loop.scoring import study_best

    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    found = study_best(study)
    best = None if found is None else found["distance"]
    return {"complete": counts.get("COMPLETE", 0), "running": counts.get("RUNNING", 0),
            "failed": counts.get("FAIL", 0), "total": sum(counts.values()), "best": best,
            "user_attrs": dict(study.user_attrs)}
