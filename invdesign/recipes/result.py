"""What :func:`invdesign.recipe` returns: recipes ranked by verified distance, with predictions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from invdesign.recipes.search import PredictedRecipe
from invdesign.verification import VerifyResult
from objectives.targets import Targets


@dataclass
class RankedRecipe:
    """One recipe: the surrogate's prediction and, when simulated, its verification.

    Attributes
    ----------
    predicted : PredictedRecipe
    verification : VerifyResult or None  (None: not simulated, or stopped before it finished)
    seed : int or None  base seed of its verification runs
    runs_done : int  finished runs when a stop interrupted its verification
    """

    predicted: PredictedRecipe
    verification: VerifyResult | None = None
    seed: int | None = None
    runs_done: int = 0

    @property
    def verified_distance(self) -> float:
        """Distance of the seeds' mean to the targets (tolerance units); NaN when not verified."""
        return self.verification.distance_to_target if self.verification is not None else math.nan

    def summary(self) -> dict:
        p = self.predicted
        out = {**p.recipe(), "predicted": p.summary()["predicted"], "predicted_distance": p.predicted_distance,
               "p_success": p.p_success, "p_separated": p.p_separated, "source": p.source,
               "verification": None}
        v = self.verification
        if v is not None:
            out["verification"] = {
                "seeds": len(v.table), "seed": self.seed, "mean": v.mean, "std": v.std,
                "distance_to_target": v.distance_to_target, "success": v.success,
                "samples": [{k: float(r[k]) for k in (*v.mean, "distance_to_target")}
                            for r in v.table.to_dict(orient="records")]}
        elif self.runs_done:
            out["verification"] = {"seeds": 0, "seed": self.seed, "runs_finished": self.runs_done,
                                   "stopped": True}
        return out


@dataclass
class RecipeResult:
    """Ranked recipes for targets.

    Attributes
    ----------
    targets : Targets
    model : str
    recipes : list of RankedRecipe  best first: verified ones by verified distance, then the rest
        by predicted success probability
    pathway : list of dict  the best predicted recipe at each annealing time of the search grid
    state : ``"finished"`` or ``"stopped"``
    seeds : int  verification seeds per recipe
    surrogate_source : ``"model"``, ``"table"`` (fitted for this call) or ``"given"``
    search_seconds, seconds : float  the surrogate search alone; everything
    out_dir : Path or None
    """

    targets: Targets
    model: str
    recipes: list[RankedRecipe]
    pathway: list[dict]
    state: str
    seeds: int
    surrogate_source: str
    search_seconds: float
    seconds: float
    out_dir: Path | None = None
    extra: dict = field(default_factory=dict)

    def rank(self) -> None:
        """Sort ``recipes``: verified by distance, then unverified by predicted success."""
        def key(r: RankedRecipe):
            if r.verification is not None:
                return (0, r.verified_distance, -r.predicted.p_success)
            return (1, 0.0, -r.predicted.p_success)

        self.recipes.sort(key=key)

    @property
    def best(self) -> RankedRecipe | None:
        return self.recipes[0] if self.recipes else None

    @property
    def success(self) -> bool:
        """Whether the first recipe was verified within every tolerance (mean over seeds)."""
        b = self.best
        return bool(b is not None and b.verification is not None and b.verification.success)

    def summary(self) -> dict:
        """JSON-ready: targets, state, the ranked recipes (``recipes``, best first) and the pathway."""
        return {"targets": self.targets.values, "tolerances": self.targets.tolerances, "model": self.model,
                "state": self.state, "success": self.success, "verify_seeds": self.seeds,
                "surrogate": self.surrogate_source, "search_seconds": round(self.search_seconds, 3),
                "seconds": round(self.seconds, 3), "recipes": [r.summary() for r in self.recipes],
                "pathway": self.pathway, "out_dir": str(self.out_dir) if self.out_dir else None,
                **self.extra}
