"""Target ranges and feasibility checks shown next to the sliders, before a run starts.

The design API validates again (and has the last word); these checks only let the page say early,
and in plain words, why a set of targets cannot be met by the chosen model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FRACTION_RANGE = (0.0, 1.0)


def target_ranges(summary: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Slider ranges per targetable descriptor: the model's condition ranges.

    The targetable descriptors of a conditional model are its conditions (e.g. ``ABS_f_D``); their
    ranges come from the training data and are clipped to [0, 1] for fractions.
    """
    ranges = {}
    for name, (lo, hi) in summary["conditions"].items():
        if _is_fraction(name):
            lo, hi = max(lo, FRACTION_RANGE[0]), min(hi, FRACTION_RANGE[1])
        ranges[name] = (float(lo), float(hi))
    return ranges


def _is_fraction(name: str) -> bool:
    return name.startswith(("vol_frac", "ABS_f", "CT_f", "f_", "DISS_f", "STRUT_f"))


def check_targets(targets: Mapping[str, float], tolerance: Mapping[str, float] | float,
                  summary: Mapping[str, Any]) -> list[str]:
    """Problems with ``targets`` for the model described by ``summary`` (empty list: feasible).

    Checks: at least one target; every name is a condition of the model; every value within the
    model's range (fractions within [0, 1]); every tolerance > 0; and the model's linear constraints
    (``sum coeff * x >= rhs`` over condition indices) when all constrained conditions are targeted.
    """
    problems: list[str] = []
    ranges = target_ranges(summary)
    if not targets:
        problems.append("no targets: set at least one descriptor")
    for name, value in targets.items():
        if name not in ranges:
            problems.append(f"{name} is not a condition of this model ({', '.join(ranges)})")
            continue
        lo, hi = ranges[name]
        if not lo <= float(value) <= hi:
            problems.append(f"{name} = {value:g} is outside the model's range [{lo:g}, {hi:g}]")
        tol = tolerance.get(name, 0.0) if isinstance(tolerance, Mapping) else tolerance
        if not float(tol) > 0:
            problems.append(f"tolerance of {name} must be > 0 (got {tol:g})")
    problems.extend(_constraint_problems(targets, summary))
    return problems


def _constraint_problems(targets: Mapping[str, float], summary: Mapping[str, Any]) -> list[str]:
    names: Sequence[str] = list(summary["conditions"])
    out = []
    for indices, coeffs, rhs in summary.get("constraints", []):
        idx = [int(i) for i in (indices.tolist() if hasattr(indices, "tolist") else indices)]
        cs = [float(c) for c in (coeffs.tolist() if hasattr(coeffs, "tolist") else coeffs)]
        if not all(names[i] in targets for i in idx):
            continue
        lhs = sum(c * float(targets[names[i]]) for i, c in zip(idx, cs))
        if lhs < float(rhs) - 1e-9:
            terms = " + ".join(f"{c:g}*{names[i]}" for i, c in zip(idx, cs))
            out.append(f"infeasible targets: {terms} = {lhs:g} must be >= {float(rhs):g}")
    return out
