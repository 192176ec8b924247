"""What a worker reads from a study: generator, targets, tolerances and settings (study user attrs).

Study user attributes
---------------------
``generator`` : str
    Name of the generator (``generators.load(name)`` or a name given to :func:`register_generator`).
``targets`` : dict[str, float]
    Target value per descriptor (raw descriptor units).
``tolerances`` : dict[str, float]
    Tolerance per descriptor (same units, > 0); a trial meets the target when every descriptor's
    mean is within its tolerance.
``settings`` : dict
    ``n_samples`` (volumes per trial, default 4), ``batch_size`` (volumes per ``sample`` call,
    default ``n_samples``), ``artifacts`` (artifact directory), ``n_init`` (random trials before
    BO, default 4), ``budget`` (total COMPLETE trials of the study, optional),
    ``heartbeat_interval`` / ``grace_period`` (seconds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_generator(name: str, factory: Callable[..., Any]) -> None:
    """Make ``name`` resolvable by workers in this process; ``factory(device=...)`` builds it."""
    _REGISTRY[name] = factory


def resolve_generator(name: str, device: str = "cpu") -> Any:
    """Build the generator a study names, on ``device``.

    Raises
    ------
    ValueError
        No registered generator and no ``generators.load`` entry of that name.
    """
    if name in _REGISTRY:
        return _REGISTRY[name](device=device)
    import generators

    load = getattr(generators, "load", None)
    if load is None:
        raise ValueError(f"unknown generator {name!r} (registered: {sorted(_REGISTRY) or 'none'})")
    return load(name, device=device)


# Descriptors whose values are fractions (defaults when a generator gives no target_ranges).
_FRACTION_PREFIXES = ("vol_frac", "ABS_f", "ABS_wf", "DISS_f", "DISS_wf", "CT_f", "norm_STAT", "STAT_")


def default_range(name: str) -> tuple[float, float]:
    """The range a target of this descriptor must lie in when the generator declares none."""
    if name.startswith(_FRACTION_PREFIXES):
        return (0.0, 1.0)
    return (0.0, math.inf)


@dataclass
class StudyConfig:
    """A study's design settings, validated (see the module docstring for the meaning)."""

    generator: str
    targets: dict[str, float]
    tolerances: dict[str, float]
    n_samples: int = 4
    batch_size: int = 4
    artifacts: str | None = None
    n_init: int = 4
    budget: int | None = None
    heartbeat_interval: int = 10
    grace_period: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> "StudyConfig":
        """Read and check a study's user attributes (ValueError naming the first problem)."""
        gen = attrs.get("generator", attrs.get("model"))
        if not isinstance(gen, str) or not gen:
            raise ValueError("study has no generator name (user attr 'generator'): not an invdesign study?")
        targets = attrs.get("targets")
        if not isinstance(targets, Mapping) or not targets:
            raise ValueError("study has no targets (user attr 'targets')")
        tols = attrs.get("tolerances") or {}
        if not isinstance(tols, Mapping):
            raise ValueError("study tolerances (user attr 'tolerances') must be a mapping")
        settings = dict(attrs.get("settings") or {})
        n_samples = _positive_int(settings.pop("n_samples", 4), "n_samples")
        cfg = cls(
            generator=gen,
            targets={str(k): float(v) for k, v in targets.items()},
            tolerances={str(k): float(v) for k, v in tols.items()},
            n_samples=n_samples,
            batch_size=_positive_int(settings.pop("batch_size", n_samples), "batch_size"),
            artifacts=settings.pop("artifacts", None),
            n_init=_positive_int(settings.pop("n_init", 4), "n_init"),
            budget=(None if settings.get("budget") is None
                    else _positive_int(settings.pop("budget"), "budget")),
            heartbeat_interval=_positive_int(settings.pop("heartbeat_interval", 10), "heartbeat_interval"),
            grace_period=(None if settings.get("grace_period") is None
                          else _positive_int(settings.pop("grace_period"), "grace_period")),
        )
        settings.pop("budget", None)
        settings.pop("grace_period", None)
        cfg.extra = settings
        validate_targets(cfg.targets, cfg.tolerances)
        return cfg

    def to_attrs(self) -> dict[str, Any]:
        """The user attributes that store this configuration in a study."""
        settings = dict(self.extra)
        settings.update(n_samples=self.n_samples, batch_size=self.batch_size, artifacts=self.artifacts,
                        n_init=self.n_init, budget=self.budget,
                        heartbeat_interval=self.heartbeat_interval, grace_period=self.grace_period)
        return {"generator": self.generator, "targets": dict(self.targets),
                "tolerances": dict(self.tolerances), "settings": settings}


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def validate_targets(
    targets: Mapping[str, float],
    tolerances: Mapping[str, float],
    known: tuple[str, ...] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    constraints: Callable[[Mapping[str, float]], str | None] | None = None,
) -> None:
    """Check targets and tolerances; raise ValueError naming the first problem.

    Parameters
    ----------
    targets, tolerances : mapping name -> float
        Every target needs a finite value inside its range and a tolerance > 0.
    known : tuple of str, optional
        Descriptor names the generator can be measured on; other names are refused.
    ranges : mapping name -> (low, high), optional
        The model's range per descriptor (default: [0, 1] for fractions, [0, inf) otherwise).
    constraints : callable, optional
        Returns a message when a combination of targets is infeasible (e.g. fractions summing > 1).
    """
    if not targets:
        raise ValueError("no targets given")
    for name, value in targets.items():
        if known is not None and name not in known:
            raise ValueError(f"unknown descriptor {name!r} (known: {', '.join(known)})")
        if not math.isfinite(value):
            raise ValueError(f"target {name}={value} is not a finite number")
        lo, hi = (ranges or {}).get(name, default_range(name))
        if not lo <= value <= hi:
            raise ValueError(f"target {name}={value} is outside the range [{lo}, {hi}]")
    for name, tol in tolerances.items():
        if name not in targets:
            raise ValueError(f"tolerance given for {name!r}, which has no target")
        if not math.isfinite(tol) or tol <= 0:
            raise ValueError(f"tolerance of {name} must be > 0, got {tol}")
    missing = [n for n in targets if n not in tolerances]
    if missing:
        raise ValueError(f"no tolerance for target(s) {', '.join(missing)}")
    fractions = {n: v for n, v in targets.items() if n in ("vol_frac_D", "vol_frac_A", "vol_frac_M")}
    if sum(fractions.values()) > 1.0 + 1e-9:
        raise ValueError(
            "infeasible targets: volume fractions " + " + ".join(fractions) + f" = {sum(fractions.values()):g} > 1"
        )
    if constraints is not None:
        msg = constraints(targets)
        if msg:
            raise ValueError(f"infeasible targets: {msg}")
