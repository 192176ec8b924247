"""The condition space a design searches: a box and optional linear inequality constraints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

# BoTorch's format: sum_i coefficients[i] * x[indices[i]] >= rhs
Constraint = tuple[Sequence[int], Sequence[float], float]


@dataclass
class ConditionSpace:
    """Box ``bounds`` (2, d) over ``names`` with linear constraints ``sum c_i x_i >= rhs``.

    Attributes
    ----------
    names : tuple of str
        Condition names, in the generator's order.
    bounds : Tensor ``(2, d)`` float64
        Lower and upper bounds.
    constraints : list of (indices, coefficients, rhs)
        BoTorch-style inequality constraints (``sum coefficients[i] * x[indices[i]] >= rhs``).
    """

    names: tuple[str, ...]
    bounds: torch.Tensor
    constraints: list[Constraint] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.names = tuple(self.names)
        self.bounds = torch.as_tensor(self.bounds, dtype=torch.float64).cpu()
        d = len(self.names)
        if self.bounds.shape != (2, d):
            raise ValueError(f"bounds must have shape (2, {d}), got {tuple(self.bounds.shape)}")
        if not torch.isfinite(self.bounds).all() or (self.bounds[1] <= self.bounds[0]).any():
            raise ValueError(f"bounds must be finite with lower < upper, got {self.bounds.tolist()}")
        clean: list[Constraint] = []
        for idx, coef, rhs in self.constraints:
            idx, coef = [int(i) for i in idx], [float(c) for c in coef]
            if len(idx) != len(coef) or any(not 0 <= i < d for i in idx):
                raise ValueError(f"bad inequality constraint {(idx, coef, rhs)} for {d} conditions")
            clean.append((idx, coef, float(rhs)))
        self.constraints = clean

    @classmethod
    def of(cls, generator) -> "ConditionSpace":
        """The space of a generator (its ``bounds`` and optional ``inequality_constraints``)."""
        cons = list(getattr(generator, "inequality_constraints", None) or [])
        cons = [(list(torch.as_tensor(i).tolist()), list(torch.as_tensor(c, dtype=torch.float64).tolist()), float(r)) for i, c, r in cons]
        return cls(tuple(generator.condition_names), generator.bounds, cons)

    @property
    def dim(self) -> int:
        return len(self.names)

    def botorch_constraints(self) -> list[tuple[torch.Tensor, torch.Tensor, float]] | None:
        """Constraints as BoTorch's ``optimize_acqf`` wants them (or None)."""
        if not self.constraints:
            return None
        return [
            (torch.tensor(i, dtype=torch.long), torch.tensor(c, dtype=torch.float64), r)
            for i, c, r in self.constraints
        ]

    def feasible(self, x: torch.Tensor, atol: float = 1e-9) -> torch.Tensor:
        """Boolean ``(...)``: ``x (..., d)`` inside the box and meets every constraint."""
        x = torch.as_tensor(x, dtype=torch.float64)
        ok = ((x >= self.bounds[0] - atol) & (x <= self.bounds[1] + atol)).all(dim=-1)
        for idx, coef, rhs in self.constraints:
            lhs = (x[..., idx] * torch.tensor(coef, dtype=torch.float64)).sum(dim=-1)
            ok = ok & (lhs >= rhs - atol)
        return ok

    def sobol(self, n: int, seed: int, around: torch.Tensor | None = None, radius: float = 1.0) -> torch.Tensor:
        """``n`` scrambled-Sobol points ``(n, d)`` in the feasible set (rejection sampling).

        With ``around`` (a feasible point ``(d,)``) and ``radius`` < 1 they fill the box
        ``around +- radius * (upper - lower)``, cut to the bounds, instead of the whole space.
        """
        if n <= 0:
            return torch.empty(0, self.dim, dtype=torch.float64)
        engine = torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=int(seed))
        lo, hi = self.bounds
        if around is not None and radius < 1.0:
            half = radius * (hi - lo)
            c = torch.as_tensor(around, dtype=torch.float64)
            lo, hi = torch.maximum(lo, c - half), torch.minimum(hi, c + half)
        out: list[torch.Tensor] = []
        have = 0
        for _ in range(64):
            x = lo + (hi - lo) * engine.draw(max(2 * n, 16), dtype=torch.float64)
            x = x[self.feasible(x)]
            out.append(x)
            have += len(x)
            if have >= n:
                break
        pts = torch.cat(out)
        if len(pts) < n:
            raise ValueError("could not find feasible conditions: are the constraints satisfiable?")
        return pts[:n]

    def center(self) -> torch.Tensor:
        """A feasible interior point (mean of feasible Sobol points)."""
        return self.sobol(256, seed=0).mean(dim=0)

    def repair(self, x: torch.Tensor) -> torch.Tensor:
        """Move infeasible rows of ``x (m, d)`` toward :meth:`center` until feasible.

        Feasible rows are returned unchanged; the feasible set is convex, so the segment search
        always ends inside it.
        """
        x = torch.as_tensor(x, dtype=torch.float64).clone()
        x = torch.maximum(torch.minimum(x, self.bounds[1]), self.bounds[0])
        bad = ~self.feasible(x)
        if bad.any():
            c = self.center()
            for i in torch.nonzero(bad).flatten().tolist():
                lo_t, hi_t = 0.0, 1.0  # t = 1: x, t = 0: centre (feasible)
                for _ in range(40):
                    mid = 0.5 * (lo_t + hi_t)
                    if self.feasible(c + mid * (x[i] - c)):
                        lo_t = mid
                    else:
                        hi_t = mid
                x[i] = c + lo_t * (x[i] - c)
        return x

    def direct(self, values: dict[str, float]) -> torch.Tensor:
        """The condition ``(d,)`` equal to the targets where conditions are targeted descriptors.

        Conditions that are not targets take the centre of the space; the point is clipped to the
        bounds and repaired into the constraints.
        """
        x = self.center()
        for i, name in enumerate(self.names):
            if name in values:
                x[i] = float(values[name])
        return self.repair(x.unsqueeze(0))[0]
