"""Design targets: descriptor values, a tolerance per descriptor, and the checks they must pass.

A target says "descriptor ``name`` should be ``value`` give or take ``tolerance``" (absolute, in the
descriptor's own units; fractions are dimensionless in [0, 1]).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Descriptor name prefixes whose values are fractions in [0, 1] (GraSPI two-phase names and the
# project's three-phase names, see spec/descriptors.md).
FRACTION_PREFIXES: tuple[str, ...] = (
    "ABS_f_",
    "ABS_wf_",
    "CT_f_",
    "DISS_f",
    "DISS_wf",  # bounded by 6.265 * exp(-(23/17.17)^2) < 1
    "vol_frac_",
    "tortuosity_",
)


def is_fraction(name: str) -> bool:
    """Whether descriptor ``name`` is a fraction (physically in [0, 1])."""
    return name.startswith(FRACTION_PREFIXES)


@dataclass(frozen=True)
class Targets:
    """Target descriptor values with an absolute tolerance each.

    Attributes
    ----------
    values : dict[str, float]
        Descriptor name -> target value (descriptor units; fractions in [0, 1]).
    tolerances : dict[str, float]
        Descriptor name -> tolerance (> 0, same units). A measurement meets a target when
        ``abs(measured - value) <= tolerance``.
    """

    values: dict[str, float]
    tolerances: dict[str, float]

    @property
    def names(self) -> tuple[str, ...]:
        """Target names, in the order given."""
        return tuple(self.values)

    def as_dict(self) -> dict[str, dict[str, float]]:
        """JSON-ready ``{"values": ..., "tolerances": ...}``."""
        return {"values": dict(self.values), "tolerances": dict(self.tolerances)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, float]]) -> "Targets":
        """Inverse of :meth:`as_dict` (validated)."""
        return make_targets(data["values"], data["tolerances"])


def make_targets(
    values: Mapping[str, float], tolerance: float | Mapping[str, float] = 0.02
) -> Targets:
    """Build and validate a :class:`Targets`.

    Parameters
    ----------
    values : mapping of str to float
        Descriptor name -> target value. At least one target.
    tolerance : float or mapping of str to float
        One absolute tolerance for every target, or one per target name (every target needs one;
        names that are not targets are an error). Must be finite and > 0.

    Returns
    -------
    Targets

    Raises
    ------
    ValueError
        No targets, a non-finite value, a fraction outside [0, 1], a tolerance <= 0 or a tolerance
        for a name that is not a target.
    """
    if not isinstance(values, Mapping) or len(values) == 0:
        raise ValueError("give at least one target descriptor (NAME=VALUE)")
    vals: dict[str, float] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"target names must be non-empty strings, got {name!r}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"target {name}: value {value!r} is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"target {name}: value {v} is not finite")
        if is_fraction(name) and not 0.0 <= v <= 1.0:
            raise ValueError(f"target {name}={v} is out of range: it is a fraction in [0, 1]")
        vals[name] = v
    if isinstance(tolerance, Mapping):
        extra = sorted(set(tolerance) - set(vals))
        if extra:
            raise ValueError(f"tolerance given for names that are not targets: {', '.join(extra)}")
        missing = sorted(set(vals) - set(tolerance))
        if missing:
            raise ValueError(f"no tolerance given for targets: {', '.join(missing)}")
        tols = {name: tolerance[name] for name in vals}
    else:
        tols = {name: tolerance for name in vals}
    out_tols: dict[str, float] = {}
    for name, tol in tols.items():
        try:
            t = float(tol)
        except (TypeError, ValueError):
            raise ValueError(f"tolerance for {name}: {tol!r} is not a number") from None
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"tolerance for {name} must be > 0, got {t}")
        out_tols[name] = t
    return Targets(values=vals, tolerances=out_tols)


def check_targets(
    targets: Targets,
    measurable: Iterable[str],
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Check targets against what can be measured and the model's training range.

    Parameters
    ----------
    targets : Targets
    measurable : iterable of str
        Descriptor names the measurement produces for the generator's volumes.
    ranges : mapping of str to (low, high), optional
        Ranges the model was trained on (e.g. its condition bounds). A target named here must lie
        in ``[low, high]``.

    Raises
    ------
    ValueError
        An unknown descriptor name (the message lists the known ones) or a value outside the
        training range.
    """
    known = list(measurable)
    unknown = [n for n in targets.names if n not in known]
    if unknown:
        raise ValueError(
            f"unknown descriptor {', '.join(unknown)}: this model's volumes measure "
            f"{', '.join(sorted(known))}"
        )
    for name, value in targets.values.items():
        if ranges and name in ranges:
            lo, hi = (float(r) for r in ranges[name])
            if not lo <= value <= hi:
                raise ValueError(
                    f"target {name}={value} is outside the model's training range "
                    f"[{lo:.4g}, {hi:.4g}]"
                )


def parse_target(text: str) -> tuple[str, float]:
    """Parse ``"NAME=VALUE"`` (as given on the command line) into ``(name, value)``.

    Raises
    ------
    ValueError
        Not of the form NAME=VALUE, or VALUE not a number.
    """
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ValueError(f"target {text!r} is not of the form NAME=VALUE")
    try:
        return name, float(value)
    except ValueError:
        raise ValueError(f"target {text!r}: {value!r} is not a number") from None
