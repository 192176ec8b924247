"""The recipe each design candidate carries: the surrogate inverted at the candidate's own measured
target descriptors, started from (among others) the feature predictor's guess, which is kept
beside it."""

from __future__ import annotations

import logging

import numpy as np

from generators.protocol import RECIPE_NAMES
from invdesign.recipes.search import search_for
from objectives.targets import Targets

_log = logging.getLogger(__name__)

FP_RECIPE = RECIPE_NAMES


def candidate_recipes(generator, descriptors: dict[str, np.ndarray], predicted: dict[str, np.ndarray],
                      targets: Targets) -> dict[str, list[float]] | None:
    """Surrogate recipes for ``n`` generated volumes of one trial.

    Parameters
    ----------
    generator : the design's generator; its ``surrogate`` attribute (None or absent: no recipes)
    descriptors : name -> ``(n,)`` measured values of the volumes
    predicted : name -> ``(n,)`` the generator's predictions (the FP's ``phi``, ``chi``,
        ``log_time`` are used as starting points when present)
    targets : the design's targets (their names and tolerances)

    Returns
    -------
    dict or None
        ``{"phi", "chi", "log_time", "predicted_distance", "p_success": [n floats]}`` (distance to
        the candidate's own values, tolerance units), or None when the generator has no surrogate
        or it does not model every target.
    """
    surrogate = getattr(generator, "surrogate", None)
    if surrogate is None or any(n not in surrogate.names for n in targets.names):
        return None
    names = list(targets.names)
    values = np.stack([np.asarray(descriptors[n], dtype=np.float64) for n in names], -1)
    tol = [targets.tolerances[n] for n in names]
    starts = None
    if all(k in predicted for k in FP_RECIPE):
        s = np.stack([np.asarray(predicted[k], dtype=np.float64) for k in FP_RECIPE], -1)
        if np.isfinite(s).all():
            starts = s
    try:
        recs = search_for(surrogate, names).find_each(values, tol, seeds=1, starts=starts)
    except (ValueError, RuntimeError) as exc:  # a surrogate problem must not fail the trial
        _log.warning("no surrogate recipes for this trial: %s", exc)
        return None
    return {"phi": [r.phi for r in recs], "chi": [r.chi for r in recs], "log_time": [r.log_time for r in recs],
            "predicted_distance": [r.predicted_distance for r in recs],
            "p_success": [r.p_success for r in recs]}
